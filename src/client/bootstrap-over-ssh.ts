/**
 * The login half of a UDP session: run the user's own `ssh` (so keys, agent,
 * known_hosts, ProxyJump and ControlMaster behave as usual) with `tsshd` as
 * the remote command, show the user everything ssh says, read the one
 * bootstrap line tsshd prints on stdout, and turn every way this can fail
 * into one line that names the problem and the fix.
 */
import { spawn } from 'node:child_process';
import {
  BOOTSTRAP_MARKER,
  MAX_BOOTSTRAP_OUTPUT,
  parseBootstrap,
  type BootstrapInfo,
} from '../protocol/bootstrap.js';
import { oneLine, quoteValue } from '../protocol/config-syntax.js';
import { parseOptionPair, sshArgsWithout, type SshArgs } from './ssh-args.js';
import { isUdpForwardSpec } from './forward-plan.js';
import { afterMarker, ForcedCommandError, forcedCommandNotice, forcedCommandRan, markerLine } from './login-marker.js';
import { tsshdSearchCommand } from './install-plan.js';
import { isTsshOption, UDP_OPTION_DEFAULTS } from './udp-options.js';

const DEFAULT_TSSHD_COMMAND = UDP_OPTION_DEFAULTS.tsshdPath;

/** A bootstrap failure; the message is the one line to print. */
export class BootstrapError extends Error {
  override name = 'BootstrapError';
  /** What tsshd itself said on stderr (after "tsshd: "), when the failure was its own. */
  tsshdSaid?: string;
}

/** What tsshd is asked to do, from the resolved options. */
export interface TsshdCommandOptions {
  tsshdPath: string;
  /** TsshdPort spec, when set. */
  tsshdPort?: string;
  /** UdpMTU when set; unset, tsshd picks (the loopback size for a client on loopback). */
  mtu?: number;
  /** UdpProxyMode TCP. */
  tcp: boolean;
  /** Transport to ask for (default KCP). */
  transport?: 'kcp' | 'quic';
}

/** Quote a word for a POSIX shell; plain words stay readable. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_./:=,+@%-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The remote command line that starts tsshd; a leading `~/` in TsshdPath is left for the remote shell to expand. */
export function tsshdCommandLine(o: TsshdCommandOptions): string {
  const path = o.tsshdPath === '~' ? '~' : o.tsshdPath.startsWith('~/') ? `~/${shellQuote(o.tsshdPath.slice(2))}` : shellQuote(o.tsshdPath);
  const words = [o.transport === 'quic' ? '--quic' : '--kcp'];
  if (o.tsshdPort !== undefined) words.push('--port', shellQuote(o.tsshdPort));
  if (o.mtu !== undefined) words.push('--mtu', String(o.mtu));
  if (o.tcp) words.push('--tcp');
  // The default also finds a tsshd that --install-tsshd put in ~/.local/bin.
  return o.tsshdPath === DEFAULT_TSSHD_COMMAND ? tsshdSearchCommand(words) : [path, ...words].join(' ');
}

/** Option letters that would stop the login from running tsshd plainly: pty, no command, background, subsystem, stdio forward. */
const LOGIN_DROPPED_LETTERS = 'tTNfsW';

/**
 * The user's ssh arguments for the login: tssh's own options, a `-o` naming
 * one, the letters above and the remote command taken out, leaving options
 * and the destination. `alsoDropped`: more letters to take out (AGENT_X11_LETTERS
 * for the login that starts tsshd; `ssh -G` must still see them).
 */
export function loginSshArgs(argv: readonly string[], parsed: SshArgs, alsoDropped = ''): string[] {
  const words = sshArgsWithout(
    argv,
    parsed,
    (use) =>
      LOGIN_DROPPED_LETTERS.includes(use.letter) ||
      alsoDropped.includes(use.letter) ||
      // UDP forwards are tssh's alone; ssh would reject their syntax.
      ((use.letter === 'L' || use.letter === 'R') && use.value !== undefined && isUdpForwardSpec(use.value)) ||
      (use.letter === 'o' && use.value !== undefined && isTsshOption(parseOptionPair(use.value).key)),
  );
  // The remote command is always the tail of argv and no option removal touches it.
  return parsed.command.length > 0 ? words.slice(0, words.length - parsed.command.length) : words;
}

