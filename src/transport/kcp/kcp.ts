import { silenceThresholdMs } from '../../path/silence.js';
import type { ReliablePipe } from '../reliable-pipe.js';
import { systemClock, type KcpClock } from './clock.js';
import { LossEstimator } from './loss-estimator.js';
import { resolveKcpOptions, type KcpOptions, type ResolvedKcpOptions } from './options.js';
import { ACK_COPY_MASK, ACK_DUPLICATE, KcpCommand, SEGMENT_HEADER, readU32, writeHeader, writeU32 } from './segment.js';
import { RateControl } from './rate-control.js';
import { SendQueue } from './send-queue.js';
import type { KcpDropReason, KcpStats } from './stats.js';

export type { KcpOptions, KcpRedundancyOptions } from './options.js';
export type { KcpClock } from './clock.js';
export type { KcpStats, KcpDropReason } from './stats.js';

/** RTO ceiling, ms. */
const MAX_RTO = 60_000;
/** How far back probeTs is kept (ms, 2^30): older copies are long acknowledged or given up. */
const PROBE_TS_HORIZON = 0x40000000;
/** Largest output packet (as resolveKcpOptions allows). */
const MAX_MTU = 65536;
/** RTO before the first RTT sample, ms. */
const INITIAL_RTO = 200;
/** First and longest wait between window probes while the peer advertises 0, ms. */
const PROBE_INITIAL = 200;
const PROBE_MAX = 5_000;
/** Small packets whose copies may be pending at once; more are simply not copied. */
const COPY_SLOTS = 64;
/** During an outage, one replay of what is in flight every this many ms; every REPLAY_LONG_INTERVAL_MS once silent for LONG_SILENCE_MS. */
const REPLAY_INTERVAL_MS = 50;
const LONG_SILENCE_MS = 5_000;
const REPLAY_LONG_INTERVAL_MS = 500;
/** Bytes of segments one replay may carry, in packets of mtu (the oldest in flight first, then queued data). */
const REPLAY_PACKETS = 4;
/**
 * A probe (after a path change, a restored contact or the end of an outage) resends at most this many
 * packets' worth (of mtu) of segments at once, an initial window; each byte acknowledged afterwards lets
 * PROBE_GROWTH more go (slow start), so a freshly recovered link is not flooded with a whole window of resends.
 */
export const PROBE_WINDOW_PACKETS = 16;
const PROBE_GROWTH = 2;

const enum Resend {
  None = 0,
  Fast = 1,
  Timeout = 2,
  Probe = 3,
}

function smallestPow2(n: number): number {
  let p = 1;
  while (p < n) p <<= 1;
  return p;
}

/**
 * KCP ARQ: a reliable ordered byte stream over an unreliable packet pipe,
 * tuned for interactive use (see docs/KCP.md).
 *
 * - Writes and acks of one event-loop turn are flushed together at the end of
 *   that turn (clock.defer), so a keystroke goes out at once, not at a tick.
 * - One timer at most, armed for the next due event (earliest RTO, redundant
 *   copy, window probe); none at all when nothing is in flight or owed.
 * - Small packets are sent up to 3 times, a few ms apart, when the measured
 *   loss calls for it, so one lost datagram does not cost an RTO.
 * - input() never throws: malformed or foreign packets are dropped and counted.
 *
 * In flight and out-of-order state lives in rings of typed arrays indexed by
 * sn, so the per-segment cost is one Buffer view, not an object.
 */
export class Kcp implements ReliablePipe {
  /** See ReliablePipe. */
  onDrain: (() => void) | null = null;
  /** See ReliablePipe. */
  drainThreshold: number;
  /** See ReliablePipe. Chunks are views of input packets (input() takes ownership of them). */
  onData: ((chunk: Buffer) => void) | null = null;

  private readonly opt: ResolvedKcpOptions;
  private readonly clock: KcpClock;
  private readonly defer: (fn: () => void) => void;
  private closed = false;

  // Send side. sn in [sndUna, sndNxt) are in flight; sData[sn & sMask] is null once acknowledged.
  private readonly queue = new SendQueue();
  private aboveDrain = false;
  private sndUna = 0;
  private sndNxt = 0;
  private readonly sMask: number;
  private readonly sData: (Buffer | null)[];
  private readonly sResendAt: Float64Array;
  private readonly sRto: Float64Array;
  /** Transmission order of the segment's latest send: only acks of later sends count toward fast resend. */
  private readonly sSeq: Float64Array;
  private readonly sFast: Uint16Array;
  /** 1 while the segment's latest round is a fast retransmission (to notice spurious ones). */
  private readonly sWasFast: Uint8Array;
  /** Copies sent in the latest round, and copies of earlier rounds (all presumed lost). */
  private readonly sCopies: Uint8Array;
  private readonly sLost: Uint16Array;
  /** ts of the latest round's first send: tells an ack of this round from one of an earlier round. */
  private readonly sRoundTs: Uint32Array;
  private inFlightCount = 0;
  /** Scratch: transmission order of the segments newly acked by one input packet. */
  private readonly ackedSeq: Float64Array;
  private txSeq = 0;
  private rmtWnd: number;
  /** una of the segment rmtWnd was taken from. */
  private rmtWndUna = 0;
  private nextRtoCheck = Infinity;
  private lastRtoScan = -Infinity;
  private fastPending = false;
  /**
   * How long a segment passed by fastResend later acks may still be merely
   * reordered, in ms. 0 (resend at once) until a fast resend proves spurious;
   * then it grows by srtt/8 per round trip (at most srtt), and halves after 16
   * fast resends that were needed. (RACK's adaptive reordering window.)
   */
  private reorderMs = 0;
  private lastReorderBump = -Infinity;
  private fastNeeded = 0;
  /**
   * A probe is under way: segments last sent at or before transmission probeSeq are resent as the probe's
   * credit (bytes) allows (PROBE_WINDOW_PACKETS at first, more as acks come back) and do not time out
   * meanwhile, until probeUntil; then what is left goes by the ordinary timeouts.
   */
  private probing = false;
  private probeCredit = 0;
  private probeSeq = 0;
  /** Bytes (segment header + data) acknowledged by the input packet being read. */
  private ackedBytes = 0;
  private probeUntil = -Infinity;
  /** now32 of the last probe: acks of copies sent before it give no RTT sample. */
  private probeTs: number;
  /**
   * Outage: ours in flight and not a word from the peer for silenceMs(). Then
   * neither RTO resends nor new data go out one by one; every replay interval
   * one replay carries the oldest segments in flight and what was queued
   * (coalesced), so whichever datagram first gets through after the outage
   * (e.g. from a new NAT binding) already holds the data, and the peer's
   * answer holds the reply: recovery costs half a round trip from then, not
   * one and a half. Any packet from the peer ends it.
   */
  private outage = false;
  /** When the peer's silence started to count: its last packet, or our first send with nothing in flight. */
  private silentSince: number;
  private replayAt = Infinity;
  private probeAt = Infinity;
  private probeWait = PROBE_INITIAL;
  private cwnd = 4;
  private ssthresh: number;
  /** Rate control (rate-control.ts), or null when off. */
  private readonly rate: RateControl | null;
  /** The latest resend scan left due segments for the pacing to let out. */
  private resendHeld = false;

