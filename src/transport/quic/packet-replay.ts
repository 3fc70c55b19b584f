/**
 * Copies of the small QUIC packets this side made lately, so that during an
 * outage they can go again several to a path datagram (a bundle): whichever
 * datagram first gets through after the outage (e.g. from a new NAT binding)
 * then carries what the peer missed, and its answer carries the reply. The
 * receiving engine drops the packets it already has as duplicate packet
 * numbers. Copies live in one slab allocated up front: recording one is a
 * copy, no allocation.
 *
 * Bundle (one path payload): [BUNDLE] then ([u16 BE length][QUIC packet])*.
 * BUNDLE has the fixed bit 0x40 clear, so no QUIC packet starts with it.
 */
export const BUNDLE = 0x01;
/** Packets larger than this are not kept (bulk packets: too big to bundle, and a replay could not hold many). */
export const REPLAY_PACKET_MAX = 256;
/** Packets kept; the oldest is overwritten. */
const SLOTS = 256;
const BUNDLE_ENTRY_HEADER = 2;

export class PacketReplay {
  private readonly slab = Buffer.allocUnsafe(SLOTS * REPLAY_PACKET_MAX);
  private readonly lengths = new Uint16Array(SLOTS);
  private readonly madeAt = new Float64Array(SLOTS);
  /** Slot of the next record. */
  private next = 0;
  private count = 0;

  /** Keep a copy of `packet`, made at `now`; false (nothing kept) if it is larger than REPLAY_PACKET_MAX. */
  record(packet: Uint8Array, now: number): boolean {
    if (packet.length > REPLAY_PACKET_MAX) return false;
    const i = this.next;
    this.slab.set(packet, i * REPLAY_PACKET_MAX);
    this.lengths[i] = packet.length;
    this.madeAt[i] = now;
    this.next = i + 1 === SLOTS ? 0 : i + 1;
    if (this.count < SLOTS) this.count++;
    return true;
  }

  /**
   * Bundle the packets made at or after `since`, oldest first, into `out`
   * (whose length is the path's payload budget) and hand each bundle to
   * `send` (which must not keep it), at most `maxBundles` of them. The
   * `newest` latest packets always go (they are the fresh ones: the peer's
   * ACK of the newest packet is its RTT sample); if the rest does not fit
   * beside them, the oldest of the rest go and the middle is left out.
   * Returns the packets sent.
   */
  replay(since: number, out: Buffer, maxBundles: number, newest: number, send: (bundle: Buffer) => void): number {
    let n = 0;
    while (n < this.count && this.madeAt[this.slotBack(n + 1)] >= since) n++;
    if (newest > n) newest = n;
    // Bytes that surely fit in maxBundles bundles, whatever the packing leaves at each bundle's end.
    let room = maxBundles * (out.length - 1 - BUNDLE_ENTRY_HEADER - REPLAY_PACKET_MAX);
    for (let k = newest; k > 0; k--) room -= BUNDLE_ENTRY_HEADER + this.lengths[this.slotBack(k)];
    // Of the older ones (k from n down to newest + 1), as many as fit, the oldest first.
    let olderKept = 0;
    for (let k = n; k > newest; k--) {
      room -= BUNDLE_ENTRY_HEADER + this.lengths[this.slotBack(k)];
      if (room < 0) break;
      olderKept++;
    }
    const skipAbove = newest;
    const skipUpTo = n - olderKept;
    let bundles = 0;
    let packets = 0;
    let len = 0;
    for (let k = n; k > 0; k--) {
      if (k > skipAbove && k <= skipUpTo) continue;
      const i = this.slotBack(k);
      const size = this.lengths[i];
      if (len > 0 && len + BUNDLE_ENTRY_HEADER + size > out.length) {
        send(out.subarray(0, len));
        len = 0;
        if (++bundles === maxBundles) return packets;
      }
      if (len === 0) {
        out[0] = BUNDLE;
        len = 1;
      }
      out.writeUInt16BE(size, len);
      this.slab.copy(out, len + BUNDLE_ENTRY_HEADER, i * REPLAY_PACKET_MAX, i * REPLAY_PACKET_MAX + size);
      len += BUNDLE_ENTRY_HEADER + size;
      packets++;
    }
    if (len > 0) send(out.subarray(0, len));
    return packets;
  }

  /** The slot `k` records back from the newest (k = 1 is the newest). */
  private slotBack(k: number): number {
    const i = this.next - k;
    return i < 0 ? i + SLOTS : i;
  }
}

/**
 * The packets of a bundle, in order, as views of `payload`, or null if it is
 * malformed (a length running past the end, or an empty entry).
 */
export function bundledPackets(payload: Buffer): Buffer[] | null {
  const packets: Buffer[] = [];
  let o = 1;
  while (o < payload.length) {
    if (o + BUNDLE_ENTRY_HEADER > payload.length) return null;
    const size = payload.readUInt16BE(o);
    o += BUNDLE_ENTRY_HEADER;
    if (size === 0 || o + size > payload.length) return null;
    packets.push(payload.subarray(o, o + size));
    o += size;
  }
  return packets;
}
