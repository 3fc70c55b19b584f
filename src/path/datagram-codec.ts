import type { KeyObject } from 'node:crypto';
import { Direction } from '../crypto/direction.js';
import { deriveDirectionKeys } from '../crypto/key-schedule.js';
import { DatagramOpener, DatagramSealer, OpenFailure } from '../crypto/sealed-datagram.js';
import {
  DatagramType,
  INNER_HEADER_AT,
  INNER_HEADER_BYTES,
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
 */
export class DatagramCodec {
  /** RTT from echoed timestamps. */
  readonly rtt = new RttEstimator();
  /** Type of the datagram last returned by open(). */
  type: DatagramType = DatagramType.Data;

  private readonly sealer: DatagramSealer;
  private readonly opener: DatagramOpener;
  private heldTimestamp = -1;
  private heldSinceMs = 0;

  constructor(
    secret: Uint8Array,
    local: 'client' | 'server',
    private readonly drops: PathDrops,
  ) {
    const keys = deriveDirectionKeys(secret);
    const send: [KeyObject, Direction] =
      local === 'client' ? [keys.clientToServer, Direction.ClientToServer] : [keys.serverToClient, Direction.ServerToClient];
    const receive: [KeyObject, Direction] =
      local === 'client' ? [keys.serverToClient, Direction.ServerToClient] : [keys.clientToServer, Direction.ClientToServer];
    this.sealer = new DatagramSealer(send[0], send[1]);
    this.opener = new DatagramOpener(receive[0], receive[1]);
  }

  /** Whether the datagram last opened had the highest packet number so far (only such a datagram may move the peer). */
  get newest(): boolean {
    return this.opener.newest;
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
    return out;
  }

  /**
   * Open a received datagram. Returns its payload (a view of a fresh buffer
   * the caller may keep) and sets `type`, or returns null after counting the
   * reason in `drops`.
   */
  open(datagram: Buffer, nowMs: number): Buffer | null {
    const plaintext = this.opener.open(datagram);
    if (plaintext === null) {
      switch (this.opener.failure) {
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
    if (type !== DatagramType.Data && type !== DatagramType.Keepalive && type !== DatagramType.Goodbye) {
      this.drops.malformed++;
      return null;
    }
    this.type = type;
    this.heldTimestamp = plaintext.readUInt16BE(0);
    this.heldSinceMs = nowMs;
    const echo = plaintext.readUInt16BE(2);
    if (echo !== NO_TIMESTAMP) {
      const sample = (timestamp16(nowMs) - echo) & 0xffff;
      if (sample < MAX_RTT_SAMPLE_MS) this.rtt.addSample(sample);
    }
    return plaintext.subarray(DATA_PLAINTEXT_AT);
  }
}