/**
 * Options put before the user's: ssh takes the first value it obtains, so
 * these win over the command line and config. No pty, no forwards (they are
 * tssh's business once on UDP), and the command given here is the one run.
 */
export const LOGIN_FORCED_OPTIONS: readonly string[] = [
  '-T',
  '-o', 'ClearAllForwardings=yes',
  '-o', 'ForwardAgent=no',
  '-o', 'ForwardX11=no',
  '-o', 'RemoteCommand=none',
  '-o', 'SessionType=default',
  '-o', 'ForkAfterAuthentication=no',
];

/**
 * -A/-X/-Y: agent and X11 forwarding are tssh's business over UDP; on the
 * login they would only set up an agent socket, a display and an xauth entry
 * for tsshd's start (a flag beats a forced -o, so the letters are dropped).
 */
export const AGENT_X11_LETTERS = 'AXY';

/** Inputs to {@link bootstrapOverSsh}. */
export interface BootstrapOverSshOptions {
  /** The ssh program. */
  program: string;
  /** From {@link loginSshArgs}: options and destination, no remote command. */
  args: readonly string[];
  /** From {@link tsshdCommandLine}. */
  remoteCommand: string;
  /** The server's name, for messages. */
  host: string;
  /** TsshdPath as configured, for messages. */
  tsshdPath: string;
  /** Once the bootstrap line is complete, ssh gets this long to exit before it is ended (default 3000 ms). */
  exitGraceMs?: number;
}

/** Reads the bootstrap line out of what the login printed; throws a one-line Error. */
export type BootstrapParser<T> = (stdout: string) => T;

/** What is kept of ssh's stderr to explain a failure: the last few lines are enough. */
const STDERR_TAIL = 16 * 1024;

/**
 * Log in with ssh, start tsshd and return what its bootstrap line says.
 * ssh's stderr is passed to ours as it arrives; stdin is /dev/null (ssh asks
 * for passwords on /dev/tty). Throws BootstrapError with one line.
 */
