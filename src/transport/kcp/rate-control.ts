/**
 * A loss-tolerant, model-based sender for KCP, after the ideas of BBR (see
 * docs/KCP.md, "Rate control"): the rate is set from what the path delivers,
 * not from what it loses.
 *
 * - Every acknowledged segment yields delivery-rate evidence: bytes delivered
 *   between its send and its ack, over the longer of the send and ack spans.
 *   One sample per input packet, from the most recently sent segment it acks.
 * - The model is a windowed max of those samples (bottleneck bandwidth, over
 *   10 round trips) and a windowed min of RTT samples (10 s); their product is
 *   the path's bandwidth-delay product (BDP).
 * - Bytes in flight are capped at CWND_GAIN x BDP plus the ack aggregation
 *   seen (never below a floor, so an interactive or small-window sender is
 *   never held back); new data and resends are paced at gain x bandwidth by a
 *   token bucket, the gain cycling 1.25 / 0.75 / 1 x6 once per min RTT so
 *   spare capacity is found and the queue it builds drained.
 * - Startup doubles the rate each round trip until the delivery rate stops
 *   growing (3 rounds under +25 %) or RTT samples show a standing queue, then
 *   drains the queue it built.
 * - Every 10 s without a new min RTT the cap drops to half a BDP for 200 ms,
 *   so a standing queue cannot pass itself off as path delay.
 *
 * - Loss bounds what is in flight, never the rate (BBRv2's inflight_hi, made
 *   blind to random loss): a round whose loss rate is well above the path's
 *   usual one (over LOSS_THRESH and over twice the running baseline) sets an
 *   in-flight bound of BETA x the most that round had in flight; the bound
 *   never goes below the BDP (plus ack aggregation), so the rate stays, only
 *   the queue beyond it goes. Loss-free rounds of the 1.25 probe phase that
 *   reach the bound raise it (1, 2, 4 ... segments a round). So a shallow
 *   buffer does not turn into heavy retransmission in steady state, while
 *   random loss on a clean path (steady, at the baseline) changes nothing.
 *   Startup does not use the bound (under random loss it would stop short of
 *   the bandwidth); it still overflows a shallow buffer for about 3 rounds.
 *
 * Units: bytes are KCP bytes (segment header + data), times are ms. Per-segment
 * state lives in typed arrays indexed by the sender's ring slot; nothing on
 * the per-segment path allocates.
 */

/** Startup and drain gain: 2/ln 2, the least that doubles the delivery rate each round. */
const STARTUP_GAIN = 2.885;
/** Pacing gains of the probe cycle, one phase per min RTT. */
const CYCLE = [1.25, 0.75, 1, 1, 1, 1, 1, 1] as const;
/** In-flight cap in steady state, as a multiple of the BDP. */
export const CWND_GAIN = 1.5;
/** Round trips over which the bottleneck bandwidth is the max of the samples. */
const BW_ROUNDS = 10;
/** Lifetime of a min RTT sample before a probe for a new one. */
const MIN_RTT_WINDOW_MS = 10_000;
/** Time held at the reduced cap while probing the min RTT. */
const PROBE_RTT_MS = 200;
/** Rounds without +25 % delivery rate that end startup. */
const FULL_PIPE_ROUNDS = 3;
/** Least RTT inflation, ms, taken as evidence of a standing queue in startup (or min RTT / 8 if more). */
const QUEUE_EVIDENCE_MS = 2;
/** Most ack aggregation allowed for, in ms at the estimated rate. */
const EXTRA_ACKED_MAX_MS = 100;
/** Consecutive inflated RTT samples that end startup at once. */
const INFLATED_RUN = 16;
/** Pacing burst allowance: tokens accumulate for at most this many ms of the pacing rate. */
const PACE_BURST_MS = 4;
/** Segments in flight always allowed, whatever the model. */
export const FLOOR_SEGMENTS = 16;
/** In-flight cap before the first bandwidth and RTT samples. */
const INITIAL_SEGMENTS = 64;
/** A round losing more than this fraction of its bytes (and over twice the baseline) saw congestive loss. */
const LOSS_THRESH = 0.02;
/** The in-flight bound after congestive loss, as a fraction of the most in flight in that round. */
const BETA = 0.85;
/** Weight of one round in the baseline (random) loss rate. */
const BASELINE_WEIGHT = 1 / 8;
/** Fewest lost segments that can make a round congestive. */
const MIN_LOSS_SEGMENTS = 2;
/** Largest step, in segments, of raising the bound after loss-free rounds. */
const MAX_PROBE_UP_SEGMENTS = 256;

