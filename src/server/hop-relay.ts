/**
 * A jump host's datagram relay (`tsshd --relay`): the client's UDP path to a
 * tsshd that only this hop can reach. It is a small, bounded NAT with one
 * fixed destination: each client address gets its own upstream socket, so
 * the target's path sees a client that moved whenever the client moves, and
 * validates the new address itself. The relay reads nothing it carries (the
 * datagrams are sealed end to end); it forwards one datagram for each one
 * received, never more, and only to the one target or back to the address
 * the target's answer belongs to.
 *
 * Contract: `closed` resolves once, with the reason, when the client says
 * bye, when the target has been silent for `aliveTimeoutMs`, or when no
 * client came within `connectTimeoutMs`. Mappings are capped: ones the
 * target never answered give way first, so strangers cannot push the real
 * client out.
 *
 * UdpProxyMode TCP: the same with TCP connections, each spliced to a new
 * connection to the target's TCP port.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { isRelayBye } from '../protocol/relay-wire.js';

/** Mappings (client addresses) kept at once. */
export const MAX_RELAY_MAPPINGS = 32;
/** TCP connections carried at once. */
export const MAX_RELAY_TCP_CONNECTIONS = 8;

/** Where the relay sends, and how long it lives. */
export interface HopRelayOptions {
  targetAddress: string;
  targetPort: number;
  /** Authenticates the client's bye. */
  secret: Buffer;
  aliveTimeoutMs: number;
  connectTimeoutMs: number;
  log?: (line: string) => void;
}

/** What the relay counted, for the debug log and tests. */
export interface HopRelayStats {
  fromClients: number;
  toClients: number;
  /** Datagrams dropped: from strangers to an upstream socket, or over the mapping cap. */
  dropped: number;
  mappingsOpened: number;
}

interface Mapping {
  address: string;
  port: number;
  upstream: dgram.Socket;
  /** The target has answered through this mapping. */
  proven: boolean;
  lastUsed: number;
}

/** The UDP relay, bound and running. */
export class UdpHopRelay {
  readonly stats: HopRelayStats = { fromClients: 0, toClients: 0, dropped: 0, mappingsOpened: 0 };
  readonly closed: Promise<string>;
  private readonly mappings = new Map<string, Mapping>();
  private readonly timer: NodeJS.Timeout;
  private lastTargetAt = 0;
  private anyClient = false;
  private readonly startedAt = Date.now();
  private finish!: (reason: string) => void;
  private done = false;

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly o: HopRelayOptions,
  ) {
    this.closed = new Promise((resolve) => (this.finish = resolve));
    socket.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
    socket.on('error', (err) => this.close(`listening socket failed: ${err.message}`));
    const tick = Math.max(200, Math.min(o.aliveTimeoutMs, o.connectTimeoutMs) / 4);
    this.timer = setInterval(() => this.checkLife(), tick);
    this.timer.unref();
  }

  /** Bind on `port` (0 for any) and start relaying. */
  static async start(port: number, o: HopRelayOptions): Promise<UdpHopRelay> {
    const socket = await bindUdp(port, net.isIPv6(o.targetAddress) ? 'udp6' : 'udp4');
    return new UdpHopRelay(socket, o);
  }

  get port(): number {
    return this.socket.address().port;
  }

  get mappingCount(): number {
    return this.mappings.size;
  }

  private fromClient(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (isRelayBye(msg, this.o.secret)) {
      this.close('the client ended the session');
      return;
    }
    const key = `${rinfo.address}|${rinfo.port}`;
    let m = this.mappings.get(key);
    if (m === undefined) {
      if (this.mappings.size >= MAX_RELAY_MAPPINGS && !this.evictOne()) {
        this.stats.dropped++;
        return;
      }
      m = this.open(rinfo);
      this.mappings.set(key, m);
    }
    this.anyClient = true;
    m.lastUsed = Date.now();
    this.stats.fromClients++;
    m.upstream.send(msg, this.o.targetPort, this.o.targetAddress);
  }

  private open(rinfo: dgram.RemoteInfo): Mapping {
    const upstream = dgram.createSocket(net.isIPv6(this.o.targetAddress) ? 'udp6' : 'udp4');
    const m: Mapping = { address: rinfo.address, port: rinfo.port, upstream, proven: false, lastUsed: Date.now() };
    upstream.on('message', (msg, from) => {
      if (from.port !== this.o.targetPort || from.address !== this.o.targetAddress) {
        this.stats.dropped++;
        return;
      }
      m.proven = true;
      this.lastTargetAt = Date.now();
      m.lastUsed = this.lastTargetAt;
      this.stats.toClients++;
      this.socket.send(msg, m.port, m.address);
    });
    upstream.on('error', () => this.drop(`${m.address}|${m.port}`));
    upstream.bind(0);
    this.stats.mappingsOpened++;
    this.o.log?.(`relay: new mapping for ${rinfo.address}:${rinfo.port} (${this.mappings.size + 1} now)`);
    return m;
  }

  /** Make room: the least recently used mapping the target never answered, else the least recently used of all. */
  private evictOne(): boolean {
    let victim: string | undefined;
    let oldest = Infinity;
    for (const proven of [false, true]) {
      for (const [key, m] of this.mappings) {
        if (m.proven === proven && m.lastUsed < oldest) {
          oldest = m.lastUsed;
          victim = key;
        }
      }
      if (victim !== undefined) break;
    }
    if (victim === undefined) return false;
    this.drop(victim);
    return true;
  }

  private drop(key: string): void {
    const m = this.mappings.get(key);
    if (m === undefined) return;
    this.mappings.delete(key);
    m.upstream.close();
  }

  private checkLife(): void {
    const now = Date.now();
    if (!this.anyClient && now - this.startedAt > this.o.connectTimeoutMs) {
      this.close(`no client came within ${Math.round(this.o.connectTimeoutMs / 1000)} s`);
      return;
    }
    const quietSince = this.lastTargetAt === 0 ? this.startedAt : this.lastTargetAt;
    if (this.anyClient && now - quietSince > this.o.aliveTimeoutMs) {
      this.close(`the target was silent for ${Math.round(this.o.aliveTimeoutMs / 1000)} s`);
      return;
    }
    for (const [key, m] of this.mappings) if (now - m.lastUsed > this.o.aliveTimeoutMs) this.drop(key);
  }

  /** Stop relaying and close every socket. */
  close(reason: string): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.timer);
    for (const key of [...this.mappings.keys()]) this.drop(key);
    this.socket.close();
    this.o.log?.(`relay: closing: ${reason}`);
    this.finish(reason);
  }
}

