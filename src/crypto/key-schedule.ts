import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { Direction } from './direction.js';
import { SESSION_SECRET_BYTES } from './session-secret.js';

/** AES-256 key length in bytes. */
export const DIRECTION_KEY_BYTES = 32;

/** HKDF-SHA256 "info" labels, one per direction; the version in them lets a later format derive unrelated keys. */
export const KEY_LABELS: Readonly<Record<Direction, string>> = {
  [Direction.ClientToServer]: 'tsshd v1 datagram key client->server',
  [Direction.ServerToClient]: 'tsshd v1 datagram key server->client',
};

/** HKDF salt: empty, as RFC 5869 allows when the input key material is already uniformly random. */
const SALT = Buffer.alloc(0);

/** The raw 32-byte AES-256-GCM key for one direction, derived with HKDF-SHA256 from the session secret. */
export function deriveDirectionKeyBytes(secret: Uint8Array, direction: Direction): Buffer {
  if (secret.length !== SESSION_SECRET_BYTES) {
    throw new RangeError(`session secret must be ${SESSION_SECRET_BYTES} bytes, got ${secret.length}`);
  }
  return hkdfSha256(secret, SALT, KEY_LABELS[direction], DIRECTION_KEY_BYTES);
}

/** Both directions' keys as KeyObjects (what the sealing primitive takes). */
export interface DirectionKeys {
  clientToServer: KeyObject;
  serverToClient: KeyObject;
}

/** Derive the client->server and server->client keys from the session secret. */
export function deriveDirectionKeys(secret: Uint8Array): DirectionKeys {
  return {
    clientToServer: createSecretKey(deriveDirectionKeyBytes(secret, Direction.ClientToServer)),
    serverToClient: createSecretKey(deriveDirectionKeyBytes(secret, Direction.ServerToClient)),
  };
}

/** HKDF-SHA256 (RFC 5869) as a Buffer: the primitive behind the key schedule, exposed for its known-answer test. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array | string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}
