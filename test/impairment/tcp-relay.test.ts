import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { TcpRelay } from '../support/tcp-relay.js';
import { waitFor } from '../support/wait.js';

/** A TCP echo server on loopback that remembers its sockets so the test can close them all. */
async function startEchoServer(): Promise<{ server: net.Server; port: number; sockets: Set<net.Socket>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Connect through the relay; collect what comes back and whether the socket closed. */
async function connect(port: number): Promise<{ socket: net.Socket; data: () => string; closed: () => boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, data: () => text, closed: () => closed };
}

for (const delayMs of [0, 25]) {
  test(`the TCP relay relays both ways (delay ${delayMs} ms) and cut() ends every connection`, async () => {
    const echo = await startEchoServer();
    const relay = await TcpRelay.start({ targetHost: '127.0.0.1', targetPort: echo.port, delayMs });
    const clients: net.Socket[] = [];
    try {
      const one = await connect(relay.port);
      const two = await connect(relay.port);
      clients.push(one.socket, two.socket);
      one.socket.write('ping one');
      two.socket.write('ping two');
      await waitFor('both echoes', () => one.data() === 'ping one' && two.data() === 'ping two');
      assert.equal(relay.connections, 2);
      assert.equal(relay.stats.bytesToServer, 16);
      assert.equal(relay.stats.bytesToClient, 16);

      relay.cut();
      await waitFor('the clients to see the cut', () => one.closed() && two.closed());
      assert.equal(relay.connections, 0);
      assert.equal(relay.stats.cut, 2);
      await waitFor('the server side to close too', () => echo.sockets.size === 0);

      // The relay keeps accepting after a cut.
      const three = await connect(relay.port);
      clients.push(three.socket);
      three.socket.write('after cut');
      await waitFor('an echo after the cut', () => three.data() === 'after cut');
      assert.equal(relay.stats.accepted, 3);
    } finally {
      for (const c of clients) c.destroy();
      await relay.close();
      await echo.close();
    }
  });
}

test('the TCP relay passes a half-close through and keeps order of a larger transfer', async () => {
  const echo = await startEchoServer();
  const relay = await TcpRelay.start({ targetHost: '127.0.0.1', targetPort: echo.port, delayMs: 5 });
  const c = await connect(relay.port);
  try {
    let expected = '';
    for (let i = 0; i < 2_000; i++) {
      const line = `line ${i}\n`;
      expected += line;
      c.socket.write(line);
    }
    c.socket.end();
    // The echo server ends its side when ours ends, so the client sees all data and then close.
    await waitFor('the full echo and the close', () => c.closed());
    assert.equal(c.data(), expected);
  } finally {
    c.socket.destroy();
    await relay.close();
    await echo.close();
  }
});
