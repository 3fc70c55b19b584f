import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { generateSessionSecret } from '../../src/crypto/session-secret.js';
import { ClientPath } from '../../src/path/client-path.js';
import { PATH_OVERHEAD_BYTES } from '../../src/path/datagram-format.js';
import { isLoopbackAddress, largestMtu, LOOPBACK_MTU_CAP, loopbackMtu, mtuForPeer, parseLoopbackMtu } from '../../src/path/loopback-mtu.js';
import { ServerPath } from '../../src/path/server-path.js';
import { waitFor } from '../support/wait.js';
import { RawSender, startPair, testPortSpec } from './fixtures.js';

const QUIET = { heartbeatTimeoutMs: 60_000 };
const LOOPBACK = { largeOnLoopback: true, ...QUIET };

test("the loopback size is lo's MTU less the IP and UDP headers, capped; unreadable means none", () => {
  assert.equal(parseLoopbackMtu('65536\n'), LOOPBACK_MTU_CAP);
  assert.equal(parseLoopbackMtu('16384'), 16384 - 48);
  assert.equal(parseLoopbackMtu('1500'), 1452);
  for (const bad of ['', 'abc', '40', '-1', '1.5e3x']) assert.equal(parseLoopbackMtu(bad), null, bad);
  assert.ok(LOOPBACK_MTU_CAP < 65_507, 'below the largest UDP payload');
});

