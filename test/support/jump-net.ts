/**
 * Three network namespaces for the jump-host tests: a client, a bastion and a
 * target, addressed from 198.18.0.0/15. The client and the bastion share one
 * link (198.18.20.0/24), the bastion and the target another (198.18.21.0/24);
 * the bastion does not route, so the client can reach the target only
 * through it. A real sshd runs on the bastion and on the target with
 * throwaway keys; `configPath` is an ssh_config with Host entries `bastion`
 * and `target` (ProxyJump bastion), and `target-pc` (the same through a
 * ProxyCommand `ssh -W`). Everything is removed by destroy(), by
 * PID and by name.
 */
import { pidsInNamespace } from './netns-pids.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { throwawayHostConfig, TSSHD_BIN } from './sshd.js';
import { waitFor } from './wait.js';

export const CLIENT_ADDR = '198.18.20.1';
export const BASTION_FRONT = '198.18.20.254';
export const BASTION_BACK = '198.18.21.254';
export const TARGET_ADDR = '198.18.21.1';

/** Why namespaces cannot be made here, or null when they can. */
export function jumpNetUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined || r.status !== 0) return 'needs the ip command (iproute2) with network namespace support';
  if (!existsSync('/usr/sbin/sshd')) return 'needs /usr/sbin/sshd (openssh-server)';
  return null;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
}

export class JumpNet {
  readonly dir = mkdtempSync(join(tmpdir(), `tsshd-jump-${process.pid}-`));
  readonly clientNs: string;
  readonly bastionNs: string;
  readonly targetNs: string;
  readonly configPath = join(this.dir, 'ssh_config');
  private readonly sshds: ChildProcess[] = [];
  private made: string[] = [];
  private clientHost = 1;

  constructor(tag: string) {
    this.clientNs = `tsshjump-c-${tag}`;
    this.bastionNs = `tsshjump-b-${tag}`;
    this.targetNs = `tsshjump-t-${tag}`;
  }

  get clientAddr(): string {
    return `198.18.20.${this.clientHost}`;
  }

  async create(): Promise<void> {
    for (const ns of [this.clientNs, this.bastionNs, this.targetNs]) {
      ip(['netns', 'add', ns]);
      this.made.push(ns);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    ip(['link', 'add', 'tjv-c', 'netns', this.clientNs, 'type', 'veth', 'peer', 'name', 'tjv-bf', 'netns', this.bastionNs]);
    ip(['link', 'add', 'tjv-bb', 'netns', this.bastionNs, 'type', 'veth', 'peer', 'name', 'tjv-t', 'netns', this.targetNs]);
    ip(['-n', this.clientNs, 'addr', 'add', `${this.clientAddr}/24`, 'dev', 'tjv-c']);
    ip(['-n', this.bastionNs, 'addr', 'add', `${BASTION_FRONT}/24`, 'dev', 'tjv-bf']);
    ip(['-n', this.bastionNs, 'addr', 'add', `${BASTION_BACK}/24`, 'dev', 'tjv-bb']);
    ip(['-n', this.targetNs, 'addr', 'add', `${TARGET_ADDR}/24`, 'dev', 'tjv-t']);
    ip(['-n', this.clientNs, 'link', 'set', 'tjv-c', 'up']);
    ip(['-n', this.bastionNs, 'link', 'set', 'tjv-bf', 'up']);
    ip(['-n', this.bastionNs, 'link', 'set', 'tjv-bb', 'up']);
    ip(['-n', this.targetNs, 'link', 'set', 'tjv-t', 'up']);

    const keys = join(this.dir, 'keys');
    mkdirSync(keys, { mode: 0o700 });
    for (const name of ['host_ed25519', 'id_ed25519']) {
      const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tsshd-jump', '-f', join(keys, name)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.trim()}`);
    }
    writeFileSync(join(keys, 'authorized_keys'), readFileSync(join(keys, 'id_ed25519.pub')), { mode: 0o600 });
    const home = join(this.dir, 'home');
    mkdirSync(join(home, '.config', 'tsshd'), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, '.config', 'tsshd', 'sshd_config'), 'AllowAgentForwarding yes\n', { mode: 0o600 });
    const wrapper = join(this.dir, 'tsshd');
    writeFileSync(wrapper, `#!/bin/sh\nexec '${process.execPath}' '${TSSHD_BIN}' "$@"\n`, { mode: 0o700 });
    if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
    await this.startSshd(this.bastionNs, BASTION_FRONT, 'bastion', keys, home);
    await this.startSshd(this.targetNs, TARGET_ADDR, 'target', keys, home);
    const common = { port: 22, identityFile: join(keys, 'id_ed25519'), knownHosts: join(this.dir, 'known_hosts'), tsshdPath: wrapper };
    writeFileSync(
      this.configPath,
      throwawayHostConfig({ host: 'bastion', hostName: BASTION_FRONT, ...common }) +
        throwawayHostConfig({ host: 'target', hostName: TARGET_ADDR, ...common, extra: ['ProxyJump bastion', 'ConnectTimeout 5'] }) +
        throwawayHostConfig({ host: 'target-pc', hostName: TARGET_ADDR, ...common, extra: [`ProxyCommand ssh -F ${this.configPath} -W %h:%p bastion`, 'ConnectTimeout 5'] }),
      { mode: 0o600 },
    );
  }

