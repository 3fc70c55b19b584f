/**
 * smux v2 frames, as trzsz/smux v1.6 puts them on the KCP byte stream
 * (docs/INTEROP.md "smux"):
 *
 *   offset 0  ver    u8      2
 *          1  cmd    u8      SYN 0 (open), FIN 1 (close), PSH 2 (data), NOP 3, UPD 4 (window update)
 *          2  length u16 LE  PSH: payload bytes; FIN: the close type (0 full, 1 read side, 2 write side), no payload
 *          4  sid    u32 LE  stream id: the client opens odd ids from 3, the server even ids from 2
 *          8  payload        PSH: data; UPD: consumed u32 LE, window u32 LE (always 8 bytes)
 *
 * SmuxFrameDecoder turns stream bytes into frames; it buffers at most one
 * frame (64 KiB) and reports a frame it cannot accept instead of throwing.
 */
export const SMUX_VERSION = 2;
export const SMUX_HEADER = 8;
export const SMUX_UPD_PAYLOAD = 8;

export const enum SmuxCmd {
  Syn = 0,
  Fin = 1,
  Psh = 2,
  Nop = 3,
  Upd = 4,
}

export const enum CloseType {
  Full = 0,
  Read = 1,
  Write = 2,
}

export interface SmuxFrame {
  cmd: SmuxCmd;
  sid: number;
  /** PSH data; UPD's 8 bytes; empty otherwise. */
  data: Buffer;
  /** FIN's close type (the length field). */
  closeType: number;
}

/** Encode a frame header (and copy the payload after it). */
export function encodeSmuxFrame(cmd: SmuxCmd, sid: number, data?: Uint8Array, lengthField?: number): Buffer {
  const len = data?.length ?? 0;
  const out = Buffer.allocUnsafe(SMUX_HEADER + len);
  out[0] = SMUX_VERSION;
  out[1] = cmd;
  out.writeUInt16LE(lengthField ?? len, 2);
  out.writeUInt32LE(sid >>> 0, 4);
  if (data !== undefined) out.set(data, SMUX_HEADER);
  return out;
}

/** A window update: we have consumed `consumed` bytes (mod 2^32) and our window is `window`. */
export function encodeSmuxUpdate(sid: number, consumed: number, window: number): Buffer {
  const out = Buffer.allocUnsafe(SMUX_HEADER + SMUX_UPD_PAYLOAD);
  out[0] = SMUX_VERSION;
  out[1] = SmuxCmd.Upd;
  out.writeUInt16LE(SMUX_UPD_PAYLOAD, 2);
  out.writeUInt32LE(sid >>> 0, 4);
  out.writeUInt32LE(consumed >>> 0, 8);
  out.writeUInt32LE(window >>> 0, 12);
  return out;
}

/** Splits stream bytes into frames. push() returns an error text for a frame no smux v2 peer sends, else null. */
export class SmuxFrameDecoder {
  private pending: Buffer | null = null;

  constructor(private readonly onFrame: (frame: SmuxFrame) => void) {}

  push(chunk: Buffer): string | null {
    let data = chunk;
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let at = 0;
    const end = data.length;
    while (end - at >= SMUX_HEADER) {
      const ver = data[at];
      const cmd = data[at + 1];
      const length = data.readUInt16LE(at + 2);
      const sid = data.readUInt32LE(at + 4);
      if (ver !== SMUX_VERSION) return `smux frame of version ${ver} (expected ${SMUX_VERSION})`;
      let payload = 0;
      if (cmd === SmuxCmd.Psh) payload = length;
      else if (cmd === SmuxCmd.Upd) payload = SMUX_UPD_PAYLOAD;
      else if (cmd > SmuxCmd.Upd) return `smux frame with unknown command ${cmd}`;
      if (end - at < SMUX_HEADER + payload) break;
      const body = data.subarray(at + SMUX_HEADER, at + SMUX_HEADER + payload);
      at += SMUX_HEADER + payload;
      this.onFrame({ cmd: cmd as SmuxCmd, sid, data: body, closeType: cmd === SmuxCmd.Fin ? length : 0 });
    }
    if (at < end) this.pending = Buffer.from(data.subarray(at));
    return null;
  }
}
