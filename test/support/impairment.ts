import { performance } from 'node:perf_hooks';

/**
 * A user-space model of one direction of a bad network link (this machine has
 * no netem). `LinkModel` is the pure part: given a packet's size and the time,
 * it decides the packet's fate from a seeded PRNG, so the same seed and the
 * same inputs always give the same fates. `Impairment` wraps a model with a
 * time-ordered delivery queue driven by a single timer.
 *
 * Stages, in order: outage, Gilbert-Elliott burst loss, random loss, rate cap
 * (a bottleneck that serialises packets, with a tail-drop queue), propagation
 * delay plus jitter, reordering (extra delay for the chosen packet), duplication.
 */

/** Gilbert-Elliott two-state loss: in the bad state every packet is lost. */
export interface BurstLoss {
  /** Chance per packet, in percent, of moving from the good to the bad state. */
  enterPct: number;
  /** Chance per packet, in percent, of moving from the bad back to the good state. */
  exitPct: number;
}

/** How one direction of the link misbehaves. Every field is optional; absent means "no impairment". */
export interface ImpairmentOptions {
  /** Independent random loss, percent (0..100). */
  lossPct?: number;
  /** Bursty loss on top of lossPct; null or absent disables it. */
  burstLoss?: BurstLoss | null;
  /** One-way propagation delay in ms. */
  delayMs?: number;
  /** Each packet's delay varies uniformly by up to ±jitterMs (never below zero); this reorders too. */
  jitterMs?: number;
  /** Percent of packets held back by reorderExtraMs so that later packets overtake them. */
  reorderPct?: number;
  /** Extra delay given to a reordered packet; default max(10, delayMs). */
  reorderExtraMs?: number;
  /** Percent of passing packets delivered twice. */
  duplicatePct?: number;
  /** Bandwidth cap in bytes per second; 0 or absent means unlimited. */
  rateBytesPerSec?: number;
  /** Bottleneck queue bound in bytes (tail drop beyond it); default 100 ms worth of rate, at least 3000. */
  queueBytes?: number;
  /** PRNG seed (32-bit integer); default 1. Setting it at run time restarts the sequence. */
  seed?: number;
}

/** The options with every default filled in. */
export interface ResolvedImpairmentOptions {
  lossPct: number;
  burstLoss: BurstLoss | null;
  delayMs: number;
  jitterMs: number;
  reorderPct: number;
  reorderExtraMs: number;
  duplicatePct: number;
  rateBytesPerSec: number;
  queueBytes: number;
  seed: number;
}

/** Counters of what happened to packets, by fate. */
export interface ImpairmentStats {
  /** Packets handed to the link. */
  offered: number;
  /** Packets that survived loss, queue and outage at entry (duplicates not included). */
  passed: number;
  /** Packets handed to the receiver, duplicates included. */
  delivered: number;
  /** Packets lost to random or burst loss. */
  lost: number;
  /** The part of `lost` due to the Gilbert-Elliott bad state. */
  burstLost: number;
  /** Extra copies created. */
  duplicated: number;
  /** Packets given reordering delay. */
  reordered: number;
  /** Packets tail-dropped because the rate-cap queue was full. */
  queueDropped: number;
  /** Packets dropped because they were sent, or fell due, during an outage. */
  outageDropped: number;
  /** Largest bottleneck queue occupancy seen, in bytes (including the packet just queued). */
  maxQueuedBytes: number;
}

/** What the model decided for one packet. The object is reused between calls: copy what you keep. */
export interface Fate {
  verdict: 'pass' | 'lost' | 'burst' | 'queue' | 'outage';
  /** When the packet reaches the receiver (clock ms); NaN unless verdict is 'pass'. */
  dueMs: number;
  /** True if the receiver gets a second copy (at the same due time, right after the first). */
  duplicate: boolean;
  /** True if the packet was given reordering delay. */
  reordered: boolean;
}

const NO_OPTIONS: ResolvedImpairmentOptions = {
  lossPct: 0,
  burstLoss: null,
  delayMs: 0,
  jitterMs: 0,
  reorderPct: 0,
  reorderExtraMs: 10,
  duplicatePct: 0,
  rateBytesPerSec: 0,
  queueBytes: 3000,
  seed: 1,
};

function checkPct(name: string, value: number): void {
  if (!(value >= 0 && value <= 100)) throw new RangeError(`${name} must be a percentage in 0..100, got ${value}`);
}

function checkNonNegative(name: string, value: number): void {
  if (!(value >= 0 && Number.isFinite(value))) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
}

