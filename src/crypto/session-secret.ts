import { randomBytes } from 'node:crypto';

/** Length of the session secret in bytes (256 bits). */
export const SESSION_SECRET_BYTES = 32;

/** Length of the secret's base64url form without padding: ceil(32 * 4 / 3). */
export const SESSION_SECRET_TEXT_LENGTH = 43;

const BASE64URL_43 = /^[A-Za-z0-9_-]{43}$/;

/**
 * A fresh session secret from the operating system's CSPRNG. The server makes
 * one per session and hands it to the client in the bootstrap line.
 */
export function generateSessionSecret(): Buffer {
  return randomBytes(SESSION_SECRET_BYTES);
}

/** Encode a session secret as unpadded base64url for the bootstrap line. Throws RangeError on a wrong length. */
export function encodeSessionSecret(secret: Uint8Array): string {
  if (secret.length !== SESSION_SECRET_BYTES) {
    throw new RangeError(`session secret must be ${SESSION_SECRET_BYTES} bytes, got ${secret.length}`);
  }
  return Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength).toString('base64url');
}

/**
 * Decode the bootstrap line's secret. Throws an Error naming the problem when
 * the text is not exactly 43 base64url characters (32 bytes).
 */
export function decodeSessionSecret(text: string): Buffer {
  const trimmed = text.trim();
  if (!BASE64URL_43.test(trimmed)) {
    throw new Error(
      `session secret must be ${SESSION_SECRET_TEXT_LENGTH} base64url characters (${SESSION_SECRET_BYTES} bytes), ` +
        `got ${trimmed.length} characters${trimmed.length === SESSION_SECRET_TEXT_LENGTH ? ' with invalid ones' : ''}; ` +
        'copy the whole key from the tsshd bootstrap line',
    );
  }
  const secret = Buffer.from(trimmed, 'base64url');
  // 43 characters carry 258 bits; the last 2 must be zero for a canonical 32-byte encoding.
  if (secret.length !== SESSION_SECRET_BYTES || secret.toString('base64url') !== trimmed) {
    throw new Error('session secret is not a canonical base64url encoding of 32 bytes; copy the whole key from the tsshd bootstrap line');
  }
  return secret;
}
