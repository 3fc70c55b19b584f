import { SEALED_HEADER_BYTES, SEALED_OVERHEAD_BYTES } from '../crypto/sealed-datagram.js';

/**
 * The sealed plaintext of a path datagram (docs/PROTOCOL.md, "Datagram path"):
 *
 *   u16 BE  sender timestamp, ms mod 65536 (never 0xFFFF)
 *   u16 BE  echoed timestamp, 0xFFFF = none
 *   u8      type (DatagramType)
 *   ...     payload
 */
export const DatagramType = {
  /** Payload for the transport above. */
  Data: 0,
  /** Empty; a client keepalive is answered with a keepalive. */
  Keepalive: 1,
  /** Payload: UTF-8 reason; the receiving path closes. */
  Goodbye: 2,
  /** Payload: u32 new key epoch, 32-byte X25519 public key; asks the peer to rekey (docs/REKEY.md). */
  RekeyInit: 3,
  /** Payload: u32 new key epoch, 32-byte X25519 public key; answers a RekeyInit. */
  RekeyReply: 4,
  /** Payload: u32 new key epoch; sealed under the new epoch, tells the responder to switch. */
  RekeyConfirm: 5,
  /** Server to client, payload: 8 random bytes; sent to an address not yet validated (address-validation.ts). */
  PathChallenge: 6,
  /** Client to server, payload: the 8 bytes of a PathChallenge, answered at once; validates the address it comes from. */
  PathResponse: 7,
} as const;
export type DatagramType = (typeof DatagramType)[keyof typeof DatagramType];
/** The highest DatagramType; a higher type byte is malformed. */
export const LAST_DATAGRAM_TYPE = DatagramType.PathResponse;

/** Timestamp, echo and type before the payload. */
export const INNER_HEADER_BYTES = 5;
/** Where the inner header starts in a sealed datagram. */
export const INNER_HEADER_AT = SEALED_HEADER_BYTES;
/** Everything a path datagram adds to its payload: 9 header + 5 inner header + 16 tag = 30 bytes. */
export const PATH_OVERHEAD_BYTES = SEALED_OVERHEAD_BYTES + INNER_HEADER_BYTES;
/** Echo value meaning "nothing to echo". */
export const NO_TIMESTAMP = 0xffff;
/** Smallest valid path datagram (an empty keepalive). */
export const MIN_PATH_DATAGRAM_BYTES = PATH_OVERHEAD_BYTES;

/** A clock reading in ms as the 16-bit wire timestamp; 0xFFFF is reserved for "none" and becomes 0. */
export function timestamp16(ms: number): number {
  const ts = ms & 0xffff;
  return ts === NO_TIMESTAMP ? 0 : ts;
}
