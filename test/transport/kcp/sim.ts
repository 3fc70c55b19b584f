/**
 * Deterministic simulation for KCP unit tests: a fake clock (timers in a heap,
 * deferred calls in a queue) and a seeded lossy, delaying, reordering,
 * duplicating link between two Kcp instances. Nothing here touches real time.
 */
import { Kcp, type KcpClock, type KcpOptions } from '../../../src/transport/kcp/kcp.js';

/** Seeded PRNG (mulberry32): same seed, same run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Timer {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
  /** Called when the timer fires (a view's bookkeeping). */
  done: (() => void) | null;
}

/** A view of the clock for one party, counting the timers it has armed. */
export interface ClockView extends KcpClock {
  /** Timers set through this view that have neither fired nor been cleared. */
  readonly armed: number;
}

/** Fake time: now() only moves when step() runs the next timer. */
export class FakeClock {
  nowMs = 1000;
  private heap: Timer[] = [];
  private seq = 0;
  private deferred: (() => void)[] = [];

  /** A KcpClock for one Kcp, so tests can ask how many timers it holds. */
  view(): ClockView {
    let armed = 0;
    const view: ClockView = {
      get armed() {
        return armed;
      },
      now: () => this.nowMs,
      setTimer: (fn, ms) => {
        armed++;
        return this.add(fn, ms, () => armed--);
      },
      clearTimer: (handle) => {
        const t = handle as Timer;
        if (!t.cancelled) {
          t.cancelled = true;
          armed--;
        }
      },
      defer: (fn) => void this.deferred.push(fn),
    };
    return view;
  }

  /** Schedule `fn` at now + ms (for the link). */
  at(ms: number, fn: () => void): void {
    this.add(fn, ms, null);
  }

  /** Calls waiting for the end of the current "turn". */
  get pendingDeferred(): number {
    return this.deferred.length;
  }

  /** Run deferred calls (the rest of the current turn) without moving time. */
  runDeferred(): void {
    for (let guard = 0; this.deferred.length > 0; guard++) {
      if (guard > 1_000_000) throw new Error('deferred calls do not settle');
      const batch = this.deferred;
      this.deferred = [];
      for (const fn of batch) fn();
    }
  }

  /** Finish the turn, then advance to the next timer and run it; false when nothing is scheduled. */
  step(): boolean {
    this.runDeferred();
    for (;;) {
      const t = this.pop();
      if (!t) return false;
      if (t.cancelled) continue;
      if (t.due > this.nowMs) this.nowMs = t.due;
      t.cancelled = true;
      t.done?.();
      t.fn();
      this.runDeferred();
      return true;
    }
  }

  /** Step until `cond` holds, time passes `untilMs` (absolute), or nothing is left. Returns cond(). */
  runUntil(cond: () => boolean, untilMs: number, maxSteps = 5_000_000): boolean {
    for (let i = 0; i < maxSteps; i++) {
      this.runDeferred();
      if (cond()) return true;
      const next = this.peekDue();
      if (next === undefined || next > untilMs) {
        if (next !== undefined) this.nowMs = Math.max(this.nowMs, untilMs);
        return cond();
      }
      this.step();
    }
    return cond();
  }

  /** Advance time by `ms`, running everything due meanwhile. */
  advance(ms: number): void {
    const until = this.nowMs + ms;
    this.runUntil(() => false, until);
    this.nowMs = until;
  }

  private add(fn: () => void, ms: number, done: (() => void) | null): Timer {
    const t: Timer = { due: this.nowMs + Math.max(0, ms), seq: this.seq++, fn, cancelled: false, done };
    this.push(t);
    return t;
  }

  private peekDue(): number | undefined {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop();
    return this.heap[0]?.due;
  }

