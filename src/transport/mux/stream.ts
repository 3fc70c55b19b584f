import { Duplex } from 'node:stream';
import type { Stream } from '../connection.js';
import { MuxStreamClosedError } from './errors.js';

/** What a stream needs from its Mux; implemented by Mux, kept narrow so the two stay decoupled. */
export interface StreamHost {
  /** `stream` has `added` more bytes to send (0: only its credit grew). */
  schedule(stream: MuxStream, added: number): void;
  /** Send FIN once everything queued before it is sent. */
  finish(stream: MuxStream): void;
  /** The local side aborted the stream: send RST unless the stream is already over. */
  abort(stream: MuxStream): void;
  /** Give the peer `bytes` more credit on `stream`. */
  grant(stream: MuxStream, bytes: number): void;
  /** Received bytes entered (positive) or left (negative) the stream's own queue. */
  buffered(delta: number): void;
  /** Unsent bytes were thrown away (the stream was destroyed). */
  discarded(bytes: number): void;
}

/** Where a stream waits for its turn to send (see Mux's scheduler). */
export const enum SendRing {
  None = 0,
  Urgent = 1,
  Bulk = 2,
}

/**
 * One multiplexed stream: a Node Duplex that sends through the Mux's
 * scheduler and receives what the decoder hands it.
 *
 * Writes: a write's callback fires only once all its bytes are framed and
 * handed to the pipe, and framing waits for peer credit, so a writer facing a
 * stalled reader sees write() return false once writableHighWaterMark is
 * reached; memory per stream stays at one write plus the high-water mark.
 *
 * Reads: received bytes go straight to the Readable while it wants more and
 * wait in the stream's own queue otherwise. Credit goes back to the peer only
 * for bytes handed to the Readable, so a reader that stops reading stops its
 * own stream after one window, and no other.
 *
 * Fields without TSDoc are the Mux's bookkeeping, not API.
 */
export class MuxStream extends Duplex implements Stream {
  // Send side.
  sendCredit: number;
  sendPending = 0;
  ring = SendRing.None;
  finQueued = false;
  finSent = false;
  private sendChunks: (Buffer | undefined)[] = [];
  private sendHead = 0;
  private sendOffset = 0;
  private writeCallback: ((err?: Error | null) => void) | null = null;
  private finalCallback: ((err?: Error | null) => void) | null = null;

  // Receive side.
  recvRemaining: number;
  finReceived = false;
  private recvChunks: (Buffer | undefined)[] = [];
  private recvHead = 0;
  private recvBuffered = 0;
  private recvUnacked = 0;
  private readBlocked = false;
  private endPushed = false;

  /** Removed from the Mux: no more frames go out or come in for it. */
  retired = false;

  constructor(
    private readonly host: StreamHost,
    /** Stream id, unique within the connection (client odd, server even). */
    readonly id: number,
    /** What the stream carries, as the protocol layer numbers it. */
    readonly kind: number,
    /** True if we opened it. */
    readonly local: boolean,
    initialCredit: number,
    private readonly grantThreshold: number,
  ) {
    super({ allowHalfOpen: true, decodeStrings: true });
    this.sendCredit = initialCredit;
    this.recvRemaining = initialCredit;
  }

  /** Abort both directions at once: the peer's stream errors with StreamResetError. */
  reset(): void {
    this.destroy();
  }

  /** Bytes received and waiting for this stream's reader (beyond the Readable's own buffer). */
  get receiveQueued(): number {
    return this.recvBuffered;
  }

  // ---- Mux side: sending ----

  /** Whether the scheduler can frame DATA for this stream now. */
  sendable(): boolean {
    return this.sendPending > 0 && this.sendCredit > 0;
  }

  /** Move the next `n` pending bytes (n <= sendPending, n <= sendCredit) into `target` at `offset`. */
  takeInto(target: Buffer, offset: number, n: number): void {
    this.sendPending -= n;
    this.sendCredit -= n;
    const chunks = this.sendChunks;
    while (n > 0) {
      const chunk = chunks[this.sendHead] as Buffer;
      const k = Math.min(chunk.length - this.sendOffset, n);
      chunk.copy(target, offset, this.sendOffset, this.sendOffset + k);
      offset += k;
      n -= k;
      this.sendOffset += k;
      if (this.sendOffset === chunk.length) {
        chunks[this.sendHead++] = undefined;
        this.sendOffset = 0;
      }
    }
    if (this.sendPending === 0) {
      chunks.length = 0;
      this.sendHead = 0;
      const cb = this.writeCallback;
      this.writeCallback = null;
      // Deferred so that no user code runs inside the scheduler.
      if (cb !== null) process.nextTick(cb);
    }
  }

