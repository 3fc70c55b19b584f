import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { waitFor } from '../support/wait.js';

/** A UDP echo server on loopback that records the source ports it hears from. */
async function startEchoServer(): Promise<{ socket: dgram.Socket; port: number; ports: number[]; received: string[] }> {
  const socket = dgram.createSocket('udp4');
  const ports: number[] = [];
  const received: string[] = [];
  socket.on('message', (msg, rinfo) => {
    ports.push(rinfo.port);
    received.push(msg.toString());
    socket.send(Buffer.concat([Buffer.from('echo '), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, ports, received };
}

async function startClient(): Promise<{ socket: dgram.Socket; replies: string[] }> {
  const socket = dgram.createSocket('udp4');
  const replies: string[] = [];
  socket.on('message', (msg) => replies.push(msg.toString()));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, replies };
}

test('the UDP proxy relays both ways, and after rebind() the server sees a new source port', async () => {
  const server = await startEchoServer();
  const client = await startClient();
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: server.port, seed: 1 });
  try {
    client.socket.send('hello', proxy.port, '127.0.0.1');
    await waitFor('the first echo', () => client.replies.length === 1);
    assert.deepEqual(client.replies, ['echo hello']);
    const firstPort = server.ports[0]!;
    assert.equal(firstPort, proxy.outboundPort);

    await proxy.rebind();
    assert.notEqual(proxy.outboundPort, firstPort);
    client.socket.send('again', proxy.port, '127.0.0.1');
    await waitFor('the echo after rebind', () => client.replies.length === 2);
    assert.equal(client.replies[1], 'echo again');
    assert.equal(server.ports[1], proxy.outboundPort);
    assert.notEqual(server.ports[1], firstPort);

    const s = proxy.stats;
    assert.equal(s.rebinds, 1);
    assert.equal(s.fromClient, 2);
    assert.equal(s.toServer, 2);
    assert.equal(s.fromServer, 2);
    assert.equal(s.toClient, 2);
  } finally {
    proxy.close();
    client.socket.close();
    server.socket.close();
  }
});

test('the UDP proxy applies impairment changed at run time: loss, outage, delay', async () => {
  const server = await startEchoServer();
  const client = await startClient();
  const proxy = await ImpairmentProxy.start({
    targetHost: '127.0.0.1',
    targetPort: server.port,
    clientToServer: { delayMs: 10 },
    serverToClient: { delayMs: 10 },
  });
  try {
    proxy.c2s.set({ lossPct: 100 });
    for (let i = 0; i < 10; i++) client.socket.send(`lost ${i}`, proxy.port, '127.0.0.1');
    await waitFor('the proxy to see the lost datagrams', () => proxy.c2s.stats.offered === 10);
    assert.equal(proxy.c2s.stats.lost, 10);

    proxy.c2s.set({ lossPct: 0 });
    proxy.s2c.outage(Infinity);
    client.socket.send('during outage', proxy.port, '127.0.0.1');
    await waitFor('the reply to be dropped by the outage', () => proxy.s2c.stats.outageDropped === 1);
    assert.deepEqual(server.received, ['during outage']);
    assert.equal(client.replies.length, 0);

    proxy.s2c.endOutage();
    client.socket.send('after outage', proxy.port, '127.0.0.1');
    await waitFor('the echo after the outage', () => client.replies.length === 1);
    assert.deepEqual(client.replies, ['echo after outage']);
    assert.equal(proxy.s2c.stats.delivered, 1);
  } finally {
    proxy.close();
    client.socket.close();
    server.socket.close();
  }
});

test('the UDP proxy ignores datagrams at its outbound socket from anyone but the target', async () => {
  const server = await startEchoServer();
  const stranger = await startClient();
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: server.port });
  try {
    stranger.socket.send('spoof', proxy.outboundPort, '127.0.0.1');
    await waitFor('the stray to be counted', () => proxy.stats.strays === 1);
    assert.equal(proxy.s2c.stats.offered, 0);
  } finally {
    proxy.close();
    stranger.socket.close();
    server.socket.close();
  }
});
