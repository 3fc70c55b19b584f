import { randomBytes } from 'node:crypto';
import type { DatagramPath } from '../path/datagram-path.js';
import type { BootstrapInfo } from '../protocol/bootstrap.js';
import { laneOfKind } from '../protocol/stream-kind.js';
import type { Connection } from '../transport/connection.js';
import { KcpConnection } from '../transport/kcp-connection.js';
import { createQuicCredentials } from '../transport/quic/certificate.js';
import { loadQuicEngine } from '../transport/quic/engine.js';
import { QuicConnection } from '../transport/quic/quic-connection.js';

/**
 * tsshd's one place that turns --kcp / --quic into a Connection over the
 * server path, and into the bootstrap fields the client needs to build the
 * matching end (KCP's conversation id, or QUIC's certificate pin).
 */

/** The server's transport and what the bootstrap line says about it. */
export interface ServerTransport {
  conn: Connection;
  bootstrap: Pick<BootstrapInfo, 'mode' | 'conv' | 'quic'>;
  /** For the debug log, e.g. "kcp conv 1234". Holds nothing secret. */
  description: string;
}

/**
 * Build the transport for `mode`. For QUIC: a fresh certificate and key for
 * this session (the key stays in this process); throws a one-line Error
 * starting with "tsshd:" when the QUIC engine cannot load.
 */
export function createServerTransport(mode: BootstrapInfo['mode'], path: DatagramPath): ServerTransport {
  if (mode === 'quic') {
    const engine = loadQuicEngine();
    if (engine instanceof Error) throw new Error(`tsshd: ${engine.message}; use --kcp`);
    const credentials = createQuicCredentials('tsshd');
    return {
      conn: new QuicConnection(path, { role: 'server', credentials, engine }),
      bootstrap: { mode: 'quic', quic: { certFingerprints: [credentials.fingerprint] } },
      description: `quic, certificate sha256 ${credentials.fingerprint}`,
    };
  }
  const conv = randomBytes(4).readUInt32BE(0);
  return {
    conn: new KcpConnection(path, { role: 'server', conv, laneOf: laneOfKind }),
    bootstrap: { mode: 'kcp', conv },
    description: `kcp conv ${conv}`,
  };
}
