/**
 * Bookkeeping both sides of a UDP forward need: handing out datagram
 * channels, holding the few datagrams that overtake their association's
 * announcement, and expiring idle associations. All of it is bounded.
 */

/** A range of datagram channels. */
export interface ChannelRange {
  readonly first: number;
  readonly count: number;
}

/**
 * Hands out channels round-robin, never one still in use: a channel is
 * reused only after the whole range has gone by, so late datagrams of a
 * closed association are unlikely to reach a new one.
 */
export class ChannelAllocator {
  private readonly used = new Set<number>();
  private next = 0;

  constructor(private readonly range: ChannelRange) {}

  /** A free channel, or null if every channel of the range is in use. */
  allocate(): number | null {
    if (this.used.size >= this.range.count) return null;
    for (;;) {
      const channel = this.range.first + this.next;
      this.next = (this.next + 1) % this.range.count;
      if (!this.used.has(channel)) {
        this.used.add(channel);
        return channel;
      }
    }
  }

  release(channel: number): void {
    this.used.delete(channel);
  }
}

/** Most unannounced channels held at once. */
export const EARLY_CHANNELS = 64;
/** Most datagrams held for one unannounced channel (a burst sent before the announcement lands). */
export const EARLY_PER_CHANNEL = 256;
/** Most bytes held for all unannounced channels together. */
export const EARLY_BYTES = 1024 * 1024;

/**
 * Datagrams that arrived on a channel the peer has not announced yet (the
 * announcement travels on a reliable stream, which may still be opening or
 * retransmitting while a burst of datagrams passes it). Held until the
 * announcement arrives; when a limit is reached the oldest channel's
 * datagrams are forgotten first.
 */
export class EarlyDatagrams {
  private readonly held = new Map<number, Buffer[]>();
  private bytes = 0;
  /** Datagrams thrown away because the pen was full. */
  dropped = 0;

  constructor(
    private readonly maxChannels = EARLY_CHANNELS,
    private readonly maxPerChannel = EARLY_PER_CHANNEL,
    private readonly maxBytes = EARLY_BYTES,
  ) {}

  hold(channel: number, payload: Buffer): void {
    let list = this.held.get(channel);
    if (list && list.length >= this.maxPerChannel) {
      this.dropped++;
      return;
    }
    while (this.held.size > 0 && (this.bytes + payload.length > this.maxBytes || (!list && this.held.size >= this.maxChannels))) {
      const oldest = this.held.keys().next().value as number;
      if (oldest === channel) break;
      this.forget(oldest);
    }
    if (this.bytes + payload.length > this.maxBytes) {
      this.dropped++;
      return;
    }
    if (!list) {
      list = [];
      this.held.set(channel, list);
    }
    list.push(payload);
    this.bytes += payload.length;
  }

  /** The datagrams held for `channel`, oldest first; forgets them. */
  take(channel: number): Buffer[] {
    const list = this.held.get(channel) ?? [];
    this.held.delete(channel);
    for (const d of list) this.bytes -= d.length;
    return list;
  }

  clear(): void {
    this.held.clear();
    this.bytes = 0;
  }

  private forget(channel: number): void {
    const gone = this.take(channel);
    this.dropped += gone.length;
  }
}

/**
 * Calls `onIdle(key)` for keys not touched for `idleMs`. One timer for the
 * whole table, armed only while it has keys, so an entry expires between
 * idleMs and 1.25 × idleMs after its last touch. The timer is unref'd: idle
 * bookkeeping never keeps a process alive.
 */
export class IdleSweeper<K> {
  /** Last touch per key, in touch order (re-touching moves a key to the end). */
  private readonly lastTouch = new Map<K, number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly period: number;

  constructor(
    private readonly idleMs: number,
    private readonly onIdle: (key: K) => void,
  ) {
    this.period = Math.max(1, Math.ceil(idleMs / 4));
  }

  touch(key: K): void {
    this.lastTouch.delete(key);
    this.lastTouch.set(key, performance.now());
    this.timer ??= this.arm();
  }

  delete(key: K): void {
    this.lastTouch.delete(key);
    if (this.lastTouch.size === 0) this.stop();
  }

  close(): void {
    this.lastTouch.clear();
    this.stop();
  }

  private arm(): NodeJS.Timeout {
    const timer = setTimeout(() => this.sweep(), this.period);
    timer.unref();
    return timer;
  }

  private stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private sweep(): void {
    this.timer = null;
    const cutoff = performance.now() - this.idleMs;
    const expired: K[] = [];
    // Keys are in touch order, so the first fresh one ends the scan.
    for (const [key, at] of this.lastTouch) {
      if (at > cutoff) break;
      expired.push(key);
    }
    for (const key of expired) {
      this.lastTouch.delete(key);
      this.onIdle(key);
    }
    if (this.lastTouch.size > 0) this.timer ??= this.arm();
  }
}