  private async startSshd(ns: string, address: string, name: string, keys: string, home: string): Promise<void> {
    const config = join(this.dir, `sshd_${name}`);
    writeFileSync(
      config,
      [
        'Port 22',
        `ListenAddress ${address}`,
        `HostKey ${join(keys, 'host_ed25519')}`,
        `PidFile ${join(this.dir, `sshd_${name}.pid`)}`,
        `AuthorizedKeysFile ${join(keys, 'authorized_keys')}`,
        'UsePAM no',
        'StrictModes no',
        'PermitRootLogin yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PrintMotd no',
        'PrintLastLog no',
        `SetEnv HOME=${home} XDG_CONFIG_HOME=${join(home, '.config')} PYENV_REHASH_TIMEOUT=2`,
        'LogLevel INFO',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const child = spawn('ip', ['netns', 'exec', ns, '/usr/sbin/sshd', '-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.sshds.push(child);
    let log = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => (log = (log + s).slice(-20_000)));
    await waitFor(`sshd on ${name} (${log.trim().split('\n').pop() ?? ''})`, () => log.includes('Server listening on') || child.exitCode !== null, 10_000, 20);
    if (child.exitCode !== null) throw new Error(`sshd on ${name} exited: ${log.trim()}`);
  }

  /** argv that runs `argv` in the client namespace. */
  inClient(argv: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.clientNs, ...argv]];
  }

  /** Move the client to the next address on its link (the old one is gone at once). */
  moveClient(): void {
    const old = this.clientAddr;
    this.clientHost++;
    // Deleting a subnet's primary address would take its secondaries with it: delete first, then add.
    ip(['-n', this.clientNs, 'addr', 'del', `${old}/24`, 'dev', 'tjv-c']);
    ip(['-n', this.clientNs, 'addr', 'add', `${this.clientAddr}/24`, 'dev', 'tjv-c']);
  }

  /** PIDs in a namespace whose command line contains `needle`. */
  pidsIn(ns: string, needle = ''): number[] {
    return pidsInNamespace(ns, needle);
  }

  async destroy(): Promise<void> {
    const all = (): number[] => this.made.flatMap((ns) => this.pidsIn(ns));
    for (const pid of all()) kill(pid, 'SIGTERM');
    await waitFor('namespace processes to end', () => all().length === 0, 3000, 50).catch(() => undefined);
    for (const pid of all()) kill(pid, 'SIGKILL');
    for (const ns of this.made.splice(0).reverse()) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}
