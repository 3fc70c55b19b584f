import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAgentStreamHeader, parseX11StreamHeader } from '../../src/protocol/agent-x11-messages.js';
import { readFirstMessage } from '../../src/protocol/message-codec.js';
import type { SessionRequest } from '../../src/protocol/messages.js';
import { StreamKind } from '../../src/protocol/stream-kind.js';
import { refuseAgent, refuseX11, SessionForwarding, type AgentX11Policy } from '../../src/server/session-forwarding.js';
import { defaultSshdPolicy } from '../../src/server/sshd-config.js';
import type { Stream } from '../../src/transport/connection.js';
import { memoryConnectionPair } from '../support/stream-pair.js';
import { waitFor } from '../support/wait.js';

const XAUTH = '/usr/bin/xauth';
const NO_XAUTH = existsSync(XAUTH) ? false : 'needs xauth (apt-get install xauth)';

const policy = (changes: Partial<AgentX11Policy> = {}): AgentX11Policy => ({ ...defaultSshdPolicy(), x11Forwarding: true, ...changes });
const request = (changes: Partial<SessionRequest>): SessionRequest => ({ type: 'session', id: 7, env: {}, ...changes });
const cookie = randomBytes(16).toString('hex');

function nextStream(conn: ReturnType<typeof memoryConnectionPair>[0], kind: number): Promise<Stream> {
  return new Promise((resolve) => {
    const on = (s: Stream): void => {
      if (s.kind !== kind) return;
      conn.off('stream', on);
      s.on('error', () => undefined); // the test's socket.destroy() resets it
      resolve(s);
    };
    conn.on('stream', on);
  });
}

test('refusals name the option: DisableForwarding first, then AllowAgentForwarding / X11Forwarding', () => {
  assert.equal(refuseAgent(policy()), null);
  assert.equal(refuseAgent(policy({ allowAgentForwarding: false })), 'agent forwarding is disabled (AllowAgentForwarding no)');
  assert.equal(refuseAgent(policy({ disableForwarding: true })), 'agent forwarding is disabled (DisableForwarding yes)');
  assert.equal(refuseX11(policy()), null);
  assert.equal(refuseX11(policy({ x11Forwarding: false })), 'X11 forwarding is disabled (X11Forwarding no)');
  assert.equal(refuseX11({ ...policy(), disableForwarding: true }), 'X11 forwarding is disabled (DisableForwarding yes)');
  assert.equal(defaultSshdPolicy().x11Forwarding, false, "sshd's default is X11Forwarding no");
});

test('agent: a 0600 socket in a 0700 directory; each connection is an Agent stream with its header; release removes both', async () => {
  const [client, server] = memoryConnectionPair();
  const fwd = new SessionForwarding(policy());
  const setup = await fwd.setup(server, request({ agent: true }), {});
  try {
    const path = setup.env.SSH_AUTH_SOCK!;
    assert.ok(path, JSON.stringify(setup));
    assert.equal(setup.agentRefused, undefined);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(path)).mode & 0o777, 0o700);
    const arriving = nextStream(client, StreamKind.Agent);
    const socket = connect(path);
    const stream = await arriving;
    assert.deepEqual(parseAgentStreamHeader(await readFirstMessage(stream)), { type: 'agent', session: 7 });
    // Bytes both ways.
    socket.write('request');
    const got = await new Promise<string>((resolve) => stream.once('data', (b: Buffer) => resolve(b.toString())).resume());
    assert.equal(got, 'request');
    stream.write('answer');
    const back = await new Promise<string>((resolve) => socket.once('data', (b: Buffer) => resolve(b.toString())));
    assert.equal(back, 'answer');
    socket.destroy();
    setup.release();
    await waitFor('the agent directory to go', () => !existsSync(dirname(path)), 5000, 10);
  } finally {
    setup.release();
  }
});

test('agent refused by policy: no socket, the reason for the client', async () => {
  const [, server] = memoryConnectionPair();
  const setup = await new SessionForwarding(policy({ allowAgentForwarding: false })).setup(server, request({ agent: true }), {});
  assert.deepEqual(setup.env, {});
  assert.equal(setup.agentRefused, 'agent forwarding is disabled (AllowAgentForwarding no)');
});

/** Hold TCP port 6000+n on 127.0.0.1 so the display allocator must skip it. */
function block(n: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen(6000 + n, '127.0.0.1', () => resolve(s));
  });
}

