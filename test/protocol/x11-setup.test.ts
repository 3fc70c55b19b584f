import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentSocketPath } from '../../src/client/agent-x11-options.js';
import { firstCookie, parseDisplay } from '../../src/client/x11-auth.js';
import { swapX11Cookie } from '../../src/client/x11-forward.js';
import { parseAgentStreamHeader, parseX11StreamHeader } from '../../src/protocol/agent-x11-messages.js';
import { ProtocolError, parseSessionReply, parseSessionRequest } from '../../src/protocol/messages.js';
import { encodeX11Setup, parseX11Setup, x11SetupFailure, MAX_X11_AUTH_FIELD } from '../../src/protocol/x11-setup.js';

const MIT = 'MIT-MAGIC-COOKIE-1';
const fake = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const real = Buffer.from('f0e1d2c3b4a5968778695a4b3c2d1e0f', 'hex');

/** A setup request written by hand, as an X client (libxcb) writes it. */
function handSetup(littleEndian: boolean, name: string, data: Buffer): Buffer {
  const n = Buffer.from(name, 'latin1');
  const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const head = Buffer.alloc(12);
  head[0] = littleEndian ? 0x6c : 0x42;
  const w = (v: number, at: number): number => (littleEndian ? head.writeUInt16LE(v, at) : head.writeUInt16BE(v, at));
  w(11, 2);
  w(0, 4);
  w(n.length, 6);
  w(data.length, 8);
  return Buffer.concat([head, pad(n), pad(data)]);
}

for (const littleEndian of [false, true]) {
  const order = littleEndian ? "'l' (LSB first)" : "'B' (MSB first)";

  test(`x11 setup ${order}: parsed whole, name and data read, length covers the padding`, () => {
    const bytes = handSetup(littleEndian, MIT, fake);
    const r = parseX11Setup(Buffer.concat([bytes, Buffer.from([1, 2, 3])]));
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.equal(r.setup.littleEndian, littleEndian);
    assert.equal(r.setup.major, 11);
    assert.equal(r.setup.authName, MIT);
    assert.deepEqual(r.setup.authData, fake);
    assert.equal(r.setup.length, bytes.length);
    assert.equal(bytes.length, 12 + 20 + 16);
    // Re-encoding gives the same bytes.
    assert.deepEqual(encodeX11Setup(r.setup), bytes);
  });

  test(`x11 setup ${order}: every prefix is incomplete, never bad`, () => {
    const bytes = handSetup(littleEndian, MIT, fake);
    for (let i = 0; i < bytes.length; i++) assert.equal(parseX11Setup(bytes.subarray(0, i)).kind, 'incomplete', `prefix ${i}`);
  });

  test(`x11 cookie swap ${order}: the fake cookie becomes the real one, in the client's byte order`, () => {
    const r = parseX11Setup(handSetup(littleEndian, MIT, fake));
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    const v = swapX11Cookie(r.setup, { protocol: MIT, fake, real });
    assert.equal(v.ok, true);
    if (!v.ok) return;
    assert.deepEqual(v.setup, handSetup(littleEndian, MIT, real));
  });

  test(`x11 cookie swap ${order}: a wrong cookie is refused with the protocol's Failed reply`, () => {
    const wrong = Buffer.from(fake);
    wrong[15] ^= 1;
    for (const [name, data] of [[MIT, wrong], [MIT, fake.subarray(0, 8)], ['XDM-AUTHORIZATION-1', fake], ['', Buffer.alloc(0)]] as const) {
      const r = parseX11Setup(handSetup(littleEndian, name, data));
      assert.equal(r.kind, 'ok');
      if (r.kind !== 'ok') continue;
      const v = swapX11Cookie(r.setup, { protocol: MIT, fake, real });
      assert.equal(v.ok, false, `${name} ${data.toString('hex')}`);
      if (v.ok) continue;
      const reply = v.reply!;
      assert.equal(reply[0], 0, 'Failed');
      const reasonLength = reply[1]!;
      assert.equal(littleEndian ? reply.readUInt16LE(2) : reply.readUInt16BE(2), 11);
      assert.equal((littleEndian ? reply.readUInt16LE(6) : reply.readUInt16BE(6)) * 4, reply.length - 8);
      assert.match(reply.toString('latin1', 8, 8 + reasonLength), /^X11 connection rejected because of /);
      // The real cookie never appears in a refusal.
      assert.equal(reply.includes(real), false);
    }
  });
}