  // RTT (RFC 6298 style, as reference KCP).
  private hasRtt = false;
  private rttLast = NaN;
  private srtt = 0;
  private rttVar = 0;
  private rto = INITIAL_RTO;

  // Receive side. sn in [rcvNxt, rcvNxt + rcvWnd) may wait in rData; in-order data waits in rQueue while paused.
  private rcvNxt = 0;
  private readonly rMask: number;
  private readonly rData: (Buffer | null)[];
  private rBuffered = 0;
  private rQueue: Buffer[] = [];
  private rqHead = 0;
  private paused = false;
  private delivering = false;
  private readonly ackSn: Uint32Array;
  private readonly ackTs: Uint32Array;
  private readonly ackFlag: Uint8Array;
  private ackCount = 0;
  private winsOwed = false;

  // Output packet being built (reused; output() copies what it keeps).
  private out: Buffer;
  private outLen = 0;
  private pktData = 0;
  /** PUSH segments in the packet sent for the first time (only those make a packet worth copying). */
  private pktNew = 0;
  /** Time of the flush in progress, in ms and as the u32 written into ts. */
  private nowMs = 0;
  private now32 = 0;
  private curWnd = 0;

  // Redundant copies of small packets.
  private readonly loss = new LossEstimator();
  private copiesNow = 1;
  private readonly cBuf: (Buffer | null)[] = new Array<Buffer | null>(COPY_SLOTS).fill(null);
  private readonly cDue = new Float64Array(COPY_SLOTS);
  private readonly cNext = new Uint8Array(COPY_SLOTS);
  private readonly cLast = new Uint8Array(COPY_SLOTS);
  private cCount = 0;
  private tokens: number;
  private tokensAt = 0;

  // The one timer and the per-turn flush.
  private timer: unknown = null;
  private timerDue = Infinity;
  private flushScheduled = false;
  private readonly flushCb = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
  private readonly timerCb = (): void => {
    this.timer = null;
    this.timerDue = Infinity;
    this.flush();
  };

  private readonly c = {
    packetsSent: 0,
    bytesSent: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    segmentsSent: 0,
    segmentsReceived: 0,
    dataBytesSent: 0,
    dataBytesReceived: 0,
    fastRetransmissions: 0,
    timeoutRetransmissions: 0,
    probeRetransmissions: 0,
    outages: 0,
    replaysSent: 0,
    replayedSegments: 0,
    redundantPacketsSent: 0,
    redundantBytesSent: 0,
    duplicatesReceived: 0,
    windowProbesSent: 0,
  };
  private readonly drops: Record<KcpDropReason, number> = { short: 0, conv: 0, cmd: 0, length: 0, window: 0, ack: 0, closed: 0 };

  /**
   * @param output receives each packet (at most mtu bytes), possibly synchronously
   * from write()'s flush or a timer; the buffer is reused afterwards, so copy it to keep it.
   */
  constructor(options: KcpOptions, private readonly output: (packet: Buffer) => void) {
    const o = resolveKcpOptions(options);
    this.opt = o;
    this.clock = options.clock ?? systemClock;
    const clock = this.clock;
    this.probeTs = Math.floor(clock.now()) >>> 0;
    this.defer = clock.defer ? (fn) => clock.defer!(fn) : (fn) => void clock.setTimer(fn, 0);
    this.drainThreshold = o.drainThreshold;
    this.rmtWnd = o.rcvWnd;
    this.ssthresh = o.sndWnd;
    const sCap = smallestPow2(o.sndWnd);
    this.sMask = sCap - 1;
    this.sData = new Array<Buffer | null>(sCap).fill(null);
    this.sResendAt = new Float64Array(sCap);
    this.sRto = new Float64Array(sCap);
    this.sSeq = new Float64Array(sCap);
    this.sFast = new Uint16Array(sCap);
    this.sWasFast = new Uint8Array(sCap);
    this.ackedSeq = new Float64Array(sCap);
    this.sCopies = new Uint8Array(sCap);
    this.sLost = new Uint16Array(sCap);
    this.sRoundTs = new Uint32Array(sCap);
    this.rate = o.rateControl ? new RateControl(o.mss, sCap, SEGMENT_HEADER) : null;
    const rCap = smallestPow2(o.rcvWnd);
    this.rMask = rCap - 1;
    this.rData = new Array<Buffer | null>(rCap).fill(null);
    const ackCap = 2 * o.rcvWnd + 64;
    this.ackSn = new Uint32Array(ackCap);
    this.ackTs = new Uint32Array(ackCap);
    this.ackFlag = new Uint8Array(ackCap);
    this.out = Buffer.allocUnsafe(o.mtu);
    this.tokens = o.redundancy.maxBytesPerSecond;
    this.tokensAt = clock.now();
    this.silentSince = this.tokensAt;
  }

