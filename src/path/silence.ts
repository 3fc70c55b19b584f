/**
 * The one definition of "the peer has gone silent", shared by everything that
 * reacts to silence: the client path's silence probe (client-path.ts), KCP's
 * outage replay and QUIC's pokes (src/transport). A peer that owes us an
 * answer and has said nothing for this long is taken as out of reach: 250 ms,
 * or 3 smoothed RTTs on a slower link (so a long RTT is not taken for silence).
 *
 * Liveness today: the path owns contact lost/restored (heartbeat timeout),
 * address validation and renewal; the transports still each watch silence
 * with their own packets in flight (they alone know what is owed), but by
 * this one threshold. Moving that watch into the path as a 'peer-silent'
 * event is the remaining step (docs/PROTOCOL.md, "Liveness and renewal").
 */

/** Least silence taken as the peer being out of reach, ms. */
export const SILENCE_FLOOR_MS = 250;

/** Silence after which the peer counts as out of reach, given a smoothed RTT in ms (NaN or 0: none yet). */
export function silenceThresholdMs(srttMs: number): number {
  const s = 3 * srttMs;
  return s > SILENCE_FLOOR_MS ? s : SILENCE_FLOOR_MS;
}
