/**
 * How the reference family talks on a stream (docs/INTEROP.md "Streams"):
 *
 *   command  = u8 length, then that many bytes of ASCII ("bus", "session", "alive", ...)
 *   message  = u32 big-endian length, then that many bytes of JSON (Go field names)
 *
 * A stream starts with a command naming its kind; the server answers with a
 * message ({"Msg":"_TSSHD_NO_ERROR_"} or an error). On the bus stream each
 * event is a command followed by its message. After the opening exchange a
 * session or forward stream carries raw bytes.
 *
 * StreamFrameReader takes bytes as they come and hands out whole commands,
 * messages or the remaining raw bytes; it buffers at most one message
 * (MAX_REFERENCE_MESSAGE bytes) and never allocates for a length it refuses.
 */
import { ReferenceWireError } from './errors.js';

/** The server's "no error" text in an errorMessage. */
export const NO_ERROR_MSG = '_TSSHD_NO_ERROR_';
/** Longest JSON message accepted (the Go peers send a few hundred bytes; a discard report may carry pending input). */
export const MAX_REFERENCE_MESSAGE = 4 * 1024 * 1024;

/** Encode a command (1..255 bytes of ASCII). */
export function encodeCommand(command: string): Buffer {
  const body = Buffer.from(command, 'latin1');
  if (body.length === 0 || body.length > 255) throw new ReferenceWireError(`reference command must be 1 to 255 bytes (got ${body.length})`);
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = body.length;
  body.copy(out, 1);
  return out;
}

/** Encode a JSON message with its u32 length. */
export function encodeMessage(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** A command and its message in one buffer (one write, so two writers never interleave them). */
export function encodeCommandAndMessage(command: string, message: unknown): Buffer {
  return Buffer.concat([encodeCommand(command), encodeMessage(message)]);
}

/** Parse a message body; throws ReferenceWireError unless it is a JSON object. */
export function parseMessageBody(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ReferenceWireError(`reference message of ${body.length} bytes is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ReferenceWireError('reference message is not a JSON object');
  }
  return value as Record<string, unknown>;
}

/**
 * Incremental reader of commands and messages from stream bytes. push() data
 * as it arrives; readCommand()/readMessage() return undefined until a whole
 * item is buffered; takeRest() hands out whatever raw bytes are left.
 */
export class StreamFrameReader {
  private chunks: Buffer[] = [];
  private size = 0;

  /** Bytes buffered. */
  get buffered(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** A whole command, or undefined if not all of it has arrived. */
  readCommand(): string | undefined {
    if (this.size < 1) return undefined;
    const len = this.peekByte(0);
    if (len === 0) throw new ReferenceWireError('reference command of length 0');
    if (this.size < 1 + len) return undefined;
    this.take(1);
    return this.take(len).toString('latin1');
  }

  /** A whole message, parsed, or undefined if not all of it has arrived. Throws ReferenceWireError on a bad one. */
  readMessage(): Record<string, unknown> | undefined {
    if (this.size < 4) return undefined;
    const len = ((this.peekByte(0) << 24) | (this.peekByte(1) << 16) | (this.peekByte(2) << 8) | this.peekByte(3)) >>> 0;
    if (len > MAX_REFERENCE_MESSAGE) throw new ReferenceWireError(`reference message of ${len} bytes exceeds the ${MAX_REFERENCE_MESSAGE}-byte limit`);
    if (this.size < 4 + len) return undefined;
    this.take(4);
    return parseMessageBody(this.take(len));
  }

  /** Everything buffered, as raw bytes (empty if nothing). */
  takeRest(): Buffer {
    return this.take(this.size);
  }

  private peekByte(at: number): number {
    for (const c of this.chunks) {
      if (at < c.length) return c[at];
      at -= c.length;
    }
    return 0;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.size -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.size -= n;
    return out;
  }
}
