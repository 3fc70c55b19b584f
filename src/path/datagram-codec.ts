import { Direction } from '../crypto/direction.js';
import { deriveInitialEpoch, type EpochSecrets } from '../crypto/rekey-keys.js';
import { DatagramOpener, DatagramSealer, OpenFailure, SEALED_EPOCH_BIT } from '../crypto/sealed-datagram.js';
import {
  DatagramType,
  INNER_HEADER_AT,
  INNER_HEADER_BYTES,
  LAST_DATAGRAM_TYPE,
  NO_TIMESTAMP,
  PATH_OVERHEAD_BYTES,
  timestamp16,
} from './datagram-format.js';
import type { PathDrops } from './path-stats.js';
import { RttEstimator } from './rtt-estimator.js';

/** An echo is only worth sending this soon after the timestamp arrived (mosh's rule). */
const ECHO_HOLD_LIMIT_MS = 1000;
/** RTT samples above this are stale echoes, not round trips (mosh's rule). */
const MAX_RTT_SAMPLE_MS = 5000;
const DATA_PLAINTEXT_AT = INNER_HEADER_BYTES;

/**
 * One endpoint's view of the path datagram format: seals outgoing
 * [timestamp][echo][type][payload] datagrams under this side's key and opens
 * the peer's, counting every refusal in `drops`. It also runs the mosh-style
 * timestamp echo: the last timestamp received is echoed once (plus the time
 * it was held) in the next datagram sent within a second, and echoes that come
 * back give RTT samples.
 *
 * Key epochs (docs/REKEY.md): it seals under one epoch's key and opens under
 * up to two (the current one and, during a rekey, the next or the previous),
 * chosen by the datagram's epoch bit; each has its own replay window. The
 * Rekeyer decides when keys change; the codec only holds them.
 */
export class DatagramCodec {
  /** RTT from echoed timestamps. */
  readonly rtt = new RttEstimator();
  /** Type of the datagram last returned by open(). */
  type: DatagramType = DatagramType.Data;
  /** Key epoch of the datagram last returned by open(). */
  epoch = 0;
  /**
   * Whether the datagram last opened had the highest packet number so far, in
   * any epoch (a sender's numbers go on across epochs). Only such a datagram may move the peer.
   */
  newest = false;
  /** Epoch 0's secrets, derived from the session secret; the path's Rekeyer takes them over (and wipes them). */
  readonly initialSecrets: EpochSecrets;
  /** Plaintext bytes sealed, and opened, since the last switchSendKey(). */
  bytesSealed = 0;
  bytesOpened = 0;
  /** Either byte count reaching this calls onByteLimit (once per send key). */
  byteLimit = Infinity;
  onByteLimit: (() => void) | null = null;

  private readonly sealer: DatagramSealer;
  /** Openers by epoch parity, and the full epoch number each stands for (-1: none). */
  private readonly openers: [DatagramOpener | null, DatagramOpener | null] = [null, null];
  private readonly openerEpochs = [-1, -1];
  private readonly receiveDirection: Direction;
  private highestPacketNumber = 0;
  private byteLimitSignalled = false;
  private heldTimestamp = -1;
  private heldSinceMs = 0;

  constructor(
    secret: Uint8Array,
    local: 'client' | 'server',
    private readonly drops: PathDrops,
  ) {
    const keys = deriveInitialEpoch(secret);
    this.initialSecrets = keys;
    const client = local === 'client';
    this.receiveDirection = client ? Direction.ServerToClient : Direction.ClientToServer;
    this.sealer = new DatagramSealer(client ? keys.clientToServer : keys.serverToClient, client ? Direction.ClientToServer : Direction.ServerToClient);
    this.installReceiveKey(0, client ? keys.serverToClient : keys.clientToServer);
  }

  /** Open datagrams of key epoch `epoch` with `key` (replacing whatever held the same epoch bit). */
  installReceiveKey(epoch: number, key: Buffer): void {
    const parity = epoch & 1;
    this.openers[parity] = new DatagramOpener(key, this.receiveDirection, parity as 0 | 1);
    this.openerEpochs[parity] = epoch;
  }

