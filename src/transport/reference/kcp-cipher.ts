/**
 * The AEAD of the reference KCP framing (docs/INTEROP.md "KCP datagrams"):
 * AES-256-GCM with a random 12-byte nonce in front of each datagram and no
 * AAD. Traffic keys come from HKDF-SHA384(secret, salt = ServerInfo.Salt,
 * no info), 32 bytes; the first secret is ServerInfo.Pass, later ones are
 * P-256 ECDH results of a rekey on the bus.
 *
 * Keys rotate as in the reference: the receiver tries its keys oldest first
 * and, when a newer one opens a datagram, forgets the older ones and sends
 * with the newer from then on. The client makes a new key active as soon as
 * it has it; the server keeps sending with the old one until the client's
 * first datagram under the new key arrives.
 */
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomFillSync, type KeyObject } from 'node:crypto';
import { AES_GCM_NONCE_BYTES, AES_GCM_TAG_BYTES } from '../../crypto/aes-gcm.js';

/** Bytes the AEAD adds to a datagram. */
export const KCP_AEAD_OVERHEAD = AES_GCM_NONCE_BYTES + AES_GCM_TAG_BYTES;
/** Keys kept at once (the active one and those not yet proven stale); more are never needed by a well-behaved peer. */
const MAX_KEYS = 4;
const TAG_OPTIONS = { authTagLength: AES_GCM_TAG_BYTES } as const;

/** Derive a traffic key from a secret and the session salt. */
export function deriveTrafficKey(secret: Uint8Array, salt: Uint8Array): KeyObject {
  return createSecretKey(Buffer.from(hkdfSync('sha384', secret, salt, Buffer.alloc(0), 32)));
}

export class ReferenceKcpCipher {
  private keys: KeyObject[];
  private active = 0;
  /** Datagrams opened with each key generation, and those no key opened. */
  opened = 0;
  failed = 0;

  constructor(
    pass: Uint8Array,
    private readonly salt: Uint8Array,
  ) {
    this.keys = [deriveTrafficKey(pass, salt)];
  }

  /** Number of keys held (tests). */
  get keyCount(): number {
    return this.keys.length;
  }

  /** Install a key from a rekey secret; `activate` makes it the sending key at once (the client's rule). */
  install(secret: Uint8Array, activate: boolean): void {
    this.keys.push(deriveTrafficKey(secret, this.salt));
    if (this.keys.length > MAX_KEYS) {
      this.keys.shift();
      this.active = Math.max(0, this.active - 1);
    }
    if (activate) this.active = this.keys.length - 1;
  }

  /** Seal `plaintext` into a new datagram: nonce || ciphertext || tag. */
  seal(plaintext: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(AES_GCM_NONCE_BYTES + plaintext.length + AES_GCM_TAG_BYTES);
    randomFillSync(out, 0, AES_GCM_NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys[this.active], out.subarray(0, AES_GCM_NONCE_BYTES), TAG_OPTIONS);
    const ct = cipher.update(plaintext);
    cipher.final();
    ct.copy(out, AES_GCM_NONCE_BYTES);
    cipher.getAuthTag().copy(out, AES_GCM_NONCE_BYTES + ct.length);
    return out;
  }

  /** Open a datagram; null if no key opens it. Never throws. */
  open(datagram: Uint8Array): Buffer | null {
    if (datagram.length < KCP_AEAD_OVERHEAD) {
      this.failed++;
      return null;
    }
    const nonce = datagram.subarray(0, AES_GCM_NONCE_BYTES);
    const body = datagram.subarray(AES_GCM_NONCE_BYTES, datagram.length - AES_GCM_TAG_BYTES);
    const tag = datagram.subarray(datagram.length - AES_GCM_TAG_BYTES);
    for (let i = 0; i < this.keys.length; i++) {
      const decipher = createDecipheriv('aes-256-gcm', this.keys[i], nonce, TAG_OPTIONS);
      decipher.setAuthTag(tag);
      const plain = decipher.update(body);
      try {
        decipher.final();
      } catch {
        continue;
      }
      if (i > 0) {
        // The peer uses a newer key: the older ones are done with.
        this.keys = this.keys.slice(i);
        this.active = 0;
      }
      this.opened++;
      return plain;
    }
    this.failed++;
    return null;
  }
}