/**
 * Merge `partial` over `base` and validate the result (the one place options
 * are checked). Defaults that depend on other fields (reorderExtraMs,
 * queueBytes) follow them unless given explicitly now or earlier.
 */
export function resolveImpairmentOptions(
  partial: ImpairmentOptions,
  base: ResolvedImpairmentOptions = NO_OPTIONS,
  explicit: Set<keyof ImpairmentOptions> = new Set(),
): ResolvedImpairmentOptions {
  const out: ResolvedImpairmentOptions = { ...base };
  for (const key of Object.keys(partial) as (keyof ImpairmentOptions)[]) {
    const value = partial[key];
    if (value === undefined) continue;
    explicit.add(key);
    (out as unknown as Record<string, unknown>)[key] = value;
  }
  checkPct('lossPct', out.lossPct);
  checkPct('reorderPct', out.reorderPct);
  checkPct('duplicatePct', out.duplicatePct);
  checkNonNegative('delayMs', out.delayMs);
  checkNonNegative('jitterMs', out.jitterMs);
  checkNonNegative('rateBytesPerSec', out.rateBytesPerSec);
  if (out.burstLoss) {
    checkPct('burstLoss.enterPct', out.burstLoss.enterPct);
    checkPct('burstLoss.exitPct', out.burstLoss.exitPct);
    out.burstLoss = { enterPct: out.burstLoss.enterPct, exitPct: out.burstLoss.exitPct };
  } else {
    out.burstLoss = null;
  }
  if (!Number.isInteger(out.seed)) throw new RangeError(`seed must be an integer, got ${out.seed}`);
  if (!explicit.has('reorderExtraMs')) out.reorderExtraMs = Math.max(10, out.delayMs);
  checkNonNegative('reorderExtraMs', out.reorderExtraMs);
  if (!explicit.has('queueBytes')) out.queueBytes = Math.max(3000, Math.floor(out.rateBytesPerSec / 10));
  checkNonNegative('queueBytes', out.queueBytes);
  return out;
}

/** mulberry32: tiny, fast, good enough for test fates; Math.random is never used so runs repeat. */
export class Mulberry32 {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/**
 * The pure fate model of one link direction. No timers, no I/O: the caller
 * supplies the time, so tests can drive it with a virtual clock.
 */
export class LinkModel {
  private opts: ResolvedImpairmentOptions;
  private readonly explicit = new Set<keyof ImpairmentOptions>();
  private rng: Mulberry32;
  private burstBad = false;
  /** When the bottleneck finishes serialising what it has queued. */
  private linkFreeAtMs = -Infinity;
  private outageUntilMs = -Infinity;
  private readonly fate: Fate = { verdict: 'pass', dueMs: NaN, duplicate: false, reordered: false };
  /** Counters of entry-time fates (Impairment adds the delivery-time ones). */
  readonly stats: ImpairmentStats = {
    offered: 0,
    passed: 0,
    delivered: 0,
    lost: 0,
    burstLost: 0,
    duplicated: 0,
    reordered: 0,
    queueDropped: 0,
    outageDropped: 0,
    maxQueuedBytes: 0,
  };

  constructor(options: ImpairmentOptions = {}) {
    this.opts = resolveImpairmentOptions(options, NO_OPTIONS, this.explicit);
    this.rng = new Mulberry32(this.opts.seed);
  }

  /** The current options, defaults filled in. */
  get options(): Readonly<ResolvedImpairmentOptions> {
    return this.opts;
  }

  /** Change some options; the rest keep their values. A new seed restarts the PRNG. */
  set(partial: ImpairmentOptions): void {
    this.opts = resolveImpairmentOptions(partial, this.opts, this.explicit);
    if (partial.seed !== undefined) this.rng = new Mulberry32(this.opts.seed);
    if (!this.opts.burstLoss) this.burstBad = false;
    if (this.opts.rateBytesPerSec === 0) this.linkFreeAtMs = -Infinity;
  }

  /** Drop everything offered from `nowMs` for `ms` (extends, never shortens, a running outage). */
  outage(ms: number, nowMs: number): void {
    if (!(ms >= 0)) throw new RangeError(`outage ms must be >= 0, got ${ms}`);
    this.outageUntilMs = Math.max(this.outageUntilMs, nowMs + ms);
  }

  /** End a running outage now. */
  endOutage(): void {
    this.outageUntilMs = -Infinity;
  }

