/**
 * tssh's command line, read the way OpenSSH's `ssh` reads it (BSD getopt with
 * ssh's option string, the destination, options again after the destination,
 * then the remote command), with tssh's own long options taken out first so
 * the rest can be handed to `ssh` unchanged.
 */
import { parsePortSpec } from '../path/port-spec.js';
import { quoteValue, splitConfigLine } from '../protocol/config-syntax.js';

/** ssh's getopt string (OpenSSH 9): a letter followed by ':' takes an argument. */
export const SSH_GETOPT = '1246AaCfGgKkMNnqsTtVvXxYyB:b:c:D:E:e:F:I:i:J:L:l:m:O:o:P:p:Q:R:S:W:w:';

/** What OpenSSH 9 says, and exits 255, for -1 (it reads -2 and says nothing). */
export const PROTOCOL_1_REFUSAL = 'SSH protocol v.1 is no longer supported';

const FLAGS = new Set<string>();
const WITH_ARG = new Set<string>();
for (let i = 0; i < SSH_GETOPT.length; i++) {
  if (SSH_GETOPT[i + 1] === ':') WITH_ARG.add(SSH_GETOPT[i++]!);
  else FLAGS.add(SSH_GETOPT[i]!);
}

/** UdpMode as the user can spell it: `yes` means the default transport (KCP). */
export type UdpModeSetting = 'yes' | 'kcp' | 'quic' | 'no';

/** The escape character: a byte value, or 'none' to disable escapes. */
export type EscapeChar = number | 'none';

/** tssh's own options, removed before ssh sees the command line. */
export interface TsshOwnOptions {
  /** From --udp (yes), --kcp, --quic or --tcp (no). */
  udpMode?: UdpModeSetting;
  tsshdPath?: string;
  tsshdPort?: string;
  /** --attach: attach to a running session (UdpSessionAttach yes; implies --udp). */
  attach?: boolean;
  /** --predict=never|adaptive|always (PredictiveEcho). */
  predict?: string;
  /** -h / --help was given. */
  help: boolean;
  /** --version was given. */
  version?: boolean;
  /** --install-tsshd: install tsshd on the server instead of logging in (install-tsshd.ts). */
  installTsshd?: boolean;
  /** --install-path DIR on the server. */
  installPath?: string;
  /** --tsshd-bin-path FILE to upload. */
  tsshdBinPath?: string;
  /** --tsshd-version X (the reference's flag): must be the version this tssh carries. */
  tsshdVersion?: string;
}

/** One `-o` option: key in lower case, value as written (quotes kept, for later splitting). */
export interface SshOptionPair {
  key: string;
  value: string;
}

/** Everything tssh needs from its command line. */
export interface SshArgs {
  ourOptions: TsshOwnOptions;
  /** argv to hand to ssh: the input minus tssh's own options, otherwise unchanged. */
  sshArgs: string[];
  /** Input argv indexes that make up `sshArgs`. */
  sshArgIndexes: number[];
  /** The destination as written ('' when none was needed: help, -V, -Q). */
  destination: string;
  /** Host part of the destination. */
  host: string;
  /** First of -l and user@ (ssh keeps the first one it sees). */
  user?: string;
  /** First of -p and the ssh:// port. */
  port?: number;
  /** Remote command words, as given after the destination. */
  command: string[];
  /** The remote command as ssh sends it: the words joined with single spaces. */
  commandLine: string;
  /** Number of -t after the last -T (2 or more forces a pty). */
  tCount: number;
  /** The last of -t/-T was -T. */
  forceNoTty: boolean;
  options: SshOptionPair[];
  localForwards: string[];
  remoteForwards: string[];
  dynamicForwards: string[];
  stdioForward?: string;
  /** -N: no remote command. */
  noCommand: boolean;
  /** -s: the command is a subsystem name. */
  subsystem: boolean;
  escapeChar?: EscapeChar;
  configFile?: string;
  /** -A (true) or -a (false), the last one given. */
  agent?: boolean;
  /** -X (untrusted), -Y (trusted) or -x (off), the last one given. */
  x11?: 'off' | 'untrusted' | 'trusted';
  verbose: number;
  quiet: boolean;
  /** Options that make ssh do something other than log in (-V, -Q, -G, -O): run ssh as is. */
  passThrough: boolean;
  /** Every ssh option in order, for anything not broken out above. */
  letters: SshOptionUse[];
}

