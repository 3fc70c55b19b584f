import { randomBytes } from 'node:crypto';
import { drainThenDestroy } from '../drain.js';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { DatagramPath } from '../../path/datagram-path.js';
import { silenceThresholdMs } from '../../path/silence.js';
import { DatagramTooLargeError, StreamResetError, type Connection, type Stream, type TransportStats } from '../connection.js';
import { certificateFingerprint, matchesPin, type QuicCredentials } from './certificate.js';
import {
  buildEngineConfig,
  CONNECTION_ID_BYTES,
  DATAGRAM_CHANNEL_BYTES,
  DATAGRAM_PACKET_OVERHEAD,
  MIN_QUIC_PACKET,
  resolveQuicTuning,
  type QuicTuning,
} from './config.js';
import { loadQuicEngine, type EngineConnection, type EngineHost, type QuicEngine } from './engine.js';
import { QuicAppError, QuicConnectionError, QuicIdentityError } from './errors.js';
import { QuicStream, type QuicStreamHost } from './quic-stream.js';
import { BUNDLE, bundledPackets, PacketReplay } from './packet-replay.js';
import { SmallPacketCopies } from './small-packet-copies.js';

/** Stand-in addresses for the engine (never used for a socket): the engine's peer never moves. */
const CLIENT_ADDRESS: EngineHost = { host: '127.0.0.1', port: 1 };
const SERVER_ADDRESS: EngineHost = { host: '127.0.0.1', port: 2 };
/** Largest stream read per call into the engine. */
const READ_CHUNK = 64 * 1024;
const READ_SLAB = 1024 * 1024;
/** How long engineRtt() reuses its last reading. */
const RTT_CACHE_MS = 100;
/** Reads at least this large are pushed as views of the slab; smaller ones are copied. */
const SLAB_VIEW_MIN = 16 * 1024;
const EMPTY = Buffer.alloc(0);
/** After a probe, ask for an ACK this many more times, at least this many ms (and two RTTs) apart. */
const PROBE_FOLLOW_UPS = 2;
const PROBE_FOLLOW_UP_MS = 50;
/**
 * A one-byte path payload either side sends, every POKE_INTERVAL_MS, while its packets are in flight
 * and the peer has been silent (see holdWrites). It can never be a QUIC packet (every QUIC packet has
 * the fixed bit 0x40 set in its first byte) and costs no congestion window, so the peer hears from us
 * as soon as the link is back, even while the engine waits for its backed-off timer.
 */
const POKE = 0x00;
const POKE_INTERVAL_MS = 50;
/** Once the peer has been silent this long, pokes go every POKE_LONG_INTERVAL_MS instead. */
const LONG_SILENCE_MS = 5_000;
const POKE_LONG_INTERVAL_MS = 500;
/** Most path datagrams one replay (see PacketReplay) may fill. */
const REPLAY_BUNDLES = 4;
/** A replay also covers packets made this long (or one RTT if longer) before the silence began: they may be unacknowledged. */
const REPLAY_LOOKBACK_MS = 20;
/** A probe replays only if the last probe's replay is at least this old (a path event and the datagram behind it both probe). */
const REPLAY_MIN_GAP_MS = 20;
/** Held writes go into the engine at a poke only while the writers hold at most this many bytes (so their packets stay small). */
const RELEASE_MAX_BYTES = 128;
/** Without new data to carry, a poke makes a fresh ack-eliciting packet at most this often (it keeps the peer's ACK a fair RTT sample). */
const FRESH_PACKET_MS = 250;

export interface QuicConnectionOptions {
  role: 'client' | 'server';
  /** Server: the session's certificate and key (createQuicCredentials()). */
  credentials?: QuicCredentials;
  /** Client: acceptable SHA-256 fingerprints of the server certificate, from the bootstrap. */
  pinnedFingerprints?: readonly string[];
  /** The engine; default loadQuicEngine(), and the constructor throws its Error if it cannot load. */
  engine?: QuicEngine;
  tuning?: Partial<QuicTuning>;
  /**
   * Probe at once when the path renews or regains contact, or when a packet
   * arrives after a silence while ours are in flight (default true; off only
   * to measure what it buys).
   */
  probeOnReconnect?: boolean;
}

