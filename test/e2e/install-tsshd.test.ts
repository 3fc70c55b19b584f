import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VERSION } from '../../src/version.js';
import { pathWithout } from '../support/path-without.js';
import { SshdFixture } from '../support/sshd.js';
import { cleanEnv, killLeftovers, runTssh } from './harness.js';

// `tssh --install-tsshd` against a fresh account on a real sshd: first with
// the server's Node (a bundle), then with node off that account's PATH (a
// single executable), each time followed by `tssh --udp` with no TsshdPath.

const isRoot = process.getuid?.() === 0;
const SKIP = isRoot ? false : 'needs root to create a throwaway user (useradd)';

const user = `tsshdi${randomBytes(3).toString('hex')}`;
let base = '';
let home = '';
let sshd: SshdFixture;
let config = '';
let uid = -1;
/** tssh's own cache (for the single executable it builds), private to this test. */
let cache = '';

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** PIDs of processes of the throwaway user (it exists only for this test, so all are ours). */
function userProcesses(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      if (statSync(`/proc/${name}`).uid === uid) pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

const tssh = (args: string[], timeoutMs = 120_000) =>
  runTssh(['-F', config, '-l', user, ...args], { env: cleanEnv({ XDG_CACHE_HOME: cache }), timeoutMs });

before(async () => {
  if (!isRoot) return;
  base = mkdtempSync(join(tmpdir(), 'tsshd-install-'));
  chmodSync(base, 0o755);
  home = join(base, 'home');
  cache = join(base, 'client-cache');
  // `*`: no password, but not a locked account (sshd without PAM refuses those).
  run('useradd', ['-m', '-d', home, '-s', '/bin/bash', '-p', '*', user]);
  uid = Number(run('id', ['-u', user]).trim());
  sshd = await SshdFixture.start({
    sshdConfig: ['PermitUserEnvironment yes', `Match User ${user}`, `  AuthorizedKeysFile ${home}/.ssh/authorized_keys`],
  });
  mkdirSync(join(home, '.ssh'), { mode: 0o700 });
  writeFileSync(join(home, '.ssh', 'authorized_keys'), readFileSync(join(sshd.dir, 'id_ed25519.pub')), { mode: 0o600 });
  chownSync(join(home, '.ssh'), uid, uid);
  chownSync(join(home, '.ssh', 'authorized_keys'), uid, uid);
  // No TsshdPath: tssh must find what --install-tsshd put there by itself.
  config = sshd.writeClientConfig('install_config', [], 'tsshd');
});

after(async () => {
  if (!isRoot) return;
  killLeftovers();
  await sshd?.stop();
  for (const pid of userProcesses()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  spawnSync('userdel', ['-r', '-f', user], { encoding: 'utf8' });
  rmSync(base, { recursive: true, force: true });
});

test('with Node on the server: a bundle for that Node, found by tssh --udp without TsshdPath', { skip: SKIP, timeout: 240_000 }, async () => {
  const before = await tssh(['--udp', sshd.host, 'true']);
  assert.equal(before.status, 255);
  assert.match(before.stderr, new RegExp(`tssh: tsshd was not found on ${sshd.host} .*install it with tssh --install-tsshd ${sshd.host}`));

  const r = await tssh(['--install-tsshd', sshd.host]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /sending tsshd .* \(bundle run by \/\S*node/);
  assert.match(r.stderr, new RegExp(`tsshd ${VERSION} installed on ${sshd.host} at ${home}/\\.local/bin/tsshd`));
  const launcher = readFileSync(join(home, '.local/bin/tsshd'), 'utf8');
  assert.match(launcher, /^#!\/bin\/sh\n/);
  assert.equal(statSync(join(home, '.local/bin/tsshd')).uid, uid, 'installed as the login user, not root');
  // No temporary files left beside it.
  assert.deepEqual(readdirSync(join(home, '.local/bin')), ['tsshd']);

  const s = await tssh(['--udp', sshd.host, 'echo over-udp; id -un; case :$PATH: in *:$HOME/.local/bin:*) echo on-path;; esac']);
  assert.equal(s.status, 0, s.stderr);
  assert.equal(s.stdout.toString(), `over-udp\n${user}\n`);
  // The bundle carries the QUIC engine too.
  const q = await tssh(['--quic', sshd.host, 'echo over-quic']);
  assert.equal(q.status, 0, q.stderr);
  assert.equal(q.stdout.toString(), 'over-quic\n');
  assert.doesNotMatch(q.stderr, /QUIC/);
});

test('without Node on the server: a single executable, found the same way', { skip: SKIP, timeout: 300_000 }, async () => {
  const bin = pathWithout(join(base, 'bin-without-node'), /^(node|nodejs|npm|npx|corepack)$/);
  writeFileSync(join(home, '.ssh', 'environment'), `PATH=${bin}\n`, { mode: 0o600 });
  chownSync(join(home, '.ssh', 'environment'), uid, uid);

  const r = await tssh(['--install-tsshd', sshd.host], 280_000);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /sending tsshd .* \(single executable, /);
  const installed = readFileSync(join(home, '.local/bin/tsshd'));
  assert.equal(installed.subarray(0, 4).toString('latin1'), '\x7fELF');
  // The bundle it replaced is gone; one version stays.
  assert.equal(readdirSync(join(home, '.local/lib/tsshd')).length, 1);

  // (The session's PATH is tsshd's business, not the login's: only the install saw the PATH without node.)
  const s = await tssh(['--udp', sshd.host, 'echo over-udp']);
  assert.equal(s.status, 0, s.stderr);
  assert.equal(s.stdout.toString(), 'over-udp\n');
  const q = await tssh(['--quic', sshd.host, 'echo over-quic']);
  assert.equal(q.status, 0, q.stderr);
  assert.equal(q.stdout.toString(), 'over-quic\n');
  assert.doesNotMatch(q.stderr, /QUIC/);
  // Its native addons were written once, privately, under the user's cache.
  const nativeDirs = readdirSync(join(home, '.cache/tsshd')).filter((n) => n.startsWith('native-'));
  assert.equal(nativeDirs.length, 1);
  assert.equal(statSync(join(home, '.cache/tsshd')).mode & 0o777, 0o700);
  assert.ok(existsSync(join(home, '.cache/tsshd', nativeDirs[0]!, 'pty.node')));
});

test('an older tsshd is reported at login with the command that updates it', { skip: SKIP, timeout: 120_000 }, async () => {
  // A tsshd that says it is 0.0.1: the real one with its bootstrap line edited.
  const old = join(base, 'old-tsshd');
  writeFileSync(old, `#!/bin/sh\n"$HOME"/.local/bin/tsshd "$@" | sed 's/"serverVersion":"[^"]*"/"serverVersion":"0.0.1"/'\n`, { mode: 0o755 });
  const r = await tssh(['--install-tsshd', '--install-path', '~/old', '--tsshd-bin-path', old, sshd.host]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`--tsshd-path ${home}/old/tsshd`));

  const s = await tssh(['--udp', '--tsshd-path', '~/old/tsshd', sshd.host, 'echo fine']);
  assert.equal(s.status, 0, s.stderr);
  assert.equal(s.stdout.toString(), 'fine\n');
  assert.ok(
    s.stderr.includes(`tssh: tsshd on ${sshd.host} is 0.0.1, older than tssh ${VERSION}; update it with: tssh --install-tsshd --install-path '~/old' ${sshd.host}\n`),
    s.stderr,
  );
  // -q keeps quiet about it.
  const q = await tssh(['-q', '--udp', '--tsshd-path', '~/old/tsshd', sshd.host, 'true']);
  assert.equal(q.status, 0, q.stderr);
  assert.doesNotMatch(q.stderr, /older than/);
});
