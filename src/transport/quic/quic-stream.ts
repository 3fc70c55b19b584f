import { Duplex } from 'node:stream';
import type { Stream } from '../connection.js';

/** What a stream needs from its QuicConnection; kept narrow so the two stay decoupled. */
export interface QuicStreamHost {
  /** Hand queued writes (and the FIN) to the engine as far as its stream capacity allows. */
  pumpWrite(stream: QuicStream): void;
  /** Move received bytes from the engine into the Readable while it wants more. */
  pumpRead(stream: QuicStream): void;
  /** The stream was destroyed locally: reset whatever direction is not finished. */
  abort(stream: QuicStream): void;
  /** The stream closed: forget it. */
  retire(stream: QuicStream): void;
}

/**
 * One QUIC bidirectional stream as a Node Duplex.
 *
 * Writes: a write's callback fires once the engine has taken all its bytes,
 * and the engine takes only what the peer's flow-control window and the
 * congestion window allow, so a writer facing a stalled reader sees write()
 * return false once writableHighWaterMark is reached.
 *
 * Reads: bytes leave the engine only while the Readable wants more, so the
 * engine's window (and nothing else) throttles the peer when we stop reading.
 *
 * Fields without TSDoc are the connection's bookkeeping, not API.
 */
export class QuicStream extends Duplex implements Stream {
  // Send side.
  writeChunks: Buffer[] = [];
  writeIndex = 0;
  writeOffset = 0;
  writeCallback: ((err?: Error | null) => void) | null = null;
  finalCallback: ((err?: Error | null) => void) | null = null;
  /** Local streams: whether the kind byte went to the engine (the stream exists for the peer once it arrives). */
  headerSent: boolean;
  finSent = false;
  pumping = false;

  // Receive side.
  wantRead = false;
  readEnded = false;
  reading = false;

  constructor(
    private readonly host: QuicStreamHost,
    /** QUIC stream id (client-opened 0, 4, 8, ...; server-opened 1, 5, 9, ...). */
    readonly id: number,
    /** What the stream carries, as the protocol layer numbers it; the first byte on the wire. */
    readonly kind: number,
    /** True if we opened it. */
    readonly local: boolean,
  ) {
    super({ allowHalfOpen: true });
    this.headerSent = !local;
    this.once('close', () => host.retire(this));
  }

  /** Abort both directions: RESET_STREAM and STOP_SENDING go to the peer, whose stream errors with StreamResetError. */
  reset(): void {
    this.destroy();
  }

  /** Whether writes (or the FIN) are waiting for the engine. */
  get writePending(): boolean {
    return this.writeCallback !== null || (this.finalCallback !== null && !this.finSent);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.writeChunks = [chunk];
    this.writeIndex = 0;
    this.writeOffset = 0;
    this.writeCallback = callback;
    this.host.pumpWrite(this);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.writeChunks = chunks.map((c) => c.chunk);
    this.writeIndex = 0;
    this.writeOffset = 0;
    this.writeCallback = callback;
    this.host.pumpWrite(this);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.finalCallback = callback;
    this.host.pumpWrite(this);
  }

  override _read(): void {
    this.wantRead = true;
    this.host.pumpRead(this);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.writeChunks = [];
    this.writeCallback = null;
    this.finalCallback = null;
    this.host.abort(this);
    callback(err);
  }
}
