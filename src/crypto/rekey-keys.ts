import { createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Direction } from './direction.js';
import { deriveDirectionKeyBytes, DIRECTION_KEY_BYTES, hkdfSha256 } from './key-schedule.js';

/**
 * The key schedule across rekeys (docs/REKEY.md). Every key epoch has a
 * 32-byte chain secret and two direction keys, all raw Buffers so they can be
 * wiped (Buffer.fill(0)) the moment they are retired:
 *
 *   epoch 0:    chain_0 = HKDF(session secret, info "tsshd v1 rekey chain")
 *               keys    = HKDF(session secret, direction labels)  (as before rekeying existed)
 *   epoch n+1:  chain_n+1 = HKDF(chain_n || X25519(ephemeral, peer ephemeral),
 *                                info "tsshd v1 rekey chain" || u32 n+1 || client public || server public)
 *               keys      = HKDF(chain_n+1, direction labels)
 */

/** Raw X25519 public key length. */
export const X25519_PUBLIC_KEY_BYTES = 32;

const CHAIN_LABEL = Buffer.from('tsshd v1 rekey chain', 'ascii');
const EMPTY_SALT = Buffer.alloc(0);
/** DER SubjectPublicKeyInfo prefix of an X25519 key (RFC 8410): the raw 32 bytes follow it. */
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** One epoch's secrets: the chain secret the next epoch is derived from, and the two AES-256-GCM keys. */
export interface EpochSecrets {
  chain: Buffer;
  clientToServer: Buffer;
  serverToClient: Buffer;
}

/** Overwrite secret bytes with zeros (null entries are skipped). */
export function wipe(...buffers: Array<Uint8Array | null | undefined>): void {
  for (const b of buffers) b?.fill(0);
}

function epochKeys(material: Uint8Array, chain: Buffer): EpochSecrets {
  return {
    chain,
    clientToServer: deriveDirectionKeyBytes(material, Direction.ClientToServer),
    serverToClient: deriveDirectionKeyBytes(material, Direction.ServerToClient),
  };
}

/** Epoch 0: the direction keys of the session secret (unchanged format) and the first chain secret. */
export function deriveInitialEpoch(secret: Uint8Array): EpochSecrets {
  return epochKeys(secret, hkdfSha256(secret, EMPTY_SALT, CHAIN_LABEL, DIRECTION_KEY_BYTES));
}

/**
 * Epoch `epoch` from the previous chain secret and the X25519 shared secret.
 * The info binds the epoch number and both public keys (client's first).
 * Wipes nothing: the caller retires `chain` and `shared`.
 */
export function deriveNextEpoch(chain: Buffer, shared: Buffer, epoch: number, clientPublic: Buffer, serverPublic: Buffer): EpochSecrets {
  const ikm = Buffer.alloc(chain.length + shared.length);
  chain.copy(ikm, 0);
  shared.copy(ikm, chain.length);
  const info = Buffer.alloc(CHAIN_LABEL.length + 4 + 2 * X25519_PUBLIC_KEY_BYTES);
  CHAIN_LABEL.copy(info, 0);
  info.writeUInt32BE(epoch, CHAIN_LABEL.length);
  clientPublic.copy(info, CHAIN_LABEL.length + 4);
  serverPublic.copy(info, CHAIN_LABEL.length + 4 + X25519_PUBLIC_KEY_BYTES);
  const next = hkdfSha256(ikm, EMPTY_SALT, info, DIRECTION_KEY_BYTES);
  wipe(ikm);
  return epochKeys(next, next);
}

/**
 * A one-use X25519 key pair. The private key is an OpenSSL key object (it
 * cannot be overwritten from JavaScript); dispose() drops the only reference
 * right after the one agreement, and OpenSSL clears it when it is freed.
 */
export class EphemeralKey {
  /** The raw 32-byte public key for the wire. */
  readonly publicKey: Buffer;
  private privateKey: KeyObject | null;

  constructor() {
    const pair = generateKeyPairSync('x25519');
    this.privateKey = pair.privateKey;
    const der = pair.publicKey.export({ format: 'der', type: 'spki' });
    this.publicKey = Buffer.from(der.subarray(der.length - X25519_PUBLIC_KEY_BYTES));
  }

  /**
   * The 32-byte shared secret with the peer's raw public key, or null when the
   * key is unusable (wrong length, a low-order point giving an all-zero
   * secret, or this key already disposed). The caller wipes the result.
   */
  agree(peerPublic: Uint8Array): Buffer | null {
    if (this.privateKey === null || peerPublic.length !== X25519_PUBLIC_KEY_BYTES) return null;
    let shared: Buffer;
    try {
      const der = Buffer.concat([X25519_SPKI_PREFIX, peerPublic]);
      shared = diffieHellman({ privateKey: this.privateKey, publicKey: createPublicKey({ key: der, format: 'der', type: 'spki' }) });
    } catch {
      return null;
    }
    if (shared.every((b) => b === 0)) return null;
    return shared;
  }

  /** Forget the private key. */
  dispose(): void {
    this.privateKey = null;
  }
}