  /** True if the link is down at `nowMs`. */
  inOutage(nowMs: number): boolean {
    return nowMs < this.outageUntilMs;
  }

  /** Bytes waiting in the bottleneck queue at `nowMs`. */
  queuedBytes(nowMs: number): number {
    const rate = this.opts.rateBytesPerSec;
    return rate > 0 && this.linkFreeAtMs > nowMs ? ((this.linkFreeAtMs - nowMs) * rate) / 1000 : 0;
  }

  /** Decide the fate of a packet of `bytes` offered at `nowMs`. Updates stats. */
  judge(bytes: number, nowMs: number): Fate {
    const o = this.opts;
    const fate = this.fate;
    const stats = this.stats;
    stats.offered++;
    fate.dueMs = NaN;
    fate.duplicate = false;
    fate.reordered = false;
    if (nowMs < this.outageUntilMs) {
      stats.outageDropped++;
      fate.verdict = 'outage';
      return fate;
    }
    if (o.burstLoss) {
      const pct = this.burstBad ? o.burstLoss.exitPct : o.burstLoss.enterPct;
      if (this.rng.next() * 100 < pct) this.burstBad = !this.burstBad;
      if (this.burstBad) {
        stats.lost++;
        stats.burstLost++;
        fate.verdict = 'burst';
        return fate;
      }
    }
    if (o.lossPct > 0 && this.rng.next() * 100 < o.lossPct) {
      stats.lost++;
      fate.verdict = 'lost';
      return fate;
    }
    let departMs = nowMs;
    if (o.rateBytesPerSec > 0) {
      const startMs = this.linkFreeAtMs > nowMs ? this.linkFreeAtMs : nowMs;
      const queued = ((startMs - nowMs) * o.rateBytesPerSec) / 1000 + bytes;
      if (queued > o.queueBytes) {
        stats.queueDropped++;
        fate.verdict = 'queue';
        return fate;
      }
      if (queued > stats.maxQueuedBytes) stats.maxQueuedBytes = queued;
      this.linkFreeAtMs = startMs + (bytes * 1000) / o.rateBytesPerSec;
      departMs = this.linkFreeAtMs;
    }
    let dueMs = departMs + o.delayMs;
    if (o.jitterMs > 0) {
      dueMs += (this.rng.next() * 2 - 1) * o.jitterMs;
      if (dueMs < departMs) dueMs = departMs;
    }
    if (o.reorderPct > 0 && this.rng.next() * 100 < o.reorderPct) {
      dueMs += o.reorderExtraMs;
      fate.reordered = true;
      stats.reordered++;
    }
    if (o.duplicatePct > 0 && this.rng.next() * 100 < o.duplicatePct) {
      fate.duplicate = true;
      stats.duplicated++;
    }
    stats.passed++;
    fate.verdict = 'pass';
    fate.dueMs = dueMs;
    return fate;
  }
}

/** A monotonic millisecond clock. */
export type Clock = () => number;

const defaultClock: Clock = () => performance.now();

/** Due-time tolerance: timers have 1 ms granularity, so anything this close counts as due. */
const DUE_SLACK_MS = 0.5;

/**
 * One direction of an impaired link: push() packets in, `deliver` gets the
 * survivors in due-time order (ties in push order), always asynchronously.
 * One timer (or one setImmediate for already-due batches) serves the whole
 * queue, and none is held while the queue is empty.
 */
export class Impairment {
  private readonly model: LinkModel;
  // Binary min-heap on (due, seq), kept as parallel arrays to avoid an object per packet.
  private readonly dues: number[] = [];
  private readonly seqs: number[] = [];
  private readonly packets: Buffer[] = [];
  private nextSeq = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerDueMs = Infinity;
  private immediate: NodeJS.Immediate | null = null;
  private draining = false;
  private closed = false;

  /**
   * @param deliver receives each surviving packet (it owns the Buffer; a duplicate is a separate copy)
   * @param options initial impairment
   * @param clock time source in ms, performance.now() by default
   */
  constructor(
    private readonly deliver: (packet: Buffer) => void,
    options: ImpairmentOptions = {},
    private readonly clock: Clock = defaultClock,
  ) {
    this.model = new LinkModel(options);
  }

  /** Counters; a live object, updated in place. */
  get stats(): Readonly<ImpairmentStats> {
    return this.model.stats;
  }

  /** The current options, defaults filled in. */
  get options(): Readonly<ResolvedImpairmentOptions> {
    return this.model.options;
  }