export const enum RateState {
  Startup = 0,
  Drain = 1,
  ProbeBw = 2,
  ProbeRtt = 3,
}

const STATE_NAMES = ['startup', 'drain', 'probe-bw', 'probe-rtt'] as const;
export type RateStateName = (typeof STATE_NAMES)[number];

/** What the controller currently believes, for stats. */
export interface RateSnapshot {
  state: RateStateName;
  /** Bottleneck bandwidth estimate, bytes/s (0 before the first sample). */
  bandwidth: number;
  /** Windowed min RTT, ms (NaN before the first sample). */
  minRttMs: number;
  /** Current in-flight cap and in-flight bytes. */
  capBytes: number;
  inFlightBytes: number;
  /** Current pacing rate, bytes/s (Infinity while unpaced). */
  pacingRate: number;
  /** The loss-driven in-flight bound, bytes (Infinity while none), and the baseline per-round loss rate. */
  inflightHi: number;
  lossBaseline: number;
}

export class RateControl {
  /** Per-slot state of the latest transmission of a segment. */
  private readonly pBytes: Uint32Array;
  private readonly pSentAt: Float64Array;
  private readonly pDelivered: Float64Array;
  private readonly pDeliveredAt: Float64Array;
  private readonly pFirstSentAt: Float64Array;
  private readonly pAppLimited: Uint8Array;

  private inflight = 0;
  /** Bytes delivered so far, when the latest delivery was noticed, and the send time of the latest acked segment. */
  private delivered = 0;
  private deliveredAt = 0;
  private firstSentAt = 0;
  /** delivered value below which samples are app-limited; 0 = not app-limited. */
  private appLimitedUntil = 0;

  // The sample being gathered over one input packet.
  private haveSample = false;
  private sDelivered = 0;
  private sDeliveredAt = 0;
  private sFirstSentAt = 0;
  private sSentAt = 0;
  private sAppLimited = false;
  private sRtt = Infinity;

  // Model.
  private readonly bwRound = new Float64Array(BW_ROUNDS);
  private readonly bwMax = new Float64Array(BW_ROUNDS);
  private maxBw = 0;
  private minRtt = Infinity;
  private minRttAt = 0;
  private round = 0;
  /** Least RTT sample of the current round (a round whose every sample is above the min RTT saw a standing queue). */
  private roundMinRtt = Infinity;
  /** Consecutive inflated RTT samples in startup. */
  private inflatedRun = 0;
  private nextRoundDelivered = 0;

  // State machine.
  private state: RateState = RateState.Startup;
  private pacingGain = STARTUP_GAIN;
  private cwndGain = STARTUP_GAIN;
  private fullBw = 0;
  private fullBwRounds = 0;
  private filledPipe = false;
  private cycleIndex = 0;
  private cycleStart = 0;
  private probeRttDoneAt = -1;
  private probeRttRoundDone = false;
  private probeRttRound = 0;

  // Ack aggregation: acks arriving in bursts (a busy event loop at either end) need that much more in flight to keep sending.
  private epochStart = 0;
  private epochAcked = 0;
  private readonly extraRound = new Float64Array(BW_ROUNDS);
  private readonly extraMax = new Float64Array(BW_ROUNDS);
  private extraAcked = 0;
  private ackedNow = 0;

  // Loss: bytes declared lost and most in flight in the current round, the bound they set, the baseline rate.
  private roundLost = 0;
  private roundMaxInflight = 0;
  private roundDeliveredStart = 0;
  private inflightHi = Infinity;
  private probeUpSegments = 1;
  private lossBaseline = 0;
  private readonly segmentBytes: number;

  // Pacing token bucket (bytes).
  private tokens = 0;
  private tokensAt = 0;
  private readonly floor: number;
  private readonly initial: number;

