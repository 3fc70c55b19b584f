import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { SessionHost, type SessionPolicy } from '../../src/server/session-host.js';
import { buildLoginEnv, envAcceptedBy } from '../../src/server/login-env.js';
import { SessionClient, SessionRefusedError } from '../../src/client/session-client.js';
import { memoryConnectionPair, type MemoryConnection } from '../support/stream-pair.js';
import { waitFor, waitForEvent } from '../support/wait.js';
import { StreamKind } from '../../src/protocol/stream-kind.js';
import { encodeMessage, readFirstMessage } from '../../src/protocol/message-codec.js';
import { ProtocolError, parseSessionReply } from '../../src/protocol/messages.js';

/** Collects what a session writes. */
class Collector extends Writable {
  private chunks: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk);
    callback();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

interface Harness {
  host: SessionHost;
  client: SessionClient;
  serverConn: MemoryConnection;
  home: string;
}

function setup(t: TestContext, policy: Partial<SessionPolicy> = {}, shell = '/bin/sh'): Harness {
  const [clientConn, serverConn] = memoryConnectionPair();
  const home = mkdtempSync(join(tmpdir(), 'tsshd-session-'));
  const loginEnv = buildLoginEnv({ user: 'tester', home, shell, uid: process.getuid?.() ?? 1000 });
  const host = new SessionHost(serverConn, { envAccepted: () => false, subsystems: new Map(), loginEnv, ...policy });
  const client = new SessionClient(clientConn, 'tssh-test');
  t.after(() => {
    host.hangup();
    clientConn.destroy();
    rmSync(home, { recursive: true, force: true });
  });
  return { host, client, serverConn, home };
}

