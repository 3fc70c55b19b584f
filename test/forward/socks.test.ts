import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { connectTo, memoryEnds, policyWith } from './fixtures.js';

const PAGE = '<h1>hello through SOCKS</h1>';

async function httpServer(): Promise<{ server: Server; port: number; hosts: string[] }> {
  const hosts: string[] = [];
  const server = createServer((req, res) => {
    hosts.push(req.headers.host ?? '');
    res.setHeader('content-type', 'text/html');
    res.end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, hosts };
}

/** Read exactly n bytes from a socket (resolves early with what came if it ends). */
function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= n) {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.pause();
        if (got.length > n) socket.unshift(got.subarray(n));
        resolve(got.subarray(0, n));
      }
    };
    const onEnd = (): void => resolve(got);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', reject);
    socket.resume();
  });
}

/** A SOCKS5 CONNECT by domain name; returns the reply code. */
async function socks5(socket: Socket, host: string, port: number): Promise<number> {
  socket.write(Buffer.from([5, 1, 0]));
  assert.deepEqual([...(await readBytes(socket, 2))], [5, 0], 'no-authentication accepted');
  const name = Buffer.from(host, 'latin1');
  const request = Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, Buffer.from([port >> 8, port & 0xff])]);
  socket.write(request);
  const reply = await readBytes(socket, 10);
  assert.equal(reply[0], 5);
  return reply[1]!;
}

/** A SOCKS4a CONNECT by name (DSTIP 0.0.0.1); returns the status byte. */
async function socks4a(socket: Socket, host: string, port: number): Promise<number> {
  socket.write(Buffer.concat([Buffer.from([4, 1, port >> 8, port & 0xff, 0, 0, 0, 1]), Buffer.from('user\0'), Buffer.from(`${host}\0`, 'latin1')]));
  const reply = await readBytes(socket, 8);
  assert.equal(reply[0], 0);
  return reply[1]!;
}

/** A SOCKS4 CONNECT to an IPv4 address; returns the status byte. */
async function socks4(socket: Socket, ip: string, port: number): Promise<number> {
  socket.write(Buffer.concat([Buffer.from([4, 1, port >> 8, port & 0xff, ...ip.split('.').map(Number)]), Buffer.from('\0')]));
  const reply = await readBytes(socket, 8);
  return reply[1]!;
}

/** GET / over an established tunnel; returns the whole response. */
function get(socket: Socket, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (text += c));
    socket.once('end', () => {
      socket.end();
      resolve(text);
    });
    socket.once('error', reject);
    socket.resume();
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

for (const [name, handshake, code] of [
  ['SOCKS5', socks5, 0],
  ['SOCKS4a', socks4a, 0x5a],
] as const) {
  test(`-D: ${name} fetches a page from a local HTTP server by the name "localhost" (resolved by tsshd)`, { timeout: 60_000 }, async () => {
    const ends = memoryEnds();
    const http = await httpServer();
    try {
      const forward = await ends.forwarder.dynamicForward({ listen: { host: '127.0.0.1', port: 0 } });
      const socket = await connectTo(forward.port!);
      assert.equal(await handshake(socket, 'localhost', http.port), code);
      const response = await get(socket, `localhost:${http.port}`);
      assert.match(response, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(response.endsWith(PAGE), 'the page arrives whole');
      assert.deepEqual(http.hosts, [`localhost:${http.port}`]);
      assert.deepEqual(ends.clientLog, []);
    } finally {
      http.server.close();
      await ends.close();
    }
  });
}

test('-D: SOCKS4 by IPv4 address works too', { timeout: 60_000 }, async () => {
  const ends = memoryEnds();
  const http = await httpServer();
  try {
    const forward = await ends.forwarder.dynamicForward({ listen: { host: '127.0.0.1', port: 0 } });
    const socket = await connectTo(forward.port!);
    assert.equal(await socks4(socket, '127.0.0.1', http.port), 0x5a);
    assert.ok((await get(socket, '127.0.0.1')).endsWith(PAGE));
  } finally {
    http.server.close();
    await ends.close();
  }
});

test('-D: a target PermitOpen forbids gets SOCKS5 reply 2 (not allowed by ruleset) and an ssh-style line', { timeout: 60_000 }, async () => {
  const ends = memoryEnds(policyWith({ permitOpen: ['example.invalid:80'] }));
  const http = await httpServer();
  try {
    const forward = await ends.forwarder.dynamicForward({ listen: { host: '127.0.0.1', port: 0 } });
    const socket = await connectTo(forward.port!);
    assert.equal(await socks5(socket, 'localhost', http.port), 2);
    assert.deepEqual(http.hosts, []);
    assert.equal(ends.clientLog.length, 1);
    assert.match(ends.clientLog[0]!, /^channel \d+: open failed: administratively prohibited: localhost:\d+ is not permitted by PermitOpen$/);
    socket.destroy();
  } finally {
    http.server.close();
    await ends.close();
  }
});

test('-D: a refused connection gets SOCKS5 reply 5 and SOCKS4 reply 0x5b; an unsupported command gets 7', { timeout: 60_000 }, async () => {
  const ends = memoryEnds();
  // Port 1 (tcpmux): nothing listens there, and no test can take it, unlike a port just freed (another test's
  // server took one in CI and the connection succeeded).
  const closedPort = 1;
  try {
    const forward = await ends.forwarder.dynamicForward({ listen: { host: '127.0.0.1', port: 0 } });
    const a = await connectTo(forward.port!);
    assert.equal(await socks5(a, '127.0.0.1', closedPort), 5);
    const b = await connectTo(forward.port!);
    assert.equal(await socks4(b, '127.0.0.1', closedPort), 0x5b);
    const c = await connectTo(forward.port!);
    c.write(Buffer.from([5, 1, 0]));
    await readBytes(c, 2);
    c.write(Buffer.from([5, 2, 0, 1, 127, 0, 0, 1, 0, 80])); // BIND
    const reply = await readBytes(c, 10);
    assert.equal(reply[1], 7);
    assert.ok(ends.clientLog.some((l) => /SOCKS5 command 2 is not supported \(only CONNECT\)/.test(l)));
    for (const s of [a, b, c]) s.destroy();
  } finally {
    await ends.close();
  }
});