  /**
   * @param mss largest segment data size (the floor is FLOOR_SEGMENTS full segments)
   * @param slots size of the sender's ring (a power of two), indexed by slot
   * @param header bytes of segment header counted with each segment's data
   */
  constructor(
    mss: number,
    slots: number,
    private readonly header: number,
  ) {
    this.floor = FLOOR_SEGMENTS * (mss + header);
    this.segmentBytes = mss + header;
    this.initial = INITIAL_SEGMENTS * (mss + header);
    this.pBytes = new Uint32Array(slots);
    this.pSentAt = new Float64Array(slots);
    this.pDelivered = new Float64Array(slots);
    this.pDeliveredAt = new Float64Array(slots);
    this.pFirstSentAt = new Float64Array(slots);
    this.pAppLimited = new Uint8Array(slots);
  }

  /** Bytes sent and not yet acknowledged. */
  get inFlightBytes(): number {
    return this.inflight;
  }

  /** The in-flight cap now, bytes. */
  get capBytes(): number {
    if (this.maxBw === 0 || this.minRtt === Infinity) return this.initial;
    const bdp = this.maxBw * this.minRtt;
    let cap = this.state === RateState.ProbeRtt ? 0.5 * bdp : this.cwndGain * bdp + this.extraAcked;
    if (this.inflightHi < cap) {
      // The loss bound never reaches below the BDP (and the acks' aggregation): it trims the queue, not the rate.
      const least = bdp + this.extraAcked;
      cap = this.inflightHi > least ? this.inflightHi : least < cap ? least : cap;
    }
    return cap > this.floor ? cap : this.floor;
  }

  /** Pacing rate in bytes/ms (Infinity before the first bandwidth sample). */
  get pacingRate(): number {
    return this.maxBw === 0 ? Infinity : this.pacingGain * this.maxBw;
  }

  snapshot(): RateSnapshot {
    return {
      state: STATE_NAMES[this.state],
      bandwidth: this.maxBw * 1000,
      minRttMs: this.minRtt === Infinity ? NaN : this.minRtt,
      capBytes: this.capBytes,
      inFlightBytes: this.inflight,
      pacingRate: this.pacingRate * 1000,
      inflightHi: this.inflightHi,
      lossBaseline: this.lossBaseline,
    };
  }

  /**
   * May a new segment go out now? Always while in flight is under the floor;
   * otherwise under the cap and with pacing tokens left.
   */
  canSend(now: number): boolean {
    if (this.inflight < this.floor) return true;
    if (this.inflight >= this.capBytes) return false;
    return this.refill(now) > 0;
  }

  /**
   * The longest RTT our own in-flight cap can cause (cap / bandwidth, at most
   * 2 x min RTT), while more than the floor is in flight; else 0. A timeout
   * shorter than this would fire on segments merely queued behind our own
   * data (1.25 x probing raises the RTT by design), so the RTO is kept above it.
   */
  rttCeiling(): number {
    if (this.inflight <= this.floor || this.maxBw === 0 || this.minRtt === Infinity) return 0;
    const t = this.capBytes / this.maxBw;
    return t < 2 * this.minRtt ? t : 2 * this.minRtt;
  }

  /** May a due resend go out now? Under the floor, or with pacing tokens left (the cap does not apply: a resend adds nothing in flight). */
  mayResend(now: number): boolean {
    return this.inflight < this.floor || this.refill(now) > 0;
  }

  /** When pacing next has a token (now if it has one or does not pace). */
  nextTokenAt(now: number): number {
    const t = this.refill(now);
    return t > 0 ? now : now + (1 - t) / this.pacingRate;
  }

  /** When pacing would next let a segment out, or Infinity if pacing is not what holds the sender back. */
  nextSendAt(now: number): number {
    if (this.inflight < this.floor || this.inflight >= this.capBytes) return Infinity;
    const t = this.refill(now);
    if (t > 0) return Infinity;
    return now + (1 - t) / this.pacingRate;
  }