function stdio(): { stdin: PassThrough; stdout: Collector; stderr: Collector } {
  return { stdin: new PassThrough(), stdout: new Collector(), stderr: new Collector() };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const PTY = { term: 'xterm', cols: 80, rows: 24 };

test('a login shell in a pty runs a typed command, and "exit 7" gives code 7', async (t) => {
  const h = setup(t);
  const io = stdio();
  const done = h.client.openSession({ pty: PTY }, io);
  // The quotes keep the echoed input from matching the output.
  io.stdin.write('echo hel""lo "zero:$0"\n');
  await waitFor('hello in the pty output', () => /hello zero:\S+/.exec(io.stdout.text()));
  io.stdin.write('exit 7\n');
  assert.deepEqual(await done, { code: 7 });
  // sshd names a login shell "-sh"; without perl we fall back to `sh -l`.
  const zero = /hello zero:(\S+)/.exec(io.stdout.text())?.[1];
  assert.equal(zero, existsSync('/usr/bin/perl') || existsSync('/bin/perl') ? '-sh' : '/bin/sh');
});

test('stty size in a pty shows the requested size, then the size after a resize', async (t) => {
  const h = setup(t);
  const io = stdio();
  const started = waitForEvent(h.host, 'session');
  const done = h.client.openSession({ pty: PTY }, io);
  await started;
  io.stdin.write('stty size\n');
  await waitFor('initial size', () => io.stdout.text().includes('24 80'));
  const applied = waitForEvent(h.host, 'resize');
  h.client.resize(100, 40);
  await applied;
  io.stdin.write('stty size\n');
  await waitFor('new size', () => io.stdout.text().includes('40 100'));
  io.stdin.write('exit\n');
  assert.deepEqual(await done, { code: 0 });
});

test('a command without a pty keeps stdout and stderr apart and reports its exit code', async (t) => {
  const h = setup(t);
  const io = stdio();
  const status = await h.client.openSession({ command: 'printf out1; printf err1 >&2; printf out2; exit 3' }, io);
  assert.deepEqual(status, { code: 3 });
  assert.equal(io.stdout.text(), 'out1out2');
  assert.equal(io.stderr.text(), 'err1');
});

test('stdin EOF reaches cat, which echoes its input and exits 0; the host then goes idle', async (t) => {
  const h = setup(t);
  const io = stdio();
  const idle = waitForEvent(h.host, 'idle');
  const done = h.client.openSession({ command: 'cat' }, io);
  io.stdin.write('line one\n');
  io.stdin.end('line two\n');
  assert.deepEqual(await done, { code: 0 });
  assert.equal(io.stdout.text(), 'line one\nline two\n');
  await idle;
  assert.equal(h.host.sessionCount, 0);
});

test('kill -TERM $$ reports signal TERM', async (t) => {
  const h = setup(t);
  const status = await h.client.openSession({ command: 'kill -TERM $$' }, stdio());
  assert.deepEqual(status, { signal: 'TERM' });
});

test('hangup() sends SIGHUP to a running command\'s process group', async (t) => {
  const h = setup(t);
  const io = stdio();
  const done = h.client.openSession({ command: 'echo $$; exec sleep 1000' }, io);
  const pid = Number(await waitFor('pid of sleep', () => /^(\d+)\n/.exec(io.stdout.text())?.[1]));
  assert.equal(alive(pid), true);
  h.host.hangup();
  await waitFor('sleep to be gone', () => !alive(pid));
  assert.deepEqual(await done, { signal: 'HUP' });
});

test('hangup() sends SIGHUP to a command running in a pty', async (t) => {
  const h = setup(t);
  const io = stdio();
  const done = h.client.openSession({ pty: PTY, command: 'echo pid:$$; exec sleep 1000' }, io);
  const pid = Number(await waitFor('pid of sleep', () => /pid:(\d+)/.exec(io.stdout.text())?.[1]));
  h.host.hangup();
  await waitFor('sleep to be gone', () => !alive(pid));
  assert.deepEqual(await done, { signal: 'HUP' });
});

test('AcceptEnv: LANG is accepted, FOO refused; the login env is complete and leaks no secret', async (t) => {
  process.env.TSSHD_SECRET_TEST = 'leaked-secret';
  t.after(() => delete process.env.TSSHD_SECRET_TEST);
  const h = setup(t, { envAccepted: envAcceptedBy(['LANG', 'LC_*']) });
  const io = stdio();
  const status = await h.client.openSession({ command: 'env', env: { LANG: 'C.UTF-8', FOO: 'bar' } }, io);
  assert.deepEqual(status, { code: 0 });
  const env = new Map(
    io.stdout
      .text()
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  assert.equal(env.get('LANG'), 'C.UTF-8');
  assert.equal(env.has('FOO'), false);
  assert.equal(env.get('HOME'), h.home);
  assert.equal(env.get('USER'), 'tester');
  assert.equal(env.get('LOGNAME'), 'tester');
  assert.equal(env.get('SHELL'), '/bin/sh');
  assert.equal(env.get('MAIL'), '/var/mail/tester');
  assert.ok(env.get('PATH')?.includes('/usr/bin'));
  assert.equal(env.has('TSSHD_SECRET_TEST'), false);
  assert.equal(io.stdout.text().includes('leaked-secret'), false);
});

test('a configured subsystem runs its command; an unknown one is refused', async (t) => {
  const h = setup(t, { subsystems: new Map([['greeter', 'echo greeting from subsystem']]) });
  const io = stdio();
  assert.deepEqual(await h.client.openSession({ subsystem: 'greeter' }, io), { code: 0 });
  assert.equal(io.stdout.text(), 'greeting from subsystem\n');
  await assert.rejects(h.client.openSession({ subsystem: 'nope' }, stdio()), (err: unknown) => err instanceof SessionRefusedError && /not configured/.test(err.message));
});

test('a session whose shell cannot be started is refused with the reason', async (t) => {
  const h = setup(t, {}, '/nonexistent/shell');
  await assert.rejects(h.client.openSession({ command: 'true' }, stdio()), (err: unknown) => err instanceof SessionRefusedError && /ENOENT/.test(err.message));
  assert.equal(h.host.sessionCount, 0);
});

test('raw protocol: a reused session id and a malformed request get session-error replies', async (t) => {
  const h = setup(t);
  const first = stdio();
  const started = waitForEvent<number>(h.host, 'session');
  const done = h.client.openSession({ command: 'cat' }, first);
  const id = await started;
  const clientConn = h.serverConn.peer;

  const again = clientConn.openStream(StreamKind.Session);
  again.write(encodeMessage({ type: 'session', id, env: {}, command: 'true' }));
  const reply = parseSessionReply(await readFirstMessage(again));
  assert.equal(reply.type, 'session-error');
  assert.match(reply.type === 'session-error' ? reply.message : '', /in use/);

  const protocolError = waitForEvent(h.host, 'protocol-error');
  const bad = clientConn.openStream(StreamKind.Session);
  bad.write(encodeMessage({ type: 'session', id: 99, env: { 'A=B': 'x' } }));
  const badReply = parseSessionReply(await readFirstMessage(bad));
  assert.equal(badReply.type, 'session-error');
  assert.ok((await protocolError) instanceof ProtocolError);

  first.stdin.end();
  assert.deepEqual(await done, { code: 0 });
});

test('goodbye both ways: the client\'s hangs up its sessions, the server\'s reaches the client', async (t) => {
  const h = setup(t);
  const hello = waitForEvent<string>(h.host, 'hello');
  const io = stdio();
  const done = h.client.openSession({ command: 'echo $$; exec sleep 1000' }, io);
  assert.equal(await hello, 'tssh-test');
  const pid = Number(await waitFor('pid of sleep', () => /^(\d+)\n/.exec(io.stdout.text())?.[1]));
  const serverHeard = waitForEvent<string>(h.host, 'goodbye');
  h.client.goodbye('user typed ~.');
  assert.equal(await serverHeard, 'user typed ~.');
  assert.deepEqual(await done, { signal: 'HUP' });
  assert.equal(alive(pid), false);
  const clientHeard = waitForEvent<string>(h.client, 'goodbye');
  h.host.goodbye('tsshd is shutting down');
  assert.equal(await clientHeard, 'tsshd is shutting down');
});
