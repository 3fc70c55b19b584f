/**
 * Binding the sockets a forward listens on, shared by tssh (-L, -D, -L udp)
 * and tsshd (-R, -R udp). Which addresses to bind is decided by the caller
 * (GatewayPorts on either side) as a BindPlan; this file turns a plan into
 * bound sockets the way OpenSSH does: "loopback" means every loopback address
 * that can be bound (127.0.0.1 and ::1, so "localhost" works whichever the
 * resolver prefers), and the listen succeeds if at least one address does.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { lstat, unlink } from 'node:fs/promises';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { bindSocketFile } from './socket-file.js';

/** Which addresses a listener binds. */
export type BindPlan = { kind: 'loopback' } | { kind: 'wildcard' } | { kind: 'address'; host: string };

/** A bound TCP or Unix listener: one server per address. */
export interface StreamListener {
  /** The port bound (undefined for a Unix socket). */
  readonly port: number | undefined;
  close(): void;
}

/** A bound UDP listener: one socket per address. */
export interface DatagramListener {
  readonly port: number;
  readonly sockets: readonly UdpSocket[];
  close(): void;
}

/** How to create a Unix socket listener (OpenSSH's StreamLocalBindMask and StreamLocalBindUnlink). */
export interface UnixListenOptions {
  /** Permission bits removed from the socket file (default 0177: owner only). */
  mask?: number;
  /** Remove a stale socket file at the path first. */
  unlink?: boolean;
}

const LOOPBACK = ['127.0.0.1', '::1'];

/** The wildcard addresses to try, IPv6 first (dual-stack), IPv4 if the host has no IPv6. */
const WILDCARD_TCP = [undefined, '0.0.0.0'];

/** A short, lower-case reason for a socket error, as strerror would say it. */
export function describeSocketError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'EADDRINUSE':
      return 'address already in use';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EADDRNOTAVAIL':
      return 'cannot assign requested address';
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by peer';
    case 'EHOSTUNREACH':
      return 'no route to host';
    case 'ENETUNREACH':
      return 'network is unreachable';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'ENOENT':
      return 'no such file or directory';
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EAI_AGAIN':
      return 'name or service not known';
    case 'ENAMETOOLONG':
      return 'file name too long';
    default:
      return err instanceof Error ? err.message.split('\n')[0]! : String(err);
  }
}

/** "host:port" with IPv6 hosts in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Start listening (the bind itself happens before this returns) and settle once listening or failed. */
function listenOn(server: Server, where: { port: number; host?: string } | string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (typeof where === 'string') server.listen({ path: where }, done);
    else server.listen(where, done);
  });
}

function addressesOf(plan: BindPlan): (string | undefined)[] {
  if (plan.kind === 'loopback') return LOOPBACK;
  if (plan.kind === 'wildcard') return WILDCARD_TCP;
  return [plan.host];
}

/**
 * Listen for TCP connections on `port` at the plan's addresses. With port 0
 * the first address picks the port and the others use the same one. Rejects
 * with the first address's error if none could be bound.
 */
export async function listenTcp(plan: BindPlan, port: number, onConnection: (socket: Socket) => void, maxConnections?: number): Promise<StreamListener> {
  const servers: Server[] = [];
  let bound = port;
  let firstError: unknown = null;
  for (const host of addressesOf(plan)) {
    // The wildcard's IPv4 fallback is needed only when the dual-stack bind failed.
    if (plan.kind === 'wildcard' && servers.length > 0) break;
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection);
    if (maxConnections !== undefined) server.maxConnections = maxConnections;
    try {
      await listenOn(server, host === undefined ? { port: bound } : { port: bound, host });
    } catch (err) {
      server.close();
      firstError ??= err;
      continue;
    }
    server.on('error', () => undefined); // accept errors (EMFILE) leave the listener up
    servers.push(server);
    const address = server.address();
    if (bound === 0 && address && typeof address === 'object') bound = address.port;
  }
  if (servers.length === 0) throw firstError;
  return {
    port: bound,
    close: () => {
      for (const s of servers) s.close();
    },
  };
}

/** Listen on a Unix socket path with the given mask, removing a stale socket first if asked. */
export async function listenUnix(path: string, onConnection: (socket: Socket) => void, options: UnixListenOptions = {}, maxConnections?: number): Promise<StreamListener> {
  const mask = options.mask ?? 0o177;
  if (options.unlink) {
    // Only a socket is removed: a regular file at the path is a mistake to report, not to delete.
    const info = await lstat(path).catch(() => null);
    if (info?.isSocket()) await unlink(path).catch(() => undefined);
  }
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection);
  if (maxConnections !== undefined) server.maxConnections = maxConnections;
  // Created with the mode asked for from the start, without the process-wide umask (socket-file.ts).
  const file = await bindSocketFile(path, mask, (at) => listenOn(server, at), () => server.close());
  server.on('error', () => undefined);
  return {
    port: undefined,
    close: () => {
      server.close();
      file.remove();
    },
  };
}

/**
 * Bind UDP sockets on `port` at the plan's addresses (same rules as
 * listenTcp). `onMessage` receives each datagram with the socket it came in on.
 */
export async function listenUdp(plan: BindPlan, port: number, onMessage: (socket: UdpSocket, msg: Buffer, from: RemoteInfo) => void): Promise<DatagramListener> {
  const sockets: UdpSocket[] = [];
  let bound = port;
  let firstError: unknown = null;
  const candidates: { type: 'udp4' | 'udp6'; host: string }[] = [];
  if (plan.kind === 'loopback') candidates.push({ type: 'udp4', host: '127.0.0.1' }, { type: 'udp6', host: '::1' });
  else if (plan.kind === 'wildcard') candidates.push({ type: 'udp6', host: '::' }, { type: 'udp4', host: '0.0.0.0' });
  else {
    const address = isIP(plan.host) ? plan.host : (await lookup(plan.host)).address;
    candidates.push({ type: isIP(address) === 6 ? 'udp6' : 'udp4', host: address });
  }
  for (const { type, host } of candidates) {
    if (plan.kind === 'wildcard' && sockets.length > 0) break;
    const socket = createSocket({ type });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(bound, host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      socket.close();
      firstError ??= err;
      continue;
    }
    socket.on('error', () => undefined); // ICMP errors on sends are the peer's problem, not the listener's
    socket.on('message', (msg, from) => onMessage(socket, msg, from));
    sockets.push(socket);
    if (bound === 0) bound = socket.address().port;
  }
  if (sockets.length === 0) throw firstError;
  return {
    port: bound,
    sockets,
    close: () => {
      for (const s of sockets) s.close();
    },
  };
}