/** One use of an ssh option letter and where it sits in argv (for rewriting the command line). */
export interface SshOptionUse {
  letter: string;
  value?: string;
  /** Index in the input argv of the word holding the letter. */
  argIndex: number;
  /** Position of the letter in that word. */
  charIndex: number;
  /** The value was the next argv word rather than attached. */
  separateValue: boolean;
}

const USAGE_HINT = 'run tssh --help for usage';

/**
 * Parse tssh's argv (without node and script). Throws a one-line Error for an
 * unknown option, a missing option argument, a bad -p/-e/-o, or no destination.
 */
export function parseSshArgs(argv: readonly string[]): SshArgs {
  const out: SshArgs = {
    ourOptions: { help: false },
    sshArgs: [],
    sshArgIndexes: [],
    destination: '',
    host: '',
    command: [],
    commandLine: '',
    tCount: 0,
    forceNoTty: false,
    options: [],
    localForwards: [],
    remoteForwards: [],
    dynamicForwards: [],
    noCommand: false,
    subsystem: false,
    verbose: 0,
    quiet: false,
    passThrough: false,
    letters: [],
  };
  const ours = new Set<number>();
  const modes = new Set<UdpModeSetting>();
  let i = 0;
  let terminated = false;
  let exitedEarly = false;

  // One getopt pass; stops at the first non-option, after `--`, or at -V/-Q (ssh exits there).
  const options = (): void => {
    while (i < argv.length) {
      const arg = argv[i]!;
      if (arg === '--') {
        i++;
        terminated = true;
        return;
      }
      if (arg.startsWith('--')) {
        i = ownLongOption(argv, i, out.ourOptions, modes, ours);
        continue;
      }
      if (arg === '-h') {
        out.ourOptions.help = true;
        ours.add(i++);
        continue;
      }
      if (arg[0] !== '-' || arg === '-') return;
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j]!;
        if (WITH_ARG.has(letter)) {
          let value = arg.slice(j + 1);
          const argIndex = i;
          const separateValue = value === '';
          if (separateValue) {
            if (i + 1 >= argv.length) throw new Error(`tssh: option requires an argument -- ${letter}; ${USAGE_HINT}`);
            value = argv[++i]!;
          }
          sshOption(out, { letter, value, argIndex, charIndex: j, separateValue });
          exitedEarly = letter === 'Q';
          break;
        }
        if (!FLAGS.has(letter)) throw new Error(`tssh: unknown option -- ${printable(letter)}; ${USAGE_HINT}`);
        sshOption(out, { letter, argIndex: i, charIndex: j, separateValue: false });
        if (letter === 'V') {
          exitedEarly = true;
          break;
        }
      }
      i++;
      if (exitedEarly) return;
    }
  };

  options();
  if (!exitedEarly && i < argv.length) {
    out.destination = argv[i++]!;
    parseDestination(out.destination, out);
    if (!terminated) options();
    if (!exitedEarly) out.command = argv.slice(i);
  }
  out.commandLine = out.command.join(' ');
  if (out.letters.some((l) => 'VQGO'.includes(l.letter))) out.passThrough = true;
  if (out.destination === '' && !out.passThrough && !out.ourOptions.help && out.ourOptions.version !== true) {
    throw new Error('tssh: missing destination; usage: tssh [options] [user@]host [command]');
  }
  out.ourOptions.udpMode = combineModes(modes);
  out.sshArgIndexes = argv.map((_, k) => k).filter((k) => !ours.has(k));
  out.sshArgs = out.sshArgIndexes.map((k) => argv[k]!);
  return out;
}

