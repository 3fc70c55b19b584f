import type { Duplex } from 'node:stream';

/** Limits on one side's forwarded connections. */
export interface RelayLimits {
  /** Connections being set up (connecting, negotiating SOCKS, awaiting the peer's reply) at once. */
  maxPending: number;
  /** Connections open at once, set up or not. */
  maxOpen: number;
}

/** Defaults: generous for real use, small enough that a flood cannot exhaust memory or descriptors. */
export const DEFAULT_RELAY_LIMITS: RelayLimits = { maxPending: 128, maxOpen: 4096 };

/** One connection's place in a RelaySet; both calls are idempotent. */
export interface RelaySlot {
  /** Set-up finished: the connection no longer counts as pending. */
  ready(): void;
  /** The connection is over (or failed to set up). */
  done(): void;
}

/**
 * The forwarded connections of one side: counts them against the limits and
 * destroys every socket and stream still open when the side shuts down.
 */
export class RelaySet {
  private readonly live = new Set<Duplex>();
  private pendingCount = 0;
  private openCount = 0;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  /** Connections refused because a limit was reached. */
  refused = 0;

  constructor(private readonly limits: RelayLimits = DEFAULT_RELAY_LIMITS) {}

  get pending(): number {
    return this.pendingCount;
  }

  get open(): number {
    return this.openCount;
  }

  /** Reserve room for a new connection, or null (counting a refusal) when at a limit or closed. */
  begin(): RelaySlot | null {
    if (this.closed || this.pendingCount >= this.limits.maxPending || this.openCount >= this.limits.maxOpen) {
      this.refused++;
      return null;
    }
    this.pendingCount++;
    this.openCount++;
    let state: 'pending' | 'ready' | 'done' = 'pending';
    return {
      ready: () => {
        if (state !== 'pending') return;
        state = 'ready';
        this.pendingCount--;
      },
      done: () => {
        if (state === 'done') return;
        if (state === 'pending') this.pendingCount--;
        state = 'done';
        this.openCount--;
        if (this.openCount === 0) this.wakeIdle();
      },
    };
  }

  /** Resolves once no connection is open (at once if none is, or the set is closed). */
  whenIdle(): Promise<void> {
    if (this.openCount === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wakeIdle(): void {
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Keep `thing` until it closes, so closeAll() can destroy it. */
  track(thing: Duplex): void {
    if (this.closed) {
      thing.destroy();
      return;
    }
    this.live.add(thing);
    thing.once('close', () => this.live.delete(thing));
  }

  /** Destroy everything still open; later begin() calls are refused. */
  closeAll(): void {
    this.closed = true;
    for (const thing of this.live) thing.destroy();
    this.live.clear();
    this.wakeIdle();
  }
}
