import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { generateSessionSecret } from '../../src/crypto/session-secret.js';
import { ClientPath } from '../../src/path/client-path.js';
import { openAuthPacket, sealAuthPacket } from '../../src/path/reference-auth.js';
import { ReferenceServerProxy } from '../../src/path/reference-server-proxy.js';
import { ServerPath } from '../../src/path/server-path.js';
import { waitFor } from '../support/wait.js';
import { testPortSpec } from './fixtures.js';

// The reference family's address authentication on our ServerPath's port: one port, two families.

const KEY = randomBytes(32);
const CLIENT_ID = 0xfedcba9876543210n;
const SERVER_ID = 0x0123456789abcdefn;

async function start(): Promise<{ server: ServerPath; proxy: ReferenceServerProxy; packets: Buffer[]; secret: Buffer }> {
  const secret = generateSessionSecret();
  const server = await ServerPath.create({ portSpec: testPortSpec(), secret, host: '127.0.0.1' });
  const proxy = new ReferenceServerProxy(KEY, CLIENT_ID, SERVER_ID);
  proxy.attach(server);
  const packets: Buffer[] = [];
  proxy.onPacket = (d) => packets.push(Buffer.from(d));
  return { server, proxy, packets, secret };
}

/** A UDP socket that records what it receives. */
async function socket(): Promise<dgram.Socket & { got: Buffer[] }> {
  const s = dgram.createSocket('udp4') as dgram.Socket & { got: Buffer[] };
  s.got = [];
  s.on('message', (m) => s.got.push(m));
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

const send = (s: dgram.Socket, port: number, data: Buffer): void => s.send(data, port, '127.0.0.1');

test('hostile datagrams are dropped and counted, answered never, and do not claim the port', async () => {
  const { server, proxy } = await start();
  const s = await socket();
  try {
    send(s, server.port, randomBytes(44)); // random bytes of an auth packet's size
    send(s, server.port, sealAuthPacket(randomBytes(32), CLIENT_ID, 1n)); // another key
    send(s, server.port, sealAuthPacket(KEY, CLIENT_ID + 1n, 1n)); // another client
    send(s, server.port, randomBytes(1200));
    await waitFor('four drops', () => proxy.drops.auth === 4);
    assert.equal(server.isDiverted, false);
    assert.equal(s.got.length, 0);
  } finally {
    s.close();
    server.close();
  }
});

test('our own client on the same port is never offered to the reference proxy and keeps the port', async () => {
  const { server, proxy, secret } = await start();
  const client = await ClientPath.create({ host: '127.0.0.1', port: server.port, secret, interfacePollMs: 0 });
  try {
    await waitFor('the native peer', () => server.stats().peer);
    assert.equal(proxy.drops.auth, 0);
    assert.equal(server.isDiverted, false);
    // A reference auth packet now is just another datagram our path cannot authenticate.
    const s = await socket();
    send(s, server.port, sealAuthPacket(KEY, CLIENT_ID, 1n));
    await waitFor('it to be dropped by our path', () => server.stats().dropped.auth + server.stats().dropped.malformed > 0);
    assert.equal(server.isDiverted, false);
    assert.equal(s.got.length, 0);
    s.close();
  } finally {
    client.close();
    server.close();
  }
});

test('the first valid auth packet claims the port; data from the authenticated address is delivered; serials only grow', async () => {
  const { server, proxy, packets } = await start();
  const a = await socket();
  const b = await socket();
  const reconnects: number[] = [];
  proxy.on('reconnected', (_addr: string, port: number) => reconnects.push(port));
  try {
    send(a, server.port, sealAuthPacket(KEY, CLIENT_ID, 1n));
    await waitFor('the answer', () => a.got.length === 1);
    assert.deepEqual(openAuthPacket(KEY, a.got[0]!), { id: SERVER_ID, serial: 1n });
    assert.equal(server.isDiverted, true);
    // The first non-auth datagram makes the address current; short ones are dropped (counted).
    send(a, server.port, Buffer.alloc(10, 1));
    send(a, server.port, Buffer.alloc(100, 2));
    await waitFor('the data', () => packets.length === 1);
    assert.deepEqual(packets[0], Buffer.alloc(100, 2));
    assert.equal(proxy.drops.short, 1);
    assert.deepEqual(reconnects, [a.address().port]);
    // Data from another address is not the client's; a replayed auth packet (same serial) does not move it.
    send(b, server.port, Buffer.alloc(100, 3));
    send(b, server.port, sealAuthPacket(KEY, CLIENT_ID, 1n));
    await waitFor('both dropped', () => proxy.drops.auth >= 1 && proxy.drops.stale >= 1);
    assert.equal(b.got.length, 0);
    proxy.send(Buffer.from('to the client'));
    await waitFor('the send to the current address', () => a.got.length === 2);
    // A new path with a higher serial: answered, and current once data comes from it.
    send(b, server.port, sealAuthPacket(KEY, CLIENT_ID, 2n));
    await waitFor('the answer on the new path', () => b.got.length === 1);
    assert.deepEqual(openAuthPacket(KEY, b.got[0]!), { id: SERVER_ID, serial: 2n });
    send(b, server.port, Buffer.alloc(100, 4));
    await waitFor('the data from the new path', () => packets.length === 2);
    assert.deepEqual(reconnects, [a.address().port, b.address().port]);
    proxy.send(Buffer.from('moved'));
    await waitFor('the send to the new address', () => b.got.length === 2);
    assert.equal(b.got[1]!.toString(), 'moved');
    assert.equal(a.got.length, 2);
  } finally {
    a.close();
    b.close();
    server.close();
  }
});
