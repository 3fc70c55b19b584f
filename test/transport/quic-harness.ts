import { createQuicCredentials } from '../../src/transport/quic/certificate.js';
import { QuicConnection } from '../../src/transport/quic/quic-connection.js';
import type { ConnectionFactory } from './harness.js';

/** One server identity for the whole test file (made once: it is per session in real use, and cheap). */
export const testCredentials = createQuicCredentials('tsshd-test');

/** QuicConnection on each side: the server presents testCredentials, the client pins its fingerprint. */
export const quicFactory: ConnectionFactory = (path, role) =>
  role === 'server'
    ? new QuicConnection(path, { role, credentials: testCredentials })
    : new QuicConnection(path, { role, pinnedFingerprints: [testCredentials.fingerprint] });