/** QUIC-specific counters beside TransportStats. */
export interface QuicStats {
  /** Engine packets sent and received, lost, and sent with retransmitted data. */
  packetsSent: number;
  packetsReceived: number;
  packetsLost: number;
  packetsRetransmitted: number;
  /** Immediate probes made because the path renewed or regained contact. */
  probes: number;
  /** Pokes sent while the peer was silent (see POKE), replays sent (at pokes and probes) and the packets they carried. */
  pokes: number;
  replays: number;
  packetsReplayed: number;
  /** Bundles (the peer's replays) received. */
  bundlesReceived: number;
  /** ms until the engine's next timer (loss detection / PTO), or null when none is armed. */
  nextTimeoutMs: number | null;
  /** Copies per small packet now (1 = none), the estimated loss rate behind it, and the extra packets sent. */
  smallPacketCopies: number;
  lossRate: number;
  copiesSent: number;
  /** Congestion window, bytes. */
  cwnd: number;
  /** QUIC datagrams dropped: before the handshake, queue full, or malformed on receipt. */
  datagramsDropped: number;
  established: boolean;
}

/**
 * The QUIC transport: quiche, driven sans-IO, over one DatagramPath. Every
 * packet the engine makes goes out through path.send() and every path
 * datagram goes into the engine, with fixed stand-in addresses, so the path's
 * roaming is invisible to QUIC exactly as it is to KCP. One timer drives the
 * engine's own clock (its timeout()); output is flushed once per turn of the
 * event loop, so a burst of input produces one burst of ACKs.
 *
 * Streams carry their kind as the first byte; unreliable datagrams are QUIC
 * DATAGRAM frames (RFC 9221) with a u16 channel in front. The server proves
 * its identity with a per-session self-signed certificate whose SHA-256 the
 * client has pinned from the bootstrap.
 */
export class QuicConnection extends EventEmitter implements Connection, QuicStreamHost {
  maxDatagramSize: number;
  private conn: EngineConnection;
  private readonly role: 'client' | 'server';
  private readonly tuning: QuicTuning;
  private readonly pins: readonly string[];
  private readonly recvInfo: { from: EngineHost; to: EngineHost };
  private out: Buffer;
  /** A server that has received nothing yet may start its engine afresh for a larger path (onPayloadBudget). */
  private restartEngine: ((packetSize: number) => EngineConnection) | null = null;
  private receivedAny = false;
  /** Stream reads land in a slab and are pushed as views of it (no copy); a new slab when the rest is too small. */
  private readSlab = Buffer.allocUnsafe(READ_SLAB);
  private readOffset = 0;
  private readonly kindBuf = Buffer.allocUnsafe(1);
  private readonly streams = new Map<number, QuicStream>();
  private readonly blockedWriters = new Set<QuicStream>();
  /** Peer stream ids below the highest seen that have not shown up yet (their data arrived out of order). */
  private readonly unseenPeerStreams = new Set<number>();
  private highestPeerStream = -1;
  private nextStreamId: number;
  private ready = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  private flushHandle: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerDue = Infinity;
  private streamsOpenedTotal = 0;
  private datagramsSent = 0;
  private datagramsReceived = 0;
  private datagramsDropped = 0;
  private probes = 0;
  private rtt = NaN;
  private rttReadAt = -Infinity;
  private pokes = 0;
  private pokeAt = Infinity;
  private lastPokeAt = -Infinity;
  private readonly poke = Buffer.from([POKE]);
  private readonly replayKeep = new PacketReplay();
  private readonly replayOut: Buffer;
  private replays = 0;
  private packetsReplayed = 0;
  private bundlesReceived = 0;
  /** When a probe last replayed (a poke's replay does not count: it may have gone into the outage). */
  private lastProbeReplayAt = -Infinity;
  private lastFreshAt = -Infinity;
  /** While set, sendPackets() keeps small packets for the replay that follows instead of sending them (and counts them). */
  private capture = false;
  private captured = 0;
  /** While set, pumpWrite() ignores holdWrites (a poke hands the engine what was written since the last one). */
  private releasing = false;
  /** When the peer's silence started to count: its last datagram, or our first packet in flight after none. */
  private silentSince = performance.now();
  private engineBusy = false;
  /**
   * The peer has been silent while ours were in flight: new stream data and datagrams stay out of the
   * engine until it speaks again. Whatever went out now would be lost and would fill the congestion
   * window, and quiche sends no PING into a full window: the probe after the outage could not go out
   * and recovery would wait for the backed-off timer.
   */
  private holdWrites = false;
  private readonly probeOnReconnect: boolean;
  /** Follow-up probes still due after a probe, and when the next one is (on the engine's one timer). */
  private followUps = 0;
  private followUpAt = Infinity;
  private readonly copies = new SmallPacketCopies(performance.now());

