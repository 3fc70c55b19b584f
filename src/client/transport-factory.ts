import type { DatagramPath } from '../path/datagram-path.js';
import type { BootstrapInfo } from '../protocol/bootstrap.js';
import { laneOfKind } from '../protocol/stream-kind.js';
import type { Connection } from '../transport/connection.js';
import { KcpConnection } from '../transport/kcp-connection.js';
import { loadQuicEngine } from '../transport/quic/engine.js';
import { QuicConnection } from '../transport/quic/quic-connection.js';

/**
 * The client end of whatever transport the bootstrap line says the server
 * runs. (What to ask tsshd for is chosen in transport-choice.ts, which
 * loads none of the transports: tssh starts ssh before loading them.)
 */

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
