import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { SessionHost } from '../../src/server/session-host.js';
import { buildLoginEnv } from '../../src/server/login-env.js';
import { SessionClient, SessionRefusedError } from '../../src/client/session-client.js';
import { memoryConnectionPair } from '../support/stream-pair.js';
import { waitFor } from '../support/wait.js';

// The limits table of docs/SECURITY.md, exceeded: sessions per connection (the others: test/transport/mux/limits.test.ts
// for streams, test/forward/tcp.test.ts for pending and open forwarded connections, test/forward/udp.test.ts for UDP associations).

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

test('sessions beyond MaxSessions are refused with a clear reason, and a slot frees when one ends', async (t) => {
  const [clientConn, serverConn] = memoryConnectionPair();
  const home = mkdtempSync(join(tmpdir(), 'tsshd-limits-'));
  const loginEnv = buildLoginEnv({ user: 'tester', home, shell: '/bin/sh', uid: process.getuid?.() ?? 1000 });
  const host = new SessionHost(serverConn, { envAccepted: () => false, subsystems: new Map(), loginEnv, maxSessions: 2 });
  const client = new SessionClient(clientConn, 'tssh-test');
  t.after(() => {
    host.hangup();
    clientConn.destroy();
    rmSync(home, { recursive: true, force: true });
  });
  const open = (command: string): { stdin: PassThrough; stdout: Sink; done: Promise<unknown> } => {
    const io = { stdin: new PassThrough(), stdout: new Sink(), stderr: new Sink() };
    const done = client.openSession({ command }, io);
    done.catch(() => undefined);
    return { stdin: io.stdin, stdout: io.stdout, done };
  };
  const a = open('echo a-up; cat');
  const b = open('echo b-up; cat');
  await waitFor('two sessions up', () => a.stdout.text.includes('a-up') && b.stdout.text.includes('b-up'));
  const c = open('echo c-up');
  await assert.rejects(c.done, (err: unknown) => err instanceof SessionRefusedError && /too many sessions \(limit 2\)/.test(err.message));
  assert.equal(host.sessionCount, 2);
  a.stdin.end();
  assert.deepEqual(await a.done, { code: 0 });
  const d = open('echo d-up');
  assert.deepEqual(await d.done, { code: 0 });
  assert.match(d.stdout.text, /d-up/);
  b.stdin.end();
  await b.done;
});
