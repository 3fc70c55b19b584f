import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentForwarding } from '../../src/client/agent-forward.js';
import { X11Forwarding } from '../../src/client/x11-forward.js';
import { encodeMessage } from '../../src/protocol/message-codec.js';
import { StreamKind } from '../../src/protocol/stream-kind.js';
import { encodeX11Setup } from '../../src/protocol/x11-setup.js';
import type { Stream } from '../../src/transport/connection.js';
import { memoryConnectionPair } from '../support/stream-pair.js';
import { waitFor } from '../support/wait.js';

const MIT = 'MIT-MAGIC-COOKIE-1';

/** A local "display" on a Unix socket that records everything it receives and answers "OK". */
async function recordingDisplay(dir: string): Promise<{ path: string; received: Buffer[]; close(): void }> {
  const path = join(dir, 'X0');
  const received: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    let all = Buffer.alloc(0);
    s.on('data', (b: Buffer) => {
      all = Buffer.concat([all, b]);
      received[0] = all;
      s.write('OK');
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    received,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function collect(stream: Stream): { data: () => Buffer; ended: () => boolean } {
  let data = Buffer.alloc(0);
  let ended = false;
  stream.on('data', (b: Buffer) => (data = Buffer.concat([data, b])));
  stream.once('end', () => (ended = true));
  stream.once('close', () => (ended = true));
  stream.on('error', () => undefined);
  return { data: () => data, ended: () => ended };
}

for (const littleEndian of [false, true]) {
  test(`X11Forwarding (${littleEndian ? 'l' : 'B'}): a setup arriving byte by byte with the fake cookie reaches the display with the real one, then bytes flow`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tssh-x11fwd-'));
    const display = await recordingDisplay(dir);
    const [client, server] = memoryConnectionPair();
    const auth = { protocol: MIT, real: randomBytes(16), fake: randomBytes(16) };
    const fwd = new X11Forwarding(client, { target: { kind: 'unix', path: display.path, number: 0, screen: 0 }, auth, log: () => undefined });
    try {
      const stream = server.openStream(StreamKind.X11);
      const got = collect(stream);
      stream.write(encodeMessage({ type: 'x11', session: 1 }));
      const setup = encodeX11Setup({ littleEndian, major: 11, minor: 0, authName: MIT, authData: auth.fake });
      for (const byte of Buffer.concat([setup, Buffer.from('after')])) stream.write(Buffer.from([byte]));
      const expected = Buffer.concat([encodeX11Setup({ littleEndian, major: 11, minor: 0, authName: MIT, authData: auth.real }), Buffer.from('after')]);
      await waitFor('the display to receive the setup and what followed', () => display.received[0]?.equals(expected), 5000, 5);
      await waitFor('the display\'s answer', () => got.data().toString().startsWith('OK'), 5000, 5);
      assert.equal(display.received[0]!.includes(auth.fake), false, 'the fake cookie never reaches the display');
    } finally {
      fwd.close();
      display.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('X11Forwarding: a wrong cookie gets the Failed reply and the stream ends; the display sees nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tssh-x11fwd-'));
  const display = await recordingDisplay(dir);
  const [client, server] = memoryConnectionPair();
  const auth = { protocol: MIT, real: randomBytes(16), fake: randomBytes(16) };
  const lines: string[] = [];
  const fwd = new X11Forwarding(client, { target: { kind: 'unix', path: display.path, number: 0, screen: 0 }, auth, log: (l) => lines.push(l) });
  try {
    const stream = server.openStream(StreamKind.X11);
    const got = collect(stream);
    stream.write(encodeMessage({ type: 'x11', session: 1 }));
    stream.write(encodeX11Setup({ littleEndian: true, major: 11, minor: 0, authName: MIT, authData: randomBytes(16) }));
    await waitFor('the stream to end', () => got.ended(), 5000, 5);
    assert.equal(got.data()[0], 0, 'X11 Failed reply');
    assert.match(got.data().toString('latin1'), /X11 connection rejected because of wrong authentication/);
    assert.deepEqual(lines, ['tssh: X11 connection rejected because of wrong authentication']);
    assert.equal(display.received.length, 0);
  } finally {
    fwd.close();
    display.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('X11Forwarding: after ForwardX11Timeout (untrusted) connections are refused', async () => {
  const [client, server] = memoryConnectionPair();
  const auth = { protocol: MIT, real: randomBytes(16), fake: randomBytes(16), refuseAfter: 1000 };
  const lines: string[] = [];
  const fwd = new X11Forwarding(client, { target: { kind: 'unix', path: '/nonexistent', number: 0, screen: 0 }, auth, log: (l) => lines.push(l), now: () => 2000 });
  const stream = server.openStream(StreamKind.X11);
  const got = collect(stream);
  stream.write(encodeMessage({ type: 'x11', session: 1 }));
  await waitFor('the stream to be reset', () => got.ended(), 5000, 5);
  assert.deepEqual(lines, ['tssh: rejected X11 connection after ForwardX11Timeout expired']);
  fwd.close();
});

test('AgentForwarding: bytes reach the local agent socket; an unreachable agent resets the stream with one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tssh-agentfwd-'));
  const agent = await recordingDisplay(dir);
  const [client, server] = memoryConnectionPair();
  const lines: string[] = [];
  const fwd = new AgentForwarding(client, { socketPath: agent.path, log: (l) => lines.push(l) });
  try {
    const stream = server.openStream(StreamKind.Agent);
    const got = collect(stream);
    stream.write(encodeMessage({ type: 'agent', session: 1 }));
    stream.write('\0\0\0\x01\x0b');
    await waitFor('the agent to get the request', () => agent.received[0]?.equals(Buffer.from('\0\0\0\x01\x0b')), 5000, 5);
    await waitFor('the answer', () => got.data().toString() === 'OK', 5000, 5);
    fwd.close();
    const badConn = memoryConnectionPair();
    const bad = new AgentForwarding(badConn[0], { socketPath: join(dir, 'missing'), log: (l) => lines.push(l) });
    const s2 = badConn[1].openStream(StreamKind.Agent);
    const got2 = collect(s2);
    s2.write(encodeMessage({ type: 'agent', session: 1 }));
    await waitFor('the stream to be reset', () => got2.ended(), 5000, 5);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^tssh: cannot reach the local agent at .*missing \(ENOENT\); is ssh-agent running\?$/);
    bad.close();
  } finally {
    agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
