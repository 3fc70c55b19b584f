import { Command, HEADER_SIZE, MUX_VERSION } from './frame.js';

/** Write a frame header at `offset` of `target`. */
export function writeHeader(target: Buffer, offset: number, command: number, streamId: number, length: number): void {
  target[offset] = MUX_VERSION;
  target[offset + 1] = command;
  target.writeUInt16BE(length, offset + 2);
  target.writeUInt32BE(streamId, offset + 4);
}

/** A frame with no payload (FIN, RST). */
export function encodeEmpty(command: number, streamId: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE);
  writeHeader(frame, 0, command, streamId, 0);
  return frame;
}

/** SYN: open `streamId` carrying `kind`. */
export function encodeSyn(streamId: number, kind: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE + 1);
  writeHeader(frame, 0, Command.Syn, streamId, 1);
  frame[HEADER_SIZE] = kind;
  return frame;
}

/** A frame whose payload is one u32 (WINDOW_UPDATE, PING, PONG, GOAWAY). */
export function encodeU32(command: number, streamId: number, value: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE + 4);
  writeHeader(frame, 0, command, streamId, 4);
  frame.writeUInt32BE(value >>> 0, HEADER_SIZE);
  return frame;
}

/** A whole frame with an arbitrary payload (tests and tools; the send path frames DATA in place). */
export function encodeFrame(command: number, streamId: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  writeHeader(frame, 0, command, streamId, payload.length);
  frame.set(payload, HEADER_SIZE);
  return frame;
}
