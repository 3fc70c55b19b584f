/**
 * What tssh tells its user about itself: its own flags and its `#!!` options
 * with their defaults, as one table that `tssh --help` and the man page
 * (src/cli/manual.ts) are both rendered from; `FlagDoc` is src/usage-text.ts's. Tests check the table against
 * the parser (ssh-args.ts) and the option checker (udp-options.ts), so
 * neither can gain an option the help leaves out.
 */
import { DEFAULT_INSTALL_PATH } from './install-plan.js';
import { columns, flagRows, type FlagDoc } from '../usage-text.js';
import { SSH_GETOPT } from './ssh-args.js';
import { UDP_OPTION_DEFAULTS } from './udp-options.js';

/** One `#!!` option (also accepted as `-o Name=value`). */
export interface OptionDoc {
  name: string;
  /** Form of the value, e.g. `yes|no`. */
  value: string;
  /** What applies when nothing sets it. */
  default: string;
  text: string;
}

const d = UDP_OPTION_DEFAULTS;
/** tsshd's own default (src/server/tsshd-args.ts), which applies when TsshdPort is not set. */
const DEFAULT_TSSHD_PORT = '61001-61999';
const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

/** tssh's own flags (every other option is ssh's, see ssh(1)). */
export const TSSH_FLAGS: readonly FlagDoc[] = [
  { names: ['--udp'], text: 'log in with ssh, then continue over UDP (UdpMode yes: KCP)' },
  { names: ['--kcp'], text: 'continue over UDP with the KCP transport (UdpMode kcp)' },
  { names: ['--quic'], text: 'continue over UDP with the QUIC transport (UdpMode quic; KCP if QUIC cannot load)' },
  { names: ['--tcp'], text: 'stay on plain ssh whatever the config says (UdpMode no)' },
  { names: ['--tsshd-path'], value: 'PATH', text: 'tsshd on the server (TsshdPath)' },
  { names: ['--tsshd-port'], value: 'SPEC', text: `UDP ports tsshd may use, e.g. ${DEFAULT_TSSHD_PORT} (TsshdPort)` },
  { names: ['--attach'], text: 'pick a running session on the host and attach it, or start an attachable one (UdpSessionAttach yes; with -o UdpSessionName=NAME no picker; implies --udp)' },
  { names: ['--predict'], value: 'MODE', text: 'local echo prediction: never (default), adaptive or always (PredictiveEcho)' },
  { names: ['--install-tsshd'], text: 'install tsshd on the server for the login user (no root, no network there), then exit' },
  { names: ['--install-path'], value: 'DIR', text: `where --install-tsshd puts tsshd on the server (default ${DEFAULT_INSTALL_PATH})` },
  { names: ['--tsshd-bin-path'], value: 'FILE', text: 'with --install-tsshd: upload this tsshd executable instead of building one' },
  { names: ['--tsshd-version'], value: 'X.Y.Z', text: "with --install-tsshd: the version to install, which must be this tssh's own (it sends what it carries)" },
  { names: ['-V', '--version'], text: "print tssh's version (with -V, then ssh's) and exit" },
  { names: ['-h', '--help'], text: 'print this help and exit' },
];

