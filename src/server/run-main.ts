import type { Writable } from 'node:stream';
import type { Handler, Middleware } from './session.js';
import { tsshdMain } from './tsshd-main.js';

/**
 * tsshd as a function, for programs that serve their own sessions: the same
 * flags, bootstrap line, detaching and lifetime as the tsshd command, with a
 * handler and middleware of the program's choosing.
 */

/** What {@link runMain} runs. */
export interface RunMainOptions {
  /** tsshd's flags (`--kcp`, `--quic`, `--port`, `--mtu`, `--tcp`, `--connect-timeout`, `--debug`); default `process.argv.slice(2)`. */
  argv?: readonly string[];
  /** Serves each session; default: the real shell and command handler (shellHandler() with sshd_config's subsystems). */
  handler?: Handler;
  /** Wrapped around the handler, the first in the list outermost (see compose()). */
  middleware?: readonly Middleware[];
  /** Whether clients may ask for port forwarding (default true). */
  forwarding?: boolean;
  /**
   * The daemon half is this same program started again (`process.argv[1]`)
   * with these arguments before tsshd's flags, so a program with several
   * modes can find its way back to runMain (e.g. `['tsshd']`). Default none.
   */
  daemonArgs?: readonly string[];
  /** Where the bootstrap line goes; default process.stdout. */
  stdout?: Writable;
  /** Where one-line errors go; default process.stderr. */
  stderr?: Writable;
}

/**
 * Run tsshd: check the flags, start the daemon half, print its bootstrap
 * line and resolve with the exit status (0, 1 could not start, 2 bad
 * flags); in the daemon half, serve the client until the session is over
 * and resolve with the daemon's status. Call it at the top of the program,
 * with the same options in every run, and exit with what it returns:
 *
 * ```ts
 * process.exit(await runMain({ handler: async (s) => { s.write('hi\r\n'); } }));
 * ```
 */
export function runMain(options: RunMainOptions = {}): Promise<number> {
  const io = { stdout: options.stdout ?? process.stdout, stderr: options.stderr ?? process.stderr };
  const embed: Parameters<typeof tsshdMain>[2] = {};
  if (options.handler !== undefined) embed.handler = options.handler;
  if (options.middleware !== undefined) embed.middleware = options.middleware;
  if (options.forwarding !== undefined) embed.forwarding = options.forwarding;
  if (options.daemonArgs !== undefined) embed.daemonArgs = options.daemonArgs;
  return tsshdMain(options.argv ?? process.argv.slice(2), io, embed);
}
