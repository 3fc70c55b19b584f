/**
 * OpenSSH's connection-multiplexing control protocol (PROTOCOL.mux in
 * OpenSSH's source), version 4, as far as a tssh master serves it: the
 * messages `ssh -O check|exit|stop|forward|cancel` send, and the session
 * requests it refuses. Every message travels as `uint32 length` then the
 * body, which starts with `uint32 type`; strings are SSH strings (`uint32
 * length` + bytes), flags one byte.
 */

export const MUX_VERSION = 4;

export const MUX_MSG_HELLO = 0x00000001;
export const MUX_C_NEW_SESSION = 0x10000002;
export const MUX_C_ALIVE_CHECK = 0x10000004;
export const MUX_C_TERMINATE = 0x10000005;
export const MUX_C_OPEN_FWD = 0x10000006;
export const MUX_C_CLOSE_FWD = 0x10000007;
export const MUX_C_NEW_STDIO_FWD = 0x10000008;
export const MUX_C_STOP_LISTENING = 0x10000009;
export const MUX_C_PROXY = 0x1000000f;
export const MUX_S_OK = 0x80000001;
export const MUX_S_PERMISSION_DENIED = 0x80000002;
export const MUX_S_FAILURE = 0x80000003;
export const MUX_S_ALIVE = 0x80000005;
export const MUX_S_REMOTE_PORT = 0x80000007;

/** Forwarding types in MUX_C_OPEN_FWD / MUX_C_CLOSE_FWD. */
export const MUX_FWD_LOCAL = 1;
export const MUX_FWD_REMOTE = 2;
export const MUX_FWD_DYNAMIC = 3;

/** A port of (uint32)-2 says the host field is a Unix socket path. */
export const MUX_PORT_STREAMLOCAL = 0xfffffffe;

/** Control messages are small; a bigger length is not a client of ours (ssh caps them at 256 KiB). */
export const MAX_MUX_PACKET = 256 * 1024;

/** A message that does not parse; the connection is dropped. */
export class MuxProtocolError extends Error {
  override name = 'MuxProtocolError';
}

/** Reads the fields of one message body in order. */
export class MuxReader {
  private at = 0;
  constructor(private readonly body: Buffer) {}

  u32(): number {
    if (this.at + 4 > this.body.length) throw new MuxProtocolError('message too short');
    const v = this.body.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  bool(): boolean {
    if (this.at + 1 > this.body.length) throw new MuxProtocolError('message too short');
    return this.body[this.at++] !== 0;
  }

  string(): string {
    const length = this.u32();
    if (this.at + length > this.body.length) throw new MuxProtocolError('string runs past the message');
    const s = this.body.toString('utf8', this.at, this.at + length);
    this.at += length;
    return s;
  }

  get done(): boolean {
    return this.at >= this.body.length;
  }
}

/** One framed message: `uint32 length`, then the fields (numbers as uint32, strings as SSH strings). */
export function muxPacket(...fields: Array<number | string>): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    if (typeof field === 'number') {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(field >>> 0);
      parts.push(b);
    } else {
      const s = Buffer.from(field, 'utf8');
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(s.length);
      parts.push(b, s);
    }
  }
  const body = Buffer.concat(parts);
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

/** Splits a byte stream into message bodies; throws MuxProtocolError for an oversized length. */
export class MuxFramer {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    while (this.pending.length >= 4) {
      const length = this.pending.readUInt32BE(0);
      if (length > MAX_MUX_PACKET || length < 4) throw new MuxProtocolError(`bad message length ${length}`);
      if (this.pending.length < 4 + length) break;
      out.push(this.pending.subarray(4, 4 + length));
      this.pending = this.pending.subarray(4 + length);
    }
    return out;
  }
}

/** A forward as MUX_C_OPEN_FWD / MUX_C_CLOSE_FWD describe it. */
export interface MuxForward {
  type: number;
  listenHost: string;
  listenPort: number;
  connectHost: string;
  connectPort: number;
}

/** The forward fields after the request id. */
export function readMuxForward(r: MuxReader): MuxForward {
  return { type: r.u32(), listenHost: r.string(), listenPort: r.u32(), connectHost: r.string(), connectPort: r.u32() };
}