/** The TCP relay (UdpProxyMode TCP): each client connection spliced to a new one to the target. */
export class TcpHopRelay {
  readonly closed: Promise<string>;
  private readonly pairs = new Set<net.Socket>();
  private readonly timer: NodeJS.Timeout;
  private lastActivity = Date.now();
  private anyClient = false;
  private finish!: (reason: string) => void;
  private done = false;

  private constructor(
    private readonly server: net.Server,
    private readonly o: HopRelayOptions,
  ) {
    this.closed = new Promise((resolve) => (this.finish = resolve));
    server.on('connection', (client) => this.splice(client));
    server.on('error', (err) => this.close(`listening socket failed: ${err.message}`));
    this.timer = setInterval(() => this.checkLife(), Math.max(200, Math.min(o.aliveTimeoutMs, o.connectTimeoutMs) / 4));
    this.timer.unref();
  }

  static async start(port: number, o: HopRelayOptions): Promise<TcpHopRelay> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, () => (server.off('error', reject), resolve()));
    });
    return new TcpHopRelay(server, o);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  private splice(client: net.Socket): void {
    if (this.pairs.size >= MAX_RELAY_TCP_CONNECTIONS) {
      client.destroy();
      return;
    }
    this.anyClient = true;
    this.lastActivity = Date.now();
    this.pairs.add(client);
    const upstream = net.connect({ host: this.o.targetAddress, port: this.o.targetPort, noDelay: true });
    // A connection the target never answers is closed within the connect timeout.
    let answered = false;
    const unanswered = setTimeout(() => {
      if (!answered) client.destroy();
    }, this.o.connectTimeoutMs);
    const end = (): void => {
      clearTimeout(unanswered);
      client.destroy();
      upstream.destroy();
      this.pairs.delete(client);
      this.lastActivity = Date.now();
    };
    client.on('data', () => (this.lastActivity = Date.now()));
    upstream.on('data', () => {
      answered = true;
      this.lastActivity = Date.now();
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }

  private checkLife(): void {
    const now = Date.now();
    if (!this.anyClient && now - this.lastActivity > this.o.connectTimeoutMs) {
      this.close(`no client came within ${Math.round(this.o.connectTimeoutMs / 1000)} s`);
    } else if (this.anyClient && this.pairs.size === 0 && now - this.lastActivity > this.o.aliveTimeoutMs) {
      this.close(`no connection for ${Math.round(this.o.aliveTimeoutMs / 1000)} s`);
    }
  }

  close(reason: string): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.timer);
    for (const c of this.pairs) c.destroy();
    this.server.close();
    this.o.log?.(`relay: closing: ${reason}`);
    this.finish(reason);
  }
}

function bindUdp(port: number, type: 'udp4' | 'udp6'): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(type);
    socket.once('error', reject);
    socket.bind(port, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}
