import { performance } from 'node:perf_hooks';

/**
 * Time and timers as Kcp sees them, injectable so unit tests can step time
 * deterministically. Kcp holds at most one timer at a time.
 */
export interface KcpClock {
  /** Monotonic time in milliseconds (fractions allowed). */
  now(): number;
  /** Call `fn` once after `ms` milliseconds; returns a handle for clearTimer. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /**
   * Run `fn` once after the current event-loop turn's I/O callbacks, before
   * any timer: how writes and acks of one turn are coalesced into one flush.
   * Defaults to setImmediate.
   */
  defer?(fn: () => void): void;
}

/** The real clock: performance.now, setTimeout, setImmediate. */
export const systemClock: KcpClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  defer: (fn) => void setImmediate(fn),
};
