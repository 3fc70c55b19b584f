import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { enlargeUdpBuffers, TCP_WRITE_LIMIT_BYTES } from './client-carrier.js';
import { DatagramType, MIN_PATH_DATAGRAM_BYTES } from './datagram-format.js';
import { largestMtu, mtuForPeer } from './loopback-mtu.js';
import { PathEnd } from './path-end.js';
import { resolveCommonPathConfig, type CommonPathConfig, type ProxyMode, type RekeyConfig } from './path-options.js';
import type { ServerPathStats } from './path-stats.js';
import { bindPortFromSpec } from './port-binding.js';
import { FRAME_HEADER_BYTES, TcpFrameDecoder, writeFrameHeader } from './tcp-framing.js';

/** Options of ServerPath.create(). */
export interface ServerPathOptions {
  /** TsshdPort: ports to draw from, e.g. "61001-61999" or "6022,7022". */
  portSpec: string;
  /** The 32-byte session secret. */
  secret: Uint8Array;
  /** UdpMTU, default 1400. */
  mtu?: number;
  /**
   * UdpMTU was not set: when the first authenticated datagram comes from a
   * loopback address, use the loopback size from then on (loopback-mtu.ts). Default false.
   */
  largeOnLoopback?: boolean;
  /** No authenticated datagram for this long after first contact: 'contact-lost'. Default 3000. */
  heartbeatTimeoutMs?: number;
  /** UdpAliveTimeout: no contact for this long and the path gives up. Default 24 h. */
  aliveTimeoutMs?: number;
  /** UdpProxyMode: 'udp' (default) or 'tcp' (framed datagrams over TCP). */
  proxyMode?: ProxyMode;
  /** Address to bind, default '0.0.0.0' ('::' for both IPv6 and IPv4). */
  host?: string;
  /** When to rekey (interval, byte limit, old-key overlap); defaults in REKEY_DEFAULTS (docs/REKEY.md). */
  rekey?: Partial<RekeyConfig>;
}

/** Where a datagram of another protocol family came from, and where its answers go. */
export interface ForeignSource {
  address: string;
  port: number;
  /** The TCP connection it came on (UdpProxyMode TCP), or null for UDP. */
  conn: net.Socket | null;
}

/**
 * The other protocol family on the same port (the reference tsshd's proxy,
 * ../server/reference/). Datagrams that fail this path's authentication
 * while no peer has authenticated are offered to it; when it claims one
 * (its own authentication passed), the port is diverted: from then on every
 * datagram goes to receive() and this path's own family is off. A native
 * client's first datagram authenticates here and is never offered, so it
 * pays nothing; hostile datagrams cost one more authentication attempt until
 * a peer exists, never a reply bigger than the packet.
 */
export interface ForeignDatagramReceiver {
  /** A datagram this path could not authenticate, before any peer: true claims the port. */
  offer(datagram: Buffer, from: ForeignSource): boolean;
  /** After the claim: every datagram (UDP) or frame (TCP) that arrives. */
  receive(datagram: Buffer, from: ForeignSource): void;
  /** A TCP connection closed (UdpProxyMode TCP), after the claim. */
  connectionClosed?(conn: net.Socket): void;
}

/** Frames of the other family over TCP: anything a 16-bit length can say, above an AEAD tag. */
const FOREIGN_MIN_FRAME = 17;
const FOREIGN_MAX_FRAME = 0xffff;

/** TCP connections kept at once; a new one evicts the oldest that is not the peer's. */
const MAX_TCP_CONNECTIONS = 16;

