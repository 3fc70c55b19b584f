/**
 * `tssh --install-tsshd`, the decisions: what to ask the server (one probe
 * over ssh), which tsshd to send it (a bundle for its own Node, or a single
 * executable), the shell script that puts it in place atomically, and the
 * remote command that finds it afterwards. Pure functions; the ssh runs are
 * in install-tsshd.ts and the files in install-payload.ts.
 *
 * Every remote script is one line of POSIX sh run as `exec sh -c '...'`, so
 * the user's login shell may be bash, zsh, fish or csh: no newline, no
 * backslash and no `!` inside the quotes.
 */
import { shellQuote } from './bootstrap-over-ssh.js';

/** Where tsshd goes when --install-path is not given (as the reference tssh). */
export const DEFAULT_INSTALL_PATH = '~/.local/bin';
/** Oldest Node the server may run tsshd's bundle with (package.json engines). */
export const MIN_SERVER_NODE_MAJOR = 20;
/** Where tssh looks for tsshd when TsshdPath is not set and `tsshd` is not on the login's PATH. */
export const DEFAULT_TSSHD_LOCATION = `${DEFAULT_INSTALL_PATH}/tsshd`;

/** What the probe found on the server. */
export interface ServerProbe {
  /** `uname -s`, e.g. Linux. */
  os: string;
  /** `uname -m`, e.g. x86_64. */
  machine: string;
  home: string;
  /** Absolute path of node (or nodejs) on the login's PATH, '' when none. */
  node: string;
  /** Its version, e.g. 20.20.2; '' when it did not run. */
  nodeVersion: string;
  /** Its addon ABI (process.versions.modules). */
  nodeAbi: string;
  /** What `<install path>/tsshd -v` printed, '' when nothing is installed there. */
  installed: string;
}

/** Node's names for the server's system and processor, or null when we have none. */
export interface ServerPlatform {
  platform: string;
  arch: string;
}

/** The way tsshd is sent: a bundle for the server's Node, or a single executable. */
export type InstallKind = { kind: 'bundle'; node: string } | { kind: 'executable' };

/** A path as the remote shell should see it: `~/x` becomes "$HOME"/x, anything else is quoted. */
export function remotePath(path: string): string {
  if (path === '~') return '"$HOME"';
  if (path.startsWith('~/')) return `"$HOME"/${shellQuote(path.slice(2).replace(/\/+$/, '') || '.')}`;
  return shellQuote(path.length > 1 ? path.replace(/\/+$/, '') : path);
}

/** The absolute form of an install path on the server, given its $HOME. */
export function absoluteRemotePath(path: string, home: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
  if (trimmed === '~') return home;
  if (trimmed.startsWith('~/')) return `${home.replace(/\/+$/, '')}/${trimmed.slice(2)}`;
  if (trimmed.startsWith('/')) return trimmed;
  return `${home.replace(/\/+$/, '')}/${trimmed}`;
}

/** Where the bundle's files live: `<prefix>/lib/tsshd` for a `<prefix>/bin`, else `<dir>/tsshd.d`. */
export function libraryDir(installDir: string): string {
  return installDir.endsWith('/bin') ? `${installDir.slice(0, -'/bin'.length)}/lib/tsshd` : `${installDir}/tsshd.d`;
}

/** `exec sh -c '<script>' <name> [args]`: the script runs in sh whatever the login shell is. */
export function shCommand(script: string, name = 'tsshd-install', ...args: string[]): string {
  if (/[\n\\!]/.test(script)) throw new Error('internal: remote scripts must be one line without backslash or !');
  return ['exec', 'sh', '-c', shellQuote(script), name, ...args].join(' ');
}

/**
 * The remote command for TsshdPath `tsshd` (the default): ~/.local/bin/tsshd
 * when it is there (where --install-tsshd puts it, and which a login shell
 * puts first on PATH), else `tsshd` from the PATH of the ssh login, which
 * for a command usually lacks ~/.local/bin. `args`: tsshd's flags, quoted.
 */
export function tsshdSearchCommand(args: readonly string[]): string {
  const installed = `"$HOME"/${DEFAULT_TSSHD_LOCATION.slice(2)}`;
  // $0 is `sh`: a shell's "tsshd: not found" must not read as a line from tsshd itself.
  return shCommand(`if [ -x ${installed} ]; then exec ${installed} "$@"; fi; exec tsshd "$@"`, 'sh', ...args);
}

const PROBE_BEGIN = 'tsshd-probe-begin';
/** Ends the probe's output: the script then waits for the header line on stdin. */
export const PROBE_END = 'tsshd-probe-end';