  /** Bytes accepted by write() but not yet sent for the first time. */
  get queuedBytes(): number {
    return this.queue.bytes;
  }

  /** Segments sent and not yet acknowledged. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Nothing queued, in flight or owed to the peer (so no timer is armed). */
  get idle(): boolean {
    return this.queue.bytes === 0 && this.inFlightCount === 0 && this.ackCount === 0 && !this.winsOwed;
  }

  /** Queue bytes for reliable in-order delivery; kept by reference. Sent at the end of this event-loop turn. */
  write(chunk: Buffer): void {
    if (this.closed || chunk.length === 0) return;
    this.queue.push(chunk);
    if (this.queue.bytes > this.drainThreshold) this.aboveDrain = true;
    this.scheduleFlush();
  }

  /** Stop calling onData; in-order data is held (up to rcvWnd segments) and the advertised window shrinks to 0. */
  pauseReceive(): void {
    this.paused = true;
  }

  /** Deliver what was held and tell the peer at once that the window reopened. */
  resumeReceive(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    const before = this.windowUnused();
    this.deliver();
    if (this.windowUnused() > before) {
      this.winsOwed = true;
      this.scheduleFlush();
    }
  }

  /**
   * The way to the peer changed (a new socket, or the peer moved): what the rate control learnt of the old
   * path's bandwidth and RTT says nothing of the new one, so it starts over, then probeNow().
   */
  pathChanged(): void {
    if (this.closed) return;
    this.rate?.restart();
    // Nothing measured on the old path holds on the new one: RTT and RTO, the reordering allowance, the loss rate.
    this.hasRtt = false;
    this.rttLast = NaN;
    this.srtt = 0;
    this.rttVar = 0;
    this.rto = INITIAL_RTO;
    this.reorderMs = 0;
    this.lastReorderBump = -Infinity;
    this.fastNeeded = 0;
    this.loss.reset();
    this.probeNow();
  }

  /**
   * The path was renewed or contact came back: resend what is unacknowledged
   * now, with the RTO backoff reset, and tell the peer our window, so recovery
   * takes one round trip instead of a backed-off timeout. The resends go as a
   * probe (PROBE_WINDOW_PACKETS at once, then clocked by acks, and paced), never as
   * a burst of the whole window.
   */
  probeNow(): void {
    if (this.closed) return;
    this.startProbe(this.clock.now());
    // The caller has reason to think the way is open again: no longer an outage (its silence counts anew).
    this.outage = false;
    this.replayAt = Infinity;
    this.silentSince = this.clock.now();
    if (this.rmtWnd === 0 && this.queue.bytes > 0) {
      this.probeWait = PROBE_INITIAL;
      this.probeAt = -Infinity;
    }
    this.winsOwed = true;
    this.scheduleFlush();
  }

  /** Begin a probe of what is in flight now (see `probing`). */
  private startProbe(now: number): void {
    this.probeTs = Math.floor(now) >>> 0;
    this.probing = this.inFlightCount > 0;
    this.probeSeq = this.txSeq;
    this.probeCredit = PROBE_WINDOW_PACKETS * this.opt.mtu;
    this.probeUntil = now + 2 * this.rto;
  }

  /**
   * Let output packets grow to `mtu` bytes (the path below can carry more now).
   * Segments already cut keep their size; only later ones are larger. A
   * smaller or equal `mtu` changes nothing: segments never shrink.
   */
  growMtu(mtu: number): void {
    const o = this.opt;
    if (!Number.isInteger(mtu) || mtu > MAX_MTU) throw new RangeError(`KCP mtu must be an integer up to ${MAX_MTU}, got ${mtu}`);
    if (mtu <= o.mtu) return;
    const out = Buffer.allocUnsafe(mtu);
    this.out.copy(out, 0, 0, this.outLen);
    this.out = out;
    o.mtu = mtu;
    o.mss = mtu - SEGMENT_HEADER;
  }

  /** Stop the scheduler and drop all state; no output after this. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.queue.clear();
    this.sData.fill(null);
    this.rData.fill(null);
    this.rQueue = [];
    this.rqHead = 0;
    this.cBuf.fill(null);
    this.cCount = 0;
    this.inFlightCount = 0;
    this.ackCount = 0;
    this.winsOwed = false;
  }

  /** A snapshot of counters and estimates. */
  stats(): KcpStats {
    const c = this.c;
    let total = 0;
    for (const k in this.drops) total += this.drops[k as KcpDropReason];
    return {
      rttMs: this.rttLast,
      srttMs: this.hasRtt ? this.srtt : NaN,
      rttVarMs: this.hasRtt ? this.rttVar : NaN,
      rtoMs: this.rto,
      packetsSent: c.packetsSent,
      bytesSent: c.bytesSent,
      packetsReceived: c.packetsReceived,
      bytesReceived: c.bytesReceived,
      segmentsSent: c.segmentsSent,
      segmentsReceived: c.segmentsReceived,
      dataBytesSent: c.dataBytesSent,
      dataBytesReceived: c.dataBytesReceived,
      retransmissions: c.fastRetransmissions + c.timeoutRetransmissions + c.probeRetransmissions,
      fastRetransmissions: c.fastRetransmissions,
      timeoutRetransmissions: c.timeoutRetransmissions,
      probeRetransmissions: c.probeRetransmissions,
      outages: c.outages,
      replaysSent: c.replaysSent,
      replayedSegments: c.replayedSegments,
      redundantPacketsSent: c.redundantPacketsSent,
      redundantBytesSent: c.redundantBytesSent,
      duplicatesReceived: c.duplicatesReceived,
      windowProbesSent: c.windowProbesSent,
      lossEstimate: this.loss.rate,
      redundancy: this.redundancyFactor(),
      rateControl: this.rate === null ? null : this.rate.snapshot(),
      receiveBuffered: this.rBuffered + this.rQueue.length - this.rqHead,
      dropped: { ...this.drops, total },
    };
  }