  /** Stop opening datagrams of key epoch `epoch` (they fail authentication from now on). */
  dropReceiveKey(epoch: number): void {
    const parity = epoch & 1;
    if (this.openerEpochs[parity] !== epoch) return;
    this.openers[parity] = null;
    this.openerEpochs[parity] = -1;
  }

  /** Seal under key epoch `epoch` from now on; the packet numbers go on. Restarts the byte counts. */
  switchSendKey(epoch: number, key: Buffer): void {
    this.sealer.rekey(key, (epoch & 1) as 0 | 1);
    this.bytesSealed = 0;
    this.bytesOpened = 0;
    this.byteLimitSignalled = false;
  }

  /** The packet number the next sealed datagram will carry. */
  get nextPacketNumber(): number {
    return this.sealer.nextPacketNumber;
  }

  /**
   * Seal one datagram into a new Buffer with `headroom` spare bytes in front
   * (for a TCP length prefix). `payload` is copied; the caller may reuse it.
   */
  seal(type: DatagramType, payload: Uint8Array | null, headroom: number, nowMs: number): Buffer {
    const payloadLength = payload === null ? 0 : payload.length;
    const out = Buffer.allocUnsafe(headroom + PATH_OVERHEAD_BYTES + payloadLength);
    const at = headroom + INNER_HEADER_AT;
    out.writeUInt16BE(timestamp16(nowMs), at);
    let echo = NO_TIMESTAMP;
    if (this.heldTimestamp >= 0) {
      const heldMs = nowMs - this.heldSinceMs;
      if (heldMs < ECHO_HOLD_LIMIT_MS) echo = timestamp16(this.heldTimestamp + heldMs);
      this.heldTimestamp = -1;
    }
    out.writeUInt16BE(echo, at + 2);
    out[at + 4] = type;
    if (payload !== null) out.set(payload, at + INNER_HEADER_BYTES);
    this.sealer.sealInPlace(out, headroom, INNER_HEADER_BYTES + payloadLength);
    this.bytesSealed += payloadLength;
    if (this.bytesSealed >= this.byteLimit) this.signalByteLimit();
    return out;
  }

  /**
   * Open a received datagram. Returns its payload (a view of a fresh buffer
   * the caller may keep) and sets `type`, or returns null after counting the
   * reason in `drops`.
   */
  open(datagram: Buffer, nowMs: number): Buffer | null {
    this.newest = false;
    const parity = datagram.length > 0 ? (datagram[0] & SEALED_EPOCH_BIT) >>> 4 : 0;
    // No key for that epoch bit: any opener refuses it with the right reason (malformed, or auth for the epoch).
    const opener = (this.openers[parity] ?? this.openers[parity ^ 1]) as DatagramOpener;
    const plaintext = opener.open(datagram);
    if (plaintext === null) {
      switch (opener.failure) {
        case OpenFailure.Replay:
          this.drops.replay++;
          break;
        case OpenFailure.Auth:
          this.drops.auth++;
          break;
        default:
          this.drops.malformed++;
      }
      return null;
    }
    if (plaintext.length < INNER_HEADER_BYTES) {
      this.drops.malformed++;
      return null;
    }
    const type = plaintext[4];
    if (type > LAST_DATAGRAM_TYPE) {
      this.drops.malformed++;
      return null;
    }
    this.type = type as DatagramType;
    this.epoch = this.openerEpochs[parity];
    const pn = opener.packetNumber;
    if (pn > this.highestPacketNumber) {
      this.highestPacketNumber = pn;
      this.newest = true;
    }
    this.bytesOpened += plaintext.length - INNER_HEADER_BYTES;
    if (this.bytesOpened >= this.byteLimit) this.signalByteLimit();
    this.heldTimestamp = plaintext.readUInt16BE(0);
    this.heldSinceMs = nowMs;
    const echo = plaintext.readUInt16BE(2);
    if (echo !== NO_TIMESTAMP) {
      const sample = (timestamp16(nowMs) - echo) & 0xffff;
      if (sample < MAX_RTT_SAMPLE_MS) this.rtt.addSample(sample);
    }
    return plaintext.subarray(DATA_PLAINTEXT_AT);
  }

  private signalByteLimit(): void {
    if (this.byteLimitSignalled) return;
    this.byteLimitSignalled = true;
    this.onByteLimit?.();
  }
}
