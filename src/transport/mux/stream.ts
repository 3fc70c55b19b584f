import { Duplex } from 'node:stream';
import type { Stream } from '../connection.js';
import { MuxStreamClosedError } from './errors.js';
import { INITIAL_STREAM_CREDIT } from './frame.js';
import { ReceiveBuffer } from './receive-buffer.js';

/** What a stream needs from its Mux; implemented by Mux, kept narrow so the two stay decoupled. */
export interface StreamHost {
  /** `stream` has `added` more bytes to send (0: only its credit grew). */
  schedule(stream: MuxStream, added: number): void;
  /** Send FIN once everything queued before it is sent. */
  finish(stream: MuxStream): void;
  /** The local side aborted the stream: send RST unless the stream is already over. */
  abort(stream: MuxStream): void;
  /** `stream` handed a batch of bytes to its reader: decide what credit to give back (see ReceiveWindows). */
  grant(stream: MuxStream): void;
  /** Received bytes left the stream (handed to the reader, or thrown away): connection credit for them may go back. */
  released(bytes: number): void;
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
 * Reads: received bytes go straight to the Readable while it is empty and
 * wanted, and wait in the stream's own ReceiveBuffer otherwise (coalesced, so
 * tiny frames cost no more than their bytes). The Readable's high-water mark
 * is 0: it asks for the next piece only when its reader has taken the last,
 * so it holds one piece at most. Credit goes back to the peer only for bytes
 * handed to the Readable, so a reader that stops reading stops its own stream
 * after one window, and no other.
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
  /** Our receive window beyond INITIAL_STREAM_CREDIT, drawn from the Mux's pool (ReceiveWindows). */
  recvExtra = 0;
  /** Bytes handed to the reader since credit last went back. */
  recvUnacked = 0;
  finReceived = false;
  private readonly recv = new ReceiveBuffer();
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
  ) {
    super({ allowHalfOpen: true, decodeStrings: true, readableHighWaterMark: 0 });
    this.sendCredit = initialCredit;
    this.recvRemaining = initialCredit;
  }

  /** Abort both directions at once: the peer's stream errors with StreamResetError. */
  reset(): void {
    this.destroy();
  }

  /** Bytes received and waiting for this stream's reader (beyond the Readable's own buffer). */
  get receiveQueued(): number {
    return this.recv.bytes;
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
    if (this.destroyed || this.endPushed) {
      this.host.released(piece.length);
      return;
    }
    if (this.recv.bytes === 0 && !this.readBlocked) {
      this.consumed(piece.length);
      if (!this.push(piece)) this.readBlocked = true;
      return;
    }
    this.recv.append(piece);
    this.host.buffered(piece.length);
  }

  /** The peer half-closed its direction. */
  receiveFin(): void {
    this.finReceived = true;
    if (this.recv.bytes === 0 && !this.endPushed && !this.destroyed) {
      this.endPushed = true;
      this.push(null);
    }
  }

  // ---- Duplex implementation ----

  override _read(): void {
    this.readBlocked = false;
    for (;;) {
      const chunk = this.recv.shift();
      if (chunk === undefined) break;
      this.host.buffered(-chunk.length);
      this.consumed(chunk.length);
      if (!this.push(chunk) || this.destroyed) {
        this.readBlocked = true;
        break;
      }
    }
    if (this.recv.bytes === 0 && this.finReceived && !this.endPushed && !this.destroyed) {
      this.endPushed = true;
      this.push(null);
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
    const held = this.recv.bytes;
    if (held > 0) {
      this.host.buffered(-held);
      this.host.released(held);
      this.recv.clear();
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

  /** Bytes left our hands for the reader: connection credit goes back at once, stream credit in batches of a quarter window. */
  private consumed(bytes: number): void {
    this.host.released(bytes);
    if (this.finReceived) return;
    this.recvUnacked += bytes;
    if (this.recvUnacked >= (INITIAL_STREAM_CREDIT + this.recvExtra) >>> 2) this.host.grant(this);
  }
}