test('x11: X11DisplayOffset upward, skipping a taken port; xauth gets the fake cookie for unix:N.S; X connections become X11 streams', { skip: NO_XAUTH }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsshd-x11-unit-'));
  const offset = 3000 + Math.floor(Math.random() * 2000);
  const blocker = await block(offset);
  const [client, server] = memoryConnectionPair();
  const env = { HOME: dir, XAUTHORITY: join(dir, 'xauthority'), PATH: '/usr/bin:/bin' };
  const setup = await new SessionForwarding(policy({ x11DisplayOffset: offset })).setup(
    server,
    request({ x11: { protocol: 'MIT-MAGIC-COOKIE-1', cookie, screen: 2 } }),
    env,
  );
  try {
    const m = /^localhost:([0-9]+)\.2$/.exec(setup.env.DISPLAY ?? '');
    assert.ok(m, JSON.stringify(setup));
    const number = Number(m[1]);
    assert.ok(number >= offset + (blocker ? 1 : 0) && number < offset + 1000, `display ${number} from offset ${offset}`);
    const listing = execFileSync(XAUTH, ['-f', env.XAUTHORITY, 'list'], { encoding: 'utf8' });
    assert.match(listing, new RegExp(`/unix:${number}\\s+MIT-MAGIC-COOKIE-1\\s+${cookie}`));
    const arriving = nextStream(client, StreamKind.X11);
    const socket = connect(6000 + number, '127.0.0.1');
    const stream = await arriving;
    const header = parseX11StreamHeader(await readFirstMessage(stream));
    assert.equal(header.session, 7);
    assert.equal(header.originator?.host, '127.0.0.1');
    socket.write('B\0setup');
    const got = await new Promise<string>((resolve) => stream.once('data', (b: Buffer) => resolve(b.toString('latin1'))).resume());
    assert.equal(got, 'B\0setup');
    socket.destroy();
  } finally {
    setup.release();
    blocker?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('x11 with X11UseLocalhost no: DISPLAY names this host and xauth the host/unix entry', { skip: NO_XAUTH }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsshd-x11-unit-'));
  const [, server] = memoryConnectionPair();
  const env = { HOME: dir, XAUTHORITY: join(dir, 'xauthority') };
  const setup = await new SessionForwarding(policy({ x11DisplayOffset: 5000 + Math.floor(Math.random() * 2000), x11UseLocalhost: false })).setup(
    server,
    request({ x11: { protocol: 'MIT-MAGIC-COOKIE-1', cookie, screen: 0 } }),
    env,
  );
  try {
    const m = new RegExp(`^${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:([0-9]+)\\.0$`).exec(setup.env.DISPLAY ?? '');
    assert.ok(m, JSON.stringify(setup));
    assert.match(execFileSync(XAUTH, ['-f', env.XAUTHORITY, 'list'], { encoding: 'utf8' }), new RegExp(`unix:${m[1]}\\s+MIT-MAGIC-COOKIE-1\\s+${cookie}`));
  } finally {
    setup.release();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('x11 refusals: X11Forwarding no, a missing xauth, and an xauth that fails all leave the session without DISPLAY', async () => {
  const [, server] = memoryConnectionPair();
  const x11 = { protocol: 'MIT-MAGIC-COOKIE-1', cookie, screen: 0 };
  const off = await new SessionForwarding(policy({ x11Forwarding: false })).setup(server, request({ x11 }), {});
  assert.equal(off.x11Refused, 'X11 forwarding is disabled (X11Forwarding no)');
  assert.deepEqual(off.env, {});
  const missing = await new SessionForwarding(policy({ xauthLocation: '/nonexistent/xauth' })).setup(server, request({ x11 }), {});
  assert.match(missing.x11Refused ?? '', /^no xauth program at \/nonexistent\/xauth; cannot forward X11/);
  const failing = await new SessionForwarding(policy({ xauthLocation: '/bin/false', x11DisplayOffset: 7100 })).setup(server, request({ x11 }), {});
  assert.match(failing.x11Refused ?? '', /^\/bin\/false failed \(exit status 1\)/);
  assert.deepEqual(failing.env, {});
  failing.release();
});

test('agent: a tsshd that exits with the session still open removes the socket directory on the way out', async () => {
  const module = new URL('../../src/server/agent-socket.js', import.meta.url).href;
  const script = `
    const { openAgentSocket } = await import(${JSON.stringify(module)});
    const conn = { openStream() { throw new Error('unused'); } };
    const socket = await openAgentSocket(conn, 1, () => undefined);
    console.log(socket.path);
    process.exit(0);
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 }).trim();
  assert.match(out, /^\/.+\/agent\.[0-9]+$/);
  assert.equal(existsSync(dirname(out)), false, `${dirname(out)} was left behind`);
});

test('agent: ChannelTimeout agent-connection=1 closes an idle agent connection (as sshd)', async () => {
  const [client, server] = memoryConnectionPair();
  const fwd = new SessionForwarding({ ...policy(), channelTimeouts: [{ type: 'agent-connection', seconds: 1 }] } as AgentX11Policy);
  const setup = await fwd.setup(server, request({ agent: true }), {});
  try {
    const arriving = nextStream(client, StreamKind.Agent);
    const socket = connect(setup.env.SSH_AUTH_SOCK!);
    let closed = false;
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    await arriving;
    await waitFor('the idle agent connection to be closed', () => closed, 10_000, 20);
  } finally {
    setup.release();
  }
});
