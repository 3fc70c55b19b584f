import type { KeyObject } from 'node:crypto';
import { aesGcmOpen, aesGcmSealInto, AES_GCM_NONCE_BYTES, AES_GCM_TAG_BYTES } from './aes-gcm.js';
import type { Direction } from './direction.js';
import { ReplayVerdict, ReplayWindow } from './replay-window.js';

/**
 * Wire layout of a sealed datagram (docs/PROTOCOL.md, "Datagram path"):
 *
 *   byte 0      flags: bits 0..3 version (1), bit 4 key epoch parity, bits 5..7 zero
 *   bytes 1..8  packet number, u64 big endian, per sender, from 1, never reused under a key
 *   ...         AES-256-GCM ciphertext, AAD = bytes 0..8
 *   last 16     GCM tag
 *
 * Nonce = u32 BE direction || the 8 packet-number bytes.
 */
export const SEALED_VERSION = 1;
/** Flags byte plus packet number. */
export const SEALED_HEADER_BYTES = 9;
/** Bytes a sealed datagram adds around its plaintext. */
export const SEALED_OVERHEAD_BYTES = SEALED_HEADER_BYTES + AES_GCM_TAG_BYTES;

const VERSION_MASK = 0x0f;
/** Flags bit 4: the low bit of the key epoch the datagram is sealed under. */
export const SEALED_EPOCH_BIT = 0x10;
const EPOCH_BIT = SEALED_EPOCH_BIT;
const RESERVED_BITS = 0xe0;
const TWO_POW_32 = 0x1_0000_0000;
/** Highest upper 32 bits of a packet number that keep it a safe integer (2^53 - 1). */
const MAX_PN_HIGH = 0x1f_ffff;

/** Why open() refused a datagram. */
export const OpenFailure = {
  None: 0,
  /** Too short, wrong version, reserved bits set, packet number 0 or beyond 2^53. */
  Malformed: 1,
  /** Tag mismatch, or a key epoch we hold no key for. */
  Auth: 2,
  /** Duplicate or below the replay window. */
  Replay: 3,
} as const;
export type OpenFailure = (typeof OpenFailure)[keyof typeof OpenFailure];

function writeNonceDirection(nonce: Buffer, direction: Direction): void {
  nonce.writeUInt32BE(direction, 0);
}

/**
 * Seals one direction's datagrams: owns the packet-number counter, which only
 * ever increases (it survives socket renewals because the path keeps the
 * sealer, not the socket).
 */
export class DatagramSealer {
  private nextPn = 1;
  private readonly nonce = Buffer.alloc(AES_GCM_NONCE_BYTES);
  private flags: number;

  /** `epoch` is the key epoch's parity bit (the low bit of the epoch number). */
  constructor(
    private key: KeyObject | Uint8Array,
    direction: Direction,
    epoch: 0 | 1 = 0,
  ) {
    writeNonceDirection(this.nonce, direction);
    this.flags = SEALED_VERSION | (epoch ? EPOCH_BIT : 0);
  }

  /**
   * Seal under a new key epoch from now on. The packet-number counter goes on
   * (numbers never repeat for a sender), so no (key, nonce) pair is ever reused.
   * The caller wipes the old key.
   */
  rekey(key: KeyObject | Uint8Array, epoch: 0 | 1): void {
    this.key = key;
    this.flags = SEALED_VERSION | (epoch ? EPOCH_BIT : 0);
  }

  /** The packet number the next seal will use. */
  get nextPacketNumber(): number {
    return this.nextPn;
  }