const OWN_WITH_VALUE: Record<string, 'tsshdPath' | 'tsshdPort' | 'predict' | 'installPath' | 'tsshdBinPath' | 'tsshdVersion'> = {
  '--tsshd-path': 'tsshdPath',
  '--tsshd-port': 'tsshdPort',
  '--predict': 'predict',
  '--install-path': 'installPath',
  '--tsshd-bin-path': 'tsshdBinPath',
  '--tsshd-version': 'tsshdVersion',
};
const OWN_VALUE_EXAMPLES: Record<string, string> = {
  '--tsshd-path': '~/bin/tsshd',
  '--tsshd-port': '61001-61999',
  '--predict': 'adaptive',
  '--install-path': '~/.local/bin',
  '--tsshd-bin-path': './tsshd',
  '--tsshd-version': '0.1.0',
};
const OWN_MODES: Record<string, UdpModeSetting> = { '--udp': 'yes', '--kcp': 'kcp', '--quic': 'quic', '--tcp': 'no' };
const OWN_FLAGS: Record<string, 'help' | 'version' | 'installTsshd' | 'attach'> = { '--help': 'help', '--version': 'version', '--install-tsshd': 'installTsshd', '--attach': 'attach' };

/** Every long option tssh takes itself (tssh-usage.ts documents each; a test holds them together). */
export const TSSH_LONG_OPTIONS: readonly string[] = [...Object.keys(OWN_MODES), ...Object.keys(OWN_WITH_VALUE), ...Object.keys(OWN_FLAGS)];

// Returns the index after the option (and its value); records the indexes to drop.
function ownLongOption(argv: readonly string[], i: number, own: TsshOwnOptions, modes: Set<UdpModeSetting>, ours: Set<number>): number {
  const arg = argv[i]!;
  const eq = arg.indexOf('=');
  const name = eq >= 0 ? arg.slice(0, eq) : arg;
  ours.add(i);
  const mode = OWN_MODES[name];
  const flag = OWN_FLAGS[name];
  if (mode !== undefined || flag !== undefined) {
    if (eq >= 0) throw new Error(`tssh: ${name} takes no value (got ${quoteValue(arg)})`);
    if (mode !== undefined) modes.add(mode);
    else own[flag!] = true;
    return i + 1;
  }
  const key = OWN_WITH_VALUE[name];
  if (key === undefined) {
    throw new Error(`tssh: unknown option ${quoteValue(name)}; tssh's own options are ${TSSH_LONG_OPTIONS.join(', ')} (tssh --help)`);
  }
  let value: string;
  let next = i + 1;
  if (eq >= 0) value = arg.slice(eq + 1);
  else {
    if (next >= argv.length) throw new Error(`tssh: ${name} needs a value, e.g. ${name} ${OWN_VALUE_EXAMPLES[name]}`);
    ours.add(next);
    value = argv[next++]!;
  }
  if (value === '') throw new Error(`tssh: ${name} needs a non-empty value`);
  if (key === 'tsshdPort') {
    try {
      parsePortSpec(value);
    } catch (err) {
      throw new Error(`tssh: --tsshd-port: ${(err as Error).message}`);
    }
  }
  if (key === 'predict' && !['never', 'adaptive', 'always'].includes(value.toLowerCase())) {
    throw new Error(`tssh: --predict must be never, adaptive or always (got ${quoteValue(value)})`);
  }
  own[key] = value;
  return next;
}

function combineModes(modes: Set<UdpModeSetting>): UdpModeSetting | undefined {
  if (modes.has('no') && modes.size > 1) throw new Error('tssh: --tcp turns UDP off and cannot be combined with --udp, --kcp or --quic');
  if (modes.has('kcp') && modes.has('quic')) throw new Error('tssh: --kcp and --quic cannot be used together; pick one');
  for (const m of ['no', 'kcp', 'quic', 'yes'] as const) if (modes.has(m)) return m;
  return undefined;
}

