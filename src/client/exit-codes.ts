/**
 * tssh's exit statuses. Like ssh, tssh exits with the remote command's status
 * and uses 255 for its own failures; three statuses of its own say why a UDP
 * session ended without the remote command's status (docs/CLIENT.md).
 */
import type { ExitStatus } from '../protocol/messages.js';

/** ssh's status for its own failures (login, bootstrap, network) and for a remote death by signal. */
export const EXIT_FAILURE = 255;
/** The server was silent for UdpAliveTimeout and tssh gave up. */
export const EXIT_GAVE_UP = 254;
/** The user quit during an outage (Ctrl+D, or `~.` while the notice was shown). */
export const EXIT_QUIT_DURING_OUTAGE = 253;

/** The user detached (`~d`, or the exit key during an outage in attach mode); the session runs on. The reference tssh's status. */
export const EXIT_DETACHED = 208;

/** The status tssh exits with for a finished remote command: its code, or 255 for a signal (as ssh). */
export function exitCodeOf(status: ExitStatus): number {
  if (status.code !== undefined) return status.code & 0xff;
  return EXIT_FAILURE;
}
