import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { SessionHost } from '../../src/server/session-host.js';
import { buildLoginEnv } from '../../src/server/login-env.js';
import { SessionClient } from '../../src/client/session-client.js';
import { StreamKind } from '../../src/protocol/stream-kind.js';
import { memoryConnectionPair, type MemoryConnection } from '../support/stream-pair.js';
import { waitFor } from '../support/wait.js';

/** A reader slower than any producer: each write completes only after a timer tick. */
class SlowSink extends Writable {
  private chunks: Buffer[] = [];
  bytes = 0;
  constructor() {
    super({ highWaterMark: 16 * 1024 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    setTimeout(callback, 1);
  }
  contents(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function setup(t: TestContext): { client: SessionClient; serverConn: MemoryConnection } {
  const [clientConn, serverConn] = memoryConnectionPair();
  const home = mkdtempSync(join(tmpdir(), 'tsshd-flow-'));
  const loginEnv = buildLoginEnv({ user: 'tester', home, shell: '/bin/sh', uid: process.getuid?.() ?? 1000 });
  const host = new SessionHost(serverConn, { envAccepted: () => false, subsystems: new Map(), loginEnv });
  const client = new SessionClient(clientConn, 'tssh-test');
  t.after(() => {
    host.hangup();
    clientConn.destroy();
    rmSync(home, { recursive: true, force: true });
  });
  return { client, serverConn };
}

function seqOutput(n: number, eol: string): Buffer {
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) lines.push(String(i));
  return Buffer.from(lines.join(eol) + eol);
}

function serverSessionStream(serverConn: MemoryConnection) {
  const stream = serverConn.streams.find((s) => s.kind === StreamKind.Session);
  assert.ok(stream, 'the server has a session stream');
  return stream;
}

test('10 MB of seq output arrives intact through a slow reader, with bounded buffering in the server', async (t) => {
  const { client, serverConn } = setup(t);
  const stdout = new SlowSink();
  const lines = 1_400_000;
  const status = await client.openSession({ command: `seq 1 ${lines}` }, { stdin: new PassThrough(), stdout, stderr: new SlowSink() });
  assert.deepEqual(status, { code: 0 });
  const expected = seqOutput(lines, '\n');
  assert.ok(expected.length > 10_000_000);
  assert.equal(stdout.bytes, expected.length);
  assert.ok(stdout.contents().equals(expected), 'output is byte-for-byte what seq wrote');
  // Without backpressure the server would have queued megabytes in its stream.
  const peak = serverSessionStream(serverConn).peakBuffered;
  assert.ok(peak < 1024 * 1024, `server buffered at most ${peak} bytes`);
});

test('pty output is paused for a slow reader too, and arrives intact', async (t) => {
  const { client, serverConn } = setup(t);
  const stdout = new SlowSink();
  const stdin = new PassThrough();
  const lines = 300_000;
  // `read` keeps the pty open until the test has seen all output (see docs/SESSIONS.md on pty exit).
  const done = client.openSession({ pty: { term: 'dumb', cols: 80, rows: 24 }, command: `seq 1 ${lines}; read x` }, { stdin, stdout, stderr: new SlowSink() });
  const expected = seqOutput(lines, '\r\n');
  await waitFor('all pty output', () => stdout.bytes >= expected.length, 60_000);
  stdin.write('\n');
  assert.deepEqual(await done, { code: 0 });
  assert.ok(stdout.contents().subarray(0, expected.length).equals(expected), 'pty output is what seq wrote, with CRLF');
  const peak = serverSessionStream(serverConn).peakBuffered;
  assert.ok(peak < 256 * 1024, `server buffered at most ${peak} bytes`);
});
