import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * Datagram size on a loopback path, as TCP sizes its segments: a path whose
 * peer is a loopback address goes over the `lo` interface, whose MTU (65536
 * on Linux) is far above any Ethernet's, so datagrams there can be as large
 * as the kernel moves in one packet. Every datagram costs a fixed amount of
 * CPU (a send call, a 'message' event, a cipher set-up) whatever its size, so
 * on loopback, where the CPU is the only limit, fewer larger datagrams are
 * faster. See docs/PROTOCOL.md, "Datagram size".
 */

/** Largest datagram used on loopback, even when `lo`'s MTU is larger: big enough that per-datagram costs stop mattering. */
export const LOOPBACK_MTU_CAP = 32 * 1024;
/** Where Linux reports the loopback interface's MTU. */
const LO_MTU_FILE = '/sys/class/net/lo/mtu';
/** IP and UDP headers inside the interface MTU (IPv6 is the larger). */
const IP_UDP_HEADER_BYTES = 48;

let cached: number | null | undefined;

/**
 * The sealed-datagram size for a loopback path given `lo`'s MTU as the
 * kernel prints it: that MTU less the IP and UDP headers, capped at
 * LOOPBACK_MTU_CAP; null for anything that is not a usable MTU.
 */
export function parseLoopbackMtu(text: string): number | null {
  const value = Number(text.trim());
  if (!Number.isInteger(value) || value <= IP_UDP_HEADER_BYTES) return null;
  return Math.min(value - IP_UDP_HEADER_BYTES, LOOPBACK_MTU_CAP);
}

/**
 * The sealed-datagram size for a loopback path (read once), or null where
 * `lo`'s MTU cannot be read (not Linux): other systems keep the ordinary size
 * (macOS, for one, refuses UDP datagrams above 9216 bytes by default).
 */
export function loopbackMtu(): number | null {
  if (cached === undefined) {
    try {
      cached = parseLoopbackMtu(readFileSync(LO_MTU_FILE, 'utf8'));
    } catch {
      cached = null;
    }
  }
  return cached;
}

/** Whether `address` (an IP address, not a name) is a loopback address: 127.0.0.0/8, ::1, or 127/8 mapped into IPv6. */
export function isLoopbackAddress(address: string): boolean {
  if (net.isIPv4(address)) return address.startsWith('127.');
  if (!net.isIPv6(address)) return false;
  const lower = address.toLowerCase();
  if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^(?:::|(?:0{1,4}:){5})ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped !== null && net.isIPv4(mapped[1]!) && mapped[1]!.startsWith('127.');
}

/**
 * The datagram size for a path to `peer`: the loopback size when the rule is
 * on, the peer is a loopback address and that size is larger; else `mtu`.
 */
export function mtuForPeer(mtu: number, loopbackRule: boolean, peer: string): number {
  return isLoopbackAddress(peer) ? largestMtu(mtu, loopbackRule) : mtu;
}

/** The largest datagram a path following the loopback rule (or not) may send: what a receiver must accept. */
export function largestMtu(mtu: number, loopbackRule: boolean): number {
  if (!loopbackRule) return mtu;
  const lo = loopbackMtu();
  return lo !== null && lo > mtu ? lo : mtu;
}
