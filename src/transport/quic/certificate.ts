/**
 * Per-session TLS identity for QUIC: a fresh ECDSA P-256 key and a
 * self-signed certificate made with node:crypto and a minimal DER builder
 * (no openssl at run time). The client does not trust it by a CA but by its
 * SHA-256 fingerprint, which travels in the bootstrap line over SSH.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, timingSafeEqual, X509Certificate } from 'node:crypto';
import { bitString, DerTag, oid, sequence, tlv, unsignedInteger, utf8String, x509Time } from './der.js';

/** The server's QUIC identity for one session. */
export interface QuicCredentials {
  /** Certificate, PEM. */
  certPem: string;
  /** PKCS#8 private key, PEM. Never leaves the server. */
  keyPem: string;
  /** SHA-256 of the certificate's DER, lowercase hex: what the bootstrap carries and the client pins. */
  fingerprint: string;
}

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
/** Pinning makes expiry meaningless, but a certificate must carry one; a session outlives any sensible short value. */
const VALIDITY_DAYS = 3650;
const DAY_MS = 86_400_000;

/** SHA-256 fingerprint of a DER certificate, lowercase hex. */
export function certificateFingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/**
 * Make a fresh key and self-signed certificate. `commonName` is only a label
 * (nobody checks names: the pin is the identity). Takes about a millisecond.
 */
export function createQuicCredentials(commonName = 'tsshd'): QuicCredentials {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signatureAlgorithm = sequence(oid(OID_ECDSA_WITH_SHA256));
  const name = sequence(tlv(DerTag.Set, sequence(oid(OID_COMMON_NAME), utf8String(commonName))));
  const now = Date.now();
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // positive, at most 20 octets (RFC 5280 4.1.2.2)
  const basicConstraints = sequence(oid(OID_BASIC_CONSTRAINTS), tlv(0x04, sequence())); // critical omitted; cA FALSE is the default
  const tbs = sequence(
    tlv(DerTag.Context0, unsignedInteger(Buffer.from([2]))), // v3
    unsignedInteger(serial),
    signatureAlgorithm,
    name,
    sequence(x509Time(new Date(now - DAY_MS)), x509Time(new Date(now + VALIDITY_DAYS * DAY_MS))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(DerTag.Context3, sequence(basicConstraints)),
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const der = sequence(tbs, signatureAlgorithm, bitString(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END CERTIFICATE-----\n`;
  // Parse it back once: a malformed builder must fail here, not in the TLS handshake.
  const parsed = new X509Certificate(certPem);
  if (!parsed.verify(publicKey)) throw new Error('self-signed QUIC certificate does not verify');
  return {
    certPem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    fingerprint: certificateFingerprint(der),
  };
}

/** Decode a pin given as hex (colons allowed) or base64/base64url; null if it is neither 32 bytes long. */
export function decodeFingerprint(pin: string): Buffer | null {
  const hex = pin.replace(/:/g, '');
  if (/^[0-9a-fA-F]{64}$/.test(hex)) return Buffer.from(hex, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(pin)) {
    const bytes = Buffer.from(pin.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.length === 32) return bytes;
  }
  return null;
}

/** Whether the DER certificate's SHA-256 equals one of the pins (constant time per pin). */
export function matchesPin(der: Uint8Array, pins: readonly string[]): boolean {
  const digest = createHash('sha256').update(der).digest();
  let ok = false;
  for (const pin of pins) {
    const want = decodeFingerprint(pin);
    if (want !== null && timingSafeEqual(want, digest)) ok = true;
  }
  return ok;
}