function bindUdp(host: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const onError = (err: Error): void => {
      try {
        socket.close();
      } catch {
        // A socket whose bind failed may already be closed.
      }
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ port, address: host, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

function listenTcp(host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * The server end of the secure roaming path. It listens on one port drawn
 * from TsshdPort, authenticates every datagram, and sends to the source of
 * the newest authenticated datagram: a client that roams is followed on its
 * first datagram from the new address, while a replayed or reordered older
 * datagram never moves it. It answers client keepalives and watches liveness.
 *
 * Events: 'peer' (address, port) on first contact; 'peer-moved' (address,
 * port); 'contact-lost' (sinceMs); 'contact-restored' (); 'gave-up' (reason);
 * 'close' (reason?: string) (after a local close(), a peer's goodbye or giving up);
 * 'diverted' () when another protocol family claimed the port (setForeignReceiver).
 */
export class ServerPath extends PathEnd {
  private readonly headroom: number;
  private readonly connections = new Set<net.Socket>();
  private peerAddress: string | null = null;
  private peerPort = 0;
  private peerConnection: net.Socket | null = null;
  private peerMoves = 0;
  private foreign: ForeignDatagramReceiver | null = null;
  private diverted = false;

  private constructor(
    config: CommonPathConfig,
    private readonly udp: dgram.Socket | null,
    private readonly tcp: net.Server | null,
    /** The port listened on. */
    readonly port: number,
  ) {
    super(config, 'server');
    this.headroom = tcp ? FRAME_HEADER_BYTES : 0;
    if (udp) {
      enlargeUdpBuffers(udp);
      udp.on('message', this.onUdpMessage);
      udp.on('error', this.onUdpError);
    }
    if (tcp) {
      tcp.on('connection', this.onTcpConnection);
      tcp.on('error', this.onUdpError);
    }
    this.armTimer();
  }

  /**
   * Validate the options, bind a UDP socket (or listen on TCP) on a free port
   * of `portSpec` and start serving. Throws for a malformed spec, a spec with
   * no free port (NoFreePortError) and invalid options.
   */
  static async create(options: ServerPathOptions): Promise<ServerPath> {
    const config = resolveCommonPathConfig(options);
    const host = options.host ?? '0.0.0.0';
    if (config.proxyMode === 'tcp') {
      const server = await bindPortFromSpec(options.portSpec, (port) => listenTcp(host, port));
      server.maxConnections = MAX_TCP_CONNECTIONS * 2;
      return new ServerPath(config, null, server, (server.address() as net.AddressInfo).port);
    }
    const socket = await bindPortFromSpec(options.portSpec, (port) => bindUdp(host, port));
    return new ServerPath(config, socket, null, socket.address().port);
  }

  /** Alias of create(), for readers who think of a server as listening. */
  static listen(options: ServerPathOptions): Promise<ServerPath> {
    return ServerPath.create(options);
  }

  stats(): ServerPathStats {
    return {
      ...this.pathStats(),
      port: this.port,
      peer: this.peerAddress === null ? null : { address: this.peerAddress, port: this.peerPort },
      peerMoves: this.peerMoves,
    };
  }

  /**
   * Adopt the client's liveness timeouts (from its hello) in place of the ones
   * given at create(), so both ends give up alike. Throws RangeError for a non-positive value.
   */
  setLivenessTimeouts(timeouts: { aliveTimeoutMs?: number; heartbeatTimeoutMs?: number }): void {
    const resolved = resolveCommonPathConfig({
      ...this.config,
      aliveTimeoutMs: timeouts.aliveTimeoutMs ?? this.config.aliveTimeoutMs,
      heartbeatTimeoutMs: timeouts.heartbeatTimeoutMs ?? this.config.heartbeatTimeoutMs,
    });
    this.config.aliveTimeoutMs = resolved.aliveTimeoutMs;
    this.config.heartbeatTimeoutMs = resolved.heartbeatTimeoutMs;
    if (!this.closed) this.armTimer();
  }

  /** Offer unauthenticated datagrams to another protocol family on this port (see ForeignDatagramReceiver); call before any client can know the port. */
  setForeignReceiver(receiver: ForeignDatagramReceiver | null): void {
    this.foreign = receiver;
  }

  /** Whether the other family claimed the port ('diverted' was emitted). */
  get isDiverted(): boolean {
    return this.diverted;
  }

  /** Send a datagram of the other family to `to` on this port (UDP), or as one frame on its TCP connection. Best effort. */
  sendForeign(datagram: Uint8Array, to: ForeignSource): void {
    if (this.closed) return;
    if (this.udp) {
      try {
        this.udp.send(datagram, to.port, to.address, this.onSendDone);
      } catch {
        this.drops.sendError++;
      }
      return;
    }
    const conn = to.conn;
    if (!this.tcpWritable(conn)) return;
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + datagram.length);
    frame.set(datagram, FRAME_HEADER_BYTES);
    writeFrameHeader(frame);
    conn.write(frame);
  }

  /** Whether a frame may be written to `conn` now; counts why not. */
  private tcpWritable(conn: net.Socket | null): conn is net.Socket {
    if (conn === null || !conn.writable) {
      this.drops.noPeer++;
      return false;
    }
    if (conn.writableLength > TCP_WRITE_LIMIT_BYTES) {
      this.drops.congested++;
      return false;
    }
    return true;
  }

  protected closeSockets(goodbyeReason: string | null): void {
    const goodbye = goodbyeReason === null || this.peerAddress === null ? null : this.sealGoodbye(goodbyeReason, this.headroom);
    const udp = this.udp;
    if (udp) {
      udp.off('message', this.onUdpMessage);
      const closeSocket = (): void => {
        try {
          udp.close();
        } catch {
          // Already closed.
        }
      };
      if (goodbye !== null) {
        try {
          udp.send(goodbye, this.peerPort, this.peerAddress ?? undefined, closeSocket);
          return;
        } catch {
          // Fall through to closing at once.
        }
      }
      closeSocket();
      return;
    }
    this.tcp?.close();
    for (const conn of this.connections) {
      if (goodbye !== null && conn === this.peerConnection && conn.writable) {
        writeFrameHeader(goodbye);
        conn.end(goodbye, () => conn.destroy());
      } else {
        conn.destroy();
      }
    }
  }

  protected transmit(type: DatagramType, payload: Uint8Array | null, now: number): void {
    const address = this.peerAddress;
    if (address === null) {
      this.drops.noPeer++;
      return;
    }
    if (this.udp) {
      const datagram = this.codec.seal(type, payload, 0, now);
      try {
        this.udp.send(datagram, this.peerPort, address, this.onSendDone);
      } catch {
        this.drops.sendError++;
        return;
      }
    } else {
      const conn = this.peerConnection;
      if (!this.tcpWritable(conn)) return;
      const frame = this.codec.seal(type, payload, FRAME_HEADER_BYTES, now);
      writeFrameHeader(frame);
      conn.write(frame);
    }
    this.countSent(type);
  }

  /** Authenticate, maybe move the peer, then act on the datagram. */
  private receive(datagram: Buffer, address: string, port: number, conn: net.Socket | null): void {
    if (this.diverted) {
      this.foreign!.receive(datagram, { address, port, conn });
      return;
    }
    const now = performance.now();
    const payload = this.authenticate(datagram, now);
    if (payload === null) {
      if (this.foreign !== null && this.peerAddress === null && !this.closed && this.foreign.offer(datagram, { address, port, conn })) {
        this.diverted = true;
        this.timer.stop();
        this.emit('diverted');
      }
      return;
    }
    if (this.codec.newest && (port !== this.peerPort || address !== this.peerAddress || conn !== this.peerConnection)) {
      this.movePeer(address, port, conn);
      if (this.closed) return;
    }
    this.deliver(payload, now);
  }

  /** The client's keepalive is answered at once: that answer is how it knows the path works. */
  protected override keepaliveReceived(now: number): void {
    this.transmit(DatagramType.Keepalive, null, now);
  }

  private movePeer(address: string, port: number, conn: net.Socket | null): void {
    const first = this.peerAddress === null;
    const previousConnection = this.peerConnection;
    this.peerAddress = address;
    this.peerPort = port;
    this.peerConnection = conn;
    // The client keeps one TCP connection: once it speaks on a new one, the old one is dead weight.
    if (previousConnection !== null && previousConnection !== conn) previousConnection.destroy();
    if (first) {
      // The client sends to one fixed server address, so the route back never leaves lo once it came over lo (docs/PROTOCOL.md).
      this.growMtu(mtuForPeer(this.config.mtu, this.config.largeOnLoopback, address));
      this.armTimer();
      this.emit('peer', address, port);
    } else {
      this.peerMoves++;
      this.emit('peer-moved', address, port);
    }
  }

  /** Contact can only be lost once there is a peer. */
  protected override hasPeer(): boolean {
    return this.peerAddress !== null;
  }

  protected armTimer(): void {
    // Diverted: the other family keeps its own liveness; this path only carries its datagrams.
    if (this.diverted) return;
    this.timer.atLatest(this.livenessDeadline());
  }

  protected timerFired(): void {
    this.armTimer();
  }

  private readonly onUdpMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    this.receive(msg, rinfo.address, rinfo.port, null);
  };

  private readonly onSendDone = (err: Error | null): void => {
    if (err) this.drops.sendError++;
  };

  private readonly onUdpError = (): void => {
    // A listening socket's errors (e.g. ICMP unreachable from a gone peer) are per-datagram trouble: count and carry on.
    this.drops.sendError++;
  };

  private readonly onTcpConnection = (conn: net.Socket): void => {
    if (this.closed) {
      conn.destroy();
      return;
    }
    if (this.connections.size >= MAX_TCP_CONNECTIONS) {
      for (const old of this.connections) {
        if (old !== this.peerConnection) {
          old.destroy();
          this.connections.delete(old);
          break;
        }
      }
    }
    this.connections.add(conn);
    conn.setNoDelay(true);
    const address = conn.remoteAddress ?? '';
    const port = conn.remotePort ?? 0;
    const foreign = this.foreign !== null;
    const decoder = new TcpFrameDecoder(
      foreign ? Math.min(FOREIGN_MIN_FRAME, MIN_PATH_DATAGRAM_BYTES) : MIN_PATH_DATAGRAM_BYTES,
      foreign ? FOREIGN_MAX_FRAME : largestMtu(this.config.mtu, this.config.largeOnLoopback),
      (datagram) => this.receive(datagram, address, port, conn),
    );
    conn.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      if (!decoder.push(chunk)) {
        this.drops.malformed++;
        conn.destroy();
      }
    });
    conn.on('error', () => {
      // 'close' follows.
    });
    conn.on('close', () => {
      this.connections.delete(conn);
      if (this.peerConnection === conn) this.peerConnection = null;
      if (this.diverted) this.foreign!.connectionClosed?.(conn);
    });
  };
}