  constructor(
    private readonly path: DatagramPath,
    options: QuicConnectionOptions,
  ) {
    super();
    const engine = options.engine ?? loadQuicEngine();
    if (engine instanceof Error) throw engine;
    this.role = options.role;
    this.tuning = resolveQuicTuning(options.tuning);
    const packetSize = path.payloadBudget;
    if (packetSize < MIN_QUIC_PACKET) throw new RangeError(`QUIC needs a path payload budget of at least ${MIN_QUIC_PACKET} bytes, got ${packetSize}`);
    this.maxDatagramSize = packetSize - DATAGRAM_PACKET_OVERHEAD - DATAGRAM_CHANNEL_BYTES;
    this.out = Buffer.allocUnsafe(packetSize);
    this.replayOut = Buffer.allocUnsafe(packetSize);
    // Each side sends packets as large as its own path allows and accepts the largest the peer's may allow
    // (QUIC's max_udp_payload_size caps the peer's sends at our receive size): as with KCP, each side's path decides its sends.
    const receiveSize = Math.max(packetSize, path.largestPayloadBudget ?? 0);
    const config = buildEngineConfig(engine, this.role, packetSize, receiveSize, this.tuning, options.credentials);
    const scid = randomBytes(CONNECTION_ID_BYTES);
    if (this.role === 'server') {
      if (!options.credentials) throw new TypeError('a QUIC server needs credentials');
      this.pins = [];
      this.nextStreamId = 1;
      this.recvInfo = { from: CLIENT_ADDRESS, to: SERVER_ADDRESS };
      this.conn = engine.Connection.accept(scid, null, SERVER_ADDRESS, CLIENT_ADDRESS, config);
      this.restartEngine = (size) =>
        engine.Connection.accept(scid, null, SERVER_ADDRESS, CLIENT_ADDRESS, buildEngineConfig(engine, 'server', size, Math.max(size, receiveSize), this.tuning, options.credentials));
      path.on('payload-budget', this.onPayloadBudget);
    } else {
      if (!options.pinnedFingerprints || options.pinnedFingerprints.length === 0) throw new TypeError('a QUIC client needs the server certificate fingerprint');
      this.pins = [...options.pinnedFingerprints];
      this.nextStreamId = 0;
      this.recvInfo = { from: SERVER_ADDRESS, to: CLIENT_ADDRESS };
      this.conn = engine.Connection.connect(null, scid, CLIENT_ADDRESS, SERVER_ADDRESS, config);
    }
    path.onDatagram = (payload) => this.receive(payload);
    this.probeOnReconnect = options.probeOnReconnect ?? true;
    if (this.probeOnReconnect) {
      const probe = (): void => this.probe();
      path.on('renewed', probe);
      path.on('contact-restored', probe);
      path.on('peer-moved', probe);
    }
    path.once('close', () => this.finish());
    // The client's Initial goes out at once; the server waits for it.
    this.scheduleFlush();
  }

  /**
   * The path grew (its first peer is on loopback) before the first datagram reached us: the engine has
   * said and heard nothing yet, so start it again with the larger send size (quiche fixes it at creation).
   */
  private readonly onPayloadBudget = (budget: number): void => {
    const restart = this.restartEngine;
    this.restartEngine = null;
    this.path.off('payload-budget', this.onPayloadBudget);
    if (restart === null || this.closed || this.receivedAny || budget <= this.out.length) return;
    this.conn = restart(budget);
    this.out = Buffer.allocUnsafe(budget);
    this.maxDatagramSize = budget - DATAGRAM_PACKET_OVERHEAD - DATAGRAM_CHANNEL_BYTES;
  };

  openStream(kind: number): Stream {
    if (!Number.isInteger(kind) || kind < 0 || kind > 255) throw new RangeError(`stream kind ${kind} is not in 0..255`);
    const id = this.nextStreamId;
    this.nextStreamId += 4;
    const stream = new QuicStream(this, id, kind, true);
    this.streamsOpenedTotal++;
    if (this.closed) {
      stream.destroy(new Error('QUIC connection is closed'));
      return stream;
    }
    this.streams.set(id, stream);
    this.pumpWrite(stream);
    return stream;
  }

  sendDatagram(channel: number, payload: Uint8Array): void {
    if (payload.length > this.maxDatagramSize) throw new DatagramTooLargeError(payload.length, this.maxDatagramSize);
    if (!Number.isInteger(channel) || channel < 0 || channel > 0xffff) throw new RangeError(`datagram channel ${channel} is not in 0..65535`);
    if (this.closed) return;
    if (!this.ready || this.holdWrites) return void this.datagramsDropped++;
    const frame = Buffer.allocUnsafe(DATAGRAM_CHANNEL_BYTES + payload.length);
    frame.writeUInt16BE(channel, 0);
    frame.set(payload, DATAGRAM_CHANNEL_BYTES);
    try {
      if (this.conn.dgramSend(frame) === null) return void this.datagramsDropped++;
    } catch {
      return void this.datagramsDropped++;
    }
    this.datagramsSent++;
    this.scheduleFlush();
  }