/** The probe: system, processor, $HOME, Node and what is installed at `installPath` already (stdin left alone). */
function probeLines(installPath: string): string[] {
  const tsshd = `${remotePath(installPath)}/tsshd`;
  return [
    `echo ${PROBE_BEGIN}`,
    'echo "os=$(uname -s)"',
    'echo "machine=$(uname -m)"',
    'echo "home=$HOME"',
    'j=$(command -v node || command -v nodejs || true)',
    'echo "node=$j"',
    'if [ -n "$j" ]; then echo "nodeversion=$("$j" -p "[process.versions.node,process.versions.modules].join()" </dev/null 2>/dev/null)"; fi',
    `if [ -x ${tsshd} ]; then echo "installed=$(${tsshd} -v </dev/null 2>/dev/null | head -n 1)"; fi`,
    `echo ${PROBE_END}`,
  ];
}

/** Read the probe's output (MOTD or rc-file noise around it is ignored). Throws one line when it is not there. */
export function parseProbe(output: string, host: string): ServerProbe {
  const begin = output.lastIndexOf(PROBE_BEGIN);
  const end = output.indexOf(PROBE_END, begin);
  if (begin < 0 || end < 0) {
    throw new Error(`tssh: cannot install tsshd on ${host}: its shell did not run the probe (is the account limited to one command, e.g. ForceCommand?)`);
  }
  const fields = new Map<string, string>();
  for (const line of output.slice(begin, end).split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const [nodeVersion = '', nodeAbi = ''] = (fields.get('nodeversion') ?? '').split(',');
  return {
    os: fields.get('os') ?? '',
    machine: fields.get('machine') ?? '',
    home: fields.get('home') ?? '',
    node: fields.get('node') ?? '',
    nodeVersion,
    nodeAbi,
    installed: fields.get('installed') ?? '',
  };
}

/** Node's platform and arch names for `uname -s` and `uname -m`. */
export function serverPlatform(p: Pick<ServerProbe, 'os' | 'machine'>): ServerPlatform | null {
  const platform = ({ linux: 'linux', darwin: 'darwin', freebsd: 'freebsd' } as Record<string, string>)[p.os.toLowerCase()];
  const arch = ({ x86_64: 'x64', amd64: 'x64', aarch64: 'arm64', arm64: 'arm64' } as Record<string, string>)[p.machine.toLowerCase()];
  return platform !== undefined && arch !== undefined ? { platform, arch } : null;
}

/** The server's Node can run the bundle. */
export function nodeIsSuitable(p: Pick<ServerProbe, 'node' | 'nodeVersion'>): boolean {
  const major = Number(/^v?([0-9]+)\./.exec(p.nodeVersion)?.[1] ?? NaN);
  return p.node.startsWith('/') && major >= MIN_SERVER_NODE_MAJOR;
}

/** What this client can send: the platforms it has node-pty's prebuilt for, and whether it can build a single executable for one. */
export interface ClientAbilities {
  /** `platform-arch` pairs this tssh has the pty addon for. */
  ptyPlatforms: readonly string[];
  /** `platform-arch` it can build a single executable for ('' when none), and why not when it cannot. */
  executablePlatform: string;
  executableRefusal?: string;
}

/** Choose how to send tsshd, or throw the one line saying what the server needs. */
export function chooseInstallKind(probe: ServerProbe, client: ClientAbilities, host: string): InstallKind {
  const platform = serverPlatform(probe);
  const name = platform ? `${platform.platform}-${platform.arch}` : `${probe.os || '?'} ${probe.machine || '?'}`;
  const lead = `tssh: cannot install tsshd on ${host} (${name})`;
  if (platform === null) throw new Error(`${lead}: tsshd runs on Linux, macOS and FreeBSD on x86_64 or arm64 only`);
  // node-pty on macOS runs a helper program by path, which a bundle cannot carry.
  if (platform.platform !== 'linux') {
    throw new Error(`${lead}: --install-tsshd sends tsshd to Linux servers only; on ${name} install it with npm (npm install -g tsshd-<version>.tgz, made by npm pack), with Node.js ${MIN_SERVER_NODE_MAJOR} or later`);
  }
  if (nodeIsSuitable(probe)) {
    if (client.ptyPlatforms.includes(name)) return { kind: 'bundle', node: probe.node };
    throw new Error(
      `${lead}: this tssh has no terminal addon (@lydell/node-pty-${name}) to send; install tsshd there with npm (npm install -g tsshd-<version>.tgz, made by npm pack), or run --install-tsshd from a ${name} machine`,
    );
  }
  const found = probe.node === '' ? 'has no Node.js' : `has Node.js ${probe.nodeVersion || '(did not run)'} at ${probe.node}`;
  if (client.executablePlatform === name) return { kind: 'executable' };
  const why = client.executableRefusal !== undefined ? ` (${client.executableRefusal})` : '';
  throw new Error(
    `${lead}: it ${found}; it needs Node.js ${MIN_SERVER_NODE_MAJOR} or later on the PATH of an ssh login, or a tsshd single executable for ${name}, which this tssh cannot build${why} (--tsshd-bin-path FILE uploads one built elsewhere)`,
  );
}

/**
 * The whole install, one ssh login: the probe, then one header line read
 * from stdin (installHeader(), or anything else to stop there), then the
 * payload (gzip'd tar holding `tsshd` and, for a bundle, its files) as the
 * rest of stdin (`read` takes a pipe byte by byte, so nothing of it is lost).
 * Unpacked beside the older versions under a temporary name, renamed into
 * place, and `tsshd` replaced by one rename, so a login never sees half an
 * install and a failed one leaves the old tsshd. With an expected version in
 * the header, the new tsshd's `-v` must print it before it replaces the old
 * (else `broken=<what it printed>`, status 3). Prints `installed=<tsshd -v>`.
 */
export function installCommand(installPath: string): string {
  const dir = remotePath(installPath);
  const lib = libraryDir(installPath.replace(/\/+$/, ''));
  return shCommand(
    [
      ...probeLines(installPath),
      'read -r w e || exit 0',
      'case "$w" in tsshd-*) ;; *) exit 0;; esac',
      'set -e',
      'umask 022',
      `d=${dir}`,
      `l=${remotePath(lib)}`,
      'mkdir -p "$d" "$l"',
      't=$(mktemp -d "$l/.tmp-XXXXXX")',
      `trap 'rm -rf "$t" "$d/.tsshd.tmp.$$"' EXIT`,
      'gzip -dc | tar -xf - -C "$t"',
      'chmod 755 "$t"',
      'v="$l/$w"',
      'rm -rf "$v"',
      'mv "$t" "$v"',
      // The new tsshd must run here (a single executable may need a newer C library) before it replaces anything.
      'if [ -n "$e" ]; then r=$("$v/tsshd" -v </dev/null 2>&1 | head -n 1); [ "$r" = "$e" ] || { echo "broken=$r"; rm -rf "$v"; exit 3; }; fi',
      'cp "$v/tsshd" "$d/.tsshd.tmp.$$"',
      'chmod 755 "$d/.tsshd.tmp.$$"',
      'mv -f "$d/.tsshd.tmp.$$" "$d/tsshd"',
      // Older versions go: a running tsshd has what it needs open already.
      'for o in "$l"/tsshd-*; do [ "$o" = "$v" ] || rm -rf "$o"; done',
      'echo "installed=$("$d/tsshd" -v </dev/null 2>&1 | head -n 1)"',
    ].join('; '),
  );
}

/** The line that tells installCommand's script to go on: the version's directory name and the `tsshd -v` expected of it. */
export function installHeader(versionDir: string, expect?: string): string {
  if (!/^tsshd-[A-Za-z0-9.+-]+$/.test(versionDir)) throw new Error(`internal: bad version directory ${versionDir}`);
  if (expect !== undefined && /[\n\r]/.test(expect)) throw new Error('internal: bad expected version');
  return `${versionDir} ${expect ?? ''}\n`;
}

/** Stops installCommand's script after the probe. */
export const INSTALL_ABORT = 'stop\n';

/** The launcher a bundle install puts at `<dir>/tsshd`: the server's Node running the bundle. */
export function bundleLauncher(node: string, bundlePath: string): string {
  return `#!/bin/sh\n# Installed by tssh --install-tsshd.\nexec ${shellQuote(node)} ${shellQuote(bundlePath)} "$@"\n`;
}

/** Compare dotted versions numerically (1.10 > 1.9); a pre-release suffix is ignored. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string): number[] => v.replace(/^v/, '').split(/[-+]/)[0]!.split('.').map((x) => Number(x) || 0);
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** The line shown at login when the server's tsshd is older than this tssh, else null. */
export function olderServerNote(serverVersion: string, clientVersion: string, host: string, tsshdPath: string | undefined): string | null {
  if (compareVersions(serverVersion, clientVersion) >= 0) return null;
  const where = tsshdPath !== undefined && tsshdPath.includes('/') ? ` --install-path ${shellQuote(tsshdPath.replace(/\/[^/]*$/, '') || '/')}` : '';
  return `tssh: tsshd on ${host} is ${serverVersion}, older than tssh ${clientVersion}; update it with: tssh --install-tsshd${where} ${host}`;
}
