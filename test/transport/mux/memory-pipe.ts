import type { ReliablePipe } from '../../../src/transport/reliable-pipe.js';

/** How a MemoryPipe moves bytes to its peer. */
export interface MemoryPipeOptions {
  /** Bytes moved per tick (the link rate). Default 1 MiB. */
  bytesPerTick?: number;
  /** Delay between ticks in ms; 0 ticks on setImmediate. Default 0. */
  tickMs?: number;
  /**
   * Largest chunk handed to onData. Each tick's bytes are cut into chunks of
   * random size 1..maxChunk (seeded), merging and splitting writes arbitrarily.
   * Default: one chunk per tick.
   */
  maxChunk?: number;
  /** PRNG seed for chunk sizes. */
  seed?: number;
}

/**
 * One end of an in-memory ReliablePipe pair. Bytes written here are queued
 * (queuedBytes) and moved to the peer's onData at a fixed rate per tick; while
 * the peer has paused its receive nothing moves, so our queue grows, as a KCP
 * sender's would once the receiver's window closes. A timer runs only while
 * there is something to move, so an idle pair keeps no event-loop handle.
 */
export class MemoryPipe implements ReliablePipe {
  onDrain: (() => void) | null = null;
  drainThreshold = 0;
  onData: ((chunk: Buffer) => void) | null = null;
  /** Sees every chunk delivered to the peer, in order, before the peer's onData. */
  tap: ((chunk: Buffer) => void) | null = null;
  /** Total bytes delivered to the peer. */
  bytesDelivered = 0;
  /** Times pauseReceive() was called on this end. */
  pauses = 0;

  peer!: MemoryPipe;
  private readonly queue: Buffer[] = [];
  private queueHead = 0;
  private headOffset = 0;
  private queued = 0;
  private above = false;
  private receivePaused = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private closed = false;
  private rng: number;
  private readonly bytesPerTick: number;
  private readonly tickMs: number;
  private readonly maxChunk: number;

  constructor(options: MemoryPipeOptions = {}) {
    this.bytesPerTick = options.bytesPerTick ?? 1 << 20;
    this.tickMs = options.tickMs ?? 0;
    this.maxChunk = options.maxChunk ?? 0;
    this.rng = (options.seed ?? 1) >>> 0 || 1;
  }

  get queuedBytes(): number {
    return this.queued;
  }

  /** Whether this end's receive is paused. */
  get paused(): boolean {
    return this.receivePaused;
  }

  write(chunk: Buffer): void {
    if (this.closed || chunk.length === 0) return;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued > this.drainThreshold) this.above = true;
    this.arm();
  }

  pauseReceive(): void {
    this.receivePaused = true;
    this.pauses++;
  }

  resumeReceive(): void {
    if (!this.receivePaused) return;
    this.receivePaused = false;
    this.peer.arm();
  }

  /** Stop both directions' timers and drop what is queued. */
  close(): void {
    for (const end of [this, this.peer]) {
      end.closed = true;
      end.disarm();
      end.queue.length = 0;
      end.queueHead = 0;
      end.queued = 0;
    }
  }

  private arm(): void {
    if (this.timer !== null || this.closed || this.queued === 0 || this.peer.receivePaused) return;
    this.timer = this.tickMs > 0 ? setTimeout(this.tick, this.tickMs) : setImmediate(this.tick);
  }

  private disarm(): void {
    if (this.timer === null) return;
    if (this.tickMs > 0) clearTimeout(this.timer as NodeJS.Timeout);
    else clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  private readonly tick = (): void => {
    this.timer = null;
    let budget = this.bytesPerTick;
    while (budget > 0 && this.queued > 0 && !this.peer.receivePaused && !this.closed) {
      const size = this.maxChunk > 0 ? Math.min(budget, 1 + (this.random() % this.maxChunk)) : budget;
      const chunk = this.take(size);
      budget -= chunk.length;
      this.bytesDelivered += chunk.length;
      this.tap?.(chunk);
      this.peer.onData?.(chunk);
    }
    if (this.above && this.queued <= this.drainThreshold) {
      this.above = false;
      this.onDrain?.();
    }
    this.arm();
  };

  /** Remove up to `size` bytes from the front of the queue as one Buffer. */
  private take(size: number): Buffer {
    const first = this.queue[this.queueHead];
    const firstLeft = first.length - this.headOffset;
    if (firstLeft >= size || this.queueHead === this.queue.length - 1) {
      const n = Math.min(size, firstLeft);
      const out = first.subarray(this.headOffset, this.headOffset + n);
      this.consume(n);
      return out;
    }
    const out = Buffer.allocUnsafe(Math.min(size, this.queued));
    let filled = 0;
    while (filled < out.length) {
      const buf = this.queue[this.queueHead];
      const n = Math.min(buf.length - this.headOffset, out.length - filled);
      buf.copy(out, filled, this.headOffset, this.headOffset + n);
      filled += n;
      this.consume(n);
    }
    return out;
  }

  private consume(n: number): void {
    this.queued -= n;
    this.headOffset += n;
    if (this.headOffset === this.queue[this.queueHead].length) {
      this.queue[this.queueHead++] = undefined as unknown as Buffer;
      this.headOffset = 0;
      if (this.queueHead === this.queue.length) {
        this.queue.length = 0;
        this.queueHead = 0;
      } else if (this.queueHead >= 1024 && this.queueHead * 2 >= this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
    }
  }

  private random(): number {
    // xorshift32: deterministic chunking for a given seed.
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x >>> 0;
    return this.rng;
  }
}

/** Two connected MemoryPipe ends with the same options. */
export function createMemoryPipePair(options: MemoryPipeOptions = {}): [MemoryPipe, MemoryPipe] {
  const a = new MemoryPipe(options);
  const b = new MemoryPipe({ ...options, seed: (options.seed ?? 1) + 1 });
  a.peer = b;
  b.peer = a;
  return [a, b];
}