  /** Graceful close: wait (bounded) until every stream's writes are in the engine and acknowledged, then CONNECTION_CLOSE and the path's goodbye. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closing ??= (async () => {
      const deadline = performance.now() + this.tuning.closeLingerMs;
      while (!this.closed && !this.idle() && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      if (this.closed) return;
      this.closeEngine(QuicAppError.NoError, 'bye');
      this.finish();
    })();
    return this.closing;
  }

  destroy(err?: Error): void {
    if (this.closed) return;
    this.closeEngine(err ? QuicAppError.Destroyed : QuicAppError.NoError, err?.message ?? 'destroyed');
    this.finish(err);
  }

  stats(): TransportStats {
    const s = this.conn.stats();
    const rtt = this.engineRtt();
    return {
      rttMs: rtt,
      srttMs: rtt,
      rttVarMs: NaN,
      bytesSent: s.sentBytes,
      bytesReceived: s.recvBytes,
      datagramsSent: this.datagramsSent,
      datagramsReceived: this.datagramsReceived,
      retransmissions: s.retrans,
      streamsOpen: this.streams.size,
      streamsOpenedTotal: this.streamsOpenedTotal,
    };
  }

  /** Engine-level counters (packets, loss, probes, next timer). */
  quicStats(): QuicStats {
    const s = this.conn.stats();
    const p = this.conn.pathStats()[0];
    return {
      packetsSent: s.sent,
      packetsReceived: s.recv,
      packetsLost: s.lost,
      packetsRetransmitted: s.retrans,
      probes: this.probes,
      pokes: this.pokes,
      replays: this.replays,
      packetsReplayed: this.packetsReplayed,
      bundlesReceived: this.bundlesReceived,
      nextTimeoutMs: this.closed ? null : this.conn.timeout(),
      smallPacketCopies: this.copies.copies,
      lossRate: this.copies.lossRate,
      copiesSent: this.copies.copiesSent,
      cwnd: p?.cwnd ?? 0,
      datagramsDropped: this.datagramsDropped,
      established: this.ready,
    };
  }

  /** SHA-256 of the certificate the server presented (client side, once established), else null. */
  get peerFingerprint(): string | null {
    const chain = this.conn.peerCertChain();
    return chain && chain.length > 0 ? certificateFingerprint(chain[0]!) : null;
  }

  // ---- QuicStreamHost ----

  /** @internal */
  pumpWrite(s: QuicStream): void {
    if (this.closed && !s.destroyed) return this.refuseWrite(s);
    if (!this.ready || (this.holdWrites && !this.releasing) || s.destroyed || s.pumping) {
      if (!s.destroyed && s.writePending) this.blockedWriters.add(s);
      return;
    }
    s.pumping = true;
    let progressed = false;
    let blocked = false;
    try {
      for (;;) {
        if (!s.headerSent) {
          this.kindBuf[0] = s.kind;
          const n = this.streamSend(s, this.kindBuf, false);
          if (n !== 1) {
            blocked = n === 0;
            break;
          }
          s.headerSent = true;
          progressed = true;
        }
        if (s.writeCallback !== null) {
          const chunk = s.writeChunks[s.writeIndex];
          if (chunk === undefined) {
            const cb = s.writeCallback;
            s.writeCallback = null;
            s.writeChunks = [];
            cb(); // may call _write again at once: the loop picks that up
            continue;
          }
          if (s.writeOffset >= chunk.length) {
            s.writeIndex++;
            s.writeOffset = 0;
            continue;
          }
          const n = this.streamSend(s, s.writeOffset === 0 ? chunk : chunk.subarray(s.writeOffset), false);
          if (n < 0) break;
          if (n === 0) {
            blocked = true;
            break;
          }
          s.writeOffset += n;
          progressed = true;
          continue;
        }
        if (s.finalCallback !== null && !s.finSent) {
          const n = this.streamSend(s, EMPTY, true);
          if (n < 0) break;
          if (n === 0 && !s.finSent) {
            blocked = true;
            break;
          }
          progressed = true;
          // Send the FIN now, before another packet is read. quiche (this binding's version) records a
          // FIN with no data beside it only as the stream's final size; if an ACK covering all the stream's
          // data is read before that FIN went out, quiche counts the stream complete, forgets it and never
          // sends the FIN (found as a session whose end never reached the client).
          this.sendPackets();
          const cb = s.finalCallback;
          s.finalCallback = null;
          cb();
          continue;
        }
        break;
      }
    } finally {
      s.pumping = false;
    }
    if (blocked && !s.destroyed) this.blockedWriters.add(s);
    else this.blockedWriters.delete(s);
    if (progressed) this.scheduleFlush();
  }