  /**
   * Feed one packet from the peer. Takes ownership: delivered data are views
   * of it. Never throws for bad input (only if onData throws).
   */
  input(packet: Buffer): void {
    if (this.closed) return void this.drops.closed++;
    this.c.packetsReceived++;
    this.c.bytesReceived += packet.length;
    const size = packet.length;
    if (size < SEGMENT_HEADER) return void this.drops.short++;
    const now = this.clock.now();
    const now32 = Math.floor(now) >>> 0;
    // Keep probeTs within 2^30 ms of now, so the 32-bit comparison below never wraps.
    if (((now32 - this.probeTs) >>> 0) > PROBE_TS_HORIZON) this.probeTs = (now32 - PROBE_TS_HORIZON) >>> 0;
    const conv = this.opt.conv;
    const sMask = this.sMask;
    const unaBefore = this.sndUna;
    let acked = 0;
    let maxAckSn = 0;
    let accepted = false;
    let haveUna = false;
    let maxUna = 0;
    /** The RTT sample of this packet: from the ack of the most recently sent segment (-1: none). */
    let rttSample = -1;
    let rttTs = 0;
    let pushed = false;
    let o = 0;
    while (o < size) {
      if (size - o < SEGMENT_HEADER) {
        this.drops.short++;
        break;
      }
      if (readU32(packet, o) !== conv) {
        this.drops.conv++;
        break;
      }
      const cmd = packet[o + 4];
      const len = readU32(packet, o + 20);
      if (len > size - o - SEGMENT_HEADER) {
        this.drops.length++;
        break;
      }
      if (cmd < KcpCommand.Push || cmd > KcpCommand.WindowTell) {
        this.drops.cmd++;
        break;
      }
      const frg = packet[o + 5];
      const wnd = packet[o + 6] | (packet[o + 7] << 8);
      const ts = readU32(packet, o + 8);
      const sn = readU32(packet, o + 12);
      const una = readU32(packet, o + 16);
      const span = (this.sndNxt - this.sndUna) >>> 0;
      // una and ACK sn must lie within what we sent; anything else is not from our peer's state.
      const ackAhead = (sn - this.sndUna) | 0;
      if (((una - this.sndUna) | 0) > span || (cmd === KcpCommand.Ack && ackAhead >= span)) {
        this.drops.ack++;
        o += SEGMENT_HEADER + len;
        continue;
      }
      accepted = true;
      if (cmd === KcpCommand.Ack) {
        const slot = sn & sMask;
        if (ackAhead >= 0 && this.sData[slot] !== null) {
          // A copy sent before the last outage ended (probeNow) may have waited in a stopped peer's socket: its
          // "round trip" measured the outage, and says nothing of the RTT or of reordering.
          const beforeOutage = ((ts - this.probeTs) | 0) < 0;
          const rtt = (now32 - ts) | 0;
          // One sample per packet, as TCP takes: a packet of 100 acks is one observation of the path, not 100.
          if (rtt >= 0 && rtt <= MAX_RTO && !beforeOutage && (rttSample < 0 || ((ts - rttTs) | 0) > 0)) {
            rttSample = rtt;
            rttTs = ts;
          }
          const earlierRound = ((ts - this.sRoundTs[slot]) | 0) < 0;
          // The original's ack arriving after the fast resend means reordering; a duplicate flag on the resend's ack means a lost ack.
          if (this.sWasFast[slot] === 1 && (frg & ACK_DUPLICATE) === 0 && !beforeOutage) this.judgeFastResend(earlierRound, now);
          if ((frg & ACK_DUPLICATE) === 0) {
            // An ack of this round counts the earlier rounds' copies as lost; one of an earlier round cannot tell.
            const earlier = earlierRound ? 0 : this.sLost[slot];
            const lost = earlier + (frg & ACK_COPY_MASK);
            const cap = 2 * this.opt.redundancy.maxCopies;
            this.loss.sample(lost < cap ? lost : cap, now);
          }
          this.rate?.onAck(slot, now, !earlierRound);
          if (acked === 0 || ((sn - maxAckSn) | 0) > 0) maxAckSn = sn;
          this.ackedSeq[acked++] = this.sSeq[slot];
          this.ackedBytes += SEGMENT_HEADER + (this.sData[slot] as Buffer).length;
          this.sData[slot] = null;
          this.inFlightCount--;
        }
      }
      // una is applied once per packet, after all its ACKs, so each acked segment is still there to give its samples.
      if (!haveUna || ((una - maxUna) | 0) > 0) maxUna = una;
      haveUna = true;
      // The window of a reordered, older segment (a lower una than the last one taken) is stale: keep the newer one.
      if (((una - this.rmtWndUna) | 0) >= 0) {
        this.rmtWnd = wnd;
        this.rmtWndUna = una;
      }
      if (cmd === KcpCommand.Push) {
        if (this.receivePush(packet, o, sn, ts, frg, len)) pushed = true;
      } else if (cmd === KcpCommand.WindowAsk) {
        this.winsOwed = true;
      }
      o += SEGMENT_HEADER + len;
    }
    if (!accepted) return;
    if (rttSample >= 0) this.sampleRtt(rttSample);
    if (((maxUna - this.sndUna) | 0) > 0) this.ackBelow(maxUna, now);
    // Skip over segments acknowledged selectively.
    while (this.sndUna !== this.sndNxt && this.sData[this.sndUna & sMask] === null) this.sndUna = (this.sndUna + 1) >>> 0;
    if (acked > 0 && this.opt.fastResend > 0) this.countFastAcks(maxAckSn, acked, now);
    this.silentSince = now;
    if (this.outage) {
      // The peer is back: what it has not acknowledged goes again now, with the RTO backoff reset (once per
      // outage; when it was answering our replay, part of this is needless).
      this.outage = false;
      this.replayAt = Infinity;
      this.startProbe(now);
    }
    // Each segment acknowledged during a probe lets more of the probe go (ack clocking).
    if (this.probing) this.probeCredit += PROBE_GROWTH * this.ackedBytes;
    this.ackedBytes = 0;
    const advanced = (this.sndUna - unaBefore) >>> 0;
    if (advanced > 0 && this.opt.congestionControl) this.growCwnd(advanced);
    this.rate?.onAckEnd(now);
    if (this.inFlightCount === 0 && this.cCount > 0) this.clearCopies();
    if (pushed) this.deliver();
    this.scheduleFlush();
  }

