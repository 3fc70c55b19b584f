/**
 * QUIC transport settings, validated in one place, and the engine Config
 * built from them. Windows are sized like the KCP transport's: a stalled
 * reader holds at most one stream window, the connection window leaves room
 * for other streams, and quiche autotunes both upward for fast links.
 */
import type { EngineConfig, QuicEngine } from './engine.js';
import type { QuicCredentials } from './certificate.js';

/** ALPN of our protocol; both ends must offer it. */
export const QUIC_ALPN = 'tsshd/1';
/** Length of the connection IDs we pick (quiche allows up to 20). */
export const CONNECTION_ID_BYTES = 16;
/** The smallest UDP payload QUIC can use (RFC 9000 14: the client's Initial is padded to it). */
export const MIN_QUIC_PACKET = 1200;
/** Bytes a DATAGRAM frame costs in a short-header packet besides its payload: flags 1, DCID, packet number up to 4, AEAD tag 16, frame type 1 and length 2. */
export const DATAGRAM_PACKET_OVERHEAD = 1 + CONNECTION_ID_BYTES + 4 + 16 + 3;
/** Our own prefix on each QUIC datagram: the u16 channel. */
export const DATAGRAM_CHANNEL_BYTES = 2;

/** Tunables; defaults in QUIC_DEFAULTS. */
export interface QuicTuning {
  /** Initial per-stream receive window (bytes): what a stalled reader can hold up. */
  streamWindow: number;
  /** Upper bound for quiche's per-stream window autotuning. */
  maxStreamWindow: number;
  /** Initial connection receive window. */
  connectionWindow: number;
  /** Upper bound for the connection window autotuning. */
  maxConnectionWindow: number;
  /** Concurrent streams the peer may open (quiche grants more as streams finish). */
  maxStreams: number;
  /** Congestion control: 'cubic', 'reno' or 'bbr' (what this quiche build knows). */
  congestionControl: 'cubic' | 'reno' | 'bbr';
  /** Largest ACK delay we announce, ms. */
  maxAckDelayMs: number;
  /** QUIC DATAGRAM queue lengths (packets) each way, beyond which datagrams are dropped. */
  datagramQueue: number;
  /** How long close() waits for what was written to be acknowledged, ms. */
  closeLingerMs: number;
  /** After the peer's clean close, a reader that takes nothing for this long is given up on, ms (drain.ts). */
  drainStallMs: number;
  /** Packets sent per turn of the event loop before yielding to incoming ACKs. */
  sendBurst: number;
}

export const QUIC_DEFAULTS: Readonly<QuicTuning> = {
  streamWindow: 512 * 1024,
  maxStreamWindow: 16 * 1024 * 1024,
  connectionWindow: 4 * 1024 * 1024,
  maxConnectionWindow: 24 * 1024 * 1024,
  maxStreams: 1024,
  congestionControl: 'cubic',
  maxAckDelayMs: 25,
  datagramQueue: 1024,
  closeLingerMs: 5000,
  drainStallMs: 60_000,
  sendBurst: 64,
};

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`quic ${name} must be a positive integer, got ${v}`);
  return v;
}

/** Fill defaults and validate; throws RangeError naming the bad option. */
export function resolveQuicTuning(partial: Partial<QuicTuning> = {}): QuicTuning {
  const t = { ...QUIC_DEFAULTS, ...partial };
  for (const key of ['streamWindow', 'maxStreamWindow', 'connectionWindow', 'maxConnectionWindow', 'maxStreams', 'datagramQueue', 'closeLingerMs', 'drainStallMs', 'sendBurst'] as const) {
    positiveInt(key, t[key]);
  }
  if (!Number.isInteger(t.maxAckDelayMs) || t.maxAckDelayMs < 0 || t.maxAckDelayMs >= 16384) throw new RangeError(`quic maxAckDelayMs must be 0..16383, got ${t.maxAckDelayMs}`);
  if (t.connectionWindow < t.streamWindow) throw new RangeError('quic connectionWindow must be at least streamWindow, or one stalled stream would stall all');
  if (!['cubic', 'reno', 'bbr'].includes(t.congestionControl)) throw new RangeError(`quic congestionControl must be cubic, reno or bbr, got ${String(t.congestionControl)}`);
  return t;
}

/**
 * The engine Config for one side. The server presents `credentials`; the
 * client asks for the peer's certificate but accepts it whatever its chain
 * (verifyAllowFail): the connection checks the SHA-256 pin itself.
 */
export function buildEngineConfig(
  engine: QuicEngine,
  role: 'client' | 'server',
  packetSize: number,
  receiveSize: number,
  tuning: QuicTuning,
  credentials?: QuicCredentials,
): EngineConfig {
  const config =
    role === 'server'
      ? engine.Config.withBoringSslCtx(false, false, null, [Buffer.from(credentials!.keyPem)], [Buffer.from(credentials!.certPem)], null)
      : engine.Config.withBoringSslCtx(true, true, null, null, null, null);
  config.setApplicationProtos([QUIC_ALPN]);
  // Liveness belongs to the path (heartbeats, UdpAliveTimeout): the engine must never give up on its own.
  config.setMaxIdleTimeout(0);
  config.setMaxSendUdpPayloadSize(packetSize);
  config.setMaxRecvUdpPayloadSize(receiveSize);
  config.setInitialMaxData(tuning.connectionWindow);
  config.setInitialMaxStreamDataBidiLocal(tuning.streamWindow);
  config.setInitialMaxStreamDataBidiRemote(tuning.streamWindow);
  config.setInitialMaxStreamDataUni(0);
  config.setInitialMaxStreamsBidi(tuning.maxStreams);
  config.setInitialMaxStreamsUni(0);
  config.setMaxStreamWindow(tuning.maxStreamWindow);
  config.setMaxConnectionWindow(tuning.maxConnectionWindow);
  config.setMaxAckDelay(tuning.maxAckDelayMs);
  // The engine's peer address is a fixed stand-in; roaming is the path's business.
  config.setDisableActiveMigration(true);
  config.setCcAlgorithmName(tuning.congestionControl);
  config.enableDgram(true, tuning.datagramQueue, tuning.datagramQueue);
  return config;
}
