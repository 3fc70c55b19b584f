import { randomBytes, timingSafeEqual } from 'node:crypto';
import type net from 'node:net';

/**
 * Address validation (docs/PROTOCOL.md, "Address validation"), after RFC 9000
 * §8.1 and §9.3. An authenticated datagram proves that its sender holds the
 * session keys, not that its source address is where that sender is: an
 * on-path observer can copy a client datagram and race the copy from any
 * address. So a new source address becomes a *candidate*, not the peer:
 *
 * - The server challenges it: a PathChallenge datagram carrying 8 random bytes,
 *   sealed under the session keys (only the client can read it), sent to the
 *   candidate. The client answers every challenge at once with a PathResponse
 *   carrying the same bytes; that answer arriving *from the candidate* proves
 *   the candidate reaches the client, and the candidate becomes the peer.
 * - Until then the candidate gets at most AMPLIFICATION_FACTOR times the bytes
 *   it sent (counted from the datagrams that authenticated), so a raced copy
 *   aims at most 3x its own size at a victim. What does not fit goes to the old
 *   (validated) peer address, which stays usable until the candidate is
 *   validated, so a spoofed move costs the real client nothing.
 * - Roaming stays as fast as before: replies to the candidate go out at once
 *   (within the budget), and the challenge rides right beside them, so the
 *   first echo reaches a client at its new address one round trip after its
 *   first datagram from there, and validation completes in that same round trip.
 *
 * A Candidate is one such address and its budget; ServerPath owns at most one.
 */

/** Bytes of the random challenge. */
export const CHALLENGE_BYTES = 8;
/** An unvalidated address gets at most this many times the bytes it sent (RFC 9000 §8). */
export const AMPLIFICATION_FACTOR = 3;
/** A challenge goes again (on the candidate's next newest datagram) once the last one is this old, or 2 RTTs if longer. */
export const CHALLENGE_RETRY_MS = 100;

/** Where datagrams come from and go to: a UDP source address, or (UDP-over-TCP) the connection too. */
export interface PathAddress {
  readonly address: string;
  readonly port: number;
  /** The TCP connection (UdpProxyMode TCP), else null. */
  readonly conn: net.Socket | null;
}

/** Whether `a` is the address (and connection) address/port/conn. */
export function sameAddress(a: PathAddress | null, address: string, port: number, conn: net.Socket | null): boolean {
  return a !== null && a.port === port && a.address === address && a.conn === conn;
}

/** An address that sent the newest authenticated datagram but has not answered a challenge yet. */
export class Candidate implements PathAddress {
  /** The challenge's random bytes; the answer must carry them. */
  readonly challenge = randomBytes(CHALLENGE_BYTES);
  /** Authenticated bytes received from the candidate, and sealed bytes sent to it. */
  private received = 0;
  private sent = 0;
  /** performance.now() of the last challenge sent (-Infinity: none yet). */
  challengedAt = -Infinity;

  constructor(
    readonly address: string,
    readonly port: number,
    readonly conn: net.Socket | null,
  ) {}

  /** An authenticated datagram of `bytes` arrived from the candidate: more budget. */
  receivedBytes(bytes: number): void {
    this.received += bytes;
  }

  /** Whether `bytes` more may go to the candidate without passing the amplification limit. */
  mayReceive(bytes: number): boolean {
    return this.sent + bytes <= AMPLIFICATION_FACTOR * this.received;
  }

  /** `bytes` went to the candidate. */
  sentBytes(bytes: number): void {
    this.sent += bytes;
  }

  /** Whether a challenge is due (none yet, or the last one may be lost). */
  challengeDue(now: number, srttMs: number): boolean {
    const retry = Number.isFinite(srttMs) && 2 * srttMs > CHALLENGE_RETRY_MS ? 2 * srttMs : CHALLENGE_RETRY_MS;
    return now - this.challengedAt >= retry;
  }

  /** Whether `answer` (a PathResponse payload) answers this candidate's challenge. */
  answeredBy(answer: Uint8Array): boolean {
    return answer.length === CHALLENGE_BYTES && timingSafeEqual(answer, this.challenge);
  }
}
