import { MuxConfigError } from './errors.js';
import { INITIAL_CONNECTION_CREDIT, INITIAL_STREAM_CREDIT, MAX_FRAME_PAYLOAD } from './frame.js';

/** Options of a Mux; only `role` is required. */
export interface MuxOptions {
  /** Which end we are: the client opens odd stream ids, the server even ones. */
  role: 'client' | 'server';
  /**
   * Receive window per stream, in bytes: how far the peer may run ahead of our
   * reader. Default 1 MiB: a stream's throughput is at most window / RTT, so
   * 256 KiB (smux's default) held one stream to 2.5 MB/s at 100 ms RTT.
   */
  streamWindow?: number;
  /** Streams open at once per direction (ours and the peer's counted apart). Excess peer SYNs are reset. Default 1024. */
  maxStreams?: number;
  /**
   * The connection window: DATA bytes the peer may have outstanding on all
   * streams together (in flight, or received and not yet taken by a reader),
   * so the cap on memory held for slow readers. Half of it is the pool that
   * stream windows beyond their initial 64 KiB are drawn from, so stalled
   * readers cannot take it all (docs/MUX.md). Default 32 MiB, at least 256 KiB.
   */
  maxBufferedBytes?: number;
  /** Largest DATA payload we send. Default and maximum 16 KiB. */
  maxFramePayload?: number;
  /** Feed the pipe only while its queuedBytes is at or below this, so urgent frames stay near the head. Default 64 KiB. */
  sendThreshold?: number;
  /** Writes pending at or below this many bytes (keystrokes) are sent ahead of bulk. Default 512. */
  smallWriteBytes?: number;
  /**
   * Which of a connection's id spaces this Mux uses, when one connection runs
   * two Muxes (one per KCP lane): stream ids are 2 * lane + parity modulo 4,
   * so ids stay unique across lanes. Default 0.
   */
  lane?: 0 | 1;
}

/** Options with every default filled in and checked. */
export type MuxConfig = Readonly<Required<MuxOptions>>;

const KIB = 1024;

/** Validate options and fill in defaults; throws MuxConfigError naming the bad option. */
export function resolveMuxConfig(options: MuxOptions): MuxConfig {
  if (options.role !== 'client' && options.role !== 'server') {
    throw new MuxConfigError('role', `must be 'client' or 'server', got ${String(options.role)}`);
  }
  return {
    role: options.role,
    streamWindow: integer('streamWindow', options.streamWindow, 1024 * KIB, INITIAL_STREAM_CREDIT, 0xffff_ffff),
    maxStreams: integer('maxStreams', options.maxStreams, 1024, 1, 1 << 24),
    maxBufferedBytes: integer('maxBufferedBytes', options.maxBufferedBytes, 32 * KIB * KIB, INITIAL_CONNECTION_CREDIT, 0xffff_ffff),
    maxFramePayload: integer('maxFramePayload', options.maxFramePayload, MAX_FRAME_PAYLOAD, 64, MAX_FRAME_PAYLOAD),
    sendThreshold: integer('sendThreshold', options.sendThreshold, 64 * KIB, 0, Number.MAX_SAFE_INTEGER),
    smallWriteBytes: integer('smallWriteBytes', options.smallWriteBytes, 512, 0, MAX_FRAME_PAYLOAD),
    lane: integer('lane', options.lane, 0, 0, 1) as 0 | 1,
  };
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new MuxConfigError(name, `must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}