test('loopback addresses: 127/8, ::1 and 127/8 mapped into IPv6; nothing else', () => {
  for (const a of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::FFFF:127.1.2.3']) assert.ok(isLoopbackAddress(a), a);
  for (const a of ['10.0.0.1', '198.18.0.1', '128.0.0.1', '1127.0.0.1', '::', '::2', 'fe80::1', '::ffff:10.0.0.1', 'localhost', '']) {
    assert.equal(isLoopbackAddress(a), false, a);
  }
});

test('only a loopback peer with the rule on gets the loopback size; an explicit UdpMTU or another peer keeps its own', () => {
  const lo = loopbackMtu();
  assert.equal(mtuForPeer(1400, true, '198.18.0.7'), 1400);
  assert.equal(mtuForPeer(1400, false, '127.0.0.1'), 1400, 'UdpMTU set: the rule is off');
  assert.equal(largestMtu(1400, false), 1400);
  if (lo === null) return; // Not Linux: no loopback size at all.
  assert.equal(mtuForPeer(1400, true, '127.0.0.1'), lo);
  assert.equal(mtuForPeer(1400, true, '::ffff:127.0.0.1'), lo);
  assert.equal(largestMtu(1400, true), lo);
  assert.equal(mtuForPeer(60_000, true, '127.0.0.1'), 60_000, 'never smaller than the configured size');
});

test('a path between loopback ends carries loopback-sized datagrams both ways; the server grows at first contact', async (t) => {
  const lo = loopbackMtu();
  if (lo === null) return t.skip('no loopback MTU on this system');
  const pair = await startPair({ server: LOOPBACK, client: LOOPBACK });
  t.after(() => pair.close());
  const { server, client } = pair;
  const budget = lo - PATH_OVERHEAD_BYTES;
  assert.equal(client.payloadBudget, budget, 'the client decides from the server address at create()');
  assert.equal(server.payloadBudget, budget, 'the server grew when its first peer turned out to be on loopback');
  assert.equal(server.largestPayloadBudget, budget);
  const atServer: number[] = [];
  const atClient: number[] = [];
  server.onDatagram = (p) => atServer.push(p.length);
  client.onDatagram = (p) => atClient.push(p.length);
  client.send(Buffer.alloc(budget, 1));
  server.send(Buffer.alloc(budget, 2));
  await waitFor('both large datagrams', () => atServer.includes(budget) && atClient.includes(budget));
  assert.throws(() => client.send(Buffer.alloc(budget + 1)), RangeError);
  assert.throws(() => server.send(Buffer.alloc(budget + 1)), RangeError);
  assert.equal(server.stats().dropped.malformed + server.stats().dropped.auth, 0);
});

test("the server's 'payload-budget' event fires once, before the first datagram is delivered", async (t) => {
  const lo = loopbackMtu();
  if (lo === null) return t.skip('no loopback MTU on this system');
  const secret = generateSessionSecret();
  const server = await ServerPath.create({ portSpec: testPortSpec(), secret, host: '127.0.0.1', ...LOOPBACK });
  t.after(() => server.close());
  assert.equal(server.payloadBudget, 1400 - PATH_OVERHEAD_BYTES, 'before any peer: the ordinary size');
  const order: string[] = [];
  server.on('payload-budget', (b: number) => order.push(`budget ${b}`));
  server.onDatagram = () => order.push('datagram');
  const grown = once(server, 'payload-budget');
  const client = await ClientPath.create({ host: '127.0.0.1', port: server.port, secret, interfacePollMs: 0, ...LOOPBACK });
  t.after(() => client.close());
  await grown;
  client.send(Buffer.from('hello'));
  await waitFor('the datagram', () => order.includes('datagram'));
  assert.deepEqual(order.filter((o) => o.startsWith('budget')), [`budget ${lo - PATH_OVERHEAD_BYTES}`]);
  assert.ok(order.indexOf(`budget ${lo - PATH_OVERHEAD_BYTES}`) < order.indexOf('datagram'));
});

test('an explicit UdpMTU (rule off) keeps 1400 on loopback, yet still accepts a large datagram the peer may send', async (t) => {
  const lo = loopbackMtu();
  if (lo === null) return t.skip('no loopback MTU on this system');
  const pair = await startPair({ server: QUIET, client: LOOPBACK });
  t.after(() => pair.close());
  const { server, client } = pair;
  assert.equal(server.payloadBudget, 1400 - PATH_OVERHEAD_BYTES);
  assert.throws(() => server.send(Buffer.alloc(1400)), RangeError);
  const sizes: number[] = [];
  server.onDatagram = (p) => sizes.push(p.length);
  client.send(Buffer.alloc(20_000, 3));
  await waitFor('the large datagram', () => sizes.includes(20_000));
});

test('hostile datagrams of any size up to the UDP limit are dropped and counted, never delivered', async (t) => {
  const pair = await startPair({ server: LOOPBACK, client: LOOPBACK });
  t.after(() => pair.close());
  const { server } = pair;
  let delivered = 0;
  server.onDatagram = () => delivered++;
  const before = server.stats().dropped;
  const sender = await RawSender.open();
  t.after(() => sender.close());
  const sizes = [40_000, 65_507, 32_768];
  for (const size of sizes) {
    const forged = Buffer.alloc(size, 0x41);
    forged[0] = 0x01; // version 1, epoch 0: gets as far as authentication
    forged.writeUInt32BE(0, 1);
    forged.writeUInt32BE(1000 + size, 5);
    sender.send(forged, server.port);
  }
  await waitFor('three refusals counted', () => {
    const d = server.stats().dropped;
    return d.auth + d.malformed + d.replay - (before.auth + before.malformed + before.replay) >= sizes.length;
  });
  assert.equal(delivered, 0);
  assert.equal(server.stats().peerMoves, 0);
});

test('TCP proxy mode on loopback: loopback-sized frames both ways; a frame beyond that size is still impossible', async (t) => {
  const lo = loopbackMtu();
  if (lo === null) return t.skip('no loopback MTU on this system');
  const TCP = { proxyMode: 'tcp' as const, ...LOOPBACK };
  const pair = await startPair({ server: TCP, client: TCP });
  t.after(() => pair.close());
  const { server, client } = pair;
  const budget = lo - PATH_OVERHEAD_BYTES;
  assert.equal(client.payloadBudget, budget);
  assert.equal(server.payloadBudget, budget);
  const atServer: number[] = [];
  const atClient: number[] = [];
  server.onDatagram = (p) => atServer.push(p.length);
  client.onDatagram = (p) => atClient.push(p.length);
  client.send(Buffer.alloc(budget, 1));
  server.send(Buffer.alloc(budget, 2));
  await waitFor('both large frames', () => atServer.includes(budget) && atClient.includes(budget));
  // An intruder's frame announcing one byte more than the loopback size: counted, its connection closed.
  const intruder = net.connect(server.port, '127.0.0.1');
  intruder.on('error', () => undefined);
  t.after(() => intruder.destroy());
  await once(intruder, 'connect');
  const closed = once(intruder, 'close');
  const header = Buffer.alloc(2);
  header.writeUInt16BE(lo + 1, 0);
  intruder.write(header);
  await closed;
  assert.equal(server.stats().dropped.malformed, 1);
  client.send(Buffer.from('still here'));
  await waitFor('the client still gets through', () => atServer.includes(10));
});
