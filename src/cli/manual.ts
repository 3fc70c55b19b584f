/**
 * The man pages tssh(1) and tsshd(1), in roff, rendered from the same tables
 * as `tssh --help` and `tsshd --help` (src/client/tssh-usage.ts,
 * src/server/tsshd-args.ts). scripts/man.mjs writes them to dist/man/ at
 * build time; package.json "man" installs them with the package.
 */
import { TSSH_CONFIG_OPTIONS, TSSH_FLAGS } from '../client/tssh-usage.js';
import { RELAY_FLAGS } from '../server/hop-relay-main.js';
import { TSSHD_FLAGS } from '../server/tsshd-args.js';
import type { FlagDoc } from '../usage-text.js';
import { VERSION } from '../version.js';

/** Text for roff: backslashes and dashes escaped, no line starting with a control character. */
function esc(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

const bold = (text: string): string => `\\fB${esc(text)}\\fR`;
const italic = (text: string): string => `\\fI${esc(text)}\\fR`;

function flagItems(flags: readonly FlagDoc[]): string {
  return flags
    .map((f) => `.TP\n${f.names.map(bold).join(', ')}${f.value !== undefined ? ` ${italic(f.value)}` : ''}\n${esc(f.text)}.\n`)
    .join('');
}

function header(name: string, summary: string): string {
  return `.TH ${name.toUpperCase()} 1 "" "tsshd ${esc(VERSION)}" "User Commands"\n.SH NAME\n${name} \\- ${esc(summary)}\n`;
}

function paragraphs(...texts: string[]): string {
  return texts.map((t) => `.PP\n${esc(t)}\n`).join('');
}

/** tssh(1). */
export function tsshManPage(): string {
  return (
    header('tssh', 'ssh that continues over UDP and survives roaming') +
    '.SH SYNOPSIS\n' +
    `${bold('tssh')} [${italic('tssh options')}] [${italic('ssh options')}] ${italic('destination')} [${italic('command')} [${italic('argument')} ...]]\n.br\n` +
    `${bold('tssh --install-tsshd')} [${bold('--install-path')} ${italic('DIR')}] [${italic('ssh options')}] ${italic('destination')}\n` +
    '.SH DESCRIPTION\n' +
    paragraphs(
      'tssh is used wherever ssh is. Without UdpMode (or --udp, --kcp, --quic) it runs ssh with the same arguments. With it, tssh logs in with the system ssh (so keys, agent, known_hosts, ProxyJump and ControlMaster behave as usual), starts tsshd on the server, reads the UDP port and fresh session keys that tsshd prints over that SSH channel, closes SSH and carries the session over an encrypted UDP path that survives changes of network, NAT rebinding and sleep.',
      'When the network drops, a notice appears after UdpReconnectTimeout seconds and the session resumes by itself when the network is back. At the start of a line, ~. disconnects, ~? shows the state of the connection and ~P moves to a new UDP path at once.',
      'tssh --install-tsshd host installs tsshd for the login user on the server, without root and without network access there: a bundle for the server\'s Node.js 20 or later, or else a single executable (Linux x86_64 from a Linux x86_64 client). tssh --udp host then finds it in ~/.local/bin without any TsshdPath. At each login tssh says when the server\'s tsshd is older than itself, and how to update it.',
    ) +
    '.SH OPTIONS\n' +
    paragraphs('Every option of ssh(1) works as it does there; these are tssh\'s own.') +
    flagItems(TSSH_FLAGS) +
    '.SH CONFIGURATION\n' +
    paragraphs(
      'tssh reads ~/.ssh/config (or the -F file) and /etc/ssh/ssh_config as ssh does. Its own options go on lines starting with #!!, which ssh reads as comments, in the Host and Match blocks they apply to; -o Name=value sets them on the command line.',
    ) +
    TSSH_CONFIG_OPTIONS.map((o) => `.TP\n${bold(o.name)} ${italic(o.value)}\n${esc(o.text)}. Default: ${esc(o.default)}.\n`).join('') +
    '.SH EXIT STATUS\n' +
    paragraphs(
      "The remote command's status, as with ssh; 255 for tssh's and ssh's own failures; 254 when the connection stayed lost for UdpAliveTimeout; 253 when the user quit during an outage.",
    ) +
    '.SH EXAMPLES\n' +
    '.nf\n' +
    esc(['tssh --install-tsshd user@host', 'tssh --udp user@host', 'tssh --quic -N -L 5432:db.internal:5432 host', 'tssh --udp host uptime'].join('\n')) +
    '\n.fi\n' +
    '.SH SEE ALSO\n' +
    'tsshd(1), ssh(1), ssh_config(5)\n'
  );
}

/** tsshd(1). */
export function tsshdManPage(): string {
  return (
    header('tsshd', 'the UDP server that tssh starts over an SSH login') +
    '.SH SYNOPSIS\n' +
    `${bold('tsshd')} [${italic('options')}]\n` +
    '.SH DESCRIPTION\n' +
    paragraphs(
      'tssh runs tsshd as the remote command of an ordinary SSH login. tsshd prints one bootstrap line (a BEL, then JSON with its UDP port and a fresh session secret), detaches, and serves the session over UDP (or UDP over TCP) until the session and its forwarded connections are over. It runs as the login user, needs no root, and applies the server\'s sshd_config (forwarding, environment and Match rules) to what the session may do.',
      'Install it for a user with tssh --install-tsshd host, or with npm from the package tarball.',
    ) +
    '.SH OPTIONS\n' +
    flagItems(TSSHD_FLAGS) +
    '.SS As a jump host\'s relay\n' +
    paragraphs('For ProxyJump, tssh starts tsshd on each jump host as a relay of the session\'s datagrams; --port, --tcp, --connect-timeout and --debug apply to it too.') +
    flagItems(RELAY_FLAGS) +
    '.SH EXIT STATUS\n' +
    paragraphs('0 when the session ended; 1 when tsshd could not start or no client came; 2 for a bad flag.') +
    '.SH SEE ALSO\n' +
    'tssh(1), sshd(8), sshd_config(5)\n'
  );
}
