import { PATH_OVERHEAD_BYTES } from './datagram-format.js';
import { SESSION_SECRET_BYTES } from '../crypto/session-secret.js';

/** How datagrams travel: plain UDP, or framed over TCP where UDP is blocked (UdpProxyMode). */
export type ProxyMode = 'udp' | 'tcp';

/** Defaults shared by both ends. */
export const PATH_DEFAULTS = {
  /** UdpMTU: largest sealed datagram in bytes. */
  mtu: 1400,
  /** No authenticated datagram for this long: 'contact-lost' (and a client renewal). */
  heartbeatTimeoutMs: 3000,
  /** UdpAliveTimeout: no contact for this long and the path gives up. */
  aliveTimeoutMs: 86_400_000,
  proxyMode: 'udp' as ProxyMode,
  /**
   * How often the client looks for a change of local addresses (about 0.5 ms a look in an idle process:
   * 0.03 CPU s/min at 1 s, 0.11 at 250 ms). It also looks whenever data stops arriving (the silence probe).
   */
  interfacePollMs: 1000,
} as const;

/** When the path rekeys (docs/REKEY.md), after validation. */
export interface RekeyConfig {
  /** Rekey this long after the last rekey (or the start). Default 1 hour. */
  intervalMs: number;
  /** Rekey once this many payload bytes were sealed, or opened, under the current keys. Default 1 GiB. */
  bytes: number;
  /** How long the previous epoch's receive key is kept after the peer switched (reordered datagrams). Default 5 s. */
  overlapMs: number;
  /**
   * Client: rekey right after the path starts, so that epoch 0 (keyed from the session secret, which
   * outlives it in memory) carries only the first round trip. Default true.
   */
  atStart: boolean;
}

/** The rekey defaults. */
export const REKEY_DEFAULTS: Readonly<RekeyConfig> = {
  intervalMs: 3_600_000,
  bytes: 2 ** 30,
  overlapMs: 5000,
  atStart: true,
};

/** Largest UDP payload over IPv4; an MTU above it could never be sent. */
const MAX_MTU = 65_507;
/** Smallest MTU that still leaves room for a useful payload. */
const MIN_MTU = PATH_OVERHEAD_BYTES + 64;

/** The options both ends take, after validation. */
export interface CommonPathConfig {
  secret: Uint8Array;
  mtu: number;
  /** Use the loopback size (loopback-mtu.ts) instead of `mtu` when the peer is a loopback address. */
  largeOnLoopback: boolean;
  heartbeatTimeoutMs: number;
  aliveTimeoutMs: number;
  proxyMode: ProxyMode;
  rekey: RekeyConfig;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number of ms, got ${value}`);
  return value;
}

/** Fill defaults and validate; throws RangeError/TypeError naming the bad option. */
export function resolveCommonPathConfig(options: {
  secret: Uint8Array;
  mtu?: number;
  largeOnLoopback?: boolean;
  heartbeatTimeoutMs?: number;
  aliveTimeoutMs?: number;
  proxyMode?: ProxyMode;
  rekey?: Partial<RekeyConfig>;
}): CommonPathConfig {
  if (!(options.secret instanceof Uint8Array) || options.secret.length !== SESSION_SECRET_BYTES) {
    throw new TypeError(`secret must be ${SESSION_SECRET_BYTES} bytes`);
  }
  const mtu = options.mtu ?? PATH_DEFAULTS.mtu;
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) throw new RangeError(`mtu must be an integer in ${MIN_MTU}..${MAX_MTU}, got ${mtu}`);
  const proxyMode = options.proxyMode ?? PATH_DEFAULTS.proxyMode;
  if (proxyMode !== 'udp' && proxyMode !== 'tcp') throw new TypeError(`proxyMode must be 'udp' or 'tcp', got ${String(proxyMode)}`);
  const largeOnLoopback = options.largeOnLoopback ?? false;
  if (typeof largeOnLoopback !== 'boolean') throw new TypeError(`largeOnLoopback must be true or false, got ${String(largeOnLoopback)}`);
  return {
    // The path's own copy: PathEnd wipes it as soon as epoch 0's keys are derived.
    secret: Uint8Array.from(options.secret),
    mtu,
    largeOnLoopback,
    heartbeatTimeoutMs: positive('heartbeatTimeoutMs', options.heartbeatTimeoutMs ?? PATH_DEFAULTS.heartbeatTimeoutMs),
    aliveTimeoutMs: positive('aliveTimeoutMs', options.aliveTimeoutMs ?? PATH_DEFAULTS.aliveTimeoutMs),
    proxyMode,
    rekey: resolveRekeyConfig(options.rekey ?? {}),
  };
}

function resolveRekeyConfig(options: Partial<RekeyConfig>): RekeyConfig {
  const check = (name: 'intervalMs' | 'bytes' | 'overlapMs', unit: string): number => {
    const value = options[name] ?? REKEY_DEFAULTS[name];
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
      throw new RangeError(`rekey.${name} must be a positive number of ${unit} (Infinity turns that trigger off), got ${value}`);
    }
    return value;
  };
  const overlapMs = check('overlapMs', 'ms');
  if (!Number.isFinite(overlapMs)) throw new RangeError(`rekey.overlapMs must be finite, got ${overlapMs}`);
  const atStart = options.atStart ?? REKEY_DEFAULTS.atStart;
  if (typeof atStart !== 'boolean') throw new TypeError(`rekey.atStart must be true or false, got ${String(atStart)}`);
  return { intervalMs: check('intervalMs', 'ms'), bytes: check('bytes', 'bytes'), overlapMs, atStart };
}
