import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../support/wait.js';
import { Forwarder, type ForwarderOptions } from '../../src/client/forwarder.js';
import { laneOfKind } from '../../src/protocol/stream-kind.js';
import { ForwardHost, type ForwardHostOptions } from '../../src/server/forward-host.js';
import type { ForwardPolicy } from '../../src/server/forward-policy.js';
import { defaultSshdPolicy } from '../../src/server/sshd-config.js';
import type { Connection } from '../../src/transport/connection.js';
import { KcpConnection } from '../../src/transport/kcp-connection.js';
import { memoryConnectionPair, type MemoryConnection } from '../support/stream-pair.js';
import { createTransportPair, type ConnectionFactory, type TransportPair, type TransportPairOptions } from '../transport/harness.js';

/** sshd's defaults with some options changed. */
export function policyWith(changes: Partial<ForwardPolicy> = {}): ForwardPolicy {
  return { ...defaultSshdPolicy(), ...changes };
}

/** Both forwarding ends over one connection, with their log lines collected. */
export interface ForwardEnds {
  forwarder: Forwarder;
  host: ForwardHost;
  clientLog: string[];
  serverLog: string[];
  close(): Promise<void>;
}

function ends(client: Connection, server: Connection, policy: ForwardPolicy, options: { client?: ForwarderOptions; server?: ForwardHostOptions }): Omit<ForwardEnds, 'close'> {
  const clientLog: string[] = [];
  const serverLog: string[] = [];
  const forwarder = new Forwarder(client, { log: (line) => clientLog.push(line), ...options.client });
  const host = new ForwardHost(server, policy, { log: (line) => serverLog.push(line), ...options.server });
  return { forwarder, host, clientLog, serverLog };
}

/** Forwarding over an in-memory connection pair. */
export function memoryEnds(policy: ForwardPolicy = policyWith(), options: { client?: ForwarderOptions; server?: ForwardHostOptions } = {}): ForwardEnds & { conns: [MemoryConnection, MemoryConnection] } {
  const conns = memoryConnectionPair();
  const e = ends(conns[0], conns[1], policy, options);
  return {
    ...e,
    conns,
    async close() {
      await e.forwarder.close();
      e.host.close();
      conns[0].destroy();
    },
  };
}

/** KCP with forward streams in the bulk lane, as tssh and tsshd run it. */
const forwardKcpFactory: ConnectionFactory = (path, role) => new KcpConnection(path, { role, laneOf: laneOfKind });

/** Forwarding over a real KCP connection through the impairment proxy. */
export async function kcpEnds(
  transport: TransportPairOptions,
  policy: ForwardPolicy = policyWith(),
  options: { client?: ForwarderOptions; server?: ForwardHostOptions } = {},
): Promise<ForwardEnds & { pair: TransportPair }> {
  const pair = await createTransportPair(forwardKcpFactory, transport);
  const e = ends(pair.client, pair.server, policy, options);
  return {
    ...e,
    pair,
    async close() {
      await e.forwarder.close();
      e.host.close();
      await pair.close();
    },
  };
}

/** A TCP (or Unix) server that echoes, half-closing when its client does. */
export async function echoServer(path?: string): Promise<{ server: Server; port: number; connections: () => number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    count++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => (path ? server.listen(path, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address ? address.port : 0,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Connect to a TCP port on 127.0.0.1 or a Unix path. */
export function connectTo(where: number | string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = typeof where === 'number' ? connect({ port: where, host: '127.0.0.1', allowHalfOpen: true }) : connect({ path: where, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Write `data`, end, and collect everything the peer sends until it ends or the socket closes. */
export function exchange(socket: Socket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks)));
    socket.end(data);
  });
}

/** Resolves when the socket has closed; reports whether it ended without sending anything. */
export function closedQuietly(socket: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    let got = 0;
    socket.on('data', (c: Buffer) => (got += c.length));
    socket.on('error', () => undefined);
    socket.once('end', () => socket.end()); // allowHalfOpen: finish our side too
    socket.once('close', () => resolve(got === 0));
  });
}

/** A scratch directory for Unix sockets, removed by cleanup(). */
export function scratchDir(): { dir: string; path: (name: string) => string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tssh-fwd-'));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Random payload and its SHA-256. */
export function payload(bytes: number): { data: Buffer; sha256: string } {
  const data = randomBytes(bytes);
  return { data, sha256: sha256(data) };
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A UDP socket bound on 127.0.0.1. */
export function udpSocket(onMessage?: (msg: Buffer, from: { address: string; port: number }) => void): Promise<UdpSocket & { port: number }> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    if (onMessage) socket.on('message', onMessage);
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve(Object.assign(socket, { port: socket.address().port }));
    });
  });
}

/** A UDP server on 127.0.0.1 that answers each datagram with `reply(msg)` (default: echo). */
export async function udpEcho(reply: (msg: Buffer) => Buffer = (m) => m): Promise<UdpSocket & { port: number; received: () => number }> {
  let received = 0;
  const socket = await udpSocket((msg, from) => {
    received++;
    socket.send(reply(msg), from.port, from.address);
  });
  return Object.assign(socket, { received: () => received });
}

/** A client that sends numbered datagrams (the number in the first 4 bytes) and keeps each reply by its number. */
export interface NumberedDatagramClient {
  send(seq: number, size?: number): Buffer;
  replies: Map<number, Buffer>;
  close(): void;
}

/** Keep a reply in `replies` by its number (first 4 bytes); shorter ones are ignored. */
export function keepNumbered(replies: Map<number, Buffer>, msg: Buffer): void {
  if (msg.length >= 4) replies.set(msg.readUInt32BE(0), msg);
}

/** A NumberedDatagramClient over any socket: `transmit` sends a datagram, the socket's replies go to keepNumbered(replies, ...). */
export function numberedClient(replies: Map<number, Buffer>, transmit: (msg: Buffer) => void, close: () => void): NumberedDatagramClient {
  return {
    send(seq, size = 200) {
      const msg = randomBytes(size);
      msg.writeUInt32BE(seq, 0);
      transmit(msg);
      return msg;
    },
    replies,
    close,
  };
}

/** A NumberedDatagramClient on a UDP socket of 127.0.0.1, sending to `port`. */
export async function numberedUdpClient(port: number): Promise<NumberedDatagramClient> {
  const replies = new Map<number, Buffer>();
  const socket = await udpSocket((msg) => keepNumbered(replies, msg));
  return numberedClient(replies, (msg) => socket.send(msg, port, '127.0.0.1'), () => socket.close());
}

/** Write each message in turn and collect `want` bytes of replies. */
export async function socksExchange(socket: Socket, messages: Buffer[], want: number): Promise<Buffer> {
  let got = Buffer.alloc(0);
  const onData = (c: Buffer): void => void (got = Buffer.concat([got, c]));
  socket.on('data', onData);
  for (const m of messages) socket.write(m);
  await waitFor(`${want} bytes of SOCKS reply`, () => got.length >= want, 20_000);
  socket.off('data', onData);
  return got;
}
