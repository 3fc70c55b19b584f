/**
 * A real OpenSSH sshd in the lab's server namespace, on 198.18.1.2:22, with
 * throwaway host and user keys (as test/support/sshd.ts does on 127.0.0.1),
 * and the ssh_config that ssh, tssh and mosh use to reach it. Logins get a
 * fresh empty HOME, so the machine's dotfiles do not weigh on any tool.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { throwawayHostConfig, TSSHD_BIN } from '../../test/support/sshd.js';
import { inNs, SERVER_ADDR } from './netlab.js';

export const LAB_HOST = 'lab';

export class LabSshd {
  private stderr = '';
  private exited = false;

  private constructor(
    readonly dir: string,
    readonly configPath: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => (this.stderr = (this.stderr + s).slice(-20_000)));
    child.once('exit', () => (this.exited = true));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get log(): string {
    return this.stderr;
  }

  /** The options that make ssh/tssh use the lab's config. */
  get configArgs(): string[] {
    return ['-F', this.configPath];
  }

  /** Start sshd inside `serverNs`; `dir` is the lab's private temp dir. */
  static async start(serverNs: string, dir: string): Promise<LabSshd> {
    if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
    const keys = join(dir, 'keys');
    const home = join(dir, 'home');
    mkdirSync(keys, { mode: 0o700 });
    mkdirSync(join(home, '.config', 'tsshd'), { recursive: true, mode: 0o700 });
    for (const name of ['host_ed25519', 'id_ed25519']) {
      const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tsshd-lab', '-f', join(keys, name)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.trim()}`);
    }
    writeFileSync(join(keys, 'authorized_keys'), readFileSync(join(keys, 'id_ed25519.pub')), { mode: 0o600 });
    writeFileSync(join(home, '.config', 'tsshd', 'sshd_config'), 'AcceptEnv LANG LC_*\nSubsystem sftp /usr/lib/openssh/sftp-server\n', { mode: 0o600 });
    // tsshd runs with this node, whatever PATH the login has.
    const wrapper = join(dir, 'tsshd');
    writeFileSync(wrapper, `#!/bin/sh\nexec '${process.execPath}' '${TSSHD_BIN}' "$@"\n`, { mode: 0o700 });
    const sshdConfig = join(dir, 'sshd_config');
    writeFileSync(
      sshdConfig,
      [
        'Port 22',
        `ListenAddress ${SERVER_ADDR}`,
        `HostKey ${join(keys, 'host_ed25519')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(keys, 'authorized_keys')}`,
        'UsePAM no',
        'StrictModes no',
        'PermitRootLogin yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PrintMotd no',
        'PrintLastLog no',
        'AcceptEnv LANG LC_*',
        `SetEnv HOME=${home} XDG_CONFIG_HOME=${join(home, '.config')}`,
        'LogLevel INFO',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const configPath = join(dir, 'ssh_config');
    writeFileSync(
      configPath,
      throwawayHostConfig({
        host: LAB_HOST,
        hostName: SERVER_ADDR,
        port: 22,
        identityFile: join(keys, 'id_ed25519'),
        knownHosts: join(dir, 'known_hosts'),
        tsshdPath: wrapper,
      }),
      { mode: 0o600 },
    );
    const [file, args] = inNs(serverNs, ['/usr/sbin/sshd', '-D', '-e', '-f', sshdConfig]);
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const sshd = new LabSshd(dir, configPath, child);
    const deadline = Date.now() + 10_000;
    while (!sshd.stderr.includes('Server listening on')) {
      if (sshd.exited || Date.now() > deadline) throw new Error(`sshd did not start in ${serverNs}: ${sshd.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return sshd;
  }
}
