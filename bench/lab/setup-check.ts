/**
 * What the lab needs before it touches anything: root (namespaces, TUN
 * devices), the commands it drives, and the link emulator compiled from
 * bench/lab/linkemu.c into the lab's temp dir (no committed binaries).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKOUT_ROOT } from '../../test/support/sshd.js';

/** Commands the lab runs, and the Debian package that has each. */
const NEEDED: ReadonlyArray<[string, string]> = [
  ['ip', 'iproute2'],
  ['cc', 'gcc'],
  ['ssh', 'openssh-client'],
  ['ssh-keygen', 'openssh-client'],
  ['/usr/sbin/sshd', 'openssh-server'],
  ['mosh', 'mosh'],
  ['mosh-server', 'mosh'],
  ['mosh-client', 'mosh'],
];

function onPath(cmd: string): boolean {
  if (cmd.startsWith('/')) return existsSync(cmd);
  for (const dir of (process.env.PATH ?? '').split(':')) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // Not here.
    }
  }
  return false;
}

/** null when the lab can run, else the one line that says why not and what to do. */
export function labBlocker(): string | null {
  if (process.platform !== 'linux') return 'bench:lab needs Linux (network namespaces and TUN devices); skipped';
  if (process.getuid?.() !== 0) return 'bench:lab needs root (it creates network namespaces and TUN devices); skipped — run it as root';
  if (!existsSync('/dev/net/tun')) return 'bench:lab needs /dev/net/tun (the TUN driver); skipped';
  const missing = NEEDED.filter(([cmd]) => !onPath(cmd));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
    return `bench:lab needs ${missing.map(([c]) => c).join(', ')}: apt-get install -y ${pkgs.join(' ')}`;
  }
  return null;
}

/** Compile the link emulator into `dir`; returns the binary's path. */
export function compileEmulator(dir: string): string {
  const source = join(CHECKOUT_ROOT, 'bench', 'lab', 'linkemu.c');
  const binary = join(dir, 'linkemu');
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', binary, source], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`cc could not build ${source}: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`);
  return binary;
}