function sshOption(out: SshArgs, use: SshOptionUse): void {
  out.letters.push(use);
  const { letter, value } = use;
  switch (letter) {
    case '1':
      throw new Error(PROTOCOL_1_REFUSAL);
    case 't':
      out.tCount++;
      out.forceNoTty = false;
      break;
    case 'T':
      out.tCount = 0;
      out.forceNoTty = true;
      break;
    case 'N':
      out.noCommand = true;
      break;
    case 's':
      out.subsystem = true;
      break;
    case 'A':
      out.agent = true;
      break;
    case 'a':
      out.agent = false;
      break;
    case 'X':
      out.x11 = 'untrusted';
      break;
    case 'Y':
      out.x11 = 'trusted';
      break;
    case 'x':
      out.x11 = 'off';
      break;
    case 'v':
      out.verbose++;
      break;
    case 'q':
      out.quiet = true;
      break;
    case 'L':
      out.localForwards.push(value!);
      break;
    case 'R':
      out.remoteForwards.push(value!);
      break;
    case 'D':
      out.dynamicForwards.push(value!);
      break;
    case 'W':
      out.stdioForward = value!;
      break;
    case 'F':
      out.configFile = value!;
      break;
    case 'l':
      out.user ??= value!;
      break;
    case 'p':
      if (out.port === undefined) out.port = parsePort(value!, '-p');
      break;
    case 'e': {
      const escape = parseEscapeChar(value!);
      if (escape === null) throw new Error(`tssh: bad escape character ${quoteValue(value!)} for -e; use one character, ^X or none`);
      out.escapeChar = escape;
      break;
    }
    case 'o':
      out.options.push(parseOptionPair(value!));
      break;
  }
}

/**
 * The argv for ssh with some option uses removed (e.g. `-o UdpMode=yes`, which
 * ssh would reject), keeping the rest of a cluster such as `-to X=Y` as `-t`.
 */
export function sshArgsWithout(argv: readonly string[], parsed: SshArgs, drop: (use: SshOptionUse) => boolean): string[] {
  const words = new Map<number, string | null>();
  // Walk from the end so earlier letters' positions stay valid while cutting.
  for (const use of [...parsed.letters].reverse()) {
    if (!drop(use)) continue;
    const word = words.get(use.argIndex) ?? argv[use.argIndex]!;
    const cut = WITH_ARG.has(use.letter) ? word.slice(0, use.charIndex) : word.slice(0, use.charIndex) + word.slice(use.charIndex + 1);
    words.set(use.argIndex, cut === '-' ? null : cut);
    if (use.separateValue) words.set(use.argIndex + 1, null);
  }
  const kept = new Set(parsed.sshArgIndexes);
  const out: string[] = [];
  argv.forEach((word, k) => {
    if (!kept.has(k)) return;
    const replaced = words.has(k) ? words.get(k) : word;
    if (replaced !== null && replaced !== undefined) out.push(replaced);
  });
  return out;
}

/** Parse one `-o` argument: `Key=Value` or `Key Value`. */
export function parseOptionPair(text: string): SshOptionPair {
  const words = splitConfigLine(text);
  const key = words?.keyword ?? '';
  if (key === '' || key.startsWith('#')) throw new Error(`tssh: -o ${quoteValue(text)} has no option name; use -o Key=Value`);
  const value = text
    .replace(/^\s*[^\s=]+\s*=?\s*/, '')
    .trim();
  if (value === '') throw new Error(`tssh: -o ${quoteValue(text)} has no value; use -o Key=Value`);
  return { key, value };
}

/** ssh's escape character syntax: one character, `^X` (a control character) or `none`; null if invalid. */
export function parseEscapeChar(text: string): EscapeChar | null {
  if (text.length === 2 && text[0] === '^') {
    const code = text.charCodeAt(1);
    if (code >= 64 && code < 128) return code & 31;
  }
  if (text.length === 1 && text.charCodeAt(0) < 256) return text.charCodeAt(0);
  if (text === 'none') return 'none';
  return null;
}

function parsePort(text: string, what: string): number {
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new Error(`tssh: bad port ${quoteValue(text)} for ${what}; use a number from 1 to 65535`);
  return n;
}

