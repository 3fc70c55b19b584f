import type { EventEmitter } from 'node:events';

/**
 * What the transport layer sees of the path: an unreliable datagram pipe to a
 * peer that never moves. Roaming, sealing, replay protection, rekeying and
 * renewal all happen below this interface (ServerPath, ClientPath), so KCP
 * and QUIC never learn that an address or a key changed: they only hear that
 * the path changed ('renewed', 'peer-moved') and restart their estimates, and
 * every burst of resends that follows is capped (an initial window) or paced.
 *
 * Events (for liveness-aware layers above):
 *  - 'contact-lost'     (sinceMs: number)  no authenticated datagram for a while
 *  - 'contact-restored' ()                 an authenticated datagram arrived again
 *  - 'renewed'          (reason: string)   client: the path switched socket (a new path: forget its estimates, probe)
 *  - 'peer-moved'       (address, port)    server: a new peer address was validated (address-validation.ts);
 *                                          the one "path changed" signal, as 'renewed' is the client's. An
 *                                          unvalidated address ('peer-candidate') is never announced as a move.
 *  - 'gave-up'          (reason: string)   UdpAliveTimeout passed; the path is closed
 *  - 'close'            (reason?: string)  closed locally, by the peer's goodbye, or after giving up
 *  - 'payload-budget'   (budget: number)   payloadBudget grew (a server whose first peer is on loopback)
 */
export interface DatagramPath extends EventEmitter {
  /**
   * Largest payload accepted by send(), in bytes (UdpMTU minus sealing
   * overhead). It may grow (a server learns its peer at the first
   * authenticated datagram; event 'payload-budget'); it never shrinks.
   */
  readonly payloadBudget: number;
  /** The most payloadBudget may grow to, and the largest payload the peer's path may send (default: payloadBudget). */
  readonly largestPayloadBudget?: number;
  /**
   * Send one datagram, best effort. Never throws for network trouble (that is
   * counted and may trigger a renewal). Throws RangeError if payload.length >
   * payloadBudget. The caller may reuse `payload` after the call returns.
   */
  send(payload: Uint8Array): void;
  /**
   * Receiver of authenticated, decrypted payloads, in arrival order (which may
   * differ from send order). The receiver owns the Buffer.
   */
  onDatagram: ((payload: Buffer) => void) | null;
  /** Smoothed round-trip time in ms from the path's echoed timestamps (RFC 6298), or NaN before the first sample. */
  readonly srttMs: number;
  /** Stop everything; idempotent. */
  close(): void;
}