  /** Our FIN reached the pipe. */
  markFinSent(): void {
    this.finSent = true;
    const cb = this.finalCallback;
    this.finalCallback = null;
    if (cb !== null) process.nextTick(cb);
  }

  // ---- Mux side: receiving ----

  /** DATA payload for this stream (already counted against recvRemaining). */
  receiveData(piece: Buffer): void {
    if (this.destroyed || this.endPushed) return;
    if (this.recvBuffered === 0 && !this.readBlocked) {
      this.consumed(piece.length);
      if (!this.push(piece)) this.readBlocked = true;
      return;
    }
    const kept = retainable(piece);
    this.recvChunks.push(kept);
    this.recvBuffered += kept.length;
    this.host.buffered(kept.length);
  }

  /** The peer half-closed its direction. */
  receiveFin(): void {
    this.finReceived = true;
    if (this.recvBuffered === 0 && !this.endPushed && !this.destroyed) {
      this.endPushed = true;
      this.push(null);
    }
  }

  // ---- Duplex implementation ----

  override _read(): void {
    this.readBlocked = false;
    const chunks = this.recvChunks;
    while (this.recvBuffered > 0) {
      const chunk = chunks[this.recvHead] as Buffer;
      chunks[this.recvHead++] = undefined;
      this.recvBuffered -= chunk.length;
      this.host.buffered(-chunk.length);
      this.consumed(chunk.length);
      if (!this.push(chunk) || this.destroyed) {
        this.readBlocked = true;
        break;
      }
    }
    if (this.recvBuffered === 0) {
      chunks.length = 0;
      this.recvHead = 0;
      if (this.finReceived && !this.endPushed && !this.destroyed) {
        this.endPushed = true;
        this.push(null);
      }
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (chunk.length === 0) return callback();
    this.sendChunks.push(chunk);
    this.sendPending += chunk.length;
    this.writeCallback = callback;
    this.host.schedule(this, chunk.length);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    let added = 0;
    for (const { chunk } of chunks) {
      if (chunk.length === 0) continue;
      this.sendChunks.push(chunk);
      added += chunk.length;
    }
    if (added === 0) return callback();
    this.sendPending += added;
    this.writeCallback = callback;
    this.host.schedule(this, added);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.finalCallback = callback;
    this.host.finish(this);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.host.abort(this);
    if (this.sendPending > 0) {
      this.host.discarded(this.sendPending);
      this.sendPending = 0;
      this.sendChunks.length = 0;
      this.sendHead = 0;
      this.sendOffset = 0;
    }
    if (this.recvBuffered > 0) {
      this.host.buffered(-this.recvBuffered);
      this.recvBuffered = 0;
      this.recvChunks.length = 0;
      this.recvHead = 0;
    }
    const failure = err ?? new MuxStreamClosedError(this.id);
    const pending = this.writeCallback;
    this.writeCallback = null;
    if (pending !== null) pending(failure);
    const final = this.finalCallback;
    this.finalCallback = null;
    if (final !== null) final(failure);
    callback(err);
  }

  /** Bytes left our hands for the reader: return them to the peer as credit in batches. */
  private consumed(bytes: number): void {
    if (this.finReceived) return;
    this.recvUnacked += bytes;
    if (this.recvUnacked >= this.grantThreshold) {
      this.recvRemaining += this.recvUnacked;
      this.host.grant(this, this.recvUnacked);
      this.recvUnacked = 0;
    }
  }
}

/**
 * A piece to keep for a slow reader. A small view would pin its whole (large)
 * input chunk in memory, so such pieces are copied; memory held stays within
 * a small factor of the bytes counted.
 */
function retainable(piece: Buffer): Buffer {
  const backing = piece.buffer.byteLength;
  return backing > Buffer.poolSize && piece.length * 8 < backing ? Buffer.from(piece) : piece;
}
