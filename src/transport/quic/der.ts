/**
 * The little DER (ASN.1 distinguished encoding) that a self-signed X.509
 * certificate needs: definite lengths, INTEGER, OID, strings, times, and
 * constructed SEQUENCE/SET/context tags. Encoding only; node:crypto parses.
 */

/** Universal and context tags used by certificate.ts. */
export const DerTag = {
  Integer: 0x02,
  BitString: 0x03,
  Null: 0x05,
  Oid: 0x06,
  Utf8String: 0x0c,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  Sequence: 0x30,
  Set: 0x31,
  /** [0] EXPLICIT, constructed (the certificate's version). */
  Context0: 0xa0,
  /** [3] EXPLICIT, constructed (the certificate's extensions). */
  Context3: 0xa3,
} as const;

function lengthBytes(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One tag-length-value element around already-encoded content. */
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export function sequence(...items: Uint8Array[]): Buffer {
  return tlv(DerTag.Sequence, ...items);
}

/** A non-negative INTEGER from big-endian magnitude bytes (a 0x00 is prepended when the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const body = trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : Buffer.from(trimmed);
  return tlv(DerTag.Integer, body);
}

/** An OBJECT IDENTIFIER from dotted form, e.g. "2.5.4.3". */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => Number(a));
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new RangeError(`bad OID ${dotted}`);
  const bytes: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const groups: number[] = [];
    for (let n = arc; ; n = Math.floor(n / 128)) {
      groups.unshift(n % 128);
      if (n < 128) break;
    }
    for (let i = 0; i < groups.length - 1; i++) groups[i]! |= 0x80;
    bytes.push(...groups);
  }
  return tlv(DerTag.Oid, Buffer.from(bytes));
}

export function utf8String(text: string): Buffer {
  return tlv(DerTag.Utf8String, Buffer.from(text, 'utf8'));
}

/** A BIT STRING of whole bytes (no unused bits). */
export function bitString(bytes: Uint8Array): Buffer {
  return tlv(DerTag.BitString, Buffer.from([0]), bytes);
}

/** X.509 time: UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5), to whole seconds. */
export function x509Time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new RangeError(`certificate time ${iso} is out of range`);
  return year < 2050 ? tlv(DerTag.UtcTime, Buffer.from(`${digits.slice(2)}Z`, 'latin1')) : tlv(DerTag.GeneralizedTime, Buffer.from(`${digits}Z`, 'latin1'));
}
