import type { Readable } from 'node:stream';
import { ProtocolError } from './messages.js';

/**
 * Message framing on bus, session and stderr streams:
 *
 *   [u32 BE length][length bytes of UTF-8 JSON]
 *
 * Session and stderr streams carry one message (two for a session: request
 * and reply) and then switch to raw bytes; the reader stops after a given
 * number of messages and hands back whatever followed them.
 */

/** Largest JSON payload of one frame, in bytes. */
export const MAX_MESSAGE_SIZE = 64 * 1024;
/** Bytes of the length prefix. */
export const FRAME_HEADER_SIZE = 4;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Frame one message. Throws ProtocolError('oversize') if its JSON exceeds MAX_MESSAGE_SIZE. */
export function encodeMessage(message: object): Buffer {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  if (json.length > MAX_MESSAGE_SIZE) {
    throw new ProtocolError('oversize', `message of ${json.length} bytes exceeds ${MAX_MESSAGE_SIZE}`);
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + json.length);
  frame.writeUInt32BE(json.length, 0);
  json.copy(frame, FRAME_HEADER_SIZE);
  return frame;
}

/**
 * Incremental frame decoder. Feed it chunks as they arrive; it returns the
 * JSON values completed by each chunk (unchecked: run them through a parser
 * from messages.ts). It never holds more than one frame's worth of bytes
 * before the limit is reached, and rejects a length above MAX_MESSAGE_SIZE as
 * soon as the prefix is seen. Once `limit` messages are read, the bytes that
 * followed them are kept for takeRest(). After a ProtocolError the reader is
 * dead and throws the same error again.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private count = 0;
  private failure: ProtocolError | null = null;

  /** @param limit how many messages to read before treating the rest as raw bytes. */
  constructor(private readonly limit = Infinity) {}

  /** True once `limit` messages have been read. */
  get done(): boolean {
    return this.count >= this.limit;
  }

  /** True if bytes of an unfinished frame are waiting (the stream must not end now). */
  get partial(): boolean {
    return !this.done && this.buffered > 0;
  }

  /** Add received bytes; returns the messages they complete. Throws only ProtocolError. */
  push(chunk: Uint8Array): unknown[] {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.buffered += chunk.length;
    }
    const out: unknown[] = [];
    while (!this.done && this.buffered >= FRAME_HEADER_SIZE) {
      const length = this.peekLength();
      if (length > MAX_MESSAGE_SIZE) {
        this.failure = new ProtocolError('oversize', `frame of ${length} bytes exceeds ${MAX_MESSAGE_SIZE}`);
        this.chunks = [];
        this.buffered = 0;
        throw this.failure;
      }
      if (this.buffered < FRAME_HEADER_SIZE + length) break;
      this.take(FRAME_HEADER_SIZE);
      out.push(this.decode(this.take(length)));
      this.count++;
    }
    return out;
  }

  /** The raw bytes received after the last message read (only meaningful once done). Empties the reader. */
  takeRest(): Buffer {
    const rest = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return rest ?? Buffer.alloc(0);
  }

  private decode(payload: Buffer): unknown {
    let text: string;
    try {
      text = utf8.decode(payload);
      return JSON.parse(text);
    } catch {
      this.failure = new ProtocolError('bad-json', 'frame is not UTF-8 JSON');
      this.chunks = [];
      this.buffered = 0;
      throw this.failure;
    }
  }

  private peekLength(): number {
    const first = this.chunks[0];
    if (first.length >= FRAME_HEADER_SIZE) return first.readUInt32BE(0);
    const header = Buffer.alloc(FRAME_HEADER_SIZE);
    let filled = 0;
    for (const c of this.chunks) {
      filled += c.copy(header, filled, 0, Math.min(c.length, FRAME_HEADER_SIZE - filled));
      if (filled === FRAME_HEADER_SIZE) break;
    }
    return header.readUInt32BE(0);
  }

  /** Remove and return the first n buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    // A zero-length frame may leave no chunk at all (it is then refused as bad JSON).
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length >= n) {
      const head = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return head;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const used = c.copy(out, filled, 0, Math.min(c.length, n - filled));
      filled += used;
      if (used === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(used);
    }
    this.buffered -= n;
    return out;
  }
}

/**
 * Read exactly one message from the start of `stream`, then leave the stream
 * paused with any bytes that followed the message put back (unshift), so the
 * caller can pipe it as a raw byte stream. Rejects with ProtocolError on a
 * bad frame or an end before the message, or with the stream's own error.
 */
export function readFirstMessage(stream: Readable): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const reader = new MessageReader(1);
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer | string): void => {
      let messages: unknown[];
      try {
        messages = reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      } catch (err) {
        stream.pause();
        cleanup();
        reject(err);
        return;
      }
      if (!reader.done) return;
      stream.pause();
      cleanup();
      const rest = reader.takeRest();
      if (rest.length > 0) stream.unshift(rest);
      resolve(messages[0]);
    };
    const onEnd = (): void => {
      cleanup();
      reject(new ProtocolError('truncated', 'stream ended before its first message'));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new ProtocolError('truncated', 'stream closed before its first message'));
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}

/**
 * Read messages from `stream` for as long as it lasts (the bus). Each decoded
 * JSON value goes to `onMessage`; a framing error or an end inside a frame
 * goes once to `onError`, after which nothing more is read.
 */
export function readMessages(
  stream: Readable,
  onMessage: (value: unknown) => void,
  onError: (err: ProtocolError) => void,
): void {
  const reader = new MessageReader();
  let failed = false;
  const fail = (err: ProtocolError): void => {
    if (failed) return;
    failed = true;
    stream.off('data', onData);
    stream.resume();
    onError(err);
  };
  const onData = (chunk: Buffer | string): void => {
    let messages: unknown[];
    try {
      messages = reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    } catch (err) {
      fail(err instanceof ProtocolError ? err : new ProtocolError('bad-json', String(err)));
      return;
    }
    for (const m of messages) onMessage(m);
  };
  stream.on('data', onData);
  stream.once('end', () => {
    if (reader.partial) fail(new ProtocolError('truncated', 'stream ended inside a message'));
  });
}
