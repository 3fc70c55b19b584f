/**
 * kcp-go's datagram layout with FEC RS(1,1), as the reference peers use it
 * (docs/INTEROP.md "KCP datagrams"). Inside the AEAD (kcp-cipher.ts):
 *
 *   offset 0  seqid u32 LE   data shards take even ids, parity the odd id after
 *          4  type  u16 LE   0xf1 data, 0xf2 parity, 0xf3 out-of-band
 *          6  size  u16 LE   2 + bytes that follow
 *          8  data shard: KCP segments | parity: a copy of the data shard's size+segments
 *             | OOB: conv u32 LE, then the unreliable datagram
 *
 * With one data shard per group, the parity shard is the data shard again, so
 * a receiver that lost the data shard delivers the parity's segments. We send
 * parity only for small packets (keystrokes, acks): our sending policy, within
 * the format. Ids advance by two per data shard whether or not parity goes out,
 * as kcp-go's decoder expects.
 */
import { KCP_AEAD_OVERHEAD, type ReferenceKcpCipher } from './kcp-cipher.js';

export const FEC_HEADER = 8;
export const FEC_TYPE_DATA = 0xf1;
export const FEC_TYPE_PARITY = 0xf2;
export const FEC_TYPE_OOB = 0xf3;
/** Bytes of framing around KCP segments: nonce, tag and the FEC header. */
export const REFERENCE_KCP_OVERHEAD = KCP_AEAD_OVERHEAD + FEC_HEADER;
/** seqids wrap below this (largest multiple of 2 below 2^32, as kcp-go). */
const PAWS = 0xfffffffe;
/** Data seqids remembered for parity recovery. */
const SEEN_RING = 1024;
/** Default: packets whose segments total at most this many bytes get a parity copy. */
export const DEFAULT_PARITY_MAX_BYTES = 300;

/** What a decoded datagram holds. */
export type DecodedDatagram = { kind: 'kcp'; packet: Buffer } | { kind: 'oob'; conv: number; payload: Buffer };

/** Counters of what was dropped, by reason. */
export interface FramingDrops {
  /** No key opened it (or too short for the AEAD). */
  auth: number;
  /** Opened but malformed (short, bad size, unknown type). */
  malformed: number;
  /** Parity whose data shard had arrived. */
  parityUnneeded: number;
  /** A data shard whose parity (or itself) had arrived. */
  duplicate: number;
}

export interface FramingOptions {
  /** Send a parity copy of packets up to this size (0: never). */
  parityMaxBytes?: number;
}

/** Plaintext of a FEC shard (tests and tools). */
export function encodeShard(seqid: number, type: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FEC_HEADER + body.length);
  out.writeUInt32LE(seqid >>> 0, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE((body.length + 2) & 0xffff, 6);
  out.set(body, FEC_HEADER);
  return out;
}

export class ReferenceKcpFraming {
  readonly drops: FramingDrops = { auth: 0, malformed: 0, parityUnneeded: 0, duplicate: 0 };
  paritySent = 0;
  parityRecovered = 0;
  private next = 0;
  private readonly seen = new Int32Array(SEEN_RING).fill(-1);
  private readonly parityMax: number;

  constructor(
    readonly cipher: ReferenceKcpCipher,
    options: FramingOptions = {},
  ) {
    this.parityMax = options.parityMaxBytes ?? DEFAULT_PARITY_MAX_BYTES;
  }

  /** Datagrams to send for one KCP output packet: the data shard, and its parity copy if it is small. */
  encodeKcp(packet: Uint8Array, out: (datagram: Buffer) => void): void {
    const seqid = this.next;
    this.next = (this.next + 2) % PAWS;
    out(this.cipher.seal(encodeShard(seqid, FEC_TYPE_DATA, packet)));
    if (packet.length <= this.parityMax) {
      this.paritySent++;
      out(this.cipher.seal(encodeShard(seqid + 1, FEC_TYPE_PARITY, packet)));
    }
  }

  /** One out-of-band datagram (unreliable, not acknowledged, no parity). */
  encodeOob(conv: number, payload: Uint8Array): Buffer {
    const body = Buffer.allocUnsafe(4 + payload.length);
    body.writeUInt32LE(conv >>> 0, 0);
    body.set(payload, 4);
    return this.cipher.seal(encodeShard(0xffffffff, FEC_TYPE_OOB, body));
  }

  /** Open and unframe a datagram; null (counted) if it is not one. Never throws. */
  decode(datagram: Uint8Array): DecodedDatagram | null {
    const plain = this.cipher.open(datagram);
    if (plain === null) {
      this.drops.auth++;
      return null;
    }
    return this.unframe(plain);
  }

  /** Unframe an opened datagram (split out for the fuzz tests). */
  unframe(plain: Buffer): DecodedDatagram | null {
    if (plain.length < FEC_HEADER) return this.malformed();
    const seqid = plain.readUInt32LE(0);
    const type = plain.readUInt16LE(4);
    if (type === FEC_TYPE_DATA) {
      const slot = (seqid >>> 1) % SEEN_RING;
      if (this.seen[slot] === (seqid | 0)) {
        // Its parity copy came first (or a duplicate): KCP has the segments already.
        this.drops.duplicate++;
        return null;
      }
      this.seen[slot] = seqid | 0;
      return { kind: 'kcp', packet: plain.subarray(FEC_HEADER) };
    }
    if (type === FEC_TYPE_PARITY) {
      const size = plain.readUInt16LE(6);
      if (size < 2 || FEC_HEADER - 2 + size > plain.length) return this.malformed();
      const dataId = (seqid - 1) | 0;
      const slot = ((seqid - 1) >>> 1) % SEEN_RING;
      if (this.seen[slot] === dataId) {
        this.drops.parityUnneeded++;
        return null;
      }
      this.seen[slot] = dataId;
      this.parityRecovered++;
      return { kind: 'kcp', packet: plain.subarray(FEC_HEADER, FEC_HEADER - 2 + size) };
    }
    if (type === FEC_TYPE_OOB) {
      if (plain.length < FEC_HEADER + 4) return this.malformed();
      return { kind: 'oob', conv: plain.readUInt32LE(FEC_HEADER), payload: plain.subarray(FEC_HEADER + 4) };
    }
    // kcp-go also accepts bare KCP segments (no FEC header); the reference peers never send them.
    return this.malformed();
  }

  private malformed(): null {
    this.drops.malformed++;
    return null;
  }
}