  /** A segment of `dataBytes` went out from `slot` (first send or resend). */
  onSend(slot: number, dataBytes: number, now: number): void {
    const bytes = dataBytes + this.header;
    if (this.pBytes[slot] === 0) {
      // First send (a resend keeps its place in flight).
      if (this.inflight === 0) {
        // Restarting from idle: the spans of a sample start now, not at the last ack.
        this.firstSentAt = now;
        this.deliveredAt = now;
      }
      this.inflight += bytes;
      this.pBytes[slot] = bytes;
      if (this.inflight > this.roundMaxInflight) this.roundMaxInflight = this.inflight;
    }
    this.pSentAt[slot] = now;
    this.pDelivered[slot] = this.delivered;
    this.pDeliveredAt[slot] = this.deliveredAt;
    this.pFirstSentAt[slot] = this.firstSentAt;
    this.pAppLimited[slot] = this.appLimitedUntil > 0 ? 1 : 0;
    if (this.maxBw > 0) {
      this.refill(now);
      this.tokens -= bytes;
    }
  }

  /** A segment of `dataBytes` was declared lost (a fast or timeout resend; not a probe after an outage). */
  onLoss(dataBytes: number): void {
    this.roundLost += dataBytes + this.header;
  }

  /**
   * The segment in `slot` was acknowledged (individually or by una).
   * `latest`: the ack is known to be for its latest transmission, so now -
   * send time is an RTT and the send-time state may make the rate sample
   * (an ack of an earlier one would date a resend's state).
   */
  onAck(slot: number, now: number, latest: boolean): void {
    const bytes = this.pBytes[slot];
    if (bytes === 0) return;
    this.pBytes[slot] = 0;
    this.inflight -= bytes;
    this.delivered += bytes;
    this.ackedNow += bytes;
    this.deliveredAt = now;
    const sentAt = this.pSentAt[slot];
    if (!latest) return;
    const rtt = now - sentAt;
    if (rtt >= 0 && rtt < this.sRtt) this.sRtt = rtt;
    // The sample comes from the most recently sent segment acked in this packet.
    if (!this.haveSample || this.pDelivered[slot] > this.sDelivered || (this.pDelivered[slot] === this.sDelivered && sentAt > this.sSentAt)) {
      this.haveSample = true;
      this.sDelivered = this.pDelivered[slot];
      this.sDeliveredAt = this.pDeliveredAt[slot];
      this.sFirstSentAt = this.pFirstSentAt[slot];
      this.sSentAt = sentAt;
      this.sAppLimited = this.pAppLimited[slot] === 1;
    }
    if (sentAt > this.firstSentAt) this.firstSentAt = sentAt;
  }

  /** All acks of one input packet were given: take the rate sample and move the model. */
  onAckEnd(now: number): void {
    if (!this.haveSample) return;
    this.haveSample = false;
    if (this.appLimitedUntil > 0 && this.delivered > this.appLimitedUntil) this.appLimitedUntil = 0;
    const expired = this.minRtt !== Infinity && now - this.minRttAt > MIN_RTT_WINDOW_MS;
    if (this.sRtt !== Infinity) {
      if (this.sRtt < this.roundMinRtt) this.roundMinRtt = this.sRtt;
      // In startup, a run of RTTs all above the min says a queue stands: the pipe is full now, not a round later.
      // (Not from the unpaced initial window, sent before anything was delivered: its own burst queues.)
      if (this.state === RateState.Startup && this.minRtt !== Infinity && this.sDelivered > 0) {
        this.inflatedRun = this.sRtt > this.minRtt + Math.max(this.minRtt / 8, QUEUE_EVIDENCE_MS) ? this.inflatedRun + 1 : 0;
      }
      if (this.sRtt <= this.minRtt || expired) {
        this.minRtt = this.sRtt;
        this.minRttAt = now;
      }
      this.sRtt = Infinity;
    }
    let roundStart = false;
    if (this.sDelivered >= this.nextRoundDelivered) {
      this.round++;
      this.nextRoundDelivered = this.delivered;
      roundStart = true;
      this.endLossRound();
    }
    const sendSpan = this.sSentAt - this.sFirstSentAt;
    const ackSpan = now - this.sDeliveredAt;
    const span = sendSpan > ackSpan ? sendSpan : ackSpan;
    // A span shorter than the min RTT says more about bursts than about the path.
    if (span > 0 && span >= (this.minRtt === Infinity ? 0 : this.minRtt)) {
      const rate = (this.delivered - this.sDelivered) / span;
      if (!this.sAppLimited || rate >= this.maxBw) this.updateBw(rate);
    }
    this.advance(now, roundStart, expired);
    this.updateExtraAcked(now);
  }

