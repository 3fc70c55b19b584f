/** Typed errors of the QUIC transport, and the application error codes it puts on the wire. */

/** Application error codes (RESET_STREAM, STOP_SENDING, CONNECTION_CLOSE). */
export const QuicAppError = {
  /** Graceful close. */
  NoError: 0,
  /** A stream was reset by its owner (Stream.reset() or destroy()). */
  StreamReset: 1,
  /** The connection was destroyed locally. */
  Destroyed: 2,
  /** The client rejected the server's certificate (fingerprint mismatch). */
  BadCertificate: 3,
} as const;

/** The server's certificate did not match any fingerprint pinned from the bootstrap. */
export class QuicIdentityError extends Error {
  constructor(readonly fingerprint: string | null) {
    super(fingerprint === null ? 'QUIC server presented no certificate' : `QUIC server certificate ${fingerprint} does not match the pinned fingerprint`);
    this.name = 'QuicIdentityError';
  }
}

/** The connection ended with an error code, sent by the peer or raised by the engine. */
export class QuicConnectionError extends Error {
  constructor(
    readonly code: number,
    readonly isApplication: boolean,
    readonly byPeer: boolean,
    reason: string,
  ) {
    super(`QUIC connection closed ${byPeer ? 'by the peer' : 'locally'}: ${isApplication ? 'application' : 'transport'} error ${code}${reason ? ` (${reason})` : ''}`);
    this.name = 'QuicConnectionError';
  }
}