test('x11 setup: a first byte other than B or l is bad at once; oversize authorization is bad', () => {
  const r = parseX11Setup(Buffer.from([0x00]));
  assert.equal(r.kind, 'bad');
  assert.equal(parseX11Setup(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'bad');
  const big = handSetup(false, MIT, fake);
  big.writeUInt16BE(MAX_X11_AUTH_FIELD + 1, 8);
  const b = parseX11Setup(big);
  assert.equal(b.kind, 'bad');
  if (b.kind === 'bad') assert.match(b.reason, /longer than/);
});

test('x11 setup failure reply pads the reason to 4 bytes', () => {
  const reply = x11SetupFailure({ littleEndian: false, major: 11, minor: 0 }, 'abcde');
  assert.equal(reply.length, 8 + 8);
  assert.equal(reply[1], 5);
  assert.equal(reply.readUInt16BE(6), 2);
});

test('parseDisplay: local socket, launchd path, TCP host, screen, and nonsense', () => {
  assert.deepEqual(parseDisplay(':0'), { kind: 'unix', path: '/tmp/.X11-unix/X0', number: 0, screen: 0 });
  assert.deepEqual(parseDisplay('unix:12.1'), { kind: 'unix', path: '/tmp/.X11-unix/X12', number: 12, screen: 1 });
  assert.deepEqual(parseDisplay('/private/tmp/launch-x/org.xquartz:0'), { kind: 'unix', path: '/private/tmp/launch-x/org.xquartz:0', number: 0, screen: 0 });
  assert.deepEqual(parseDisplay('localhost:10.0'), { kind: 'tcp', host: 'localhost', port: 6010, number: 10, screen: 0 });
  assert.deepEqual(parseDisplay('[::1]:3'), { kind: 'tcp', host: '::1', port: 6003, number: 3, screen: 0 });
  for (const bad of ['', '0', 'host', 'host:', 'host:x', ':99999', 'a b:0']) assert.equal(parseDisplay(bad), null, bad);
});

test('firstCookie reads xauth list output and skips junk', () => {
  assert.deepEqual(firstCookie(`vm/unix:0  ${MIT}  ${real.toString('hex')}\n`), { protocol: MIT, data: real });
  assert.deepEqual(firstCookie(`garbage\nvm/unix:0  ${MIT}  zz\nvm/unix:0  ${MIT}  ${fake.toString('hex').toUpperCase()}\n`), { protocol: MIT, data: fake });
  assert.equal(firstCookie(''), null);
  assert.equal(firstCookie(null), null);
});

test('agentSocketPath follows ForwardAgent: yes, no, $VAR, ~/ and a path; relative or unset is none', () => {
  const env = { SSH_AUTH_SOCK: '/tmp/a/agent.1', OTHER: '/tmp/b/s', REL: 'rel/s' };
  assert.equal(agentSocketPath('yes', env, '/home/u'), '/tmp/a/agent.1');
  assert.equal(agentSocketPath('no', env, '/home/u'), undefined);
  assert.equal(agentSocketPath('$OTHER', env, '/home/u'), '/tmp/b/s');
  assert.equal(agentSocketPath('$REL', env, '/home/u'), undefined);
  assert.equal(agentSocketPath('$UNSET', env, '/home/u'), undefined);
  assert.equal(agentSocketPath('~/.ssh/agent', env, '/home/u'), '/home/u/.ssh/agent');
  assert.equal(agentSocketPath('/run/agent', env, '/home/u'), '/run/agent');
  assert.equal(agentSocketPath('yes', {}, '/home/u'), undefined);
});

test('session request: agent and x11 fields are checked', () => {
  const base = { type: 'session', id: 1, env: {} };
  const x11 = { protocol: MIT, cookie: fake.toString('hex'), screen: 0 };
  assert.deepEqual(parseSessionRequest({ ...base, agent: true, x11 }), { ...base, agent: true, x11 });
  assert.deepEqual(parseSessionRequest({ ...base, agent: false }), base);
  for (const bad of [
    { ...base, agent: 'yes' },
    { ...base, x11: { ...x11, cookie: 'ABCD' } },
    { ...base, x11: { ...x11, cookie: 'abc' } },
    { ...base, x11: { ...x11, protocol: 'MIT MAGIC' } },
    { ...base, x11: { ...x11, screen: -1 } },
    { ...base, x11: 'yes' },
  ]) {
    assert.throws(() => parseSessionRequest(bad), ProtocolError, JSON.stringify(bad));
  }
  assert.deepEqual(parseSessionReply({ type: 'session-ok', agentRefused: 'no', x11Refused: 'nope', other: 1 }), {
    type: 'session-ok',
    agentRefused: 'no',
    x11Refused: 'nope',
  });
});

test('agent and x11 stream headers are checked', () => {
  assert.deepEqual(parseAgentStreamHeader({ type: 'agent', session: 3 }), { type: 'agent', session: 3 });
  assert.deepEqual(parseX11StreamHeader({ type: 'x11', session: 3, originator: { host: '127.0.0.1', port: 4000 } }), {
    type: 'x11',
    session: 3,
    originator: { host: '127.0.0.1', port: 4000 },
  });
  assert.throws(() => parseAgentStreamHeader({ type: 'x11', session: 3 }), ProtocolError);
  assert.throws(() => parseX11StreamHeader({ type: 'x11', session: -1 }), ProtocolError);
  assert.throws(() => parseX11StreamHeader({ type: 'x11', session: 1, originator: { host: 1, port: 2 } }), ProtocolError);
});