export function bootstrapOverSsh(o: BootstrapOverSshOptions): Promise<BootstrapInfo>;
export function bootstrapOverSsh<T>(o: BootstrapOverSshOptions, parse: BootstrapParser<T>): Promise<T>;
export function bootstrapOverSsh<T>(o: BootstrapOverSshOptions, parse: BootstrapParser<T> = parseBootstrap as BootstrapParser<T>): Promise<T> {
  const args = [...LOGIN_FORCED_OPTIONS, ...o.args, o.remoteCommand];
  return new Promise<T>((resolve, reject) => {
    const child = spawn(o.program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let tooMuch = false;
    let stderrTail = '';
    let graceTimer: NodeJS.Timeout | null = null;
    let startError: NodeJS.ErrnoException | null = null;
    let markerSeen = false;

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      if (tooMuch) return;
      stdout += s;
      if (!markerSeen) markerSeen = showLocalOutput(stdout);
      if (stdout.length > MAX_BOOTSTRAP_OUTPUT) {
        tooMuch = true;
        child.kill('SIGTERM');
        return;
      }
      // The line is complete: tsshd detaches now, and a stuck ssh must not hold tssh up.
      if (graceTimer === null && lineComplete(stdout)) {
        graceTimer = setTimeout(() => child.kill('SIGTERM'), o.exitGraceMs ?? 3000);
        // A valid line is all we need: go on while ssh closes its channel (its exit is reaped below).
        try {
          resolve(parse(stdout));
        } catch {
          // Not a valid line: wait for ssh's exit, and interpret() explains what went wrong.
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      startError = err;
    });
    child.once('close', (code, signal) => {
      if (graceTimer !== null) clearTimeout(graceTimer);
      if (startError !== null) {
        const hint = startError.code === 'ENOENT' ? 'install OpenSSH (the openssh-client package)' : 'check that it is executable';
        reject(new BootstrapError(`tssh: cannot run ${o.program}: ${startError.message}; ${hint}`));
        return;
      }
      try {
        resolve(interpret(o, { stdout, tooMuch, stderr: stderrTail, code, signal }, parse));
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

/** Once the login marker has come, show what ssh printed before it (LocalCommand's output); true then. */
function showLocalOutput(stdout: string): boolean {
  const marker = markerLine(stdout);
  if (marker === null) return false;
  if (marker.start > 0) process.stdout.write(stdout.slice(0, marker.start));
  return true;
}

function lineComplete(output: string): boolean {
  const at = output.lastIndexOf(BOOTSTRAP_MARKER);
  return at >= 0 && output.indexOf('\n', at) >= 0;
}

interface LoginResult {
  stdout: string;
  tooMuch: boolean;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Exit status of a shell that could not find the command. */
const NOT_FOUND_STATUS = 127;
/** Exit status of a shell that found the command but could not run it. */
const NOT_EXECUTABLE_STATUS = 126;
/** ssh's status for its own failures (and for a remote command that exits 255). */
const SSH_FAILURE_STATUS = 255;

/** Turn what the login produced into the bootstrap, or the one line explaining why not. */
export function interpret(o: Pick<BootstrapOverSshOptions, 'host' | 'tsshdPath'>, r: LoginResult): BootstrapInfo;
export function interpret<T>(o: Pick<BootstrapOverSshOptions, 'host' | 'tsshdPath'>, r: LoginResult, parse: BootstrapParser<T>): T;
export function interpret<T>(o: Pick<BootstrapOverSshOptions, 'host' | 'tsshdPath'>, r: LoginResult, parse: BootstrapParser<T> = parseBootstrap as BootstrapParser<T>): T {
  const host = o.host;
  const where = `TsshdPath ${quoteValue(o.tsshdPath)}`;
  if (r.tooMuch) {
    throw new BootstrapError(`tssh: ${where} on ${host} printed more than 1 MiB without a bootstrap line; is TsshdPath a tsshd?`);
  }
  // Anything after a BEL is (meant to be) the bootstrap, secret included: never echo it, only parse it.
  if (r.stdout.includes(BOOTSTRAP_MARKER)) {
    try {
      return parse(r.stdout);
    } catch (err) {
      throw new BootstrapError(`tssh: ${(err as Error).message}`);
    }
  }
  if (forcedCommandRan(r)) throw new ForcedCommandError(forcedCommandNotice(host));
  const status = r.code;
  const tsshdSaid = lastLineStarting(r.stderr, 'tsshd:');
  if (tsshdSaid !== null) {
    const said = oneLine(tsshdSaid.slice('tsshd:'.length).trim()).slice(0, 300);
    const err = new BootstrapError(`tssh: tsshd on ${host} failed: ${said}`);
    err.tsshdSaid = said;
    throw err;
  }
  const shellSaidMissing = status !== SSH_FAILURE_STATUS && /command not found|No such file or directory/i.test(lastLine(r.stderr));
  if (status === NOT_FOUND_STATUS || shellSaidMissing) {
    throw new BootstrapError(`tssh: tsshd was not found on ${host} (${where}); install it with tssh --install-tsshd ${host}, or set TsshdPath`);
  }
  if (status === NOT_EXECUTABLE_STATUS) {
    throw new BootstrapError(`tssh: ${where} on ${host} is not executable; fix its permissions or set TsshdPath to the tsshd command`);
  }
  if (status === SSH_FAILURE_STATUS || r.signal !== null) {
    const how = r.signal !== null ? `was ended by ${r.signal}` : 'failed (exit status 255)';
    throw new BootstrapError(`tssh: the ssh login to ${host} ${how}; see ssh's message above`);
  }
  const printed = printedSnippet(r.stdout);
  if (status === 0) {
    throw new BootstrapError(
      `tssh: ${where} on ${host} printed no bootstrap line${printed}; is TsshdPath a compatible tsshd?`,
    );
  }
  throw new BootstrapError(`tssh: ${where} on ${host} exited with status ${status ?? '?'} before printing its bootstrap line${printed}`);
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines[lines.length - 1] ?? '';
}

function lastLineStarting(text: string, prefix: string): string | null {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(prefix));
  return lines[lines.length - 1] ?? null;
}

/** ` (it printed "...")`, or nothing when nothing was printed. */
function printedSnippet(stdout: string): string {
  const text = oneLine(afterMarker(stdout).replace(/\s+/g, ' ').trim());
  if (text === '') return ' (it printed nothing)';
  return ` (it printed ${quoteValue(text, 60)})`;
}
