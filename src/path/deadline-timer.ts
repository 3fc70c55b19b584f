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

  constructor(private readonly onDue: () => void) {}

  /** Make sure the callback runs no later than `atMs` (performance.now() time); Infinity means never. */
  atLatest(atMs: number): void {
    if (atMs >= this.dueAt) return;
    if (this.handle !== null) clearTimeout(this.handle);
    this.dueAt = atMs;
    // +1: a timer may fire a fraction of a ms early, which would find nothing due and spin once more.
    const delay = Math.max(0, Math.ceil(atMs - performance.now()) + 1);
    // setTimeout cannot wait past 2^31 ms; a capped timer fires, finds nothing due and is armed again.
    this.handle = setTimeout(this.fire, Math.min(delay, MAX_DELAY_MS));
  }

  /** Cancel; atLatest() can arm it again. */
  stop(): void {
    if (this.handle !== null) clearTimeout(this.handle);
    this.handle = null;
    this.dueAt = Infinity;
  }

  private readonly fire = (): void => {
    this.handle = null;
    this.dueAt = Infinity;
    this.onDue();
  };
}