  // ---- receive ----

  /** Store one PUSH; returns true if it was new. */
  private receivePush(packet: Buffer, o: number, sn: number, ts: number, frg: number, len: number): boolean {
    const d = (sn - this.rcvNxt) | 0;
    if (d >= this.opt.rcvWnd) {
      this.drops.window++;
      return false;
    }
    const slot = sn & this.rMask;
    if (d < 0 || this.rData[slot] !== null) {
      this.c.duplicatesReceived++;
      // A redundant copy of what we already acked needs no ack; a resend means our ack was lost.
      if (frg === 0) this.queueAck(sn, ts, ACK_DUPLICATE);
      return false;
    }
    this.rData[slot] = packet.subarray(o + SEGMENT_HEADER, o + SEGMENT_HEADER + len);
    this.rBuffered++;
    this.c.segmentsReceived++;
    this.queueAck(sn, ts, frg & ACK_COPY_MASK);
    return true;
  }

  private queueAck(sn: number, ts: number, flag: number): void {
    const i = this.ackCount;
    // Beyond the cap the peer's RTO covers us; this bounds memory whatever arrives in one turn.
    if (i === this.ackSn.length) return;
    this.ackSn[i] = sn;
    this.ackTs[i] = ts;
    this.ackFlag[i] = flag;
    this.ackCount = i + 1;
  }

  private windowUnused(): number {
    const held = this.rQueue.length - this.rqHead;
    return held < this.opt.rcvWnd ? this.opt.rcvWnd - held : 0;
  }