  /** Packets scheduled but not yet delivered. */
  get pending(): number {
    return this.dues.length;
  }

  /** Bytes in the rate-cap queue right now. */
  get queuedBytes(): number {
    return this.model.queuedBytes(this.clock());
  }

  /** True while an outage is running. */
  get inOutage(): boolean {
    return this.model.inOutage(this.clock());
  }

  /** Change some options at run time; packets already scheduled keep their due times. */
  set(partial: ImpairmentOptions): void {
    this.model.set(partial);
  }

  /** Drop everything sent, and everything falling due, for the next `ms` milliseconds. */
  outage(ms: number): void {
    this.model.outage(ms, this.clock());
  }

  /** End a running outage at once (for tests that cut the link "until further notice" with outage(Infinity)). */
  endOutage(): void {
    this.model.endOutage();
  }

  /** Offer a packet to the link. Takes ownership of `packet` (copy first if you will reuse it). */
  push(packet: Buffer): void {
    if (this.closed) return;
    const fate = this.model.judge(packet.length, this.clock());
    if (fate.verdict !== 'pass') return;
    this.enqueue(fate.dueMs, packet);
    if (fate.duplicate) this.enqueue(fate.dueMs, Buffer.from(packet));
    if (!this.draining) this.schedule();
  }

  /** Stop: pending packets are discarded and the timer is cleared. Idempotent. */
  close(): void {
    this.closed = true;
    this.clearTimers();
    this.dues.length = 0;
    this.seqs.length = 0;
    this.packets.length = 0;
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.timerDueMs = Infinity;
  }

  private enqueue(dueMs: number, packet: Buffer): void {
    const dues = this.dues;
    const seqs = this.seqs;
    const packets = this.packets;
    const seq = this.nextSeq++;
    let i = dues.length;
    dues.push(dueMs);
    seqs.push(seq);
    packets.push(packet);
    // Sift up; with monotone delays this stops at the first comparison.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pd = dues[parent]!;
      if (pd < dueMs || (pd === dueMs && seqs[parent]! < seq)) break;
      dues[i] = pd;
      seqs[i] = seqs[parent]!;
      packets[i] = packets[parent]!;
      i = parent;
    }
    dues[i] = dueMs;
    seqs[i] = seq;
    packets[i] = packet;
  }

  private popMin(): Buffer {
    const dues = this.dues;
    const seqs = this.seqs;
    const packets = this.packets;
    const top = packets[0]!;
    const lastDue = dues.pop()!;
    const lastSeq = seqs.pop()!;
    const lastPacket = packets.pop()!;
    const n = dues.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && (dues[right]! < dues[left]! || (dues[right] === dues[left] && seqs[right]! < seqs[left]!))) child = right;
      const cd = dues[child]!;
      if (lastDue < cd || (lastDue === cd && lastSeq < seqs[child]!)) break;
      dues[i] = cd;
      seqs[i] = seqs[child]!;
      packets[i] = packets[child]!;
      i = child;
    }
    dues[i] = lastDue;
    seqs[i] = lastSeq;
    packets[i] = lastPacket;
    return top;
  }

  private schedule(): void {
    if (this.closed || this.dues.length === 0 || this.immediate) return;
    const dueMs = this.dues[0]!;
    const now = this.clock();
    if (dueMs <= now + DUE_SLACK_MS) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.timerDueMs = Infinity;
      this.immediate = setImmediate(this.fire);
      return;
    }
    // A timer that fires at most a millisecond late for the new head is good enough.
    if (this.timer && this.timerDueMs <= dueMs + 1) return;
    if (this.timer) clearTimeout(this.timer);
    const wait = Math.ceil(dueMs - now);
    this.timerDueMs = now + wait;
    this.timer = setTimeout(this.fire, wait);
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.immediate = null;
    this.timerDueMs = Infinity;
    this.draining = true;
    try {
      const now = this.clock();
      const limit = now + DUE_SLACK_MS;
      const inOutage = this.model.inOutage(now);
      const stats = this.model.stats;
      // Bounded by the queue size at entry, so a receiver that pushes back into this link cannot starve the loop.
      let budget = this.dues.length;
      while (budget-- > 0 && !this.closed && this.dues.length > 0 && this.dues[0]! <= limit) {
        const packet = this.popMin();
        if (inOutage) {
          stats.outageDropped++;
          continue;
        }
        stats.delivered++;
        this.deliver(packet);
      }
    } finally {
      this.draining = false;
      this.schedule();
    }
  };
}
