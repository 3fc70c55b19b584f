import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';

/** AES-256-GCM nonce length in bytes (the 96-bit IV GCM is designed for). */
export const AES_GCM_NONCE_BYTES = 12;
/** Authentication tag length in bytes (full 128 bits). */
export const AES_GCM_TAG_BYTES = 16;

const ALGORITHM = 'aes-256-gcm';
// One shared options object: no allocation per packet, and an explicit tag length so short tags are refused.
const TAG_OPTIONS = { authTagLength: AES_GCM_TAG_BYTES } as const;

/** A key as the sealing primitive takes it: a 32-byte secret KeyObject or the raw bytes. */
export type AesKey = KeyObject | Uint8Array;

/**
 * AES-256-GCM encryption: writes ciphertext || 16-byte tag into `out` at
 * `outOffset` and returns the number of bytes written. `plaintext` may be a
 * view of `out` at the same offset (in-place sealing): node returns the
 * ciphertext in a new buffer, which is copied over it once.
 */
export function aesGcmSealInto(
  key: AesKey,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  outOffset: number,
): number {
  const cipher = createCipheriv(ALGORITHM, key, nonce, TAG_OPTIONS);
  cipher.setAAD(aad);
  const ciphertext = cipher.update(plaintext);
  cipher.final();
  out.set(ciphertext, outOffset);
  const tagAt = outOffset + ciphertext.length;
  out.set(cipher.getAuthTag(), tagAt);
  return ciphertext.length + AES_GCM_TAG_BYTES;
}

/**
 * AES-256-GCM decryption and verification. Returns the plaintext, or null
 * when the tag does not match (wrong key, nonce, AAD, ciphertext or tag).
 * Never throws for bad input of the right shape.
 */
export function aesGcmOpen(
  key: AesKey,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Buffer | null {
  if (tag.length !== AES_GCM_TAG_BYTES) return null;
  const decipher = createDecipheriv(ALGORITHM, key, nonce, TAG_OPTIONS);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const plaintext = decipher.update(ciphertext);
  try {
    decipher.final();
  } catch {
    return null;
  }
  return plaintext;
}
