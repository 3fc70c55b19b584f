/**
 * The X11 connection setup request (the first bytes an X client sends), read
 * far enough to check and replace its authorization, as ssh does for X11
 * forwarding: the remote X client presents the fake cookie tsshd registered,
 * and tssh passes the real one on to the local X server.
 *
 * Layout (X Window System Protocol, "Connection Setup"), integers in the
 * byte order named by the first byte ('B' = 0x42 MSB first, 'l' = 0x6c LSB first):
 *
 *   0  1  byte-order          6  2  authorization-protocol-name length n
 *   1  1  unused              8  2  authorization-protocol-data length d
 *   2  2  protocol-major     10  2  unused
 *   4  2  protocol-minor     12  n  name, padded to 4;  then d  data, padded to 4
 */

/** Fixed part of the setup request. */
export const X11_SETUP_FIXED = 12;
/** Longest authorization name or data we accept (real ones are 18 and 16 bytes); more is refused as bad. */
export const MAX_X11_AUTH_FIELD = 1024;

const MSB_FIRST = 0x42; // 'B'
const LSB_FIRST = 0x6c; // 'l'

/** A complete setup request. */
export interface X11Setup {
  littleEndian: boolean;
  major: number;
  minor: number;
  authName: string;
  authData: Buffer;
  /** Bytes the request occupies, padding included; whatever follows is the client's next request. */
  length: number;
}

/** What the bytes so far make of a setup request. */
export type X11SetupResult =
  | { kind: 'incomplete' }
  | { kind: 'bad'; reason: string }
  | { kind: 'ok'; setup: X11Setup };

const pad4 = (n: number): number => (n + 3) & ~3;

/** Read a setup request from the start of `buf` (which may hold only part of it). */
export function parseX11Setup(buf: Buffer): X11SetupResult {
  if (buf.length < 1) return { kind: 'incomplete' };
  const order = buf[0];
  if (order !== MSB_FIRST && order !== LSB_FIRST) {
    return { kind: 'bad', reason: `byte-order byte 0x${order!.toString(16).padStart(2, '0')} is neither 'B' nor 'l'` };
  }
  if (buf.length < X11_SETUP_FIXED) return { kind: 'incomplete' };
  const littleEndian = order === LSB_FIRST;
  const u16 = (at: number): number => (littleEndian ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
  const nameLength = u16(6);
  const dataLength = u16(8);
  if (nameLength > MAX_X11_AUTH_FIELD || dataLength > MAX_X11_AUTH_FIELD) {
    return { kind: 'bad', reason: `authorization of ${nameLength}+${dataLength} bytes is longer than ${MAX_X11_AUTH_FIELD}` };
  }
  const dataAt = X11_SETUP_FIXED + pad4(nameLength);
  const length = dataAt + pad4(dataLength);
  if (buf.length < length) return { kind: 'incomplete' };
  return {
    kind: 'ok',
    setup: {
      littleEndian,
      major: u16(2),
      minor: u16(4),
      authName: buf.toString('latin1', X11_SETUP_FIXED, X11_SETUP_FIXED + nameLength),
      authData: Buffer.from(buf.subarray(dataAt, dataAt + dataLength)),
      length,
    },
  };
}

/** The same setup request with another authorization (name and data), in the client's byte order. */
export function encodeX11Setup(setup: Omit<X11Setup, 'length'>): Buffer {
  const name = Buffer.from(setup.authName, 'latin1');
  const out = Buffer.alloc(X11_SETUP_FIXED + pad4(name.length) + pad4(setup.authData.length));
  const u16 = (value: number, at: number): void => {
    if (setup.littleEndian) out.writeUInt16LE(value, at);
    else out.writeUInt16BE(value, at);
  };
  out[0] = setup.littleEndian ? LSB_FIRST : MSB_FIRST;
  u16(setup.major, 2);
  u16(setup.minor, 4);
  u16(name.length, 6);
  u16(setup.authData.length, 8);
  name.copy(out, X11_SETUP_FIXED);
  setup.authData.copy(out, X11_SETUP_FIXED + pad4(name.length));
  return out;
}

/**
 * The server's "Failed" reply to a setup request, so the X client can say why:
 * byte 0 = 0, byte 1 = reason length, major, minor, length of the padded
 * reason in 4-byte units, then the reason.
 */
export function x11SetupFailure(setup: Pick<X11Setup, 'littleEndian' | 'major' | 'minor'>, reason: string): Buffer {
  const text = Buffer.from(reason.slice(0, 255), 'latin1');
  const out = Buffer.alloc(8 + pad4(text.length));
  const u16 = (value: number, at: number): void => {
    if (setup.littleEndian) out.writeUInt16LE(value, at);
    else out.writeUInt16BE(value, at);
  };
  out[0] = 0;
  out[1] = text.length;
  u16(setup.major, 2);
  u16(setup.minor, 4);
  u16(pad4(text.length) / 4, 6);
  text.copy(out, 8);
  return out;
}
