/**
 * Issue 14, 1: an on-path observer copies ONE client datagram while the server
 * streams bulk output, and delivers the copy from another address before the
 * original arrives. The server must not aim its output at that address: it
 * gets at most 3x the bytes it sent (address-validation.ts), the peer does not
 * move, and the session goes on. Over KCP and QUIC on UDP, and over KCP on
 * UDP-over-TCP (where a raced frame on a new connection must not replace the
 * client's connection either).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { generateSessionSecret } from '../../src/crypto/session-secret.js';
import { ClientPath } from '../../src/path/client-path.js';
import { MIN_PATH_DATAGRAM_BYTES } from '../../src/path/datagram-format.js';
import { ServerPath } from '../../src/path/server-path.js';
import { FRAME_HEADER_BYTES, TcpFrameDecoder } from '../../src/path/tcp-framing.js';
import type { Connection, Stream } from '../../src/transport/connection.js';
import { TcpRelay } from '../support/tcp-relay.js';
import { waitFor } from '../support/wait.js';
import { createTransportPair, kcpFactory, type ConnectionFactory } from './harness.js';
import { quicFactory } from './quic-harness.js';

const BULK = 7;
const TOTAL = 3 * 1024 * 1024;
/** Client bytes received before the copy is taken: bulk is well under way. */
const CAPTURE_AFTER = 256 * 1024;

/** The server writes TOTAL bytes on the first stream the client opens; resolves the client's byte count as it grows. */
function bulkFromServer(client: Connection, server: Connection): { received: () => number; done: Promise<void> } {
  server.once('stream', (s: Stream) => {
    void (async () => {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      for (let sent = 0; sent < TOTAL; sent += chunk.length) {
        if (!s.write(chunk)) await once(s, 'drain');
      }
      s.end();
    })();
  });
  const stream = client.openStream(BULK);
  stream.write('go');
  let received = 0;
  stream.on('data', (d: Buffer) => (received += d.length));
  const done = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  return { received: () => received, done };
}

for (const [name, factory] of [
  ['kcp', kcpFactory],
  ['quic', quicFactory],
] as [string, ConnectionFactory][]) {
  test(`${name}: a raced copy of one client datagram from another address gets at most 3x its size; the peer stays and bulk completes`, { timeout: 60_000 }, async () => {
    // 80 ms RTT, as in the trial: the copy wins the race by 40 ms.
    const pair = await createTransportPair(factory, { clientToServer: { delayMs: 40 }, serverToClient: { delayMs: 40 } });
    const attacker = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => attacker.bind(0, '127.0.0.1', resolve));
    let attackerBytes = 0;
    attacker.on('message', (msg) => (attackerBytes += msg.length));
    try {
      const bulk = bulkFromServer(pair.client, pair.server);
      await waitFor('bulk under way', () => bulk.received() >= CAPTURE_AFTER, 30_000);
      const peer = pair.serverPath.stats().peer;
      let copy: Buffer | null = null;
      pair.proxy.tapClient = (datagram) => {
        if (copy !== null) return;
        copy = Buffer.from(datagram);
        attacker.send(copy, pair.serverPath.port, '127.0.0.1');
      };
      await waitFor('the copy taken', () => copy !== null);
      await waitFor('the server to see the copy', () => pair.serverPath.stats().challengesSent > 0 || pair.serverPath.stats().peerMoves > 0);
      await bulk.done;
      assert.equal(bulk.received(), TOTAL);
      const limit = 3 * copy!.length;
      assert.ok(attackerBytes <= limit, `the other address got ${attackerBytes} bytes from a ${copy!.length}-byte datagram (limit ${limit})`);
      assert.deepEqual(pair.serverPath.stats().peer, peer, 'the peer did not move');
      assert.equal(pair.serverPath.stats().peerMoves, 0);
      assert.equal(pair.serverPath.stats().candidate, null, 'the real client spoke again: no candidate left');
    } finally {
      attacker.close();
      await pair.close();
    }
  });
}

test('kcp over UDP-over-TCP: a raced frame on a new connection gets at most 3x its size and does not replace the client connection', { timeout: 60_000 }, async () => {
  const secret = generateSessionSecret();
  const base = 20_000 + Math.floor(Math.random() * 400) * 100;
  const serverPath = await ServerPath.create({ portSpec: `${base}-${base + 99}`, secret, host: '127.0.0.1', proxyMode: 'tcp' });
  // 40 ms each way through the relay (80 ms RTT): the copy, sent straight to the server, wins the race.
  const relay = await TcpRelay.start({ targetHost: '127.0.0.1', targetPort: serverPath.port, delayMs: 40 });
  let onFrame: ((datagram: Buffer) => void) | null = null;
  const frames = new TcpFrameDecoder(MIN_PATH_DATAGRAM_BYTES, 65_535, (datagram) => onFrame?.(datagram));
  relay.tapClient = (chunk) => void frames.push(chunk);
  const clientPath = await ClientPath.create({ host: '127.0.0.1', port: relay.port, secret, proxyMode: 'tcp', interfacePollMs: 0 });
  const client = kcpFactory(clientPath, 'client');
  const server = kcpFactory(serverPath, 'server');
  const attacker = net.connect(serverPath.port, '127.0.0.1');
  attacker.on('error', () => undefined);
  let attackerBytes = 0;
  attacker.on('data', (d: Buffer) => (attackerBytes += d.length));
  try {
    await once(attacker, 'connect');
    const bulk = bulkFromServer(client, server);
    await waitFor('bulk under way', () => bulk.received() >= CAPTURE_AFTER, 30_000);
    let copy: Buffer | null = null;
    onFrame = (datagram) => {
      if (copy !== null) return;
      copy = Buffer.allocUnsafe(FRAME_HEADER_BYTES + datagram.length);
      copy.writeUInt16BE(datagram.length, 0);
      datagram.copy(copy, FRAME_HEADER_BYTES);
      attacker.write(copy);
    };
    await waitFor('the server to see the copy', () => serverPath.stats().challengesSent > 0 || serverPath.stats().peerMoves > 0);
    await bulk.done;
    assert.equal(bulk.received(), TOTAL);
    assert.equal(clientPath.stats().renewals, 0, 'the client connection was never cut');
    const limit = 3 * copy!.length;
    assert.ok(attackerBytes <= limit, `the other connection got ${attackerBytes} bytes from a ${copy!.length}-byte frame (limit ${limit})`);
    assert.equal(serverPath.stats().peerMoves, 0);
  } finally {
    attacker.destroy();
    client.destroy();
    server.destroy();
    clientPath.close();
    serverPath.close();
    await relay.close();
  }
});
