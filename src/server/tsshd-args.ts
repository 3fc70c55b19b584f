/**
 * tsshd's command line. tssh runs `tsshd [flags]` over the SSH login, so the
 * flags mirror the client's options (transport, proxy mode, port range, MTU).
 */
import { quoteValue } from '../protocol/config-syntax.js';
import { columns, flagRows, type FlagDoc } from '../usage-text.js';

/** Port range tsshd picks its UDP port from when --port is not given. */
export const DEFAULT_TSSHD_PORT = '61001-61999';
/** Default path MTU in bytes. */
export const DEFAULT_TSSHD_MTU = 1400;
/** Seconds tsshd waits for the client's first datagram before giving up. */
export const DEFAULT_CONNECT_TIMEOUT = 10;

/** Options for a tsshd run. */
export interface TsshdOptions {
  mode: 'kcp' | 'quic';
  proxyMode: 'udp' | 'tcp';
  /** Port spec, syntax-checked only (the path layer parses it fully). */
  port: string;
  mtu: number;
  /** --mtu was not given: a client on a loopback address gets the loopback size (docs/PROTOCOL.md, "Datagram size"). */
  largeOnLoopback: boolean;
  /** Seconds, positive. */
  connectTimeout: number;
  debug: boolean;
  /** --ipv4 / --ipv6 (the Go tssh passes them from AddressFamily): listen only on that family; 'any' by default. */
  family: 'any' | 'ipv4' | 'ipv6';
  /** --attachable: terminal sessions outlive their client, for a later attach (attach-server.ts). */
  attachable: boolean;
  /** --socket: listen on the control socket (tsshd --list, --view, --attach find the daemon there). */
  socket: boolean;
}

/** What the command line asks tsshd to do. */
export type TsshdCommand =
  | { action: 'run'; options: TsshdOptions }
  | { action: 'list' }
  | { action: 'view'; pid: number; session: number }
  | { action: 'attach'; pid: number; options: TsshdOptions }
  /** detailed (-V): with the protocol versions of both families served. */
  | { action: 'version'; detailed: boolean }
  | { action: 'help'; usage: string };

/** tsshd's flags, which --help and the man page (src/cli/manual.ts) are rendered from. */
export const TSSHD_FLAGS: readonly FlagDoc[] = [
  { names: ['--kcp'], text: 'use the KCP transport (default)' },
  { names: ['--quic'], text: 'use the QUIC transport' },
  { names: ['--tcp'], text: 'carry datagrams over TCP (UdpProxyMode TCP), for networks that block UDP' },
  { names: ['--port'], value: 'SPEC', text: `UDP ports to choose from, e.g. 61001-61999 or "7000,7002-7010" (default ${DEFAULT_TSSHD_PORT})` },
  { names: ['--mtu'], value: 'N', text: `path MTU, 576 to 9000 (default ${DEFAULT_TSSHD_MTU}, larger for a client on loopback)` },
  { names: ['--connect-timeout'], value: 'S', text: `seconds to wait for the client's first packet (default ${DEFAULT_CONNECT_TIMEOUT})` },
  { names: ['--debug'], text: 'log details to a private file under ~/.cache/tsshd (its path goes to stderr)' },
  { names: ['--ipv4', '--ipv6'], text: 'listen only on IPv4 / only on IPv6 (both given: both families)' },
  { names: ['--attachable'], text: 'terminal sessions outlive their client; another tssh can attach them (tssh --attach)' },
  { names: ['--socket'], text: 'with --attachable: listen on a control socket in a 0700 directory of yours' },
  { names: ['--list'], text: 'list your attachable tsshd sessions (a table on a terminal, else JSON)' },
  { names: ['--view'], value: 'PID.SID', text: 'print the screen of session SID of the tsshd with process id PID' },
  { names: ['--attach'], value: 'PID', text: 'start a new connection to the tsshd PID for this login (prints its bootstrap line)' },
  { names: ['-v', '--version'], text: 'print the version and exit' },
  { names: ['-V'], text: "print the version and the protocol versions served (ours and the reference tssh's), and exit" },
  { names: ['-h', '--help'], text: 'print this help and exit' },
];

/** The text `tsshd --help` prints. */
export const TSSHD_USAGE = `usage: tsshd [options]
Started by tssh over an SSH login; prints one bootstrap line, then serves the session over UDP.

${columns(flagRows(TSSHD_FLAGS))}`;

export const FLAG_FORMS: Readonly<Record<string, string>> = {
  '--port': '--port SPEC (ports and ranges such as 61001-61999 or 7000,7002-7010)',
  '--mtu': '--mtu N (an integer from 576 to 9000)',
  '--connect-timeout': '--connect-timeout SECONDS (a positive number)',
  '--view': '--view PID.SID (a tsshd process id and a session id, as tsshd --list shows them)',
  '--attach': '--attach PID (a tsshd process id, as tsshd --list shows it)',
};
const quote = (value: string): string => quoteValue(value);
/** Flags without a value; FLAG_FORMS has those with one. */
export const BOOLEAN_FLAGS: ReadonlySet<string> = new Set([
  '--kcp', '--quic', '--tcp', '--debug', '--version', '--help', '-v', '-V', '-h', '--ipv4', '--ipv6', '--attachable', '--socket', '--list',
]);

