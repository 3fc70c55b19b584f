/**
 * A real OpenSSH sshd on 127.0.0.1 for end-to-end tests: throwaway host and
 * user keys in a private temp dir, logins only for the user running the tests
 * (root in CI), and an ssh_config for the client (used with `-F`) whose host
 * alias reaches it with BatchMode, a private known_hosts and `#!! TsshdPath`
 * pointing at this checkout's tsshd. Stopped by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';
import { processesWithEnv } from '../../examples/integrated/processes.js';

/** Where Debian's openssh-server puts sshd. */
export const SSHD_BINARY = '/usr/sbin/sshd';

/** The checkout's root, from this file's place in dist/test/support/. */
export const CHECKOUT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Absolute paths of the checkout's commands. */
export const TSSH_BIN = join(CHECKOUT_ROOT, 'bin', 'tssh');
export const TSSHD_BIN = join(CHECKOUT_ROOT, 'bin', 'tsshd');

/** Extra lines for the generated configs. */
export interface SshdFixtureOptions {
  /** Added to sshd_config. */
  sshdConfig?: string[];
  /** Added to the client's `Host` block (e.g. `#!! UdpReconnectTimeout 3`). */
  clientConfig?: string[];
}

/** A running sshd and the client config that reaches it. */
export class SshdFixture {
  /** Host alias in `configPath` that reaches this sshd. */
  readonly host = 'tsshd-test';
  /** User that logs in: whoever runs the tests. */
  readonly user = userInfo().username;
  private stderr = '';
  private exited = false;

  private constructor(
    /** Private temp dir (0700) holding keys, configs and logs. */
    readonly dir: string,
    /** TCP port sshd listens on (127.0.0.1). */
    readonly port: number,
    /** ssh_config for `ssh -F` / `tssh -F`. */
    readonly configPath: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      // Keep the tail only: it is for diagnostics.
      this.stderr = (this.stderr + s).slice(-20_000);
    });
    child.once('exit', () => (this.exited = true));
  }

  /** Start sshd at a free port and wait until it accepts TCP connections. */
  static async start(options: SshdFixtureOptions = {}): Promise<SshdFixture> {
    if (!existsSync(SSHD_BINARY)) {
      throw new Error(`${SSHD_BINARY} not found: install openssh-server (apt-get install openssh-server) to run the end-to-end tests`);
    }
    ensurePrivsepDir();
    const dir = mkdtempSync(join(tmpdir(), 'tsshd-e2e-'));
    try {
      return await SshdFixture.startIn(dir, options);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  private static async startIn(dir: string, options: SshdFixtureOptions): Promise<SshdFixture> {
    keygen(join(dir, 'host_ed25519'));
    keygen(join(dir, 'id_ed25519'));
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'id_ed25519.pub')), { mode: 0o600 });
    mkdirSync(join(dir, 'xdg', 'tsshd'), { recursive: true, mode: 0o700 });
    // tsshd's own sshd_config for the tests: the system's defaults plus the pyenv bound below.
    writeFileSync(join(dir, 'xdg', 'tsshd', 'sshd_config'), `AcceptEnv LANG LC_* ${PYENV_REHASH_BOUND}\nSubsystem sftp /usr/lib/openssh/sftp-server\n`, { mode: 0o600 });
    // A wrapper, so tsshd runs with this node whatever PATH sshd gives the login.
    const wrapper = join(dir, 'tsshd');
    writeFileSync(wrapper, `#!/bin/sh\nexec ${shq(process.execPath)} ${shq(TSSHD_BIN)} "$@"\n`, { mode: 0o700 });

    // A free port can be taken between probing and sshd's bind: try a few.
    let lastError: Error | null = null;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freeTcpPort();
      const sshdConfig = join(dir, 'sshd_config');
      writeFileSync(sshdConfig, sshdConfigText(dir, port, options.sshdConfig ?? []), { mode: 0o600 });
      const configPath = join(dir, 'ssh_config');
      writeFileSync(configPath, clientConfigText(dir, port, wrapper, options.clientConfig ?? []), { mode: 0o600 });
      const child = spawn(SSHD_BINARY, ['-D', '-e', '-f', sshdConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
      const fixture = new SshdFixture(dir, port, configPath, child);
      try {
        await waitFor(`sshd to listen on 127.0.0.1:${port}`, async () => {
          if (fixture.exited) throw new Error(`sshd exited: ${fixture.stderr.trim().split('\n').slice(-3).join(' | ')}`);
          return canConnect(port);
        }, 15_000, 20);
        return fixture;
      } catch (err) {
        lastError = err as Error;
        fixture.stopProcess();
        if (!/Address already in use/i.test(fixture.stderr)) break;
      }
    }
    throw lastError ?? new Error('sshd did not start');
  }

  /** sshd's log so far (its stderr, -e), for failure messages. */
  get log(): string {
    return this.stderr;
  }

  /** The `ssh`/`tssh` arguments that select this fixture's config: `-F <config>`. */
  get configArgs(): string[] {
    return ['-F', this.configPath];
  }

  /** Write another client config (same host alias and keys) with extra lines; returns its path. */
  writeClientConfig(name: string, extra: string[], tsshdPath = join(this.dir, 'tsshd')): string {
    const path = join(this.dir, name);
    writeFileSync(path, clientConfigText(this.dir, this.port, tsshdPath, extra), { mode: 0o600 });
    return path;
  }

  /**
   * PIDs of processes that logins through this sshd started and that still
   * run (detached tsshd daemons included): found by the XDG_CONFIG_HOME that
   * this sshd alone sets. Linux /proc; empty elsewhere.
   */
  sessionProcesses(): number[] {
    return processesWithEnv(`XDG_CONFIG_HOME=${join(this.dir, 'xdg')}`);
  }

  /**
   * Stop sshd (by PID), give the sessions' processes `graceMs` to end on their
   * own, end the rest by PID (returned, so a test can report a leak), and
   * remove the temp dir. Idempotent.
   */
  async stop(graceMs = 15_000): Promise<number[]> {
    this.stopProcess();
    await waitFor('sshd to exit', () => this.exited, 10_000).catch(() => this.child.kill('SIGKILL'));
    const left = await waitFor('session processes to end', () => this.sessionProcesses().length === 0, graceMs, 100)
      .then(() => [] as number[])
      .catch(() => this.sessionProcesses());
    // SIGTERM first: a shell killed outright skips its EXIT traps (and can leave its rc files' lock files behind).
    signalAll(left, 'SIGTERM');
    await waitFor('session processes to take SIGTERM', () => this.sessionProcesses().length === 0, 3000, 50).catch(() =>
      signalAll(this.sessionProcesses(), 'SIGKILL'),
    );
    if (left.length > 0) console.error(`sshd fixture: ended ${left.length} session process(es) that outlived the tests: ${left.join(' ')}`);
    rmSync(this.dir, { recursive: true, force: true });
    return left;
  }

  private stopProcess(): void {
    if (!this.exited && this.child.pid !== undefined) this.child.kill('SIGTERM');
  }
}