  /** @internal */
  pumpRead(s: QuicStream, drain = false): void {
    if (!this.ready || s.reading || s.readEnded || s.destroyed) return;
    s.reading = true;
    let consumed = false;
    try {
      while ((s.wantRead || drain) && !s.destroyed) {
        if (READ_SLAB - this.readOffset < READ_CHUNK) {
          this.readSlab = Buffer.allocUnsafe(READ_SLAB);
          this.readOffset = 0;
        }
        const start = this.readOffset;
        const r = this.streamRecv(s, this.readSlab.subarray(start, start + READ_CHUNK));
        if (r === null) break;
        const [n, fin] = r;
        if (n > 0) {
          consumed = true;
          let chunk: Buffer;
          if (n < SLAB_VIEW_MIN) {
            // Small reads are copied out, so an idle stream never pins a slab.
            chunk = Buffer.from(this.readSlab.subarray(start, start + n));
          } else {
            chunk = this.readSlab.subarray(start, start + n);
            this.readOffset = start + n;
          }
          s.wantRead = s.push(chunk);
        }
        if (fin) {
          s.readEnded = true;
          s.push(null);
          break;
        }
      }
    } finally {
      s.reading = false;
    }
    // Reading frees window: the engine may owe the peer a MAX_STREAM_DATA.
    if (consumed) this.scheduleFlush();
  }

  /** @internal */
  abort(s: QuicStream): void {
    this.blockedWriters.delete(s);
    if (this.closed || !s.headerSent) return;
    let reset = false;
    if (!s.readEnded) reset = this.shutdown(s.id, 0) || reset;
    if (!s.finSent) reset = this.shutdown(s.id, 1) || reset;
    s.readEnded = true;
    s.finSent = true;
    if (reset) this.scheduleFlush();
  }

  /** @internal */
  retire(s: QuicStream): void {
    this.blockedWriters.delete(s);
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
  }

  // ---- engine I/O ----

  private receive(payload: Buffer): void {
    if (this.closed) return;
    const now = performance.now();
    const silentMs = now - this.silentSince;
    this.holdWrites = false;
    if (payload.length === 1 && payload[0] === POKE) {
      // The peer is back and has packets in flight: answer with an ack-eliciting packet of ours (and a replay of ours).
      if (this.probeOnReconnect) this.probe();
      this.silentSince = now;
      return;
    }
    if (payload.length > 0 && payload[0] === BUNDLE) {
      // The peer's replay during its outage: its packets, then (as for a poke) our answer at once.
      const packets = bundledPackets(payload);
      this.bundlesReceived++;
      if (packets !== null) for (const packet of packets) this.recvPacket(packet);
      if (this.probeOnReconnect) this.probe();
      this.silentSince = now;
      this.scheduleFlush();
      return;
    }
    this.recvPacket(payload);
    // The peer is back after an outage too short for the path to call it lost: if ours are in flight, their timer has backed off.
    if (this.probeOnReconnect && silentMs >= this.silenceMs() && this.conn.timeout() !== null) this.probe();
    this.silentSince = now;
    this.scheduleFlush();
  }

  private recvPacket(packet: Buffer): void {
    this.receivedAny = true;
    try {
      this.conn.recv(packet, this.recvInfo);
    } catch {
      // Undecryptable or stray packets are the engine's to ignore; a fatal error shows up as isClosed() at the flush.
    }
  }

  private scheduleFlush(): void {
    if (this.flushHandle === null && !this.closed) this.flushHandle = setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    if (this.flushHandle !== null) {
      clearImmediate(this.flushHandle);
      this.flushHandle = null;
    }
    if (this.closed) return;
    const conn = this.conn;
    if (!this.ready && conn.isEstablished() && !conn.isDraining() && !conn.isClosed()) this.establish();
    if (this.closed) return;
    if (this.ready) {
      this.deliverStreams();
      this.deliverDatagrams();
      for (const s of [...this.blockedWriters]) this.pumpWrite(s);
    }
    if (this.closed) return;
    this.sendPackets();
    if (conn.isClosed() || conn.isDraining()) return this.finishFromEngine();
    this.armTimer();
  };

  /** Send what the engine has, up to a burst; the rest goes next turn, after incoming ACKs had their say. */
  private sendPackets(): void {
    const out = this.out;
    const now = performance.now();
    for (let n = 0; n < this.tuning.sendBurst; n++) {
      let r: [number, unknown] | null;
      try {
        r = this.conn.send(out);
      } catch {
        break; // quiche closes itself on fatal errors; the flush notices
      }
      if (r === null) break;
      const packet = out.subarray(0, r[0]);
      // Small packets are kept for a replay; while capturing (a poke) they go out only inside it.
      if (this.replayKeep.record(packet, now) && this.capture) {
        this.captured++;
        continue;
      }
      const copies = this.copies.copiesFor(packet.length, now);
      for (let k = 0; k < copies; k++) this.path.send(packet);
      if (n === this.tuning.sendBurst - 1) this.scheduleFlush();
    }
    const s = this.conn.stats();
    this.copies.update(s.sent, s.lost, now);
  }