/** tssh's `#!!` options, in the order the help lists them. */
export const TSSH_CONFIG_OPTIONS: readonly OptionDoc[] = [
  { name: 'UdpMode', value: 'yes|kcp|quic|no', default: d.udpMode, text: 'continue over UDP after the login; yes means KCP' },
  { name: 'TsshdPath', value: 'PATH', default: `${d.tsshdPath}: ~/.local/bin/tsshd if there, else from PATH`, text: 'the tsshd command on the server' },
  { name: 'TsshdProtocol', value: 'auto|native|reference', default: 'auto', text: "the protocol family: auto takes ours when the server's tsshd offers it, else the reference Go tsshd's (docs/INTEROP.md)" },
  { name: 'TsshdPort', value: 'SPEC', default: DEFAULT_TSSHD_PORT, text: 'UDP ports (and ranges) tsshd may listen on' },
  { name: 'UdpProxyMode', value: 'UDP|TCP', default: d.udpProxyMode.toUpperCase(), text: 'TCP carries the datagrams over TCP where UDP is blocked' },
  { name: 'UdpJump', value: 'yes|no|auto', default: d.udpJump, text: 'the UDP path through the ProxyJump hosts too (auto: when ProxyJump is set)' },
  { name: 'UdpMTU', value: 'BYTES', default: `${d.udpMtu}; on loopback the interface's size`, text: 'datagram size, 576 to 9000' },
  { name: 'UdpHeartbeatTimeout', value: 'SECONDS', default: String(d.udpHeartbeatTimeout), text: 'silence after which the path is taken as down' },
  { name: 'UdpReconnectTimeout', value: 'SECONDS', default: String(d.udpReconnectTimeout), text: 'outage after which a notice is shown' },
  { name: 'UdpAliveTimeout', value: 'SECONDS', default: String(d.udpAliveTimeout), text: 'outage after which tssh gives up (exit status 254)' },
  { name: 'ShowNotificationOnTop', value: 'yes|no', default: yesNo(d.showNotificationOnTop), text: 'show the outage notice on the top line' },
  { name: 'ShowFullNotifications', value: 'yes|no', default: yesNo(d.showFullNotifications), text: 'the full notice (no: one short line)' },
  { name: 'ForwardUdpTimeout', value: 'TIME', default: `${d.forwardUdpTimeout}s`, text: 'an idle forwarded UDP flow is dropped after this' },
  { name: 'UdpSessionAttach', value: 'yes|no', default: 'no', text: 'attach mode: sessions outlive their client; ~d detaches (tssh --attach)' },
  { name: 'UdpSessionName', value: 'NAME', default: 'none', text: 'the attachable session to attach (or start) by name, with no picker' },
  { name: 'UdpReconnectExitKey', value: 'ctrl+LETTER|none', default: 'ctrl+d', text: 'quits during an outage (detaches in attach mode)' },
  { name: 'PredictiveEcho', value: 'never|adaptive|always', default: d.predictiveEcho, text: 'show typed characters before the server echoes them (docs/CLIENT.md)' },
  { name: 'UdpLocalForward', value: '[bind:]port host:port', default: 'none', text: 'forward a local UDP port to host:port from the server' },
  { name: 'UdpRemoteForward', value: '[bind:]port host:port', default: 'none', text: "forward the server's UDP port to host:port from here" },
];

/** ssh's option letters, from the string the parser uses: flags, then those taking a value. */
function sshLetters(): string {
  const flags: string[] = [];
  const valued: string[] = [];
  for (let i = 0; i < SSH_GETOPT.length; i++) {
    if (SSH_GETOPT[i + 1] === ':') valued.push(`-${SSH_GETOPT[i++]} ${SSH_VALUE_NAMES[SSH_GETOPT[i - 1]!] ?? 'value'}`);
    else flags.push(SSH_GETOPT[i]!);
  }
  const words = [`-${flags.join('')}`, ...valued];
  const lines: string[] = [];
  for (const word of words) {
    if (lines.length > 0 && lines[lines.length - 1]!.length + word.length < 76) lines[lines.length - 1] += `  ${word}`;
    else lines.push(`  ${word}`);
  }
  return lines.map((l) => `${l}\n`).join('');
}

const SSH_VALUE_NAMES: Record<string, string> = {
  B: 'bind_interface', b: 'bind_address', c: 'cipher_spec', D: '[bind_address:]port', E: 'log_file', e: 'escape_char',
  F: 'configfile', I: 'pkcs11', i: 'identity_file', J: 'destination', L: 'address', l: 'login_name', m: 'mac_spec',
  O: 'ctl_cmd', o: 'option', P: 'tag', p: 'port', Q: 'query_option', R: 'address', S: 'ctl_path', W: 'host:port',
  w: 'local_tun[:remote_tun]',
};

/** The text `tssh --help` prints. */
export function tsshUsage(): string {
  return (
    'usage: tssh [tssh options] [ssh options] destination [command [argument ...]]\n' +
    '       tssh --install-tsshd [--install-path DIR] [ssh options] destination\n\n' +
    'tssh options:\n' +
    columns(flagRows(TSSH_FLAGS)) +
    '\nssh options (passed to ssh, which does the login; see ssh(1)):\n' +
    sshLetters() +
    '\n#!! options (in ~/.ssh/config on lines starting with "#!!", or -o Name=value), with defaults:\n' +
    columns(TSSH_CONFIG_OPTIONS.map((o) => [`${o.name} ${o.value}`, `${o.text} (default ${o.default})`])) +
    '\nSee man tssh, and docs/GUIDE.md in the package.\n'
  );
}