function signalAll(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** sshd refuses to start as root without its privilege separation directory; systemd normally creates it. */
function ensurePrivsepDir(): void {
  if (process.getuid?.() !== 0 || existsSync('/run/sshd')) return;
  mkdirSync('/run/sshd', { mode: 0o755, recursive: true });
}

function keygen(path: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tsshd-e2e', '-f', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed (${r.error?.message ?? r.stderr.trim()}): install openssh-client`);
}

function sshdConfigText(dir: string, port: number, extra: string[]): string {
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_ed25519')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin yes',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PrintMotd no',
    'PrintLastLog no',
    `SetEnv XDG_CONFIG_HOME=${join(dir, 'xdg')} ${PYENV_REHASH_BOUND}=${PYENV_REHASH_SECONDS}`,
    `AcceptEnv LANG LC_* ${PYENV_REHASH_BOUND}`,
    'LogLevel ERROR',
    ...extra,
    '',
  ].join('\n');
}

function clientConfigText(dir: string, port: number, tsshdPath: string, extra: string[]): string {
  return throwawayHostConfig({
    host: 'tsshd-test',
    hostName: '127.0.0.1',
    port,
    identityFile: join(dir, 'id_ed25519'),
    knownHosts: join(dir, 'known_hosts'),
    tsshdPath,
    extra: [`SendEnv ${PYENV_REHASH_BOUND}`, ...extra],
  });
}

/** An ssh_config Host block for a throwaway sshd reached with a throwaway key (the tests' fixture and the lab's sshd). */
export function throwawayHostConfig(o: {
  host: string;
  hostName: string;
  port: number;
  identityFile: string;
  knownHosts: string;
  tsshdPath: string;
  extra?: readonly string[];
}): string {
  return [
    `Host ${o.host}`,
    `  HostName ${o.hostName}`,
    `  Port ${o.port}`,
    `  User ${userInfo().username}`,
    `  IdentityFile ${o.identityFile}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${o.knownHosts}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking no',
    '  BatchMode yes',
    '  LogLevel ERROR',
    `  #!! TsshdPath ${o.tsshdPath}`,
    ...(o.extra ?? []).map((l) => `  ${l}`),
    '',
  ].join('\n');
}

/**
 * Machines whose shell start-up runs `pyenv rehash` (root's ~/.bashrc on this
 * project's machines) take a lock file there; a shell killed mid-rehash (as
 * tests do) leaves it behind and every later shell then waits 60 s for it.
 * Logins and sessions in the tests get this bound instead (sshd's SetEnv for
 * the login, SendEnv/AcceptEnv for tsshd's sessions); cleanEnv() sets it too.
 */
export const PYENV_REHASH_BOUND = 'PYENV_REHASH_TIMEOUT';
export const PYENV_REHASH_SECONDS = '2';

/** Quote for /bin/sh. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
