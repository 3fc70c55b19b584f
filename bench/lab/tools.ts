/**
 * The clients compared in the lab and how each is started from the client
 * namespace: tssh over KCP and over QUIC (tsshd from this checkout), tssh
 * with predictive echo (always, adaptive; echo rows only), OpenSSH,
 * and mosh with and without local echo prediction (mosh-server started over
 * ssh, as mosh does). Each session gets its own server-side UDP port so the
 * emulator can count its datagrams.
 */
import { cleanEnv } from '../../test/e2e/harness.js';
import { TSSH_BIN } from '../../test/support/sshd.js';
import { LAB_HOST, type LabSshd } from './lab-sshd.js';
import { inNs } from './netlab.js';

export type ToolId = 'tssh-kcp' | 'tssh-quic' | 'tssh-predict' | 'tssh-adaptive' | 'ssh' | 'mosh-never' | 'mosh';

export interface Tool {
  id: ToolId;
  /** How the tables name it. */
  label: string;
  /** Plot colour. */
  color: string;
  /** Carries raw bytes (non-pty commands, forwards); mosh carries only screen state. */
  rawBytes: boolean;
  /** Measured in the echo rows only (a variant of another tool that only changes what typing shows). */
  echoOnly?: boolean;
}

export const TOOLS: readonly Tool[] = [
  { id: 'tssh-kcp', label: 'tssh --kcp', color: '#1f77b4', rawBytes: true },
  { id: 'tssh-quic', label: 'tssh --quic', color: '#17becf', rawBytes: true },
  { id: 'tssh-predict', label: 'tssh --kcp --predict=always', color: '#ff7f0e', rawBytes: true, echoOnly: true },
  { id: 'tssh-adaptive', label: 'tssh --kcp --predict=adaptive', color: '#bcbd22', rawBytes: true, echoOnly: true },
  { id: 'ssh', label: 'OpenSSH ssh', color: '#d62728', rawBytes: true },
  { id: 'mosh-never', label: 'mosh --predict=never', color: '#2ca02c', rawBytes: false },
  { id: 'mosh', label: 'mosh (default predict)', color: '#9467bd', rawBytes: false },
];

export function toolById(id: ToolId): Tool {
  return TOOLS.find((t) => t.id === id)!;
}

/** Environment for every client: no inherited SSH_/TSSH_ variables, a UTF-8 locale (mosh needs one). */
export function clientEnv(): Record<string, string> {
  return cleanEnv({ TERM: 'xterm-256color', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' });
}

/** Hands out a distinct server-side UDP port per session. */
export class PortPlan {
  private nextTsshd = 61001;
  private nextMosh = 60001;
  take(tool: ToolId): number {
    if (tool === 'ssh') return 22;
    if (tool === 'mosh' || tool === 'mosh-never') return this.nextMosh++;
    return this.nextTsshd++;
  }
}

/**
 * argv (run inside the client namespace) for an interactive session running
 * `remote` on the server in a pty; `port` is the session's server UDP port.
 */
export function interactiveArgv(tool: ToolId, sshd: LabSshd, clientNs: string, remote: string, port: number): [string, string[]] {
  const cfg = sshd.configArgs;
  switch (tool) {
    case 'ssh':
      return inNs(clientNs, ['ssh', ...cfg, '-t', LAB_HOST, remote]);
    case 'tssh-kcp':
    case 'tssh-quic':
      return inNs(clientNs, [process.execPath, TSSH_BIN, ...cfg, tool === 'tssh-kcp' ? '--kcp' : '--quic', '--tsshd-port', String(port), '-t', LAB_HOST, remote]);
    case 'tssh-predict':
    case 'tssh-adaptive': {
      const predict = tool === 'tssh-predict' ? 'always' : 'adaptive';
      return inNs(clientNs, [process.execPath, TSSH_BIN, ...cfg, '--kcp', `--predict=${predict}`, '--tsshd-port', String(port), '-t', LAB_HOST, remote]);
    }
    case 'mosh':
    case 'mosh-never':
      return inNs(clientNs, [
        'mosh',
        `--ssh=ssh ${cfg.join(' ')}`,
        `--predict=${tool === 'mosh' ? 'adaptive' : 'never'}`,
        '-p',
        String(port),
        LAB_HOST,
        '--',
        'sh',
        '-c',
        remote,
      ]);
  }
}

/** argv for a non-interactive command whose stdout is a pipe (bulk transfer); null where the tool cannot. */
export function execArgv(tool: ToolId, sshd: LabSshd, clientNs: string, remote: string, port: number): [string, string[]] | null {
  const cfg = sshd.configArgs;
  switch (tool) {
    case 'ssh':
      return inNs(clientNs, ['ssh', ...cfg, LAB_HOST, remote]);
    case 'tssh-kcp':
    case 'tssh-quic':
      return inNs(clientNs, [process.execPath, TSSH_BIN, ...cfg, tool === 'tssh-kcp' ? '--kcp' : '--quic', '--tsshd-port', String(port), LAB_HOST, remote]);
    default:
      return null;
  }
}

/** argv for a forward-only session (-N -L); null where the tool has none. */
export function forwardArgv(tool: ToolId, sshd: LabSshd, clientNs: string, spec: string, port: number): [string, string[]] | null {
  const cfg = sshd.configArgs;
  switch (tool) {
    case 'ssh':
      return inNs(clientNs, ['ssh', ...cfg, '-N', '-L', spec, LAB_HOST]);
    case 'tssh-kcp':
    case 'tssh-quic':
      return inNs(clientNs, [process.execPath, TSSH_BIN, ...cfg, tool === 'tssh-kcp' ? '--kcp' : '--quic', '--tsshd-port', String(port), '-N', '-L', spec, LAB_HOST]);
    default:
      return null;
  }
}
