/**
 * The QUIC engine: quiche (Cloudflare's sans-IO QUIC) through the N-API addon
 * that the npm package `@matrixai/quic-<platform>-<arch>` ships prebuilt. We
 * use only the addon, not @matrixai/quic's JS layer: it owns no socket, so
 * every packet in and out is ours and goes over the roaming path.
 *
 * The types below describe the subset of the addon we call (its methods
 * throw an Error whose message is quiche's error name, e.g. "StreamReset(7)";
 * "Done" is returned as null instead).
 */

import { requireNative } from '../../native-addons.js';

/** An address as the engine takes it; we only ever give it fixed, fake ones. */
export interface EngineHost {
  host: string;
  port: number;
}

/** quiche::Config. */
export interface EngineConfig {
  setApplicationProtos(protos: string[]): void;
  setMaxIdleTimeout(ms: number): void;
  setMaxRecvUdpPayloadSize(size: number): void;
  setMaxSendUdpPayloadSize(size: number): void;
  setInitialMaxData(v: number): void;
  setInitialMaxStreamDataBidiLocal(v: number): void;
  setInitialMaxStreamDataBidiRemote(v: number): void;
  setInitialMaxStreamDataUni(v: number): void;
  setInitialMaxStreamsBidi(v: number): void;
  setInitialMaxStreamsUni(v: number): void;
  setMaxAckDelay(ms: number): void;
  setDisableActiveMigration(v: boolean): void;
  setCcAlgorithmName(name: string): void;
  enableHystart(v: boolean): void;
  enablePacing(v: boolean): void;
  enableDgram(enabled: boolean, recvQueueLen: number, sendQueueLen: number): void;
  setMaxConnectionWindow(v: number): void;
  setMaxStreamWindow(v: number): void;
  grease(v: boolean): void;
}

/** quiche::Stats (the fields we read). */
export interface EngineStats {
  recv: number;
  sent: number;
  lost: number;
  retrans: number;
  sentBytes: number;
  recvBytes: number;
  lostBytes: number;
  streamRetransBytes: number;
}

/** quiche::PathStats (the fields we read); rtt is in ms as the addon reports it. */
export interface EnginePathStats {
  rtt: number;
  cwnd: number;
  pmtu: number;
  deliveryRate: number;
}

export interface EngineConnectionError {
  isApp: boolean;
  errorCode: number;
  reason: Uint8Array;
}

/** quiche::Connection. */
export interface EngineConnection {
  recv(data: Uint8Array, info: { from: EngineHost; to: EngineHost }): number;
  send(out: Uint8Array): [number, unknown] | null;
  streamRecv(streamId: number, out: Uint8Array): [number, boolean] | null;
  streamSend(streamId: number, data: Uint8Array, fin: boolean): number | null;
  streamShutdown(streamId: number, direction: number, err: number): void | null;
  streamCapacity(streamId: number): number;
  streamPriority(streamId: number, urgency: number, incremental: boolean): void;
  peerStreamsLeftBidi(): number;
  readable(): Iterable<number>;
  writable(): Iterable<number>;
  dgramSend(data: Uint8Array): void | null;
  dgramRecvVec(): Uint8Array | null;
  dgramMaxWritableLen(): number | null;
  timeout(): number | null;
  onTimeout(): void;
  sendAckEliciting(): void;
  close(app: boolean, err: number, reason: Uint8Array): void | null;
  peerCertChain(): Uint8Array[] | null;
  isEstablished(): boolean;
  isDraining(): boolean;
  isClosed(): boolean;
  isTimedOut(): boolean;
  peerError(): EngineConnectionError | null;
  localError(): EngineConnectionError | null;
  stats(): EngineStats;
  pathStats(): EnginePathStats[];
}

/** What the addon exports (the parts we use). */
export interface QuicEngine {
  Config: {
    withBoringSslCtx(
      verifyPeer: boolean,
      verifyAllowFail: boolean,
      ca: Uint8Array | null,
      key: Uint8Array[] | null,
      cert: Uint8Array[] | null,
      sigalgs: string | null,
    ): EngineConfig;
  };
  Connection: {
    connect(serverName: string | null, scid: Uint8Array, local: EngineHost, remote: EngineHost, config: EngineConfig): EngineConnection;
    accept(scid: Uint8Array, odcid: Uint8Array | null, local: EngineHost, remote: EngineHost, config: EngineConfig): EngineConnection;
  };
  /** quiche::Shutdown */
  Shutdown: { Read: number; Write: number };
}

/** The npm package that carries the addon for this machine. */
export function enginePackageName(platform: string = process.platform, arch: string = process.arch): string {
  return `@matrixai/quic-${platform}-${arch}`;
}

const loaded = new Map<string, QuicEngine | Error>();

/**
 * Test seam: names the package to load instead of this platform's (tests
 * name a missing one to see tsshd refuse --quic and tssh fall back to KCP).
 */
export const QUIC_PACKAGE_TEST_ENV = 'TSSH_TEST_QUIC_PACKAGE';

/**
 * Load the native engine (once per package name). Returns an Error with a
 * one-line message, for the client to print before it falls back to KCP,
 * when the package for this platform is not installed or does not load.
 */
export function loadQuicEngine(packageName: string = process.env[QUIC_PACKAGE_TEST_ENV] || enginePackageName()): QuicEngine | Error {
  let result = loaded.get(packageName);
  if (result !== undefined) return result;
  try {
    const engine = requireNative(packageName) as Partial<QuicEngine>;
    result =
      typeof engine.Config?.withBoringSslCtx === 'function' && typeof engine.Connection?.connect === 'function'
        ? (engine as QuicEngine)
        : new Error(`QUIC engine unavailable: ${packageName} does not export the quiche binding this build expects`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const detail = code === 'MODULE_NOT_FOUND' ? 'is not installed' : `did not load (${(err as Error).message.split('\n')[0]})`;
    result = new Error(`QUIC engine unavailable: ${packageName} ${detail}`);
  }
  loaded.set(packageName, result);
  return result;
}
