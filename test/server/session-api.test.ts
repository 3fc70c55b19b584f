import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { SessionHost } from '../../src/server/session-host.js';
import { buildLoginEnv, envAcceptedBy } from '../../src/server/login-env.js';
import { compose, type Handler, type Middleware, type Session } from '../../src/index.js';
import { SessionClient } from '../../src/client/session-client.js';
import { memoryConnectionPair } from '../support/stream-pair.js';
import { waitFor, waitForEvent } from '../support/wait.js';

// The library API over the real session protocol (in memory): Session fields, middleware order, handler errors.

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

function setup(t: TestContext, handler: Handler): { host: SessionHost; client: SessionClient } {
  const [clientConn, serverConn] = memoryConnectionPair();
  const loginEnv = buildLoginEnv({ user: 'tester', home: '/', shell: '/bin/sh', uid: 1000, sshConnection: '192.0.2.7 5555 192.0.2.1 22' });
  const host = new SessionHost(serverConn, { envAccepted: envAcceptedBy(['LANG']), subsystems: new Map(), loginEnv }, { handler });
  const client = new SessionClient(clientConn, 'tssh-test');
  t.after(() => {
    host.hangup();
    clientConn.destroy();
  });
  return { host, client };
}

const stdio = (): { stdin: PassThrough; stdout: Collector; stderr: Collector } => ({ stdin: new PassThrough(), stdout: new Collector(), stderr: new Collector() });

test('compose: the first middleware is the outermost; each wraps the next', async () => {
  const order: string[] = [];
  const mark = (name: string): Middleware => (next) => async (s) => {
    order.push(`${name} in`);
    await next(s);
    order.push(`${name} out`);
  };
  const handler = compose([mark('a'), mark('b')], () => void order.push('handler'));
  await handler({} as Session);
  assert.deepEqual(order, ['a in', 'b in', 'handler', 'b out', 'a out']);
});

test('a session shows the request: command, environment (AcceptEnv), address; input in, output out, exit code', async (t) => {
  let seen: Session | undefined;
  const h = setup(t, async (session) => {
    seen = session;
    let input = '';
    for await (const chunk of session) input += String(chunk);
    session.write(`got ${input}`);
    session.stderr.write('to stderr');
    session.exit(4);
  });
  const io = stdio();
  const done = h.client.openSession({ command: 'do it', env: { LANG: 'C.UTF-8', FOO: 'no' } }, io);
  io.stdin.end('abc');
  assert.deepEqual(await done, { code: 4 });
  assert.equal(io.stdout.text(), 'got abc');
  assert.equal(io.stderr.text(), 'to stderr');
  assert.equal(seen?.command, 'do it');
  assert.equal(seen?.subsystem, undefined);
  assert.equal(seen?.pty, undefined);
  assert.equal(seen?.environ.LANG, 'C.UTF-8');
  assert.equal(seen?.environ.FOO, undefined);
  assert.equal(seen?.environ.USER, 'tester');
  assert.equal(seen?.remoteAddress, '192.0.2.7');
  assert.equal(seen?.remotePort, 5555);
});

test('a pty session has the terminal, window changes as events, and ends with 0 when the handler returns', async (t) => {
  const sizes: string[] = [];
  const h = setup(t, async (session) => {
    assert.equal(session.command, '');
    assert.equal(session.environ.TERM, 'xterm');
    session.on('window-change', ({ cols, rows }: { cols: number; rows: number }) => sizes.push(`${cols}x${rows}`));
    session.write(`size ${session.pty?.cols}x${session.pty?.rows}\r\n`);
    await new Promise((resolve) => session.once('data', resolve));
    session.write(`now ${session.pty?.cols}x${session.pty?.rows}\r\n`);
  });
  const io = stdio();
  const done = h.client.openSession({ pty: { term: 'xterm', cols: 80, rows: 24 } }, io);
  await waitFor('the first size', () => io.stdout.text().includes('size 80x24'));
  const applied = waitForEvent(h.host, 'resize');
  h.client.resize(100, 40);
  await applied;
  io.stdin.write('x');
  assert.deepEqual(await done, { code: 0 });
  assert.deepEqual(sizes, ['100x40']);
  assert.match(io.stdout.text(), /now 100x40/);
});

test('exit({ signal }) reports a signal; the abort signal fires when the host hangs up', async (t) => {
  const h = setup(t, async (session) => {
    session.write('ready\n');
    await new Promise((resolve) => session.signal.addEventListener('abort', resolve));
    session.exit({ signal: 'HUP' });
  });
  const io = stdio();
  const done = h.client.openSession({ command: 'wait' }, io);
  await waitFor('ready', () => io.stdout.text() === 'ready\n');
  h.host.hangup();
  assert.deepEqual(await done, { signal: 'HUP' });
});

test('a handler that throws ends its session with the message and 255; the host serves the next session', async (t) => {
  let calls = 0;
  const h = setup(t, async (session) => {
    calls++;
    if (session.command === 'boom now') throw new Error('boom before any output');
    if (session.command === 'boom later') {
      session.write('partial ');
      await new Promise((resolve) => setImmediate(resolve));
      throw new Error('boom after output');
    }
    session.write('fine');
  });
  const failed = waitForEvent<[number, unknown]>(h.host, 'handler-error');
  const early = stdio();
  assert.deepEqual(await h.client.openSession({ command: 'boom now' }, early), { code: 255 });
  assert.match(early.stderr.text(), /^tsshd: the session's handler failed: boom before any output\n$/);
  await failed;

  const late = stdio();
  assert.deepEqual(await h.client.openSession({ command: 'boom later' }, late), { code: 255 });
  assert.equal(late.stdout.text(), 'partial ');
  assert.match(late.stderr.text(), /boom after output/);

  const tty = stdio();
  assert.deepEqual(await h.client.openSession({ command: 'boom now', pty: { term: 'xterm', cols: 80, rows: 24 } }, tty), { code: 255 });
  assert.match(tty.stdout.text(), /\r\ntsshd: the session's handler failed: boom before any output\r\n/);

  const ok = stdio();
  assert.deepEqual(await h.client.openSession({ command: 'fine' }, ok), { code: 0 });
  assert.equal(ok.stdout.text(), 'fine');
  assert.equal(calls, 4);
});

test('writes after exit are dropped, not thrown', async (t) => {
  const h = setup(t, (session) => {
    session.exit(0);
    session.write('late');
    session.stderr.write('late');
  });
  const io = stdio();
  assert.deepEqual(await h.client.openSession({ command: 'x' }, io), { code: 0 });
  assert.equal(io.stdout.text(), '');
});
