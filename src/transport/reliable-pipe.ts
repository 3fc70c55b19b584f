/**
 * A reliable, ordered byte pipe with backpressure on the sending side: what
 * KCP offers the multiplexer (and what the multiplexer's unit tests fake in
 * memory). The receiving side is never paused: the multiplexer bounds what it
 * receives with credit, so control frames always get through.
 */
export interface ReliablePipe {
  /**
   * Queue bytes for reliable, in-order delivery. Always accepted; the caller
   * keeps the queue shallow by watching `queuedBytes` and `onDrain`, so that
   * urgent frames are not stuck behind bulk ones. The pipe may keep a
   * reference to `chunk`: the caller must not modify it afterwards.
   */
  write(chunk: Buffer): void;
  /** Bytes accepted by write() but not yet sent for the first time. */
  readonly queuedBytes: number;
  /** Called when queuedBytes drops to or below `drainThreshold` after having been above it. */
  onDrain: (() => void) | null;
  /** queuedBytes level at or below which onDrain fires. */
  drainThreshold: number;
  /** Receiver of in-order bytes. Chunks may be split or merged arbitrarily relative to writes. */
  onData: ((chunk: Buffer) => void) | null;
}
