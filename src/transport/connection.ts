import type { Duplex } from 'node:stream';
import type { EventEmitter } from 'node:events';

/**
 * The transport contract that KCP (with our multiplexer) and QUIC both
 * implement. The layers above (sessions, forwards) use only this, and the
 * transport test suite is written against it so it runs against both.
 */

/** A reliable, ordered, flow-controlled byte stream with half-close (end() sends FIN). */
export interface Stream extends Duplex {
  /** Stream id, unique within the connection. */
  readonly id: number;
  /** What the stream carries, as the protocol layer numbers it (session, stderr, forward, ...). */
  readonly kind: number;
  /** Abort both directions at once; the peer's stream errors with StreamResetError. */
  reset(): void;
}

export interface TransportStats {
  /** Latest, smoothed RTT and its variance, in ms (NaN before a sample). */
  rttMs: number;
  srttMs: number;
  rttVarMs: number;
  bytesSent: number;
  bytesReceived: number;
  datagramsSent: number;
  datagramsReceived: number;
  retransmissions: number;
  streamsOpen: number;
  streamsOpenedTotal: number;
}

/**
 * Events:
 *  - 'stream'   (stream: Stream)                        the peer opened a stream
 *  - 'datagram' (channel: number, payload: Buffer)      an unreliable datagram arrived
 *  - 'close'    (err?: Error)                           the connection ended
 */
export interface Connection extends EventEmitter {
  /** Largest payload sendDatagram() accepts on any channel (it may grow once, with the path's budget: PROTOCOL.md "Datagram size"). */
  readonly maxDatagramSize: number;
  /** Open a stream of the given kind (0..255). Writes are buffered until the peer grants window. */
  openStream(kind: number): Stream;
  /**
   * Send an unreliable datagram on a channel (0..65535): delivered whole or not
   * at all, never corrupted or duplicated. Throws DatagramTooLargeError when
   * payload.length > maxDatagramSize.
   */
  sendDatagram(channel: number, payload: Uint8Array): void;
  /** Graceful close: flush what was written, then end. */
  close(): Promise<void>;
  /** Immediate close; open streams error with `err` if given. */
  destroy(err?: Error): void;
  stats(): TransportStats;
}

export class DatagramTooLargeError extends RangeError {
  constructor(readonly size: number, readonly max: number) {
    super(`datagram of ${size} bytes exceeds the path's limit of ${max} bytes`);
    this.name = 'DatagramTooLargeError';
  }
}

export class StreamResetError extends Error {
  constructor(readonly streamId: number) {
    super(`stream ${streamId} was reset by the peer`);
    this.name = 'StreamResetError';
  }
}
