import { Transform, type TransformCallback } from 'node:stream';

/**
 * The reference family's pending-input discard (docs/INTEROP.md "Discard
 * marker"): after the client reconnects, input it typed while the path was
 * down may be stale. The server announces a marker on the bus; the client
 * sends it into each session's input before anything new. Until the marker
 * arrives, the session's input is held; what came before it is dropped (and
 * reported, `onDiscarded`), what follows it goes to the session.
 *
 * Held input is bounded: beyond MAX_HELD bytes the oldest held bytes are
 * dropped as discarded too (a client that never sends the marker cannot grow
 * the server's memory).
 */
export const MAX_HELD = 64 * 1024;

export class DiscardGate extends Transform {
  private marker: Buffer | null = null;
  private held: Buffer = Buffer.alloc(0);

  constructor(private readonly onDiscarded: (input: Buffer) => void) {
    super();
  }

  /** Hold input from now on until `marker` passes. */
  arm(marker: Buffer): void {
    this.marker = marker;
    this.held = Buffer.alloc(0);
  }

  /** Whether input is held waiting for a marker. */
  get armed(): boolean {
    return this.marker !== null;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const marker = this.marker;
    if (marker === null) {
      callback(null, chunk);
      return;
    }
    const held = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    const at = held.indexOf(marker);
    if (at < 0) {
      // Keep what could still be the start of the marker, and at most MAX_HELD bytes.
      const keep = Math.max(marker.length - 1, Math.min(held.length, MAX_HELD));
      if (held.length > keep) this.onDiscarded(held.subarray(0, held.length - keep));
      this.held = Buffer.from(held.subarray(Math.max(0, held.length - keep)));
      callback();
      return;
    }
    this.marker = null;
    this.held = Buffer.alloc(0);
    if (at > 0) this.onDiscarded(held.subarray(0, at));
    const rest = held.subarray(at + marker.length);
    callback(null, rest.length > 0 ? rest : undefined);
  }
}
