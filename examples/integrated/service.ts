/**
 * The integrated example's business logic, one Handler for both ways in:
 * TCP SSH (ssh2, ssh-server.ts) and UDP (tsshd, runMain). A middleware
 * greets interactive shells, then the built-in shell handler runs real
 * shells and commands as the user running the server.
 */
import { compose, shellHandler, type Middleware } from 'tsshd';

/** Environment variable that marks every process the integrated server starts (with its pid), so they can be found and stopped. */
export const SERVER_MARKER_ENV = 'TSSHD_INTEGRATED_SERVER';

/** Greets a login shell in a terminal with where the client is. */
export const welcome: Middleware = (next) => async (session) => {
  if (session.pty && session.command === '' && session.subsystem === undefined) {
    session.write(`[integrated example] shell for ${session.environ.USER ?? 'you'}; client ${session.remoteAddress} port ${session.remotePort}\r\n`);
  }
  await next(session);
};

/** What every session runs, whichever way it came in. */
export const service = compose([welcome], shellHandler());
