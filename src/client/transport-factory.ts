import type { DatagramPath } from '../path/datagram-path.js';
import type { BootstrapInfo, BootstrapMode } from '../protocol/bootstrap.js';
import { laneOfKind } from '../protocol/stream-kind.js';
import type { Connection } from '../transport/connection.js';
import { KcpConnection } from '../transport/kcp-connection.js';
import { loadQuicEngine } from '../transport/quic/engine.js';
import { QuicConnection } from '../transport/quic/quic-connection.js';

/**
 * tssh's one place that chooses the transport: what to ask tsshd for
 * (UdpMode kcp/yes or quic, and whether QUIC can load here), and the client
 * end of whatever the bootstrap line says the server runs.
 */

/** The transport to ask tsshd for, and the line to print when QUIC was asked for but cannot be used here. */
export interface TransportChoice {
  mode: BootstrapMode;
  notice?: string;
}

/** UdpMode kcp stays KCP; UdpMode quic is QUIC if the engine loads on this machine, else KCP with a notice. */
export function chooseClientTransport(udpMode: BootstrapMode, load: () => unknown = loadQuicEngine): TransportChoice {
  if (udpMode === 'kcp') return { mode: 'kcp' };
  const engine = load();
  if (engine instanceof Error) return { mode: 'kcp', notice: `tssh: ${engine.message}; using KCP` };
  return { mode: 'quic' };
}

/** The client's connection and its name for messages (`~?`'s "Connection: QUIC to ..."). */
export interface ClientTransport {
  conn: Connection;
  name: 'KCP' | 'QUIC';
}

/**
 * The client end for the server's bootstrap: KCP with its conversation id,
 * or QUIC pinned to the certificate fingerprints it carries (an old tsshd
 * that answers a --quic request with mode "kcp" gets KCP). Throws a one-line
 * Error if the bootstrap says QUIC but carries no pin or the engine cannot load.
 */
export function createClientTransport(bootstrap: BootstrapInfo, path: DatagramPath): ClientTransport {
  if (bootstrap.mode === 'quic') {
    const pins = bootstrap.quic?.certFingerprints ?? [];
    if (pins.length === 0) throw new Error('tssh: tsshd chose QUIC but sent no certificate fingerprint; is TsshdPath a compatible tsshd?');
    const engine = loadQuicEngine();
    if (engine instanceof Error) throw new Error(`tssh: tsshd chose QUIC but ${engine.message}`);
    return { conn: new QuicConnection(path, { role: 'client', pinnedFingerprints: pins, engine }), name: 'QUIC' };
  }
  const conv = bootstrap.conv !== undefined ? { conv: bootstrap.conv } : {};
  return { conn: new KcpConnection(path, { role: 'client', laneOf: laneOfKind, ...conv }), name: 'KCP' };
}
