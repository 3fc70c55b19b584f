import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { enlargeUdpBuffers, TCP_WRITE_LIMIT_BYTES } from './client-carrier.js';
import { Candidate, sameAddress, type PathAddress } from './address-validation.js';
import { DatagramType, MIN_PATH_DATAGRAM_BYTES, PATH_OVERHEAD_BYTES } from './datagram-format.js';
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

/** TCP connections kept at once; a new one evicts the oldest that is neither the peer's nor the candidate's. */
const MAX_TCP_CONNECTIONS = 16;
/** TCP connections that have not yet carried an authenticated datagram, at once; a new one evicts the oldest of them. */
const MAX_UNAUTHENTICATED_TCP = 8;
/** A TCP connection that carried no authenticated datagram this long after it was accepted is closed. */
export const UNAUTHENTICATED_TCP_MS = 5000;

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
 * from TsshdPort, authenticates every datagram and answers client keepalives.
 *
 * Roaming with address validation (address-validation.ts): the peer is the
 * last *validated* address. An authenticated datagram with the highest packet
 * number so far from another address makes that address the candidate: it is
 * challenged at once and gets replies (at most 3x the bytes it sent) until it
 * answers from there, when it becomes the peer ('peer-moved', the one "path
 * changed" signal for the transport above); the old peer gets what does not
 * fit meanwhile. A newer datagram from the peer itself ends the candidacy (a
 * raced copy loses as soon as the real client speaks again). A replayed or
 * older datagram never starts one. In UDP-over-TCP mode an address is a
 * connection: a new one replaces the peer's only once validated, and a
 * connection that carries nothing authentic is closed after UNAUTHENTICATED_TCP_MS.
 *
 * Events: 'peer' (address, port) when the first address is validated;
 * 'peer-candidate' (address, port) when a new address starts getting replies
 * before validation; 'peer-moved' (address, port) once it is validated;
 * 'contact-lost' (sinceMs); 'contact-restored' (); 'gave-up' (reason);
 * 'close' (reason?: string) (after a local close(), a peer's goodbye or giving up);
 * 'diverted' () when another protocol family claimed the port (setForeignReceiver).
 */
export class ServerPath extends PathEnd {
  private readonly headroom: number;
  /** TCP connections, each with whether it has carried an authenticated datagram, in accept order. */
  private readonly connections = new Map<net.Socket, boolean>();
  /** The validated peer, and the address being validated. */
  private peer: PathAddress | null = null;
  private candidate: Candidate | null = null;
  private peerMoves = 0;
  private challengesSent = 0;
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
    const { peer, candidate } = this;
    return {
      ...this.pathStats(),
      port: this.port,
      peer: peer === null ? null : { address: peer.address, port: peer.port },
      candidate: candidate === null ? null : { address: candidate.address, port: candidate.port },
      peerMoves: this.peerMoves,
      challengesSent: this.challengesSent,
      tcpConnections: this.connections.size,
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
    const peer = this.peer;
    const goodbye = goodbyeReason === null || peer === null ? null : this.sealGoodbye(goodbyeReason, this.headroom);
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
      if (goodbye !== null && peer !== null) {
        try {
          udp.send(goodbye, peer.port, peer.address, closeSocket);
          return;
        } catch {
          // Fall through to closing at once.
        }
      }
      closeSocket();
      return;
    }
    this.tcp?.close();
    for (const conn of this.connections.keys()) {
      if (goodbye !== null && conn === peer?.conn && conn.writable) {
        writeFrameHeader(goodbye);
        conn.end(goodbye, () => conn.destroy());
      } else {
        conn.destroy();
      }
    }
  }

  /**
   * Send to the candidate while its amplification budget allows (it is where the newest datagram came
   * from), else to the validated peer; with neither, count the drop.
   */
  protected transmit(type: DatagramType, payload: Uint8Array | null, now: number): void {
    const candidate = this.candidate;
    let target = this.peer;
    if (candidate !== null) {
      const size = PATH_OVERHEAD_BYTES + (payload === null ? 0 : payload.length);
      if (candidate.mayReceive(size)) {
        candidate.sentBytes(size);
        target = candidate;
      } else if (target === null) {
        this.drops.unvalidated++;
        return;
      }
    }
    if (target === null) {
      this.drops.noPeer++;
      return;
    }
    this.transmitTo(target, type, payload, now);
  }

  private transmitTo(target: PathAddress, type: DatagramType, payload: Uint8Array | null, now: number): void {
    if (this.udp) {
      const datagram = this.codec.seal(type, payload, 0, now);
      try {
        this.udp.send(datagram, target.port, target.address, this.onSendDone);
      } catch {
        this.drops.sendError++;
        return;
      }
    } else {
      const conn = target.conn;
      if (!this.tcpWritable(conn)) return;
      const frame = this.codec.seal(type, payload, FRAME_HEADER_BYTES, now);
      writeFrameHeader(frame);
      conn.write(frame);
    }
    this.countSent(type);
  }

  /** Authenticate, follow or validate a new address (address-validation.ts), then act on the datagram. */
  private receive(datagram: Buffer, address: string, port: number, conn: net.Socket | null): void {
    if (this.diverted) {
      this.foreign!.receive(datagram, { address, port, conn });
      return;
    }
    const now = performance.now();
    const payload = this.authenticate(datagram, now);
    if (payload === null) {
      if (this.foreign !== null && this.peer === null && this.candidate === null && !this.closed && this.foreign.offer(datagram, { address, port, conn })) {
        this.diverted = true;
        // The other family authenticated this connection: it is no stranger to close or evict first.
        if (conn !== null) this.connections.set(conn, true);
        this.timer.stop();
        this.emit('diverted');
      }
      return;
    }
    if (payload === null) return;
    if (conn !== null) this.connections.set(conn, true);
    const newest = this.codec.newest;
    if (!sameAddress(this.peer, address, port, conn)) {
      let candidate = this.candidate;
      let fresh = false;
      if (!sameAddress(candidate, address, port, conn)) {
        fresh = newest;
        candidate = fresh ? this.startCandidate(address, port, conn) : null;
      }
      if (candidate !== null) {
        candidate.receivedBytes(datagram.length);
        if (this.codec.type === DatagramType.PathResponse) {
          if (candidate.answeredBy(payload)) this.validate(candidate);
        } else if (newest && candidate.challengeDue(now, this.codec.rtt.srttMs)) {
          this.challenge(candidate, now);
        }
        // Announced once its budget and challenge are in place, so a listener's sends already reach it.
        if (fresh) this.emit('peer-candidate', address, port);
        if (this.closed) return;
      }
    } else if (newest && this.candidate !== null) {
      // The real client spoke again from the peer's address, later than whoever was the candidate.
      this.dropCandidate();
    }
    if (this.closed) return;
    this.deliver(payload, now);
  }

  /** The client's keepalive is answered at once: that answer is how it knows the path works. */
  protected override keepaliveReceived(now: number): void {
    this.transmit(DatagramType.Keepalive, null, now);
  }

  private startCandidate(address: string, port: number, conn: net.Socket | null): Candidate {
    const first = this.peer === null && this.candidate === null;
    if (this.candidate !== null) this.dropCandidate();
    const candidate = new Candidate(address, port, conn);
    this.candidate = candidate;
    // The client sends to one fixed server address, so the route back never leaves lo once it came over lo (docs/PROTOCOL.md).
    if (first) this.growMtu(mtuForPeer(this.config.mtu, this.config.largeOnLoopback, address));
    return candidate;
  }

  /** Challenge the candidate (only ever sent to the candidate, and within its budget). */
  private challenge(candidate: Candidate, now: number): void {
    if (!candidate.mayReceive(PATH_OVERHEAD_BYTES + candidate.challenge.length)) return;
    candidate.sentBytes(PATH_OVERHEAD_BYTES + candidate.challenge.length);
    candidate.challengedAt = now;
    this.challengesSent++;
    this.transmitTo(candidate, DatagramType.PathChallenge, candidate.challenge, now);
  }

  /** The candidate answered from its address: it is the peer now. */
  private validate(candidate: Candidate): void {
    const previous = this.peer;
    this.candidate = null;
    this.peer = { address: candidate.address, port: candidate.port, conn: candidate.conn };
    // The client keeps one TCP connection: once it answered on a new one, the old one is dead weight.
    if (previous?.conn && previous.conn !== candidate.conn) this.closeConnection(previous.conn);
    if (previous === null) {
      this.armTimer();
      this.emit('peer', candidate.address, candidate.port);
    } else {
      this.peerMoves++;
      this.emit('peer-moved', candidate.address, candidate.port);
    }
  }

  private dropCandidate(): void {
    const conn = this.candidate?.conn ?? null;
    this.candidate = null;
    if (conn !== null && conn !== this.peer?.conn) this.closeConnection(conn);
  }

  private closeConnection(conn: net.Socket): void {
    conn.destroy();
    this.connections.delete(conn);
  }

  /** Contact can only be lost once there is a peer. */
  protected override hasPeer(): boolean {
    return this.peer !== null;
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

  /** Make room for one more TCP connection: bounded in all, and fewer still that never authenticated. */
  private evictTcp(): void {
    let unauthenticated = 0;
    for (const authenticated of this.connections.values()) if (!authenticated) unauthenticated++;
    const keep = (c: net.Socket): boolean => c === this.peer?.conn || c === this.candidate?.conn;
    if (unauthenticated >= MAX_UNAUTHENTICATED_TCP) {
      for (const [old, authenticated] of this.connections) {
        if (!authenticated) return this.closeConnection(old);
      }
    }
    if (this.connections.size >= MAX_TCP_CONNECTIONS) {
      for (const old of this.connections.keys()) {
        if (!keep(old)) return this.closeConnection(old);
      }
    }
  }

  private readonly onTcpConnection = (conn: net.Socket): void => {
    if (this.closed) {
      conn.destroy();
      return;
    }
    this.evictTcp();
    this.connections.set(conn, false);
    conn.setNoDelay(true);
    const address = conn.remoteAddress ?? '';
    const port = conn.remotePort ?? 0;
    const foreign = this.foreign !== null;
    const decoder = new TcpFrameDecoder(
      foreign ? Math.min(FOREIGN_MIN_FRAME, MIN_PATH_DATAGRAM_BYTES) : MIN_PATH_DATAGRAM_BYTES,
      foreign ? FOREIGN_MAX_FRAME : largestMtu(this.config.mtu, this.config.largeOnLoopback),
      (datagram) => this.receive(datagram, address, port, conn),
    );
    // Whoever cannot authenticate within a few seconds is not our client: no lingering connections.
    const deadline = setTimeout(() => {
      if (!this.diverted && this.connections.get(conn) === false) this.closeConnection(conn);
    }, UNAUTHENTICATED_TCP_MS);
    deadline.unref();
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
      clearTimeout(deadline);
      this.connections.delete(conn);
      if (this.diverted) this.foreign!.connectionClosed?.(conn);
    });
  };
}