  /**
   * Seal in place: `out[offset+9, offset+9+plaintextLength)` holds the
   * plaintext; the header is written at `offset`, the plaintext replaced by
   * its ciphertext and the tag appended. `out` needs
   * `offset + plaintextLength + SEALED_OVERHEAD_BYTES` bytes. Returns the
   * sealed length.
   */
  sealInPlace(out: Buffer, offset: number, plaintextLength: number): number {
    const pn = this.nextPn;
    if (pn > Number.MAX_SAFE_INTEGER) throw new Error('packet numbers exhausted under this key; the session must rekey');
    this.nextPn = pn + 1;
    out[offset] = this.flags;
    out.writeUInt32BE(Math.floor(pn / TWO_POW_32), offset + 1);
    out.writeUInt32BE(pn >>> 0, offset + 5);
    out.copy(this.nonce, 4, offset + 1, offset + SEALED_HEADER_BYTES);
    const bodyAt = offset + SEALED_HEADER_BYTES;
    aesGcmSealInto(
      this.key,
      this.nonce,
      out.subarray(offset, bodyAt),
      out.subarray(bodyAt, bodyAt + plaintextLength),
      out,
      bodyAt,
    );
    return plaintextLength + SEALED_OVERHEAD_BYTES;
  }

  /** Convenience for tests and tools: a new Buffer holding `plaintext` sealed. */
  seal(plaintext: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(plaintext.length + SEALED_OVERHEAD_BYTES);
    out.set(plaintext, SEALED_HEADER_BYTES);
    this.sealInPlace(out, 0, plaintext.length);
    return out;
  }
}

/**
 * Opens the peer direction's datagrams: parses the header, screens the packet
 * number against the replay window, authenticates and decrypts, and only then
 * records the packet number. Failures return null and leave the reason in
 * `failure`; nothing here throws for any input.
 */
export class DatagramOpener {
  /** Reason the last open() returned null (None after a success). */
  failure: OpenFailure = OpenFailure.None;
  /** Packet number of the last datagram that got past parsing. */
  packetNumber = 0;
  /** Whether the last opened datagram carried the highest packet number so far. */
  newest = false;

  private readonly window = new ReplayWindow();
  private readonly nonce = Buffer.alloc(AES_GCM_NONCE_BYTES);
  private readonly epochFlag: number;

  constructor(
    private readonly key: KeyObject | Uint8Array,
    direction: Direction,
    epoch: 0 | 1 = 0,
  ) {
    writeNonceDirection(this.nonce, direction);
    this.epochFlag = epoch ? EPOCH_BIT : 0;
  }

  /** The highest packet number accepted so far (0 before the first). */
  get highestPacketNumber(): number {
    return this.window.highest;
  }

  /** Return the plaintext of an authentic, fresh datagram, or null (see `failure`). */
  open(datagram: Buffer): Buffer | null {
    this.newest = false;
    const length = datagram.length;
    if (length < SEALED_OVERHEAD_BYTES) return this.fail(OpenFailure.Malformed);
    const flags = datagram[0];
    if ((flags & VERSION_MASK) !== SEALED_VERSION || (flags & RESERVED_BITS) !== 0) return this.fail(OpenFailure.Malformed);
    if ((flags & EPOCH_BIT) !== this.epochFlag) return this.fail(OpenFailure.Auth);
    const high = datagram.readUInt32BE(1);
    if (high > MAX_PN_HIGH) return this.fail(OpenFailure.Malformed);
    const pn = high * TWO_POW_32 + datagram.readUInt32BE(5);
    if (pn === 0) return this.fail(OpenFailure.Malformed);
    this.packetNumber = pn;
    if (this.window.check(pn) !== ReplayVerdict.Fresh) return this.fail(OpenFailure.Replay);
    datagram.copy(this.nonce, 4, 1, SEALED_HEADER_BYTES);
    const tagAt = length - AES_GCM_TAG_BYTES;
    const plaintext = aesGcmOpen(
      this.key,
      this.nonce,
      datagram.subarray(0, SEALED_HEADER_BYTES),
      datagram.subarray(SEALED_HEADER_BYTES, tagAt),
      datagram.subarray(tagAt),
    );
    if (plaintext === null) return this.fail(OpenFailure.Auth);
    this.newest = this.window.accept(pn);
    this.failure = OpenFailure.None;
    return plaintext;
  }

  private fail(reason: OpenFailure): null {
    this.failure = reason;
    return null;
  }
}
