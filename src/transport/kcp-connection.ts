import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { DatagramPath } from '../path/datagram-path.js';
import { DatagramTooLargeError, type Connection, type Stream, type TransportStats } from './connection.js';
import { Kcp, type KcpOptions } from './kcp/kcp.js';
import { drainThenDestroy } from './drain.js';
import { Mux, type MuxOptions } from './mux/mux.js';
import type { MuxStream } from './mux/stream.js';

/** First byte of every path payload in KCP mode: what the rest of it is. */
export const enum FrameClass {
  /** One KCP output packet of lane 0 (interactive streams). */
  KcpInteractive = 0x01,
  /** An unreliable datagram: [u16 BE channel][payload]. */
  Datagram = 0x02,
  /** One KCP output packet of lane 1 (bulk streams). */
  KcpBulk = 0x03,
}
const DATAGRAM_HEADER = 3;
/** How often close() looks whether the peer has acknowledged everything (close only, bounded by CLOSE_LINGER_MS). */
const LINGER_STEP_MS = 1;

/**
 * Default mux stream window over KCP. Credit comes back only once data is
 * delivered in order, so on a lossy link it waits for holes to be repaired:
 * the mux default (1 MiB) held one stream to about 7 MB/s at 50 ms RTT and
 * 1 % loss, under what rate control now sustains (docs/KCP.md).
 */
const KCP_STREAM_WINDOW = 4 * 1024 * 1024;

/** How long close() waits for the peer to acknowledge what is still in flight. */
const CLOSE_LINGER_MS = 5000;
/**
 * After the peer's goodbye, how long a reader may take nothing before its streams are given up on. Generous:
 * a terminal held with Ctrl-S (XOFF), or a machine so loaded that tssh's stdout reader falls behind, must not
 * lose a session's last output (ssh would wait); it only bounds a reader that is stuck for good.
 */
const DRAIN_STALL_MS = 60_000;

/** Which lane a stream travels in: 0 interactive, 1 bulk. */
export type Lane = 0 | 1;

export interface KcpConnectionOptions {
  role: 'client' | 'server';
  /** KCP conversation id; both sides must agree (from the bootstrap). */
  conv?: number;
  kcp?: Partial<Omit<KcpOptions, 'conv' | 'mtu'>>;
  mux?: Partial<Omit<MuxOptions, 'role' | 'lane'>>;
  /**
   * The lane for streams we open, by kind (the protocol layer decides). The
   * peer answers a stream in the lane it arrived in, so the two sides need not
   * agree. Default: every kind in lane 0.
   */
  laneOf?: (kind: number) => Lane;
}

/** One KCP conversation and the multiplexer riding on it. */
interface KcpLane {
  readonly kcp: Kcp;
  readonly mux: Mux;
}

/**
 * The KCP transport: our KCP ARQ carrying the stream multiplexer, plus
 * unreliable datagrams on numbered channels, over one DatagramPath.
 *
 * There are two KCP lanes, each with its own multiplexer: KCP delivers in
 * order, so a datagram lost from a bulk stream would otherwise hold back every
 * keystroke behind it until its retransmission; in its own lane a bulk
 * transfer costs interactive streams nothing but bandwidth. The path hides
 * roaming; we only ask KCP to probe at once when the path reports that it
 * renewed or regained contact, so recovery costs one RTT, not a backed-off RTO.
 */
export class KcpConnection extends EventEmitter implements Connection {
  maxDatagramSize: number;
  private readonly lanes: readonly [KcpLane, KcpLane];
  private readonly laneOf: (kind: number) => Lane;
  private out: Buffer;
  private datagramsSent = 0;
  private datagramsReceived = 0;
  private datagramsDropped = 0;
  private closed = false;
  private lingering: Promise<void> | null = null;
  /** While streams drain after the peer's goodbye: end the wait now. */
  private endDrain: (() => void) | null = null;

  constructor(private readonly path: DatagramPath, options: KcpConnectionOptions) {
    super();
    const budget = path.payloadBudget;
    this.maxDatagramSize = budget - DATAGRAM_HEADER;
    this.out = Buffer.allocUnsafe(budget);
    this.laneOf = options.laneOf ?? (() => 0);
    const makeLane = (lane: Lane, frameClass: FrameClass): KcpLane => {
      const kcp = new Kcp({ ...options.kcp, conv: options.conv ?? 1, mtu: budget - 1 }, (packet) => this.sendKcp(frameClass, packet));
      const mux = new Mux(kcp, { streamWindow: KCP_STREAM_WINDOW, ...options.mux, role: options.role, lane });
      mux.on('stream', (stream: Stream) => this.emit('stream', stream));
      mux.once('close', (err?: Error) => (err ? this.finish(err) : void this.linger()));
      return { kcp, mux };
    };
    this.lanes = [makeLane(0, FrameClass.KcpInteractive), makeLane(1, FrameClass.KcpBulk)];
    path.onDatagram = (payload) => this.receive(payload);
    const probe = (): void => {
      for (const lane of this.lanes) lane.kcp.probeNow();
    };
    const pathChanged = (): void => {
      for (const lane of this.lanes) lane.kcp.pathChanged();
    };
    path.on('renewed', pathChanged);
    path.on('contact-restored', probe);
    path.on('peer-moved', pathChanged);
    path.on('payload-budget', this.onPayloadBudget);
    path.once('close', () => this.finish());
  }