  /** Hand in-order data to onData, or hold it while paused (up to rcvWnd segments). */
  private deliver(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (!this.paused && !this.closed && this.rqHead < this.rQueue.length) {
        const chunk = this.rQueue[this.rqHead];
        this.rQueue[this.rqHead++] = undefined as unknown as Buffer;
        this.onData?.(chunk);
      }
      if (this.rqHead === this.rQueue.length) {
        this.rQueue.length = 0;
        this.rqHead = 0;
      } else if (this.rqHead >= 1024 && this.rqHead * 2 >= this.rQueue.length) {
        // Pause/resume flapping never empties the queue: compact so its array stays bounded.
        this.rQueue = this.rQueue.slice(this.rqHead);
        this.rqHead = 0;
      }
      const rMask = this.rMask;
      for (;;) {
        if (this.closed) break;
        const slot = this.rcvNxt & rMask;
        const data = this.rData[slot];
        if (data === null) break;
        if (this.paused && this.rQueue.length - this.rqHead >= this.opt.rcvWnd) break;
        this.rData[slot] = null;
        this.rBuffered--;
        this.rcvNxt = (this.rcvNxt + 1) >>> 0;
        this.c.dataBytesReceived += data.length;
        if (data.length === 0) continue;
        if (this.paused) this.rQueue.push(data);
        else this.onData?.(data);
      }
    } finally {
      this.delivering = false;
    }
  }

  // ---- send ----

  private sampleRtt(rtt: number): void {
    this.rttLast = rtt;
    if (!this.hasRtt) {
      this.hasRtt = true;
      this.srtt = rtt;
      this.rttVar = rtt / 2;
    } else {
      const delta = rtt > this.srtt ? rtt - this.srtt : this.srtt - rtt;
      this.rttVar = 0.75 * this.rttVar + 0.25 * delta;
      this.srtt = 0.875 * this.srtt + 0.125 * rtt;
    }
    const varTerm = 4 * this.rttVar;
    let rto = this.srtt + (varTerm > this.opt.interval ? varTerm : this.opt.interval);
    // Bulk under rate control: not before our own queue could have drained (see RateControl.rttCeiling).
    if (this.rate !== null) {
      const ceiling = this.rate.rttCeiling() + this.opt.interval;
      if (ceiling > rto) rto = ceiling;
    }
    this.rto = rto < this.opt.minRto ? this.opt.minRto : rto > MAX_RTO ? MAX_RTO : rto;
  }

  /** Cumulative ack: everything below una arrived. */
  private ackBelow(una: number, now: number): void {
    const sMask = this.sMask;
    for (let sn = this.sndUna; sn !== una; sn = (sn + 1) >>> 0) {
      const slot = sn & sMask;
      const data = this.sData[slot];
      if (data !== null) {
        this.rate?.onAck(slot, now, false);
        this.ackedBytes += SEGMENT_HEADER + data.length;
        this.sData[slot] = null;
        this.inFlightCount--;
      }
    }
    this.sndUna = una;
  }

  /**
   * Each segment acked in this packet that was sent after an unacked one is
   * evidence that the unacked one was lost (counted per segment, not per ack
   * packet, because acks of a whole turn share one packet).
   */
  private countFastAcks(maxSn: number, n: number, now: number): void {
    const threshold = this.opt.fastResend;
    const sMask = this.sMask;
    let seqs: Float64Array | null = null;
    for (let sn = this.sndUna; ((sn - maxSn) | 0) < 0; sn = (sn + 1) >>> 0) {
      const slot = sn & sMask;
      const f = this.sFast[slot];
      if (this.sData[slot] === null || f >= threshold) continue;
      if (seqs === null) seqs = this.ackedSeq.subarray(0, n).sort();
      // Count acked seqs above this segment's: binary search for the first one greater.
      const seq = this.sSeq[slot];
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (seqs[mid] > seq) hi = mid;
        else lo = mid + 1;
      }
      const later = n - lo;
      if (later > 0) {
        const nf = f + later;
        this.sFast[slot] = nf < threshold ? nf : threshold;
        if (nf >= threshold) {
          // Due now, or once the reordering window has passed without the segment being acked.
          const at = now + this.reorderMs;
          if (at < this.sResendAt[slot]) this.sResendAt[slot] = at;
          if (at < this.nextRtoCheck) this.nextRtoCheck = at;
          if (this.reorderMs === 0) this.fastPending = true;
        }
      }
    }
  }

  /** A fast resend was acked: adapt the reordering window to whether it was needed. */
  private judgeFastResend(spurious: boolean, now: number): void {
    if (spurious) {
      this.fastNeeded = 0;
      const srtt = this.hasRtt ? this.srtt : this.rto;
      if (now - this.lastReorderBump < srtt) return;
      this.lastReorderBump = now;
      const cap = srtt > 2 ? srtt : 2;
      const next = this.reorderMs + (srtt / 8 > 1 ? srtt / 8 : 1);
      this.reorderMs = next < cap ? next : cap;
    } else if (this.reorderMs > 0 && ++this.fastNeeded >= 16) {
      this.fastNeeded = 0;
      this.reorderMs = this.reorderMs < 1 ? 0 : this.reorderMs / 2;
    }
  }

  private growCwnd(acked: number): void {
    if (this.cwnd < this.ssthresh) this.cwnd += acked;
    else this.cwnd += acked / this.cwnd;
    if (this.cwnd > this.opt.sndWnd) this.cwnd = this.opt.sndWnd;
  }

  private redundancyFactor(): number {
    const r = this.opt.redundancy;
    if (!r.enabled) return 1;
    if (r.fixedCopies > 0) return r.fixedCopies;
    return this.loss.copies(r.maxCopies, r.targetLoss);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    this.defer(this.flushCb);
  }

  /** Send what is owed and due: acks, window probe/tell, resends, new data, redundant copies. */
  private flush(): void {
    if (this.closed) return;
    const now = this.clock.now();
    const now32 = Math.floor(now) >>> 0;
    this.nowMs = now;
    this.now32 = now32;
    this.curWnd = this.windowUnused();
    if (!this.outage && this.inFlightCount > 0 && now - this.silentSince >= this.silenceMs()) {
      this.outage = true;
      this.replayAt = now;
      this.c.outages++;
      // Copies into the void would only spend the budget.
      this.clearCopies();
    }
    this.copiesNow = this.outage ? 1 : this.redundancyFactor();

    for (let i = 0; i < this.ackCount; i++) {
      this.writeControl(KcpCommand.Ack, this.ackFlag[i], this.ackTs[i], this.ackSn[i]);
    }
    this.ackCount = 0;

    if (this.rmtWnd === 0 && this.queue.bytes > 0) {
      if (this.probeAt === Infinity) {
        this.probeWait = PROBE_INITIAL;
        this.probeAt = now + this.probeWait;
      } else if (now >= this.probeAt) {
        this.writeControl(KcpCommand.WindowAsk, 0, now32, 0);
        this.c.windowProbesSent++;
        this.probeAt = now + this.probeWait;
        this.probeWait = Math.min(this.probeWait * 1.5, PROBE_MAX);
      }
    } else {
      this.probeAt = Infinity;
    }
    if (this.winsOwed) {
      this.winsOwed = false;
      this.writeControl(KcpCommand.WindowTell, 0, now32, 0);
    }

    if (this.outage) {
      if (now >= this.replayAt) this.replay(now);
    } else {
      // Resends first: they fill the holes that hold back the peer's delivery.
      if (this.inFlightCount > 0 && (this.fastPending || (this.probing && this.probeCredit > 0) || now >= this.nextRtoCheck)) this.resend(now);
      this.fastPending = false;
      this.sendNew(now, Infinity);
    }
    if (this.closed) return;
    this.emit(now);
    if (this.cCount > 0) this.sendDueCopies(now);
    if (this.aboveDrain && this.queue.bytes <= this.drainThreshold) {
      this.aboveDrain = false;
      this.onDrain?.();
    }
    // output() or onDrain may have closed us.
    if (!this.closed) this.arm(now);
  }

  /** How long the peer may be silent, with ours in flight, before it counts as out of reach. */
  private silenceMs(): number {
    return silenceThresholdMs(this.hasRtt ? this.srtt : 0);
  }

  /**
   * One replay during an outage: the oldest segments in flight, then queued
   * data cut into new segments, together at most REPLAY_PACKETS packets' worth.
   * No backoff: the replay interval paces it.
   */
  private replay(now: number): void {
    const budget = REPLAY_PACKETS * this.opt.mtu;
    const sMask = this.sMask;
    let used = 0;
    for (let sn = this.sndUna; sn !== this.sndNxt; sn = (sn + 1) >>> 0) {
      const slot = sn & sMask;
      const data = this.sData[slot];
      if (data === null) continue;
      const size = SEGMENT_HEADER + data.length;
      if (used + size > budget) break;
      used += size;
      this.sRto[slot] = this.rto;
      this.sResendAt[slot] = now + this.rto;
      this.sFast[slot] = 0;
      this.sWasFast[slot] = 0;
      this.sSeq[slot] = ++this.txSeq;
      this.sCopies[slot] = 1;
      // An outage says nothing about the loss rate.
      this.sLost[slot] = 0;
      this.sRoundTs[slot] = this.now32;
      this.c.replayedSegments++;
      this.writePush(sn, data);
      if (this.closed) return;
    }
    this.sendNew(now, budget - used);
    this.c.replaysSent++;
    this.replayAt = now + (now - this.silentSince >= LONG_SILENCE_MS ? REPLAY_LONG_INTERVAL_MS : REPLAY_INTERVAL_MS);
    this.probing = false;
    this.fastPending = false;
  }

  /** Cut queued data into new segments and send them, while the windows allow and at most `budget` bytes of segments. */
  private sendNew(now: number, budget: number): void {
    const o = this.opt;
    let limit = o.sndWnd < this.rmtWnd ? o.sndWnd : this.rmtWnd;
    if (o.congestionControl) {
      const cw = Math.max(1, Math.floor(this.cwnd));
      if (cw < limit) limit = cw;
    }
    const sMask = this.sMask;
    const now32 = this.now32;
    const rate = this.rate;
    while (this.queue.bytes > 0 && ((this.sndNxt - this.sndUna) >>> 0) < limit && (rate === null || rate.canSend(now))) {
      const room = budget - SEGMENT_HEADER;
      if (room <= 0) break;
      const data = this.queue.take(room < o.mss ? room : o.mss);
      budget -= SEGMENT_HEADER + data.length;
      // Something in flight again after nothing: the peer's silence counts from now.
      if (this.inFlightCount === 0) this.silentSince = now;
      const sn = this.sndNxt;
      this.sndNxt = (sn + 1) >>> 0;
      const slot = sn & sMask;
      const resendAt = now + this.rto;
      this.sData[slot] = data;
      this.sRto[slot] = this.rto;
      this.sResendAt[slot] = resendAt;
      this.sFast[slot] = 0;
      this.sWasFast[slot] = 0;
      this.sSeq[slot] = ++this.txSeq;
      this.sCopies[slot] = 1;
      this.sLost[slot] = 0;
      this.sRoundTs[slot] = now32;
      this.inFlightCount++;
      if (resendAt < this.nextRtoCheck) this.nextRtoCheck = resendAt;
      rate?.onSend(slot, data.length, now);
      this.writePush(sn, data);
      this.pktNew++;
      this.c.segmentsSent++;
      this.c.dataBytesSent += data.length;
      if (this.closed) return;
    }
    // Out of data: samples until what is in flight now is acked are app-limited.
    rate?.onFlushEnd(this.queue.bytes === 0);
  }

  /** Resend what is fast-acked, timed out, or everything (probeNow). */
  private resend(now: number): void {
    const o = this.opt;
    const sMask = this.sMask;
    const backoff = o.nodelay ? 1.5 : 2;
    let next = Infinity;
    let timedOut = false;
    let fast = false;
    this.resendHeld = false;
    const probing = this.probing && now < this.probeUntil;
    let probeLeft = false;
    for (let sn = this.sndUna; sn !== this.sndNxt; sn = (sn + 1) >>> 0) {
      const slot = sn & sMask;
      const data = this.sData[slot];
      if (data === null) continue;
      let kind: Resend = Resend.None;
      if (probing && this.sSeq[slot] <= this.probeSeq) {
        // Sent before the probe began: it goes as the probe's credit allows, and does not time out meanwhile.
        if (this.probeCredit > 0) {
          kind = Resend.Probe;
        } else {
          probeLeft = true;
          continue;
        }
      } else if (now >= this.sResendAt[slot]) {
        kind = o.fastResend > 0 && this.sFast[slot] >= o.fastResend ? Resend.Fast : Resend.Timeout;
      }
      // Resends are paced with new data (a burst of them into a full queue would only be lost again); they stay due.
      if (kind !== Resend.None && this.rate !== null && !this.rate.mayResend(now)) {
        this.resendHeld = true;
        if (kind === Resend.Probe) probeLeft = true;
        kind = Resend.None;
      }
      if (kind === Resend.Probe) this.probeCredit -= SEGMENT_HEADER + data.length;
      if (kind !== Resend.None) {
        if (kind === Resend.Timeout) {
          const r = this.sRto[slot] * backoff;
          this.sRto[slot] = r < MAX_RTO ? r : MAX_RTO;
          this.c.timeoutRetransmissions++;
          timedOut = true;
          this.rate?.onLoss(data.length);
          this.sLost[slot] += this.sCopies[slot];
        } else if (kind === Resend.Fast) {
          this.c.fastRetransmissions++;
          fast = true;
          this.rate?.onLoss(data.length);
          this.sLost[slot] += this.sCopies[slot];
        } else {
          // An outage says nothing about the loss rate: forget its rounds.
          this.sRto[slot] = this.rto;
          this.sLost[slot] = 0;
          this.c.probeRetransmissions++;
        }
        this.sResendAt[slot] = now + this.sRto[slot];
        this.sFast[slot] = 0;
        this.sWasFast[slot] = kind === Resend.Fast ? 1 : 0;
        this.sSeq[slot] = ++this.txSeq;
        this.sCopies[slot] = 1;
        this.sRoundTs[slot] = this.now32;
        this.rate?.onSend(slot, data.length, now);
        this.writePush(sn, data);
        if (this.closed) return;
      }
      if (this.sResendAt[slot] < next) next = this.sResendAt[slot];
    }
    this.nextRtoCheck = next;
    this.lastRtoScan = now;
    this.probing = probeLeft;
    if (o.congestionControl && (fast || timedOut)) {
      const half = Math.max(2, Math.floor(this.inFlightCount / 2));
      this.ssthresh = half;
      this.cwnd = timedOut ? 1 : half + o.fastResend;
    }
  }

  private writeControl(cmd: number, frg: number, ts: number, sn: number): void {
    if (this.outLen + SEGMENT_HEADER > this.opt.mtu) this.emit(this.nowMs);
    writeHeader(this.out, this.outLen, this.opt.conv, cmd, frg, this.curWnd, ts, sn, this.rcvNxt, 0);
    this.outLen += SEGMENT_HEADER;
  }

  private writePush(sn: number, data: Buffer): void {
    const size = SEGMENT_HEADER + data.length;
    if (this.outLen + size > this.opt.mtu) this.emit(this.nowMs);
    writeHeader(this.out, this.outLen, this.opt.conv, KcpCommand.Push, 0, this.curWnd, this.now32, sn, this.rcvNxt, data.length);
    data.copy(this.out, this.outLen + SEGMENT_HEADER);
    this.outLen += size;
    this.pktData += data.length;
  }

  /** Send the packet being built; keep a copy for redundancy if it is small and loss calls for it. */
  private emit(now: number): void {
    const len = this.outLen;
    if (len === 0) return;
    const packet = this.out.subarray(0, len);
    // A resend is not copied: after copies, a timeout far more likely means a lost ack than lost data.
    if (this.copiesNow > 1 && this.pktNew > 0 && this.pktData <= this.opt.redundancy.smallBytes) this.keepCopy(packet, now);
    this.outLen = 0;
    this.pktData = 0;
    this.pktNew = 0;
    this.c.packetsSent++;
    this.c.bytesSent += len;
    this.output(packet);
  }

  // ---- redundancy ----

  private keepCopy(packet: Buffer, now: number): void {
    if (this.cCount === COPY_SLOTS) return;
    let i = 0;
    while (this.cBuf[i] !== null) i++;
    const copy = Buffer.allocUnsafe(packet.length);
    packet.copy(copy);
    this.cBuf[i] = copy;
    this.cNext[i] = 1;
    this.cLast[i] = this.copiesNow - 1;
    this.cDue[i] = now + this.opt.redundancy.spacingMs;
    this.cCount++;
  }

  private clearCopies(): void {
    this.cBuf.fill(null);
    this.cCount = 0;
  }

  private sendDueCopies(now: number): void {
    const r = this.opt.redundancy;
    const refill = ((now - this.tokensAt) * r.maxBytesPerSecond) / 1000;
    this.tokensAt = now;
    this.tokens = Math.min(r.maxBytesPerSecond, this.tokens + refill);
    for (let i = 0; i < COPY_SLOTS && this.cCount > 0; i++) {
      const buf = this.cBuf[i];
      if (buf === null) continue;
      while (this.cDue[i] <= now) {
        if (!this.sendCopy(buf, this.cNext[i]) || this.cNext[i] >= this.cLast[i]) {
          this.cBuf[i] = null;
          this.cCount--;
          break;
        }
        this.cNext[i]++;
        this.cDue[i] += r.spacingMs;
        if (this.closed) return;
      }
    }
  }

  /** Restamp and send copy number k of a small packet; false if it is no longer needed or over budget. */
  private sendCopy(buf: Buffer, k: number): boolean {
    if (this.tokens < buf.length) return false;
    const sMask = this.sMask;
    const span = (this.sndNxt - this.sndUna) >>> 0;
    const wnd = this.windowUnused();
    const now32 = Math.floor(this.clock.now()) >>> 0;
    let needed = false;
    for (let o = 0; o < buf.length; o += SEGMENT_HEADER + readU32(buf, o + 20)) {
      if (buf[o + 4] === KcpCommand.Push) {
        const d = (readU32(buf, o + 12) - this.sndUna) | 0;
        if (d >= 0 && d < span && this.sData[(this.sndUna + d) & sMask] !== null) needed = true;
        // The copy index lets the peer skip acking it and tells us, via its ack, how many copies were lost.
        if (this.opt.redundancy.markCopies) buf[o + 5] = k;
        writeU32(buf, o + 8, now32);
      }
      buf[o + 6] = wnd;
      buf[o + 7] = wnd >>> 8;
      writeU32(buf, o + 16, this.rcvNxt);
    }
    if (!needed) return false;
    for (let o = 0; o < buf.length; o += SEGMENT_HEADER + readU32(buf, o + 20)) {
      if (buf[o + 4] !== KcpCommand.Push) continue;
      const d = (readU32(buf, o + 12) - this.sndUna) | 0;
      const slot = (this.sndUna + d) & sMask;
      if (d >= 0 && d < span && this.sData[slot] !== null && this.sCopies[slot] < 255) this.sCopies[slot]++;
    }
    this.tokens -= buf.length;
    this.c.redundantPacketsSent++;
    this.c.redundantBytesSent += buf.length;
    this.c.packetsSent++;
    this.c.bytesSent += buf.length;
    this.output(buf);
    return true;
  }

  // ---- the one timer ----

  /** Arm the timer for the earliest due event, or disarm it when nothing is due. */
  private arm(now: number): void {
    let due = Infinity;
    if (this.outage) {
      due = this.replayAt;
    } else if (this.inFlightCount > 0) {
      const paced = this.lastRtoScan + this.opt.interval;
      due = this.nextRtoCheck > paced ? this.nextRtoCheck : paced;
      const quietAt = this.silentSince + this.silenceMs();
      if (quietAt < due) due = quietAt;
    }
    if (this.probeAt < due) due = this.probeAt;
    // A probe waiting for acks ends by this time at the latest (what is left then goes by the ordinary timeouts).
    if (this.probing && this.probeUntil < due) due = this.probeUntil;
    // Resends or data held back by pacing go out when the pacing allows.
    if (this.rate !== null && (this.resendHeld || this.queue.bytes > 0)) {
      const paced = this.resendHeld ? this.rate.nextTokenAt(now) : this.rate.nextSendAt(now);
      if (paced < due) due = paced;
    }
    if (this.cCount > 0) {
      for (let i = 0; i < COPY_SLOTS; i++) if (this.cBuf[i] !== null && this.cDue[i] < due) due = this.cDue[i];
    }
    if (due === Infinity) {
      if (this.timer !== null) {
        this.clock.clearTimer(this.timer);
        this.timer = null;
        this.timerDue = Infinity;
      }
      return;
    }
    // An earlier timer is kept: when it fires, flush re-arms for what is then due.
    if (this.timer !== null) {
      if (this.timerDue <= due) return;
      this.clock.clearTimer(this.timer);
    }
    this.timerDue = due;
    this.timer = this.clock.setTimer(this.timerCb, Math.max(1, Math.ceil(due - now)));
  }
}
