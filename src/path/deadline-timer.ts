import { performance } from 'node:perf_hooks';

const MAX_DELAY_MS = 3_600_000;

/**
 * The one timer a path owns. Callers say by when the callback must run at the
 * latest; a later deadline never moves the timer, so activity on the hot path
 * costs nothing here: the callback runs, finds nothing due yet, and asks again.
 */
export class DeadlineTimer {
  private handle: NodeJS.Timeout | null = null;
  private dueAt = Infinity;
  /** When the armed setTimeout should run (dueAt, or now for a past deadline, or the cap). */
  private firesAt = Infinity;

  /** `onDue` gets the performance.now() time the timer was meant to run at (how late it runs tells of a stopped process). */
  constructor(private readonly onDue: (dueAt: number) => void) {}

  /** Make sure the callback runs no later than `atMs` (performance.now() time); Infinity means never. */
  atLatest(atMs: number): void {
    if (atMs >= this.dueAt) return;
    if (this.handle !== null) clearTimeout(this.handle);
    this.dueAt = atMs;
    // +1: a timer may fire a fraction of a ms early, which would find nothing due and spin once more.
    const now = performance.now();
    const delay = Math.min(Math.max(0, Math.ceil(atMs - now) + 1), MAX_DELAY_MS);
    this.firesAt = now + delay;
    // setTimeout cannot wait past 2^31 ms; a capped timer fires, finds nothing due and is armed again.
    this.handle = setTimeout(this.fire, delay);
  }

  /** Cancel; atLatest() can arm it again. */
  stop(): void {
    if (this.handle !== null) clearTimeout(this.handle);
    this.handle = null;
    this.dueAt = Infinity;
    this.firesAt = Infinity;
  }

  private readonly fire = (): void => {
    const firesAt = this.firesAt;
    this.handle = null;
    this.dueAt = Infinity;
    this.firesAt = Infinity;
    this.onDue(firesAt);
  };
}