/** Light syntax check for a port spec: digits, commas, dashes and spaces, with at least one digit. */
export function looksLikePortSpec(spec: string): boolean {
  return /^[0-9, -]+$/.test(spec) && /[0-9]/.test(spec) && spec.length <= 1024;
}

/** Parse tsshd's argv (without node and script). Throws a one-line Error naming the flag. */
export function parseTsshdArgs(argv: readonly string[]): TsshdCommand {
  const options: TsshdOptions = {
    mode: 'kcp',
    proxyMode: 'udp',
    port: DEFAULT_TSSHD_PORT,
    mtu: DEFAULT_TSSHD_MTU,
    largeOnLoopback: true,
    connectTimeout: DEFAULT_CONNECT_TIMEOUT,
    debug: false,
    family: 'any',
    attachable: false,
    socket: false,
  };
  let list = false;
  let view: { pid: number; session: number } | undefined;
  let attach: number | undefined;
  let kcp = false;
  let quic = false;
  let ipv4 = false;
  let ipv6 = false;
  let wantVersion = false;
  let detailed = false;
  let wantHelp = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const attached = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (BOOLEAN_FLAGS.has(flag)) {
      if (attached !== undefined) throw new Error(`tsshd: ${flag} takes no value (got ${quote(arg)})`);
      if (flag === '--kcp') kcp = true;
      else if (flag === '--quic') quic = true;
      else if (flag === '--tcp') options.proxyMode = 'tcp';
      else if (flag === '--debug') options.debug = true;
      else if (flag === '--ipv4') ipv4 = true;
      else if (flag === '--ipv6') ipv6 = true;
      else if (flag === '--attachable') options.attachable = true;
      else if (flag === '--socket') options.socket = true;
      else if (flag === '--list') list = true;
      else if (flag === '--version' || flag === '-v') wantVersion = true;
      else if (flag === '-V') detailed = wantVersion = true;
      else wantHelp = true;
      continue;
    }
    const form = FLAG_FORMS[flag];
    if (form === undefined) {
      if (arg.startsWith('-')) throw new Error(`tsshd: unknown flag ${quote(flag)}; run tsshd --help for the list`);
      throw new Error(`tsshd: unexpected argument ${quote(arg)}; tsshd takes only flags (run tsshd --help)`);
    }
    let value = attached;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`tsshd: ${flag} needs a value: ${form}`);
      value = argv[++i]!;
    }
    if (flag === '--view') {
      const m = /^([0-9]{1,10})\.([0-9]{1,10})$/.exec(value);
      if (!m) throw new Error(`tsshd: --view needs PID.SID, e.g. 4242.1 (got ${quote(value)}); tsshd --list shows them`);
      view = { pid: Number(m[1]), session: Number(m[2]) };
    } else if (flag === '--attach') {
      if (!/^[0-9]{1,10}$/.test(value)) throw new Error(`tsshd: --attach needs a tsshd process id (got ${quote(value)}); tsshd --list shows them`);
      attach = Number(value);
    } else if (flag === '--port') {
      if (!looksLikePortSpec(value)) throw new Error(`tsshd: --port must be ports or ranges like 61001-61999 (got ${quote(value)})`);
      options.port = value.trim();
    } else if (flag === '--mtu') {
      const n = /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
      if (!(n >= 576 && n <= 9000)) throw new Error(`tsshd: --mtu must be an integer from 576 to 9000 (got ${quote(value)})`);
      options.mtu = n;
      options.largeOnLoopback = false;
    } else {
      const n = /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : NaN;
      if (!(n > 0 && Number.isFinite(n))) throw new Error(`tsshd: --connect-timeout must be a positive number of seconds (got ${quote(value)})`);
      options.connectTimeout = n;
    }
  }
  if (wantHelp) return { action: 'help', usage: TSSHD_USAGE };
  if (wantVersion) return { action: 'version', detailed };
  if (ipv4 !== ipv6) options.family = ipv4 ? 'ipv4' : 'ipv6';
  if (kcp && quic) throw new Error('tsshd: --kcp and --quic cannot be used together; pick one');
  if (quic) options.mode = 'quic';
  if ([list, view !== undefined, attach !== undefined].filter(Boolean).length > 1) throw new Error('tsshd: --list, --view and --attach cannot be used together; pick one');
  if (list) return { action: 'list' };
  if (view !== undefined) return { action: 'view', ...view };
  if (attach !== undefined) return { action: 'attach', pid: attach, options };
  if (options.socket && !options.attachable) throw new Error('tsshd: --socket needs --attachable (the socket is for attaching sessions)');
  return { action: 'run', options };
}
