import { INITIAL_CONNECTION_CREDIT, INITIAL_STREAM_CREDIT, SESSION_ID } from './frame.js';
import type { MuxStream } from './stream.js';

/**
 * Receive-side flow control of one Mux: the connection window and the
 * streams' windows (docs/MUX.md, "Flow control").
 *
 * Connection: the peer may have at most `window` DATA bytes outstanding on all
 * streams together (in flight, or received and not yet taken by a reader);
 * credit goes back as readers take bytes, in batches of a quarter window (at
 * once while the peer holds less than that). So
 * received data never holds more than `window` bytes of memory, and the pipe
 * never has to stop: WINDOW_UPDATE, FIN and RST always get through.
 *
 * Streams: each stream always has INITIAL_STREAM_CREDIT; what it has beyond
 * that (up to streamWindow) is drawn from a pool of half the connection
 * window. So readers that stall hold at most that half plus the initial
 * credit of each, and the rest of the connection window stays free for the
 * streams that flow: an agent or X11 connection beside stalled port forwards.
 * A stream's window shrinks back to what the pool allows as its reader takes
 * bytes, and grows again once the pool has room.
 */
export class ReceiveWindows {
  /** Connection credit the peer still holds. */
  private remaining = INITIAL_CONNECTION_CREDIT;
  /** Bytes released since connection credit last went back. */
  private unacked = 0;
  /** Sum of the streams' recvExtra. */
  private extraInUse = 0;
  private readonly pool: number;
  private readonly batch: number;

  constructor(
    private readonly window: number,
    private readonly streamWindow: number,
    /** Queue WINDOW_UPDATE(delta) for `streamId` (0: the connection). */
    private readonly sendUpdate: (streamId: number, delta: number) => void,
  ) {
    this.pool = Math.floor(window / 2);
    this.batch = window >>> 2;
  }

  /** Announce the connection window beyond the protocol's initial credit (the Mux's first frame). */
  start(): void {
    const extra = this.window - INITIAL_CONNECTION_CREDIT;
    if (extra <= 0) return;
    this.remaining += extra;
    this.sendUpdate(SESSION_ID, extra);
  }

  /** A DATA frame of `length` bytes arrived: false if the peer had not that much connection credit. */
  charge(length: number): boolean {
    if (length > this.remaining) return false;
    this.remaining -= length;
    return true;
  }

  /** Received bytes left our memory (taken by a reader, or dropped): their connection credit may go back. */
  release(bytes: number): void {
    this.unacked += bytes;
    // Batched, unless the peer is running short: then every byte counts.
    if (this.unacked < this.batch && this.remaining >= this.batch) return;
    this.remaining += this.unacked;
    this.sendUpdate(SESSION_ID, this.unacked);
    this.unacked = 0;
  }

  /** A new stream: grant what the pool allows beyond its initial credit. */
  open(stream: MuxStream): void {
    const extra = this.extraFor(stream);
    if (extra <= 0) return;
    stream.recvExtra = extra;
    this.extraInUse += extra;
    stream.recvRemaining += extra;
    this.sendUpdate(stream.id, extra);
  }

  /** The stream's reader took a batch (recvUnacked): top its window up to what the pool allows now. */
  grant(stream: MuxStream): void {
    stream.recvUnacked = 0;
    const held = stream.recvRemaining + stream.receiveQueued;
    const give = INITIAL_STREAM_CREDIT + this.extraFor(stream) - held;
    if (give > 0) {
      stream.recvRemaining += give;
      this.sendUpdate(stream.id, give);
    }
    const extra = Math.max(0, stream.recvRemaining + stream.receiveQueued - INITIAL_STREAM_CREDIT);
    this.extraInUse += extra - stream.recvExtra;
    stream.recvExtra = extra;
  }

  /** The stream is finished: its share goes back to the pool. */
  close(stream: MuxStream): void {
    this.extraInUse -= stream.recvExtra;
    stream.recvExtra = 0;
  }

  /** The stream's window beyond its initial credit that the pool allows now. */
  private extraFor(stream: MuxStream): number {
    const free = this.pool - (this.extraInUse - stream.recvExtra);
    return Math.max(0, Math.min(this.streamWindow - INITIAL_STREAM_CREDIT, free));
  }
}
