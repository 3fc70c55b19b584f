import { MuxProtocolError } from './errors.js';
import { COMMAND_COUNT, CONTROL_PAYLOAD, Command, HEADER_SIZE, MAX_CONTROL_PAYLOAD, MAX_FRAME_PAYLOAD, MUX_VERSION } from './frame.js';

/** Where the decoder delivers what it finds. Calls happen synchronously inside FrameDecoder.push(). */
export interface FrameSink {
  /**
   * A complete frame other than DATA, its length already checked against its
   * command. The payload is `source[offset .. offset + length)`, valid only
   * during the call.
   */
  controlFrame(command: number, streamId: number, source: Buffer, offset: number): void;
  /** A DATA header. Return false to have its payload skipped. */
  dataHeader(streamId: number, length: number): boolean;
  /** Part of the current DATA payload: a view of the input chunk, in order. */
  dataPayload(piece: Buffer): void;
  /** A frame with an unknown command was skipped (forward compatibility). */
  unknownFrame(command: number, streamId: number, length: number): void;
  /** The byte stream cannot be framed any more; every later byte is ignored. */
  framingError(err: MuxProtocolError): void;
}

const HEADER = 0;
const CONTROL = 1;
const DATA = 2;
const SKIP = 3;
const STOPPED = 4;

/**
 * Incremental frame decoder: input may be split or merged anywhere. Its own
 * memory is two fixed scratch buffers (a header and the largest control
 * payload); DATA payloads are handed on as views of the input, never
 * reassembled, so nothing it does allocates in proportion to a length field.
 */
export class FrameDecoder {
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private readonly control = Buffer.alloc(MAX_CONTROL_PAYLOAD);
  private state = HEADER;
  private fill = 0;
  private command = 0;
  private streamId = 0;
  private remaining = 0;

  constructor(private readonly sink: FrameSink) {}

  /** Bytes held in the scratch buffers (a partial header or control payload). */
  get bufferedBytes(): number {
    return this.fill;
  }

  /** True once a framing error happened or stop() was called. */
  get stopped(): boolean {
    return this.state === STOPPED;
  }

  /** Ignore all further input (the owner is going away, possibly mid-chunk). */
  stop(): void {
    this.state = STOPPED;
    this.fill = 0;
  }

  /** Feed the next bytes of the stream. Never throws for any input. */
  push(chunk: Buffer): void {
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      switch (this.state) {
        case HEADER:
          if (this.fill === 0 && end - pos >= HEADER_SIZE) {
            pos += HEADER_SIZE;
            this.begin(chunk, pos - HEADER_SIZE);
          } else {
            const n = Math.min(HEADER_SIZE - this.fill, end - pos);
            chunk.copy(this.header, this.fill, pos, pos + n);
            this.fill += n;
            pos += n;
            if (this.fill < HEADER_SIZE) return;
            this.fill = 0;
            this.begin(this.header, 0);
          }
          break;
        case CONTROL: {
          const length = CONTROL_PAYLOAD[this.command];
          if (this.fill === 0 && end - pos >= length) {
            this.state = HEADER;
            pos += length;
            this.sink.controlFrame(this.command, this.streamId, chunk, pos - length);
          } else {
            const n = Math.min(length - this.fill, end - pos);
            chunk.copy(this.control, this.fill, pos, pos + n);
            this.fill += n;
            pos += n;
            if (this.fill < length) return;
            this.fill = 0;
            this.state = HEADER;
            this.sink.controlFrame(this.command, this.streamId, this.control, 0);
          }
          break;
        }
        case DATA: {
          const n = Math.min(this.remaining, end - pos);
          this.remaining -= n;
          if (this.remaining === 0) this.state = HEADER;
          pos += n;
          this.sink.dataPayload(chunk.subarray(pos - n, pos));
          break;
        }
        case SKIP: {
          const n = Math.min(this.remaining, end - pos);
          this.remaining -= n;
          if (this.remaining === 0) this.state = HEADER;
          pos += n;
          break;
        }
        default:
          return;
      }
    }
  }

  /** Act on a complete header at `h[o .. o + HEADER_SIZE)`. */
  private begin(h: Buffer, o: number): void {
    const version = h[o];
    const command = h[o + 1];
    const length = h.readUInt16BE(o + 2);
    const streamId = h.readUInt32BE(o + 4);
    if (version !== MUX_VERSION) return this.fail(new MuxProtocolError('bad-version', `version ${version}, expected ${MUX_VERSION}`));
    if (length > MAX_FRAME_PAYLOAD) {
      return this.fail(new MuxProtocolError('frame-too-large', `length ${length} exceeds ${MAX_FRAME_PAYLOAD}`, streamId));
    }
    this.command = command;
    this.streamId = streamId;
    if (command >= COMMAND_COUNT) {
      this.remaining = length;
      this.state = length > 0 ? SKIP : HEADER;
      this.sink.unknownFrame(command, streamId, length);
      return;
    }
    if (command === Command.Data) {
      this.remaining = length;
      this.state = HEADER;
      const wanted = this.sink.dataHeader(streamId, length);
      if (length > 0 && this.state === HEADER) this.state = wanted ? DATA : SKIP;
      return;
    }
    const expected = CONTROL_PAYLOAD[command];
    if (length !== expected) {
      return this.fail(new MuxProtocolError('bad-control-length', `command ${command} with length ${length}, expected ${expected}`, streamId));
    }
    if (length > 0) {
      this.state = CONTROL;
      return;
    }
    this.state = HEADER;
    this.sink.controlFrame(command, streamId, h, o);
  }

  private fail(err: MuxProtocolError): void {
    this.stop();
    this.sink.framingError(err);
  }
}
