/**
 * The reference family's address authentication (docs/INTEROP.md "Proxy").
 * Before any KCP or QUIC datagram counts from an address, the client sends an
 * auth packet and the server answers with one:
 *
 *   auth packet = nonce (12 random bytes) || AES-256-GCM(ProxyKey, nonce, no AAD,
 *                 id u64 BE || serial u64 BE) || tag (16)         = 44 bytes
 *
 * The client's id is ServerInfo.ClientID, the server's is ServerInfo.ServerID.
 * The serial grows by one on every new path (socket) the client opens; the
 * server takes a serial only if it is above every serial it took before, and
 * echoes the serial it holds. Over TCP every datagram (auth or data) is
 * framed as u16 BE length || bytes (path/tcp-framing.ts).
 */
import { createCipheriv, createDecipheriv, randomFillSync, type KeyObject } from 'node:crypto';
import { AES_GCM_NONCE_BYTES, AES_GCM_TAG_BYTES } from '../crypto/aes-gcm.js';

/** Size of an auth packet on the wire. */
export const AUTH_PACKET_BYTES = AES_GCM_NONCE_BYTES + 16 + AES_GCM_TAG_BYTES;
/** Datagrams this short are never KCP/QUIC (both carry a 16-byte tag): the client's "path is alive" pokes. */
export const SAFE_TO_DROP_BYTES = 16;

const U64 = (1n << 64n) - 1n;

/** What an auth packet says. */
export interface AuthClaim {
  id: bigint;
  serial: bigint;
}

/** Seal an auth packet for (id, serial). */
export function sealAuthPacket(key: KeyObject | Uint8Array, id: bigint, serial: bigint): Buffer {
  const out = Buffer.allocUnsafe(AUTH_PACKET_BYTES);
  randomFillSync(out, 0, AES_GCM_NONCE_BYTES);
  const plain = Buffer.allocUnsafe(16);
  plain.writeBigUInt64BE(id & U64, 0);
  plain.writeBigUInt64BE(serial & U64, 8);
  const cipher = createCipheriv('aes-256-gcm', key, out.subarray(0, AES_GCM_NONCE_BYTES), { authTagLength: AES_GCM_TAG_BYTES });
  const ct = cipher.update(plain);
  cipher.final();
  ct.copy(out, AES_GCM_NONCE_BYTES);
  cipher.getAuthTag().copy(out, AES_GCM_NONCE_BYTES + 16);
  return out;
}

/** Open an auth packet; null unless it is exactly one, sealed with `key`. Never throws. */
export function openAuthPacket(key: KeyObject | Uint8Array, packet: Uint8Array): AuthClaim | null {
  if (packet.length !== AUTH_PACKET_BYTES) return null;
  const decipher = createDecipheriv('aes-256-gcm', key, packet.subarray(0, AES_GCM_NONCE_BYTES), { authTagLength: AES_GCM_TAG_BYTES });
  decipher.setAuthTag(packet.subarray(AES_GCM_NONCE_BYTES + 16));
  const plain = decipher.update(packet.subarray(AES_GCM_NONCE_BYTES, AES_GCM_NONCE_BYTES + 16));
  try {
    decipher.final();
  } catch {
    return null;
  }
  return { id: plain.readBigUInt64BE(0), serial: plain.readBigUInt64BE(8) };
}

/**
 * The client's side of the serial rule: an answer from `serverId` for our
 * current serial authenticates the path; an answer with a higher serial (the
 * server saw a later path of ours) raises ours and does not.
 */
export class ClientAuthState {
  serial = 0n;

  constructor(
    private readonly key: KeyObject | Uint8Array,
    readonly clientId: bigint,
    private readonly serverId: bigint,
  ) {}

  /** Start a new path: a new serial, and the auth packet to send on it (resend it until answered). */
  nextPath(): Buffer {
    this.serial++;
    return this.packet();
  }

  /** The auth packet for the current serial. */
  packet(): Buffer {
    return sealAuthPacket(this.key, this.clientId, this.serial);
  }

  /** True if `datagram` is the server's answer for the current serial. */
  accepts(datagram: Uint8Array): boolean {
    const claim = openAuthPacket(this.key, datagram);
    if (claim === null || claim.id !== this.serverId) return false;
    if (claim.serial > this.serial) {
      this.serial = claim.serial;
      return false;
    }
    return claim.serial === this.serial;
  }
}