  /** A round ended: was its loss congestive? Set, or raise, the in-flight bound, and fold the round into the baseline. */
  private endLossRound(): void {
    const lost = this.roundLost;
    const total = this.delivered - this.roundDeliveredStart + lost;
    const rate = total > 0 ? lost / total : 0;
    const lossy = lost >= MIN_LOSS_SEGMENTS * this.segmentBytes && rate > LOSS_THRESH && rate > 2 * this.lossBaseline;
    if (lossy) {
      if (this.state !== RateState.Startup) {
        const bound = BETA * this.roundMaxInflight;
        this.inflightHi = bound < this.inflightHi ? bound : this.inflightHi;
        this.probeUpSegments = 1;
      }
    } else if (this.inflightHi !== Infinity && this.pacingGain > 1 && this.roundMaxInflight >= this.inflightHi - this.segmentBytes) {
      // The bound held this round back without loss: probe above it, faster each round.
      this.inflightHi += this.probeUpSegments * this.segmentBytes;
      if (this.probeUpSegments < MAX_PROBE_UP_SEGMENTS) this.probeUpSegments *= 2;
    }
    if (total > 0) this.lossBaseline += BASELINE_WEIGHT * (rate - this.lossBaseline);
    this.roundLost = 0;
    this.roundMaxInflight = this.inflight;
    this.roundDeliveredStart = this.delivered;
  }

  /**
   * How far acks ran ahead of the bandwidth estimate since the delivery rate
   * last fell behind it (BBR's extra_acked), windowed max over BW_ROUNDS.
   */
  private updateExtraAcked(now: number): void {
    const acked = this.ackedNow;
    this.ackedNow = 0;
    if (this.maxBw === 0) return;
    let expected = this.maxBw * (now - this.epochStart);
    if (this.epochAcked <= expected) {
      this.epochStart = now;
      this.epochAcked = 0;
      expected = 0;
    }
    this.epochAcked += acked;
    let extra = this.epochAcked - expected;
    // Bounded by what EXTRA_ACKED_MAX_MS at the estimated rate would carry.
    const bound = this.maxBw * EXTRA_ACKED_MAX_MS;
    if (extra > bound) extra = bound;
    const i = this.round % BW_ROUNDS;
    if (this.extraRound[i] !== this.round) {
      this.extraRound[i] = this.round;
      this.extraMax[i] = extra;
    } else if (extra > this.extraMax[i]) {
      this.extraMax[i] = extra;
    }
    let max = 0;
    for (let k = 0; k < BW_ROUNDS; k++) {
      if (this.round - this.extraRound[k] < BW_ROUNDS && this.extraMax[k] > max) max = this.extraMax[k];
    }
    this.extraAcked = max;
  }

  /**
   * End of a flush: `limited` says the sender had no more to send, so samples
   * taken until what is in flight now is delivered do not measure the path.
   * (A window-limited rate is what the path gives us, so it counts.)
   */
  onFlushEnd(limited: boolean): void {
    if (limited && this.inflight < this.capBytes) this.appLimitedUntil = this.delivered + (this.inflight > 0 ? this.inflight : 1);
  }

  private refill(now: number): number {
    const rate = this.pacingRate;
    if (rate === Infinity) return Infinity;
    const burst = rate * PACE_BURST_MS;
    const depth = burst > 2 * this.floor / FLOOR_SEGMENTS ? burst : (2 * this.floor) / FLOOR_SEGMENTS;
    const t = this.tokens + (now - this.tokensAt) * rate;
    this.tokensAt = now;
    this.tokens = t < depth ? t : depth;
    return this.tokens;
  }

  private updateBw(rate: number): void {
    const i = this.round % BW_ROUNDS;
    if (this.bwRound[i] !== this.round) {
      this.bwRound[i] = this.round;
      this.bwMax[i] = rate;
    } else if (rate > this.bwMax[i]) {
      this.bwMax[i] = rate;
    }
    let max = 0;
    for (let k = 0; k < BW_ROUNDS; k++) {
      if (this.round - this.bwRound[k] < BW_ROUNDS && this.bwMax[k] > max) max = this.bwMax[k];
    }
    if (this.maxBw === 0) this.tokensAt = this.deliveredAt;
    this.maxBw = max;
  }