  private less(a: Timer, b: Timer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(t: Timer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

/** Impairments of one direction. */
export interface LinkOptions {
  loss?: number;
  delayMs?: number;
  /** Extra random delay 0..jitterMs per packet (reorders packets). */
  jitterMs?: number;
  duplicate?: number;
  seed?: number;
  /** Bottleneck rate in bytes per ms (0 or absent: none): packets are serialised after loss, before the delay. */
  rateBytesPerMs?: number;
  /** Tail-drop queue of the bottleneck, bytes (default 256 KiB). */
  queueBytes?: number;
  /** Bytes a packet takes on the wire beyond its KCP bytes (sealing, UDP/IP), for the bottleneck. */
  overheadBytes?: number;
}

/** One direction of the simulated network. Packets are copied (Kcp reuses its output buffer). */
export class Link {
  /** While true, every packet is lost. */
  down = false;
  /** Optional per-packet filter: return false to drop (tests that target one packet). */
  filter: ((packet: Buffer) => boolean) | null = null;
  sent = 0;
  delivered = 0;
  bytes = 0;
  /** Packets tail-dropped by the bottleneck queue, and its largest backlog in bytes. */
  queueDropped = 0;
  maxBacklog = 0;
  private linkFreeAt = -Infinity;
  private readonly random: () => number;

  constructor(
    private readonly clock: FakeClock,
    readonly options: LinkOptions,
    private readonly deliver: (packet: Buffer) => void,
  ) {
    this.random = rng(options.seed ?? 1);
  }

  send(packet: Buffer): void {
    this.sent++;
    this.bytes += packet.length;
    if (this.down || (this.filter && !this.filter(packet))) return;
    const copies = this.random() < (this.options.duplicate ?? 0) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (this.random() < (this.options.loss ?? 0)) continue;
      let delay = (this.options.delayMs ?? 0) + this.random() * (this.options.jitterMs ?? 0);
      const rate = this.options.rateBytesPerMs ?? 0;
      if (rate > 0) {
        const now = this.clock.nowMs;
        const size = packet.length + (this.options.overheadBytes ?? 0);
        const backlog = this.linkFreeAt > now ? (this.linkFreeAt - now) * rate : 0;
        if (backlog + size > (this.options.queueBytes ?? 256 * 1024)) {
          this.queueDropped++;
          continue;
        }
        if (backlog + size > this.maxBacklog) this.maxBacklog = backlog + size;
        this.linkFreeAt = (this.linkFreeAt > now ? this.linkFreeAt : now) + size / rate;
        delay += this.linkFreeAt - now;
      }
      const copy = Buffer.from(packet);
      this.clock.at(delay, () => {
        this.delivered++;
        this.deliver(copy);
      });
    }
  }
}

/** Two Kcp wired through two Links on one fake clock. */
export interface Pair {
  clock: FakeClock;
  a: Kcp;
  b: Kcp;
  aClock: ClockView;
  bClock: ClockView;
  ab: Link;
  ba: Link;
}

/** Build a Pair; `kcp` options apply to both ends, `ab`/`ba` impair each direction. */
export function pair(kcp: Partial<KcpOptions> = {}, ab: LinkOptions = {}, ba: LinkOptions = { ...ab, seed: (ab.seed ?? 1) + 1000 }): Pair {
  const clock = new FakeClock();
  const aClock = clock.view();
  const bClock = clock.view();
  let a: Kcp | null = null;
  let b: Kcp | null = null;
  const abLink = new Link(clock, ab, (p) => b!.input(p));
  const baLink = new Link(clock, ba, (p) => a!.input(p));
  a = new Kcp({ conv: 7, mtu: 1400, ...kcp, clock: aClock }, (p) => abLink.send(p));
  b = new Kcp({ conv: 7, mtu: 1400, ...kcp, clock: bClock }, (p) => baLink.send(p));
  return { clock, a, b, aClock, bClock, ab: abLink, ba: baLink };
}

/** Deterministic pseudo-random bytes. */
export function randomBytes(n: number, seed: number): Buffer {
  const r = rng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) {
    const v = (r() * 4294967296) >>> 0;
    b[i] = v;
    if (i + 1 < n) b[i + 1] = v >>> 8;
    if (i + 2 < n) b[i + 2] = v >>> 16;
    if (i + 3 < n) b[i + 3] = v >>> 24;
  }
  return b;
}
