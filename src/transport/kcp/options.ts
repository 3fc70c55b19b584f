import type { KcpClock } from './clock.js';
import { SEGMENT_HEADER } from './segment.js';

/** Redundant sending of small packets (see docs/KCP.md for what it costs). */
export interface KcpRedundancyOptions {
  /** Off: never send copies. Default true. */
  enabled?: boolean;
  /** Most copies of one small packet, the original included (1..8). Default 3. */
  maxCopies?: number;
  /** A packet whose PUSH data totals at most this many bytes is "small". Default 256. */
  smallBytes?: number;
  /** Residual loss per direction the copy count aims at: copies = min n with loss^n <= target. Default 0.003. */
  targetLoss?: number;
  /** Delay between copies of one packet, in ms, so that a short burst does not take them all. Default 3. */
  spacingMs?: number;
  /** Most bytes of copies per second (token bucket, burst of one second); bounds the cost whatever the traffic. Default 32768. */
  maxBytesPerSecond?: number;
  /** Force a copy count (1..maxCopies) instead of adapting to measured loss (tests, benchmarks). */
  fixedCopies?: number;
  /**
   * Number copies in the PUSH frg byte (default true). Off for peers that read frg as
   * reference KCP's fragment count (kcp-go): copies then go out exactly as the original.
   */
  markCopies?: boolean;
}

/** Construction options of a Kcp. */
export interface KcpOptions {
  /** Conversation id; segments with another conv are dropped. */
  conv: number;
  /** Largest output packet in bytes (the path's payloadBudget minus the transport's frame prefix). */
  mtu: number;
  /** Send window in segments (most segments in flight). Default 1024. */
  sndWnd?: number;
  /** Receive window in segments. Default 1024. */
  rcvWnd?: number;
  /** Lower bound of the RTO's variance term and of the spacing of timeout scans, in ms. Default 10. */
  interval?: number;
  /** Retransmit a segment once this many later-sent segments were acknowledged (0 = off). Default 2. */
  fastResend?: number;
  /** Nodelay mode: min RTO 30 ms and RTO backoff x1.5 (else 100 ms and x2). Default true. */
  nodelay?: boolean;
  /** Use a congestion window (slow start, halving on loss). Default false. */
  congestionControl?: boolean;
  /** Rate control (delivery-rate model, in-flight cap near the BDP, pacing; see docs/KCP.md). Default true. */
  rateControl?: boolean;
  /** Redundant copies of small packets; `false` turns them off. */
  redundancy?: KcpRedundancyOptions | false;
  /** queuedBytes level at or below which onDrain fires. Default 65536. */
  drainThreshold?: number;
  /** Time source; defaults to the system clock. */
  clock?: KcpClock;
}

/** KcpOptions with defaults applied and values checked. */
export interface ResolvedKcpOptions {
  conv: number;
  mtu: number;
  mss: number;
  sndWnd: number;
  rcvWnd: number;
  interval: number;
  fastResend: number;
  nodelay: boolean;
  minRto: number;
  congestionControl: boolean;
  rateControl: boolean;
  redundancy: Required<Omit<KcpRedundancyOptions, 'fixedCopies'>> & { fixedCopies: number };
  drainThreshold: number;
}

function int(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`KcpOptions.${name} must be an integer in ${min}..${max}, got ${v}`);
  return v;
}

function num(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min || v > max) throw new RangeError(`KcpOptions.${name} must be a number in ${min}..${max}, got ${v}`);
  return v;
}

/** Apply defaults and validate; throws RangeError on a bad option. */
export function resolveKcpOptions(o: KcpOptions): ResolvedKcpOptions {
  const mtu = int('mtu', o.mtu, 0, SEGMENT_HEADER + 1, 65536);
  const nodelay = o.nodelay ?? true;
  const r = o.redundancy === false ? { enabled: false } : (o.redundancy ?? {});
  const maxCopies = int('redundancy.maxCopies', r.maxCopies, 3, 1, 8);
  return {
    conv: int('conv', o.conv, 0, 0, 0xffffffff),
    mtu,
    mss: mtu - SEGMENT_HEADER,
    // Windows are capped below 2^15 so that sn arithmetic stays unambiguous and wnd fits its u16.
    sndWnd: int('sndWnd', o.sndWnd, 1024, 1, 32768),
    rcvWnd: int('rcvWnd', o.rcvWnd, 1024, 1, 32768),
    interval: num('interval', o.interval, 10, 1, 5000),
    fastResend: int('fastResend', o.fastResend, 2, 0, 1000),
    nodelay,
    minRto: nodelay ? 30 : 100,
    congestionControl: o.congestionControl ?? false,
    rateControl: o.rateControl ?? true,
    redundancy: {
      enabled: r.enabled ?? true,
      maxCopies,
      smallBytes: int('redundancy.smallBytes', r.smallBytes, 256, 0, 65536),
      targetLoss: num('redundancy.targetLoss', r.targetLoss, 0.003, 1e-9, 1),
      spacingMs: num('redundancy.spacingMs', r.spacingMs, 3, 0, 1000),
      maxBytesPerSecond: num('redundancy.maxBytesPerSecond', r.maxBytesPerSecond, 32768, 0, 1e12),
      fixedCopies: r.fixedCopies === undefined ? 0 : int('redundancy.fixedCopies', r.fixedCopies, 1, 1, maxCopies),
      markCopies: r.markCopies ?? true,
    },
    drainThreshold: int('drainThreshold', o.drainThreshold, 65536, 0, Number.MAX_SAFE_INTEGER),
  };
}
