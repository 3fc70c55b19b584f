/**
 * tsshd's command line. tssh runs `tsshd [flags]` over the SSH login, so the
 * flags mirror the client's options (transport, proxy mode, port range, MTU).
 */
import { quoteValue } from '../protocol/config-syntax.js';

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
}

/** What the command line asks tsshd to do. */
export type TsshdCommand =
  | { action: 'run'; options: TsshdOptions }
  | { action: 'version'; detailed: boolean }
  | { action: 'help'; usage: string }
  /** --list (the Go tssh's UdpSessionAttach asks first): tsshd keeps no attachable sessions, so the list is empty. */
  | { action: 'list' };

/** The text `tsshd --help` prints. */
export const TSSHD_USAGE = `usage: tsshd [options]
Started by tssh over an SSH login; prints one bootstrap line, then serves the session over UDP.

  --kcp                  use the KCP transport (default)
  --quic                 use the QUIC transport
  --tcp                  carry datagrams over TCP (UdpProxyMode TCP), for networks that block UDP
  --port SPEC            UDP ports to choose from, e.g. 61001-61999 or "7000,7002-7010" (default ${DEFAULT_TSSHD_PORT})
  --mtu N                path MTU, 576 to 9000 (default ${DEFAULT_TSSHD_MTU}, larger for a client on loopback)
  --connect-timeout S    seconds to wait for the client's first packet (default ${DEFAULT_CONNECT_TIMEOUT})
  --debug                log details to a private file under ~/.cache/tsshd (its path goes to stderr)
  --ipv4, --ipv6         listen only on IPv4 / only on IPv6 (both given: both families)
  --attachable, --socket accepted from the reference tssh (UdpSessionAttach); sessions are not attachable here
  --list                 print the attachable sessions as JSON: always [] (attaching is not offered)
  -v, --version          print the version and exit (-V: the same, with the protocol versions)
  -h, --help             print this help and exit
`;

const FLAG_FORMS: Record<string, string> = {
  '--port': '--port SPEC (ports and ranges such as 61001-61999 or 7000,7002-7010)',
  '--mtu': '--mtu N (an integer from 576 to 9000)',
  '--connect-timeout': '--connect-timeout SECONDS (a positive number)',
};
const quote = (value: string): string => quoteValue(value);
const BOOLEAN_FLAGS = new Set([
  '--kcp', '--quic', '--tcp', '--debug', '--version', '--help', '-v', '-V', '-h',
  '--ipv4', '--ipv6', '--attachable', '--socket', '--list',
]);
/** The reference tsshd's session-attach commands, which this tsshd does not offer. */
const ATTACH_FLAGS = new Set(['--view', '--attach']);

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
  };
  let kcp = false;
  let quic = false;
  let ipv4 = false;
  let ipv6 = false;
  let wantVersion = false;
  let detailed = false;
  let wantHelp = false;
  let wantList = false;
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
      else if (flag === '--list') wantList = true;
      else if (flag === '--attachable' || flag === '--socket') continue; // one client per tsshd: attaching is not offered
      else if (flag === '--version' || flag === '-v') wantVersion = true;
      else if (flag === '-V') detailed = wantVersion = true;
      else wantHelp = true;
      continue;
    }
    if (ATTACH_FLAGS.has(flag)) {
      throw new Error(`tsshd: ${flag} is not offered: this tsshd keeps no attachable sessions (start a new session instead)`);
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
    if (flag === '--port') {
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
  if (wantList) return { action: 'list' };
  if (ipv4 !== ipv6) options.family = ipv4 ? 'ipv4' : 'ipv6';
  if (kcp && quic) throw new Error('tsshd: --kcp and --quic cannot be used together; pick one');
  if (quic) options.mode = 'quic';
  return { action: 'run', options };
}