// [user@]host (the last @ splits) or ssh://[user@]host[:port][/].
function parseDestination(text: string, out: SshArgs): void {
  if (text.startsWith('ssh://')) {
    let rest = text.slice(6);
    if (rest.endsWith('/')) rest = rest.slice(0, -1);
    if (rest.includes('/')) throw new Error(`tssh: bad destination ${quoteValue(text)}: an ssh:// URI takes no path; use ssh://[user@]host[:port]`);
    const at = rest.lastIndexOf('@');
    if (at >= 0) {
      const user = decodeUriPart(rest.slice(0, at).split(';')[0]!, text);
      if (user === '') throw new Error(`tssh: bad destination ${quoteValue(text)}: empty user; use ssh://[user@]host[:port]`);
      out.user ??= user;
      rest = rest.slice(at + 1);
    }
    let host: string;
    let portText: string | undefined;
    if (rest.startsWith('[')) {
      const close = rest.indexOf(']');
      if (close < 0 || (close + 1 < rest.length && rest[close + 1] !== ':')) {
        throw new Error(`tssh: bad destination ${quoteValue(text)}: unclosed [ in host; use ssh://[user@][::1]:port`);
      }
      host = rest.slice(1, close);
      if (close + 1 < rest.length) portText = rest.slice(close + 2);
    } else {
      const colon = rest.indexOf(':');
      host = colon < 0 ? rest : rest.slice(0, colon);
      if (colon >= 0) portText = rest.slice(colon + 1);
    }
    if (host === '') throw new Error(`tssh: bad destination ${quoteValue(text)}: missing host; use ssh://[user@]host[:port]`);
    out.host = host;
    if (portText !== undefined && portText !== '') {
      const port = parsePort(portText, `destination ${quoteValue(text)}`);
      out.port ??= port;
    }
    return;
  }
  const at = text.lastIndexOf('@');
  if (at === 0) throw new Error(`tssh: bad destination ${quoteValue(text)}: empty user; use [user@]host`);
  if (at > 0) out.user ??= text.slice(0, at);
  out.host = text.slice(at + 1);
  if (out.host === '') throw new Error(`tssh: bad destination ${quoteValue(text)}: missing host; use [user@]host`);
}

function decodeUriPart(part: string, whole: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new Error(`tssh: bad destination ${quoteValue(whole)}: bad %-escape in user; use ssh://[user@]host[:port]`);
  }
}

function printable(letter: string): string {
  return /^[\x21-\x7e]$/.test(letter) ? letter : quoteValue(letter);
}

/** Inputs to {@link decidePty}. */
export interface PtyDecisionInput {
  tCount: number;
  forceNoTty: boolean;
  command: readonly string[] | string;
  stdinIsTty: boolean;
  /** -N or -W: there is no session, so no pty. */
  noCommand?: boolean;
  /** RequestTTY from ssh_config, used only when neither -t nor -T was given. */
  requestTty?: 'auto' | 'no' | 'yes' | 'force';
  /** -q: suppress the warning. */
  quiet?: boolean;
  /** Receives ssh's "Pseudo-terminal will not be allocated..." warning. */
  warn?: (message: string) => void;
}

/** The warning ssh prints when a pty was wanted but stdin is not a terminal. */
export const NO_PTY_WARNING = 'Pseudo-terminal will not be allocated because stdin is not a terminal.';

/** ssh's rule for whether to ask for a pseudo-terminal. */
export function decidePty(input: PtyDecisionInput): boolean {
  let request = input.forceNoTty ? 'no' : input.tCount >= 2 ? 'force' : input.tCount === 1 ? 'yes' : 'auto';
  if (request === 'auto' && input.requestTty !== undefined) request = input.requestTty;
  const hasCommand = typeof input.command === 'string' ? input.command !== '' : input.command.length > 0;
  let tty = request === 'yes' || request === 'force';
  if (!hasCommand) tty = request !== 'no';
  if (request === 'no' || input.noCommand) tty = false;
  if (!input.stdinIsTty && request !== 'force') {
    if (tty && !input.quiet) input.warn?.(NO_PTY_WARNING);
    tty = false;
  }
  return tty;
}
