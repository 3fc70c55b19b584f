/**
 * KCP segment wire format: a 24-byte little-endian header followed by `len`
 * bytes of data, as in reference KCP. Several segments are packed back to back
 * into one output packet of at most `mtu` bytes.
 *
 *   offset 0  conv u32   conversation id; both ends must agree
 *          4  cmd  u8    PUSH (data), ACK, WASK (window probe), WINS (window tell)
 *          5  frg  u8    PUSH: redundant-copy index (0 = original or retransmission);
 *                        ACK: copy index of the PUSH that arrived first | ACK_DUPLICATE
 *          6  wnd  u16   sender's free receive window, in segments
 *          8  ts   u32   PUSH: send time in ms; ACK: the acknowledged PUSH's ts echoed
 *         12  sn   u32   PUSH: sequence number; ACK: the sn acknowledged
 *         16  una  u32   every sn below this has been received (cumulative ack)
 *         20  len  u32   bytes of data that follow (0 for ACK, WASK, WINS)
 */

/** Bytes in a segment header. */
export const SEGMENT_HEADER = 24;

/** Segment commands (values from reference KCP). */
export const enum KcpCommand {
  /** Data. */
  Push = 81,
  /** Selective acknowledgement of one sn (ts echoed for RTT). */
  Ack = 82,
  /** Window probe: "tell me your window" (sent while the peer advertises 0). */
  WindowAsk = 83,
  /** Window tell: answers WASK, or announces a reopened window. */
  WindowTell = 84,
}

/** ACK frg bit: the acknowledged PUSH had already been received (the sender's retransmission was spurious). */
export const ACK_DUPLICATE = 0x80;
/** ACK frg bits holding the copy index of the PUSH that arrived first. */
export const ACK_COPY_MASK = 0x7f;

/** A decoded segment header plus a view of its data (tests and tools; the hot path reads fields in place). */
export interface KcpSegment {
  conv: number;
  cmd: number;
  frg: number;
  wnd: number;
  ts: number;
  sn: number;
  una: number;
  /** Data bytes (a view into the packet, not a copy). */
  data: Buffer;
}

/** Read a little-endian u32 at `o` (caller has checked bounds). */
export function readU32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/** Write a little-endian u32 at `o` (caller has checked bounds). */
export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/**
 * Write one segment header at `o` in `b` (which must have SEGMENT_HEADER bytes
 * free there). The data, if any, is copied by the caller right after it.
 */
export function writeHeader(
  b: Uint8Array,
  o: number,
  conv: number,
  cmd: number,
  frg: number,
  wnd: number,
  ts: number,
  sn: number,
  una: number,
  len: number,
): void {
  writeU32(b, o, conv);
  b[o + 4] = cmd;
  b[o + 5] = frg;
  b[o + 6] = wnd;
  b[o + 7] = wnd >>> 8;
  writeU32(b, o + 8, ts);
  writeU32(b, o + 12, sn);
  writeU32(b, o + 16, una);
  writeU32(b, o + 20, len);
}

/** Encode segments into one packet (tests and tools; Kcp writes straight into its output buffer). */
export function encodeSegments(segments: readonly KcpSegment[]): Buffer {
  let size = 0;
  for (const s of segments) size += SEGMENT_HEADER + s.data.length;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const s of segments) {
    writeHeader(out, o, s.conv, s.cmd, s.frg, s.wnd, s.ts, s.sn, s.una, s.data.length);
    out.set(s.data, o + SEGMENT_HEADER);
    o += SEGMENT_HEADER + s.data.length;
  }
  return out;
}

/**
 * Decode every well-formed segment of a packet. Returns null if any part is
 * malformed (short header, or len running past the end); never throws.
 */
export function decodeSegments(packet: Buffer): KcpSegment[] | null {
  const segments: KcpSegment[] = [];
  let o = 0;
  while (o < packet.length) {
    if (packet.length - o < SEGMENT_HEADER) return null;
    const len = readU32(packet, o + 20);
    if (len > packet.length - o - SEGMENT_HEADER) return null;
    segments.push({
      conv: readU32(packet, o),
      cmd: packet[o + 4],
      frg: packet[o + 5],
      wnd: packet[o + 6] | (packet[o + 7] << 8),
      ts: readU32(packet, o + 8),
      sn: readU32(packet, o + 12),
      una: readU32(packet, o + 16),
      data: packet.subarray(o + SEGMENT_HEADER, o + SEGMENT_HEADER + len),
    });
    o += SEGMENT_HEADER + len;
  }
  return segments;
}
