import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { waitFor, waitForEvent } from '../support/wait.js';
import { TcpRelay } from '../support/tcp-relay.js';
import { startPair } from './fixtures.js';

const TCP = { proxyMode: 'tcp' as const, heartbeatTimeoutMs: 60_000 };

test('TCP proxy mode: datagrams and keepalives round-trip as length-prefixed frames', async () => {
  const pair = await startPair({ server: TCP, client: TCP });
  try {
    const { server, client } = pair;
    const atClient: Buffer[] = [];
    server.onDatagram = (p) => server.send(p);
    client.onDatagram = (p) => atClient.push(p);
    const sent = [Buffer.from('small'), randomBytes(client.payloadBudget), Buffer.alloc(0), randomBytes(700)];
    for (const p of sent) client.send(p);
    await waitFor('4 echoes', () => atClient.length === 4);
    // TCP keeps order, so the echoes come back exactly as sent.
    assert.deepEqual(atClient, sent);
    await waitFor('the keepalive answer', () => client.stats().keepalivesReceived >= 1);
    assert.ok(Number.isFinite(client.srttMs));
    assert.equal(server.stats().peer?.port, client.stats().localPort);
  } finally {
    pair.close();
  }
});

test('TCP proxy mode: a destroyed connection is replaced like a UDP renewal and the server follows', async () => {
  let relay: TcpRelay | null = null;
  const pair = await startPair({
    server: TCP,
    client: TCP,
    clientPort: async (serverPort) => {
      relay = await TcpRelay.start({ targetHost: '127.0.0.1', targetPort: serverPort });
      return relay.port;
    },
  });
  try {
    const { server, client } = pair;
    const atClient: string[] = [];
    server.onDatagram = (p) => server.send(p);
    client.onDatagram = (p) => atClient.push(p.toString());
    client.send(Buffer.from('before'));
    await waitFor('an echo before the cut', () => atClient.includes('before'));
    const renewed = waitForEvent<string>(client, 'renewed');
    const moved = waitForEvent(server, 'peer-moved');
    relay!.cut();
    assert.match(await renewed, /socket failed/);
    await moved;
    assert.equal(relay!.stats.accepted, 2);
    assert.equal(client.stats().renewals, 1);
    client.send(Buffer.from('after'));
    await waitFor('an echo after reconnecting', () => atClient.includes('after'));
  } finally {
    pair.close();
    await relay!.close();
  }
});

test('TCP proxy mode: an impossible frame length is counted and closes that connection only', async () => {
  const pair = await startPair({ server: TCP, client: TCP });
  const intruder = net.connect(pair.server.port, '127.0.0.1');
  intruder.on('error', () => undefined);
  try {
    const { server, client } = pair;
    await waitForEvent(intruder, 'connect');
    const closed = waitForEvent(intruder, 'close');
    // A well-formed frame of garbage: refused by authentication, the connection stays.
    const garbage = randomBytes(40);
    garbage.writeUInt16BE(38, 0);
    garbage[2] = 0x01;
    garbage.writeUInt32BE(0, 3);
    garbage.writeUInt32BE(1_000_000, 7);
    intruder.write(garbage);
    await waitFor('the garbage frame counted', () => server.stats().dropped.auth === 1);
    assert.equal(intruder.destroyed, false);
    intruder.write(Buffer.from([0x00, 0x05, 1, 2, 3, 4, 5]));
    await closed;
    assert.equal(server.stats().dropped.malformed, 1);
    const atServer: string[] = [];
    server.onDatagram = (p) => atServer.push(p.toString());
    client.send(Buffer.from('unaffected'));
    await waitFor('the real client still gets through', () => atServer.length === 1);
  } finally {
    intruder.destroy();
    pair.close();
  }
});

test('TCP proxy mode: goodbye closes the server with the reason', async () => {
  const pair = await startPair({ server: TCP, client: TCP });
  const closed = waitForEvent<string>(pair.server, 'close');
  pair.client.close('done over tcp');
  assert.equal(await closed, 'done over tcp');
  pair.close();
});

test('TCP proxy mode: connections that never authenticate are bounded in number and closed after a few seconds; the client is untouched', { timeout: 30_000 }, async () => {
  const pair = await startPair({ server: TCP, client: TCP });
  const intruders: net.Socket[] = [];
  try {
    const { server, client } = pair;
    for (let i = 0; i < 20; i++) {
      const s = net.connect(pair.server.port, '127.0.0.1');
      s.on('error', () => undefined);
      intruders.push(s);
    }
    await Promise.all(intruders.map((s) => waitForEvent(s, 'connect')));
    // At most 8 unauthenticated ones at once (plus the client's own): the oldest were evicted.
    await waitFor('the oldest intruders evicted', () => intruders.filter((s) => s.destroyed || s.readableEnded).length >= 12 || server.stats().tcpConnections <= 9);
    assert.ok(server.stats().tcpConnections <= 9, `${server.stats().tcpConnections} connections kept`);
    // The rest are closed once UNAUTHENTICATED_TCP_MS (5 s) passes without an authenticated frame.
    await waitFor('the silent intruders closed', () => server.stats().tcpConnections === 1, 15_000);
    const atServer: string[] = [];
    server.onDatagram = (p) => atServer.push(p.toString());
    client.send(Buffer.from('unaffected'));
    await waitFor('the real client still gets through', () => atServer.length === 1);
    assert.equal(client.stats().renewals, 0);
  } finally {
    for (const s of intruders) s.destroy();
    pair.close();
  }
});