  openStream(kind: number): Stream {
    return this.lanes[this.laneOf(kind)].mux.openStream(kind);
  }

  sendDatagram(channel: number, payload: Uint8Array): void {
    if (payload.length > this.maxDatagramSize) throw new DatagramTooLargeError(payload.length, this.maxDatagramSize);
    if (!Number.isInteger(channel) || channel < 0 || channel > 0xffff) throw new RangeError(`datagram channel ${channel} is not in 0..65535`);
    if (this.closed) return;
    const out = this.out;
    out[0] = FrameClass.Datagram;
    out.writeUInt16BE(channel, 1);
    out.set(payload, DATAGRAM_HEADER);
    this.datagramsSent++;
    this.path.send(out.subarray(0, DATAGRAM_HEADER + payload.length));
  }

  /** Graceful close: GOAWAY and flush the streams, wait (bounded) until KCP has everything acknowledged, then say goodbye on the path. */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all(this.lanes.map((lane) => lane.mux.close()));
    await this.linger();
  }

  destroy(err?: Error): void {
    for (const lane of this.lanes) lane.mux.destroy(err);
    this.finish(err);
    this.endDrain?.();
  }

  stats(): TransportStats {
    const [k0, k1] = this.lanes.map((lane) => lane.kcp.stats());
    const [m0, m1] = this.lanes.map((lane) => lane.mux.stats());
    // RTT from the interactive lane unless only the bulk lane has measured it.
    const rtt = Number.isNaN(k0.srttMs) || (k0.segmentsReceived === 0 && k1.segmentsReceived > 0) ? k1 : k0;
    return {
      rttMs: rtt.rttMs,
      srttMs: rtt.srttMs,
      rttVarMs: rtt.rttVarMs,
      bytesSent: k0.bytesSent + k1.bytesSent,
      bytesReceived: k0.bytesReceived + k1.bytesReceived,
      datagramsSent: this.datagramsSent,
      datagramsReceived: this.datagramsReceived,
      retransmissions: k0.retransmissions + k1.retransmissions,
      streamsOpen: m0.streamsOpen + m1.streamsOpen,
      streamsOpenedTotal: m0.streamsOpenedTotal + m1.streamsOpenedTotal,
    };
  }

  /** Path payloads dropped on receipt (empty, short datagram header or unknown class). */
  get droppedFrames(): number {
    return this.datagramsDropped;
  }

  /** Wait (bounded) until KCP has everything acknowledged, then finish; shared by close() and a mux that ended on its own. */
  private linger(): Promise<void> {
    this.lingering ??= (async () => {
      const deadline = performance.now() + CLOSE_LINGER_MS;
      // A short step: the last ack is a round trip away, and tssh's exit waits on this (a 10 ms step cost ~10 ms per exit).
      while (!this.closed && !(this.lanes[0].kcp.idle && this.lanes[1].kcp.idle) && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, LINGER_STEP_MS));
      }
      this.finish();
    })();
    return this.lingering;
  }

  /** The path can carry larger datagrams now (a server whose peer turned out to be on loopback): so can KCP. */
  private readonly onPayloadBudget = (budget: number): void => {
    if (this.closed || budget <= this.out.length) return;
    this.out = Buffer.allocUnsafe(budget);
    this.maxDatagramSize = budget - DATAGRAM_HEADER;
    for (const lane of this.lanes) lane.kcp.growMtu(budget - 1);
  };

  private sendKcp(frameClass: FrameClass, packet: Buffer): void {
    if (this.closed) return;
    const out = this.out;
    out[0] = frameClass;
    out.set(packet, 1);
    this.path.send(out.subarray(0, 1 + packet.length));
  }

  private receive(payload: Buffer): void {
    if (payload.length === 0) return void this.datagramsDropped++;
    switch (payload[0]) {
      case FrameClass.KcpInteractive:
        this.lanes[0].kcp.input(payload.subarray(1));
        return;
      case FrameClass.KcpBulk:
        this.lanes[1].kcp.input(payload.subarray(1));
        return;
      case FrameClass.Datagram:
        if (payload.length < DATAGRAM_HEADER) return void this.datagramsDropped++;
        this.datagramsReceived++;
        this.emit('datagram', payload.readUInt16BE(1), payload.subarray(DATAGRAM_HEADER));
        return;
      default:
        this.datagramsDropped++;
    }
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    // Ended without error (the peer's goodbye on the path): what arrived is still delivered. Streams the peer
    // finished keep their Readable until read, and 'close' comes after their 'end', as QUIC does.
    const draining: MuxStream[] = [];
    for (const lane of this.lanes) {
      if (err === undefined) draining.push(...lane.mux.endByPeer());
      else lane.mux.destroy(err);
    }
    for (const lane of this.lanes) lane.kcp.close();
    this.path.onDatagram = null;
    this.path.off('payload-budget', this.onPayloadBudget);
    this.path.close();
    if (draining.length === 0) this.emit('close', err);
    else this.endDrain = drainThenDestroy(draining, DRAIN_STALL_MS, () => this.emit('close', err));
  }
}
