import type { RateSnapshot } from './rate-control.js';

/** Why an input packet (or the rest of it) was dropped. */
export type KcpDropReason =
  /** Shorter than a header, or trailing bytes too few for one. */
  | 'short'
  /** conv differs from ours. */
  | 'conv'
  /** Unknown cmd. */
  | 'cmd'
  /** len runs past the end of the packet. */
  | 'length'
  /** PUSH sn at or beyond the receive window. */
  | 'window'
  /** ACK for an sn never sent, or una beyond what was sent. */
  | 'ack'
  /** Input after close(). */
  | 'closed';

/** Counters and estimates of one Kcp (a snapshot). */
export interface KcpStats {
  /** Latest RTT sample, smoothed RTT and its variance, in ms (NaN before the first sample). */
  rttMs: number;
  srttMs: number;
  rttVarMs: number;
  /** Current retransmission timeout for new segments, in ms. */
  rtoMs: number;
  /** Output packets and their bytes (redundant copies included). */
  packetsSent: number;
  bytesSent: number;
  /** Input packets and their bytes (dropped ones included). */
  packetsReceived: number;
  bytesReceived: number;
  /** PUSH segments sent for the first time / accepted for the first time. */
  segmentsSent: number;
  segmentsReceived: number;
  /** Application bytes sent for the first time / delivered in order to onData (or queued while paused). */
  dataBytesSent: number;
  dataBytesReceived: number;
  /** All retransmitted segments (fast + timeout + probe). */
  retransmissions: number;
  fastRetransmissions: number;
  timeoutRetransmissions: number;
  /** Segments resent by probeNow(). */
  probeRetransmissions: number;
  /** Outages (the peer silent while ours were in flight), replays sent during them, and the segments they resent. */
  outages: number;
  replaysSent: number;
  replayedSegments: number;
  /** Redundant copies of small packets sent, and their bytes. */
  redundantPacketsSent: number;
  redundantBytesSent: number;
  /** PUSH segments received again after the first (copies or spurious retransmissions). */
  duplicatesReceived: number;
  /** Window probes (WASK) sent. */
  windowProbesSent: number;
  /** Estimated loss rate of our outgoing packets (0..1), and the copy count it currently implies. */
  lossEstimate: number;
  redundancy: number;
  /** The rate controller's model (null when rate control is off). */
  rateControl: RateSnapshot | null;
  /** Segments held for the application (out of order, or in order while paused). */
  receiveBuffered: number;
  /** Dropped input, by reason, and the total. */
  dropped: Record<KcpDropReason, number> & { total: number };
}