  private armTimer(): void {
    const ms = this.conn.timeout();
    const now = performance.now();
    // Something in flight again after nothing: the peer's silence counts from now, not from its last word.
    if (ms !== null && !this.engineBusy) this.silentSince = Math.max(this.silentSince, now);
    this.engineBusy = ms !== null;
    // While ours are in flight, a silent peer gets poked (see POKE), on the same timer.
    const interval = now - this.silentSince >= LONG_SILENCE_MS ? POKE_LONG_INTERVAL_MS : POKE_INTERVAL_MS;
    this.pokeAt = ms === null || !this.ready || !this.probeOnReconnect ? Infinity : Math.max(this.silentSince + this.silenceMs(), this.lastPokeAt + interval);
    const due = Math.min(ms === null ? Infinity : now + ms, this.followUpAt, this.pokeAt);
    if (due === Infinity) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.timerDue = Infinity;
      return;
    }
    // An earlier timer is kept: onTimeout() before the engine's deadline is a no-op and the timer re-arms.
    if (this.timer !== null && this.timerDue <= due + 1) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(due - now)));
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerDue = Infinity;
    if (this.closed) return;
    const now = performance.now();
    if (now >= this.followUpAt) {
      // The first probe may have met the tail of the outage: try again, a bounded number of times.
      this.followUps--;
      this.followUpAt = this.followUps > 0 ? now + this.followUpIntervalMs() : Infinity;
      this.askForAck();
    }
    if (now >= this.pokeAt && this.conn.timeout() !== null) {
      this.holdWrites = true;
      this.lastPokeAt = now;
      this.pokes++;
      this.pokeWithReplay(now);
    }
    this.conn.onTimeout();
    this.flush();
  };

  /** Silence after which the peer counts as out of reach while ours are in flight: 250 ms, or 3 RTTs on slow links. */
  private silenceMs(): number {
    return silenceThresholdMs(this.networkRtt());
  }

  /**
   * The path's own RTT (from its echoed timestamps), else the engine's, else 0. For outage timing: the engine's
   * smoothed RTT runs well above the network's with delayed ACKs of small packets (160 ms at 100 ms RTT).
   */
  private networkRtt(): number {
    const rtt = this.path.srttMs;
    if (Number.isFinite(rtt)) return rtt;
    const engine = this.engineRtt();
    return Number.isFinite(engine) ? engine : 0;
  }

  private followUpIntervalMs(): number {
    const rtt = this.engineRtt();
    return Math.max(PROBE_FOLLOW_UP_MS, 2 * (Number.isFinite(rtt) ? rtt : 0));
  }

  private askForAck(): void {
    try {
      this.conn.sendAckEliciting();
    } catch {
      // closing
    }
  }

  /**
   * A poke during an outage: what was written since the last one goes into the engine now (if it is little),
   * and the packets that makes go out only in a replay of all ours the peer may have missed since its
   * silence began, so the first datagram to get through carries them all. A bare poke if there is nothing
   * to replay (e.g. only bulk packets in flight).
   */
  private pokeWithReplay(now: number): void {
    let released = false;
    if (this.blockedWriters.size > 0) {
      let bytes = 0;
      for (const s of this.blockedWriters) bytes += s.writableLength;
      if (bytes <= RELEASE_MAX_BYTES) {
        this.releasing = true;
        try {
          for (const s of [...this.blockedWriters]) this.pumpWrite(s);
        } finally {
          this.releasing = false;
        }
        released = true;
      }
    }
    if (released || now - this.lastFreshAt >= FRESH_PACKET_MS) {
      this.lastFreshAt = now;
      this.askForAck();
    }
    this.capture = true;
    this.captured = 0;
    try {
      this.sendPackets();
    } finally {
      this.capture = false;
    }
    if (this.replay(this.captured) === 0) this.path.send(this.poke);
  }

  /** Replay (bundled) our small packets since the peer's silence began, the `fresh` newest always among them; returns how many went. */
  private replay(fresh = 0): number {
    const since = this.silentSince - Math.max(REPLAY_LOOKBACK_MS, this.networkRtt());
    const n = this.replayKeep.replay(since, this.replayOut, REPLAY_BUNDLES, fresh, this.sendPayload);
    if (n > 0) {
      this.replays++;
      this.packetsReplayed += n;
    }
    return n;
  }

  private readonly sendPayload = (payload: Buffer): void => {
    this.path.send(payload);
  };

  /**
   * The path renewed or regained contact, or the peer is back after a silence: replay ours it may have
   * missed and ask the engine for an ack-eliciting packet now, so loss recovery restarts at once, not
   * after a backed-off PTO.
   */
  private probe(): void {
    if (this.closed || !this.ready) return;
    this.probes++;
    const now = performance.now();
    if (now - this.lastProbeReplayAt >= REPLAY_MIN_GAP_MS) {
      this.lastProbeReplayAt = now;
      this.replay();
    }
    this.askForAck();
    this.followUps = PROBE_FOLLOW_UPS;
    this.followUpAt = performance.now() + this.followUpIntervalMs();
    this.flush();
  }

  private establish(): void {
    if (this.role === 'client') {
      const chain = this.conn.peerCertChain();
      const cert = chain?.[0];
      if (cert === undefined || !matchesPin(cert, this.pins)) {
        const err = new QuicIdentityError(cert === undefined ? null : certificateFingerprint(cert));
        this.closeEngine(QuicAppError.BadCertificate, 'certificate mismatch');
        this.finish(err);
        return;
      }
    }
    this.ready = true;
    for (const s of this.streams.values()) this.pumpWrite(s);
  }

  /** Hand readable engine streams to their Duplex; peer-opened ones become 'stream' events once their kind byte is in. */
  private deliverStreams(drain = false): void {
    for (const id of this.conn.readable()) {
      if (this.closed) return;
      let s = this.streams.get(id);
      if (s === undefined) {
        s = this.acceptStream(id);
        if (s === undefined) continue;
      }
      if (s.wantRead || drain) this.pumpRead(s, drain);
      else this.peekStream(s);
    }
  }

  /** A readable stream we have no Duplex for: a new peer stream (read its kind) or one we already retired (discard). */
  private acceptStream(id: number): QuicStream | undefined {
    const isPeers = (id & 1) === (this.role === 'server' ? 0 : 1);
    const fresh = isPeers && (id > this.highestPeerStream || this.unseenPeerStreams.has(id));
    if (!fresh) {
      this.shutdown(id, 0);
      return undefined;
    }
    let r: [number, boolean] | null;
    try {
      r = this.conn.streamRecv(id, this.kindBuf);
    } catch {
      r = null; // reset before we learnt its kind: nobody to tell
    }
    if (r === null || r[0] === 0) {
      // Reset, or a FIN without a kind byte: not a stream anyone can use.
      this.markSeen(id);
      this.shutdown(id, 0);
      this.shutdown(id, 1);
      return undefined;
    }
    this.markSeen(id);
    const s = new QuicStream(this, id, this.kindBuf[0]!, false);
    this.streams.set(id, s);
    this.streamsOpenedTotal++;
    if (r[1]) {
      s.readEnded = true;
      s.push(null);
    }
    this.emit('stream', s);
    return s.destroyed ? undefined : s;
  }

  private markSeen(id: number): void {
    if (id > this.highestPeerStream) {
      for (let gap = this.highestPeerStream < 0 ? id & 3 : this.highestPeerStream + 4; gap < id; gap += 4) this.unseenPeerStreams.add(gap);
      this.highestPeerStream = id;
    } else {
      this.unseenPeerStreams.delete(id);
    }
  }

  /** A readable stream whose reader is not asking: look (zero-length read) only for a reset or a bare FIN. */
  private peekStream(s: QuicStream): void {
    if (s.readEnded) return;
    const r = this.streamRecv(s, EMPTY);
    if (r !== null && r[1]) {
      s.readEnded = true;
      s.push(null);
    }
  }

  private deliverDatagrams(): void {
    for (;;) {
      if (this.closed) return;
      let d: Uint8Array | null;
      try {
        d = this.conn.dgramRecvVec();
      } catch {
        d = null;
      }
      if (d === null) return;
      if (d.length < DATAGRAM_CHANNEL_BYTES) {
        this.datagramsDropped++;
        continue;
      }
      const buf = Buffer.from(d.buffer, d.byteOffset, d.length);
      this.datagramsReceived++;
      this.emit('datagram', buf.readUInt16BE(0), buf.subarray(DATAGRAM_CHANNEL_BYTES));
    }
  }

  /** streamSend with errors mapped: bytes taken (0 = no capacity now), or -1 after the stream was destroyed for an engine error. */
  private streamSend(s: QuicStream, data: Uint8Array, fin: boolean): number {
    try {
      const n = this.conn.streamSend(s.id, data, fin);
      if (n === null) return 0;
      if (fin && n === data.length) s.finSent = true;
      return n;
    } catch (err) {
      const message = (err as Error).message;
      // More streams than the peer allows yet: wait for its MAX_STREAMS like any other credit.
      if (message === 'StreamLimit') return 0;
      s.readEnded = true;
      s.finSent = true;
      s.destroy(/^Stream(Stopped|Reset)/.test(message) ? new StreamResetError(s.id) : new Error(`QUIC stream ${s.id}: ${message}`));
      return -1;
    }
  }

  /** streamRecv with a peer's reset mapped to StreamResetError on the Duplex. */
  private streamRecv(s: QuicStream, into: Buffer): [number, boolean] | null {
    try {
      return this.conn.streamRecv(s.id, into);
    } catch (err) {
      const message = (err as Error).message;
      s.readEnded = true;
      if (/^StreamReset/.test(message)) {
        s.destroy(new StreamResetError(s.id));
      } else if (!/^InvalidStreamState/.test(message)) {
        s.destroy(new Error(`QUIC stream ${s.id}: ${message}`));
      }
      return null;
    }
  }

  /** Shut one direction (0 read: STOP_SENDING, 1 write: RESET_STREAM); true if the engine accepted it. */
  private shutdown(id: number, direction: 0 | 1): boolean {
    try {
      return this.conn.streamShutdown(id, direction, QuicAppError.StreamReset) !== null;
    } catch {
      return false;
    }
  }

  /** Nothing left to deliver: no stream waits for the engine, no flush is due and the engine has nothing in flight (no timer armed). */
  private idle(): boolean {
    for (const s of this.streams.values()) if (s.writePending) return false;
    // Bytes just handed to the engine go out at the next flush; until then nothing is in flight and timeout() is null.
    if (this.flushHandle !== null) return false;
    // Before the handshake completes nothing of ours is in flight but the handshake itself.
    return !this.ready || this.conn.timeout() === null;
  }

  /** The engine's smoothed RTT (whole ms, as the binding reports it); below 1 ms, the path's own finer estimate. */
  private engineRtt(): number {
    // pathStats() builds objects: read it at most every RTT_CACHE_MS (armTimer asks on every flush).
    const now = performance.now();
    if (now - this.rttReadAt >= RTT_CACHE_MS) {
      const p = this.conn.pathStats()[0];
      this.rtt = p === undefined || p.rtt === 0 ? this.path.srttMs : p.rtt;
      this.rttReadAt = now;
    }
    return this.rtt;
  }

  private closeEngine(code: number, reason: string): void {
    try {
      this.conn.close(true, code, Buffer.from(reason.slice(0, 100), 'utf8'));
    } catch {
      // already closing
    }
    this.sendPackets();
  }

  private finishFromEngine(): void {
    const peer = this.conn.peerError();
    const local = this.conn.localError();
    const e = peer ?? local;
    let err: Error | undefined;
    if (e !== null && (e.errorCode !== 0 || !e.isApp)) {
      err = new QuicConnectionError(e.errorCode, e.isApp, peer !== null, Buffer.from(e.reason).toString('utf8'));
    }
    this.finish(err);
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    // A graceful end (ours or the peer's CONNECTION_CLOSE or path goodbye, which may be read before the
    // flush that would deliver the last packets): hand every byte and FIN the engine holds to the streams first.
    const graceful = err === undefined && this.ready;
    if (graceful) {
      try {
        this.deliverStreams(true);
      } catch {
        // the engine is gone: nothing more to read
      }
    }
    this.closed = true;
    this.ready = false;
    if (this.flushHandle !== null) clearImmediate(this.flushHandle);
    this.flushHandle = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    // Streams whose peer finished sending keep their Readable until it has emitted 'end'; the rest end now.
    const ending: QuicStream[] = [];
    for (const s of [...this.streams.values()]) {
      if (graceful && s.readEnded && !s.destroyed && !s.readableEnded && !s.writePending) ending.push(s);
      else s.destroy(err);
    }
    this.streams.clear();
    this.blockedWriters.clear();
    this.path.onDatagram = null;
    this.path.off('payload-budget', this.onPayloadBudget);
    this.path.close();
    if (ending.length === 0) {
      this.emit('close', err);
      return;
    }
    // 'close' comes after those 'end' events, so a reader sees its stream end before the connection does;
    // a slow reader is waited for while it makes progress, as over KCP (drain.ts).
    drainThenDestroy(ending, this.tuning.drainStallMs, () => this.emit('close', err));
  }

  /** A write after the connection closed: the FIN alone completes quietly (nobody can hear it), data fails the stream. */
  private refuseWrite(s: QuicStream): void {
    if (s.writeCallback === null && s.finalCallback !== null) {
      const cb = s.finalCallback;
      s.finalCallback = null;
      s.finSent = true;
      cb();
      return;
    }
    if (s.writeCallback !== null) s.destroy(new Error('QUIC connection is closed'));
  }
}
