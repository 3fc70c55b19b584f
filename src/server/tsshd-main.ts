import type { Writable } from 'node:stream';
import { parsePortSpec } from '../path/port-spec.js';
import { PROTOCOL_VERSION, VERSION } from '../version.js';
import { REFERENCE_PROTOCOL_VERSION } from '../protocol/reference/server-info.js';
import { DebugLog } from './debug-log.js';
import { isRelayCommand, RELAY_USAGE, relayMain } from './hop-relay-main.js';
import { reportToParent, spawnDaemon, takeDaemonRole } from './detach.js';
import { parseTsshdArgs } from './tsshd-args.js';
import type { ServeOptions, StartedServer } from './tsshd-server.js';

/**
 * The tsshd command. Run by ssh, it checks its flags, starts the daemon half
 * (detach.ts), prints the daemon's bootstrap line and exits 0; the daemon
 * half (the same command, spawned with an IPC channel) serves the session
 * until its lifetime ends. Exit statuses: 0 success, 1 tsshd could not
 * start, 2 bad command line.
 */

/** Exit status for a bad command line. */
export const EXIT_USAGE = 2;
/** Exit status when tsshd could not start (no free port, bind error, bad sshd_config). */
export const EXIT_FAILURE = 1;
/** Exit status of a daemon that hit a bug (its sessions are hung up first). */
export const EXIT_INTERNAL = 70;

/** Where the command writes; process.stdout and process.stderr by default. */
export interface TsshdIo {
  stdout: Writable;
  stderr: Writable;
}

function writeAll(stream: Writable, text: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = (): void => resolve(false);
    stream.once('error', onError);
    stream.write(text, (err) => {
      stream.off('error', onError);
      resolve(!err);
    });
  });
}

function firstLine(err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  return text.startsWith('tsshd:') ? text : `tsshd: ${text}`;
}

/** How a program that embeds tsshd (runMain) serves sessions and restarts itself as the daemon. */
export interface EmbedOptions extends ServeOptions {
  /** Arguments put before tsshd's flags when this program is started again as the daemon half (default none). */
  daemonArgs?: readonly string[];
}

/** Run tsshd with `argv` (without node and script); resolves with the exit status. */
export async function tsshdMain(
  argv: readonly string[],
  io: TsshdIo = { stdout: process.stdout, stderr: process.stderr },
  embed: EmbedOptions = {},
): Promise<number> {
  // ssh may have gone: a closed stdout or stderr must not crash tsshd.
  io.stdout.on('error', () => undefined);
  io.stderr.on('error', () => undefined);
  // A jump host's relay (ProxyJump): its own small daemon, no sessions.
  if (isRelayCommand(argv)) return relayMain(argv, io, embed.daemonArgs);
  if (takeDaemonRole()) return runDaemon(argv, embed);

  let command;
  try {
    command = parseTsshdArgs(argv);
  } catch (err) {
    await writeAll(io.stderr, `${firstLine(err)}\n`);
    return EXIT_USAGE;
  }
  if (command.action === 'version') {
    const more = command.detailed ? ` (protocol ${PROTOCOL_VERSION}; also serves the reference tssh, protocol ${REFERENCE_PROTOCOL_VERSION} as of tsshd v0.1.9)` : '';
    await writeAll(io.stdout, `tsshd ${VERSION}${more}\n`);
    return 0;
  }
  if (command.action === 'help') {
    await writeAll(io.stdout, `${command.usage}\nAs a jump host's relay (started by tssh for ProxyJump):\n${RELAY_USAGE}`);
    return 0;
  }
  if (command.action === 'list' || command.action === 'view' || command.action === 'attach') {
    const attach = await import('./attach-commands.js');
    try {
      if (command.action === 'list') await attach.runList(io.stdout);
      else if (command.action === 'view') await attach.runView(command.pid, command.session, io.stdout);
      else await attach.runAttach(command.pid, command.options, io.stdout);
      return 0;
    } catch (err) {
      await writeAll(io.stderr, `${attach.commandFailure(`--${command.action}`, err)}
`);
      return EXIT_FAILURE;
    }
  }
  const options = command.options;
  try {
    parsePortSpec(options.port);
  } catch (err) {
    await writeAll(io.stderr, `tsshd: --port: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
  const report = await spawnDaemon([...(embed.daemonArgs ?? []), ...argv]);
  if (report.type === 'failed') {
    await writeAll(io.stderr, `${firstLine(report.message)}\n`);
    return EXIT_FAILURE;
  }
  if (report.logPath !== undefined) await writeAll(io.stderr, `tsshd: debug log: ${report.logPath}\n`);
  return (await writeAll(io.stdout, report.bootstrapLine)) ? 0 : EXIT_FAILURE;
}

/** The daemon half: start serving, report to the parent, serve until the lifetime ends. */
async function runDaemon(argv: readonly string[], serve: ServeOptions): Promise<number> {
  let log = DebugLog.disabled();
  let server: StartedServer | undefined;
  // Last words: hang up the sessions so no shell outlives a crashed tsshd.
  process.on('uncaughtException', (err) => {
    log.logNow(`internal error: ${err.stack ?? err.message}`);
    server?.host.hangup();
    process.exit(EXIT_INTERNAL);
  });
  try {
    const command = parseTsshdArgs(argv);
    if (command.action !== 'run') throw new Error('tsshd: the daemon was started without options to run');
    const options = command.options;
    if (options.debug) log = await DebugLog.open(process.env);
    log.log(`tsshd ${VERSION} starting (pid ${process.pid}, ${options.mode}, ${options.proxyMode}, port ${options.port}, mtu ${options.mtu}, connect timeout ${options.connectTimeout} s)`);
    // Loaded here, not at the top: the half that ssh waits for (the parent) never needs the server's modules.
    const { startServer } = await import('./tsshd-server.js');
    server = await startServer(options, process.env, log, serve);
  } catch (err) {
    log.log(`start-up failed: ${firstLine(err)}`);
    await reportToParent({ type: 'failed', message: firstLine(err) });
    await log.close();
    return EXIT_FAILURE;
  }
  const report = log.path === undefined
    ? { type: 'ready' as const, bootstrapLine: server.bootstrapLine }
    : { type: 'ready' as const, bootstrapLine: server.bootstrapLine, logPath: log.path };
  if (!(await reportToParent(report))) {
    // Nobody will ever learn the secret, so no client can come.
    server.lifetime.abort('the tsshd that started this daemon went away before printing the bootstrap line');
  }
  const ending = await server.lifetime.ended;
  log.log(`exiting with status ${ending.code}: ${ending.reason}`);
  await log.close();
  return ending.code;
}
