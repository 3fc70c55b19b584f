/**
 * Redundant copies of small QUIC packets on lossy links, as the KCP
 * transport does (docs/KCP.md, "Redundancy for small packets"): a keystroke
 * or its echo is one small packet, and losing it costs QUIC a loss-detection
 * delay of about an RTT plus head-of-line blocking for the keystrokes behind
 * it. Sending such a packet n times makes it lost only with p^n; the
 * receiving engine drops the extra copies as duplicate packet numbers.
 *
 * The loss rate p is learned from the engine's own counters (packets sent,
 * packets declared lost). Copies hide loss (a packet counts as lost only if
 * every copy was), so the observed rate is corrected by the copy count in
 * force: p = observed^(1/n). Counts halve at most every `halfLifeMs` once
 * over `window` packets, so the estimate follows the link. A fresh connection
 * starts pessimistic (about 3 %), because the first keystrokes matter too.
 */

/** Packets up to this size (bytes) are "small": interactive traffic, ACKs, control frames. */
export const SMALL_PACKET_BYTES = 256;
/** Residual loss per direction the copy count aims for. */
const TARGET_LOSS = 0.003;
const MAX_COPIES = 3;
/** Copies cost at most this many bytes per second (token bucket), whatever the traffic. */
const MAX_COPY_BYTES_PER_SEC = 32 * 1024;
const WINDOW = 256;
const HALF_LIFE_MS = 2000;
const PRIOR_PACKETS = 16;
const PRIOR_LOST = 0.5;

export class SmallPacketCopies {
  private lost = PRIOR_LOST;
  private sent = PRIOR_PACKETS;
  /** Copy count weighted by the packets it applied to, to undo the hiding of loss. */
  private copyWeight = PRIOR_PACKETS;
  private lastHalving = -Infinity;
  private lastSent = 0;
  private lastLost = 0;
  private tokens = MAX_COPY_BYTES_PER_SEC;
  private lastRefill = 0;
  private current = 1;
  /** Packets handed out since the last update(), and the transmissions they made (copies included). */
  private packetsSinceUpdate = 0;
  private transmissionsSinceUpdate = 0;
  /** Extra packets sent as copies, and their bytes. */
  copiesSent = 0;
  copyBytesSent = 0;

  constructor(now: number) {
    this.lastRefill = now;
    this.current = this.compute();
  }

  /** Feed the engine's cumulative counters (packets sent, packets lost); call once per flush. */
  update(engineSent: number, engineLost: number, now: number): void {
    const sent = engineSent - this.lastSent;
    const lost = engineLost - this.lastLost;
    if (sent <= 0 && lost <= 0) return;
    this.lastSent = engineSent;
    this.lastLost = engineLost;
    // Copies per packet actually sent in this interval (large packets count 1).
    const perPacket = this.packetsSinceUpdate > 0 ? this.transmissionsSinceUpdate / this.packetsSinceUpdate : 1;
    this.packetsSinceUpdate = 0;
    this.transmissionsSinceUpdate = 0;
    this.sent += Math.max(0, sent);
    this.lost += Math.max(0, lost);
    this.copyWeight += Math.max(0, sent) * perPacket;
    if (this.sent > WINDOW && now - this.lastHalving >= HALF_LIFE_MS) {
      this.lastHalving = now;
      this.sent *= 0.5;
      this.lost *= 0.5;
      this.copyWeight *= 0.5;
    }
    this.current = this.compute();
  }

  /** Estimated loss probability of one packet on the way out. */
  get lossRate(): number {
    const observed = Math.min(1, this.lost / this.sent);
    return Math.pow(observed, this.sent / this.copyWeight);
  }

  /** How many times to send a packet of `bytes` now (1 = no copies); takes the copies' bytes from the budget. */
  copiesFor(bytes: number, now: number): number {
    let n = 1;
    if (this.current > 1 && bytes <= SMALL_PACKET_BYTES) {
      this.tokens = Math.min(MAX_COPY_BYTES_PER_SEC, this.tokens + ((now - this.lastRefill) / 1000) * MAX_COPY_BYTES_PER_SEC);
      this.lastRefill = now;
      while (n < this.current && this.tokens >= bytes) {
        this.tokens -= bytes;
        n++;
      }
      this.copiesSent += n - 1;
      this.copyBytesSent += (n - 1) * bytes;
    }
    this.packetsSinceUpdate++;
    this.transmissionsSinceUpdate += n;
    return n;
  }

  /** Copies per small packet in force now. */
  get copies(): number {
    return this.current;
  }

  private compute(): number {
    const p = this.lossRate;
    let n = 1;
    let residual = p;
    while (n < MAX_COPIES && residual > TARGET_LOSS) {
      residual *= p;
      n++;
    }
    return n;
  }
}