  private advance(now: number, roundStart: boolean, rttExpired: boolean): void {
    const roundMinRtt = this.roundMinRtt;
    if (roundStart) this.roundMinRtt = Infinity;
    const bdp = this.maxBw * (this.minRtt === Infinity ? 0 : this.minRtt);
    if (this.state === RateState.Startup && this.inflatedRun >= INFLATED_RUN) {
      this.inflatedRun = 0;
      this.enterDrain();
    }
    if (this.state === RateState.Startup && roundStart && !this.sAppLimited && this.maxBw > 0) {
      if (roundMinRtt !== Infinity && roundMinRtt > this.minRtt + Math.max(this.minRtt / 8, QUEUE_EVIDENCE_MS)) {
        // Every RTT of the round was inflated: the pipe is full and a queue stands.
        this.fullBwRounds = FULL_PIPE_ROUNDS;
      } else if (this.maxBw >= this.fullBw * 1.25) {
        this.fullBw = this.maxBw;
        this.fullBwRounds = 0;
      } else {
        this.fullBwRounds++;
      }
      if (this.fullBwRounds >= FULL_PIPE_ROUNDS) this.enterDrain();
    }
    if (this.state === RateState.Drain && this.inflight <= bdp) this.enterProbeBw(now, 2);
    if (this.state === RateState.ProbeBw) {
      const phaseDone = now - this.cycleStart > this.minRtt;
      const gain = CYCLE[this.cycleIndex];
      if ((gain === 0.75 && this.inflight <= bdp) || (phaseDone && (gain !== 1.25 || this.inflight >= 1.25 * bdp || now - this.cycleStart > 2 * this.minRtt))) {
        this.cycleIndex = (this.cycleIndex + 1) % CYCLE.length;
        this.cycleStart = now;
        this.pacingGain = CYCLE[this.cycleIndex];
      }
    }
    if (this.state !== RateState.ProbeRtt && rttExpired) {
      this.state = RateState.ProbeRtt;
      this.pacingGain = 1;
      this.probeRttDoneAt = -1;
    }
    if (this.state === RateState.ProbeRtt) {
      if (this.probeRttDoneAt < 0) {
        if (this.inflight <= this.capBytes) {
          this.probeRttDoneAt = now + PROBE_RTT_MS;
          this.probeRttRoundDone = false;
          this.probeRttRound = this.round;
        }
      } else {
        if (this.round > this.probeRttRound) this.probeRttRoundDone = true;
        if (this.probeRttRoundDone && now >= this.probeRttDoneAt) {
          this.minRttAt = now;
          if (this.filledPipe) this.enterProbeBw(now, 0);
          else this.enterStartup();
        }
      }
    }
  }

  /**
   * Forget the path model (bandwidth, min RTT, ack aggregation) and start up again, as on a new path.
   * What is in flight stays counted; the cap is the initial one until new samples arrive.
   */
  restart(): void {
    this.bwRound.fill(0);
    this.bwMax.fill(0);
    this.maxBw = 0;
    this.minRtt = Infinity;
    this.roundMinRtt = Infinity;
    this.extraRound.fill(0);
    this.extraMax.fill(0);
    this.extraAcked = 0;
    this.filledPipe = false;
    this.probeRttDoneAt = -1;
    this.inflightHi = Infinity;
    this.probeUpSegments = 1;
    this.lossBaseline = 0;
    this.roundLost = 0;
    this.enterStartup();
  }

  private enterDrain(): void {
    this.filledPipe = true;
    this.state = RateState.Drain;
    this.pacingGain = 1 / STARTUP_GAIN;
    this.cwndGain = STARTUP_GAIN;
  }

  private enterStartup(): void {
    this.inflatedRun = 0;
    this.state = RateState.Startup;
    this.pacingGain = STARTUP_GAIN;
    this.cwndGain = STARTUP_GAIN;
    this.fullBw = 0;
    this.fullBwRounds = 0;
  }

  private enterProbeBw(now: number, phase: number): void {
    this.state = RateState.ProbeBw;
    this.cwndGain = CWND_GAIN;
    this.cycleIndex = phase;
    this.cycleStart = now;
    this.pacingGain = CYCLE[phase];
  }
}
