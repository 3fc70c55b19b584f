import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  absoluteRemotePath,
  chooseInstallKind,
  compareVersions,
  INSTALL_ABORT,
  installCommand,
  installHeader,
  olderServerNote,
  parseProbe,
  remotePath,
  tsshdSearchCommand,
  type ClientAbilities,
  type ServerProbe,
} from '../../src/client/install-plan.js';
import { gzipTar } from '../../src/client/tar-archive.js';

// The remote scripts run here in a real sh, as the login shell would run them (`$SHELL -c '<command>'`).
function remote(command: string, home: string, input?: Buffer, path = process.env.PATH ?? '/usr/bin:/bin') {
  return spawnSync('/bin/sh', ['-c', command], { env: { HOME: home, PATH: path }, cwd: home, input, encoding: 'utf8' });
}

function withHome(fn: (home: string) => void): void {
  const home = mkdtempSync(join(tmpdir(), 'tsshd-plan-'));
  try {
    fn(home);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const fakeTsshd = (version: string): Buffer => Buffer.from(`#!/bin/sh\necho "tsshd ${version}"\n`);

test('the probe reports system, $HOME, Node and what is installed, through a real sh', () => {
  withHome((home) => {
    mkdirSync(join(home, '.local/bin'), { recursive: true });
    writeFileSync(join(home, '.local/bin/tsshd'), fakeTsshd('0.0.7'), { mode: 0o755 });
    // No header on stdin: the script stops after the probe, and so does any other line.
    const r = remote(installCommand('~/.local/bin'), home, Buffer.alloc(0), `${join(process.execPath, '..')}:/usr/bin:/bin`);
    assert.equal(r.status, 0, r.stderr);
    const stopped = remote(installCommand('~/.local/bin'), home, Buffer.from(INSTALL_ABORT));
    assert.equal(stopped.status, 0, stopped.stderr);
    assert.doesNotMatch(stopped.stdout.slice(stopped.stdout.indexOf('tsshd-probe-end')), /installed=/);
    assert.deepEqual(readdirSync(join(home, '.local')), ['bin']);
    const p = parseProbe(`motd line\n${r.stdout}`, 'h');
    assert.equal(p.os, 'Linux');
    assert.equal(p.home, home);
    assert.equal(p.nodeVersion, process.versions.node);
    assert.equal(p.nodeAbi, process.versions.modules);
    assert.equal(p.installed, 'tsshd 0.0.7');
  });
  assert.throws(() => parseProbe('This account is for git only\n', 'h'), /^Error: tssh: cannot install tsshd on h: its shell did not run the probe/);
});

const probe = (over: Partial<ServerProbe>): ServerProbe => ({
  os: 'Linux', machine: 'x86_64', home: '/home/u', node: '/usr/bin/node', nodeVersion: '20.11.0', nodeAbi: '115', installed: '', ...over,
});
const client: ClientAbilities = { ptyPlatforms: ['linux-x64'], executablePlatform: 'linux-x64' };

test('chooseInstallKind: the server\'s Node when it is 20 or later, else a single executable, else one line of what it needs', () => {
  assert.deepEqual(chooseInstallKind(probe({}), client, 'h'), { kind: 'bundle', node: '/usr/bin/node' });
  assert.deepEqual(chooseInstallKind(probe({ nodeVersion: '18.19.1' }), client, 'h'), { kind: 'executable' });
  assert.deepEqual(chooseInstallKind(probe({ node: '' , nodeVersion: '' }), client, 'h'), { kind: 'executable' });
  assert.throws(
    () => chooseInstallKind(probe({ machine: 'aarch64', node: '' }), client, 'h'),
    /^Error: tssh: cannot install tsshd on h \(linux-arm64\): it has no Node\.js; it needs Node\.js 20 or later on the PATH of an ssh login, or a tsshd single executable for linux-arm64, which this tssh cannot build/,
  );
  assert.throws(
    () => chooseInstallKind(probe({ machine: 'aarch64' }), client, 'h'),
    /^Error: tssh: cannot install tsshd on h \(linux-arm64\): this tssh has no terminal addon \(@lydell\/node-pty-linux-arm64\)/,
  );
  assert.throws(() => chooseInstallKind(probe({ os: 'SunOS', machine: 'sparc' }), client, 'h'), /tsshd runs on Linux, macOS and FreeBSD on x86_64 or arm64 only$/);
  assert.throws(() => chooseInstallKind(probe({ os: 'Darwin', machine: 'arm64' }), client, 'h'), /\(darwin-arm64\): --install-tsshd sends tsshd to Linux servers only; on darwin-arm64 install it with npm/);
  const noSea: ClientAbilities = { ptyPlatforms: ['linux-x64'], executablePlatform: '', executableRefusal: 'single executables are built on Linux only' };
  assert.throws(() => chooseInstallKind(probe({ node: '' }), noSea, 'h'), /which this tssh cannot build \(single executables are built on Linux only\)/);
});

test('paths: ~/ is the remote $HOME, other paths are quoted for the remote shell', () => {
  assert.equal(remotePath('~/.local/bin/'), '"$HOME"/.local/bin');
  assert.equal(remotePath("/opt/it's"), `'/opt/it'\\''s'`);
  assert.equal(absoluteRemotePath('~/.local/bin', '/home/u'), '/home/u/.local/bin');
  assert.equal(absoluteRemotePath('bin', '/home/u/'), '/home/u/bin');
  assert.equal(absoluteRemotePath('/opt/bin/', '/home/u'), '/opt/bin');
});

test('the install script puts tsshd in place by renames, and a failed install leaves the old one', () => {
  withHome((home) => {
    const send = (versionDir: string, payload: Buffer, expect?: string) =>
      remote(installCommand('~/.local/bin'), home, Buffer.concat([Buffer.from(installHeader(versionDir, expect)), payload]));
    const first = send('tsshd-1-a', gzipTar([{ name: 'tsshd', mode: 0o755, data: fakeTsshd('1') }]));
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /^installed=tsshd 1$/m);
    const second = send(
      'tsshd-2-b',
      gzipTar([{ name: 'tsshd', mode: 0o755, data: fakeTsshd('2') }, { name: 'native', mode: 0o755 }, { name: 'native/x.node', mode: 0o644, data: Buffer.from('x') }]),
      'tsshd 2',
    );
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /^installed=tsshd 2$/m);
    assert.deepEqual(readdirSync(join(home, '.local/lib/tsshd')), ['tsshd-2-b'], 'the older version and no temporary directory');
    assert.deepEqual(readdirSync(join(home, '.local/bin')), ['tsshd']);
    assert.equal(readFileSync(join(home, '.local/lib/tsshd/tsshd-2-b/native/x.node'), 'utf8'), 'x');
    // A tsshd that does not run here (or is not the version sent): refused before it replaces anything.
    const wrong = send('tsshd-4-d', gzipTar([{ name: 'tsshd', mode: 0o755, data: Buffer.from('#!/bin/sh\necho "libc too old" >&2; exit 1\n') }]), 'tsshd 4');
    assert.equal(wrong.status, 3);
    assert.match(wrong.stdout, /^broken=libc too old$/m);
    assert.equal(spawnSync(join(home, '.local/bin/tsshd'), { encoding: 'utf8' }).stdout, 'tsshd 2\n');
    assert.deepEqual(readdirSync(join(home, '.local/lib/tsshd')), ['tsshd-2-b']);
    // A truncated payload: tar fails, nothing changes.
    const broken = gzipTar([{ name: 'tsshd', mode: 0o755, data: fakeTsshd('3') }]).subarray(0, 20);
    const third = send('tsshd-3-c', broken);
    assert.notEqual(third.status, 0);
    assert.equal(spawnSync(join(home, '.local/bin/tsshd'), { encoding: 'utf8' }).stdout, 'tsshd 2\n');
    assert.deepEqual(readdirSync(join(home, '.local/lib/tsshd')), ['tsshd-2-b']);
    assert.deepEqual(readdirSync(join(home, '.local/bin')), ['tsshd']);
  });
});

test('the default TsshdPath finds ~/.local/bin/tsshd first, else tsshd on PATH, else the shell says not found (127)', () => {
  withHome((home) => {
    const onPath = join(home, 'path');
    mkdirSync(onPath);
    writeFileSync(join(onPath, 'tsshd'), '#!/bin/sh\necho "path $*"\n', { mode: 0o755 });
    const cmd = tsshdSearchCommand(['--kcp', '--port', "'1 2'"]);
    assert.equal(remote(cmd, home, undefined, `${onPath}:/usr/bin:/bin`).stdout, 'path --kcp --port 1 2\n');
    mkdirSync(join(home, '.local/bin'), { recursive: true });
    writeFileSync(join(home, '.local/bin/tsshd'), '#!/bin/sh\necho "local $*"\n');
    chmodSync(join(home, '.local/bin/tsshd'), 0o755);
    assert.equal(remote(cmd, home, undefined, `${onPath}:/usr/bin:/bin`).stdout, 'local --kcp --port 1 2\n');
    rmSync(join(home, '.local'), { recursive: true });
    const missing = remote(cmd, home, undefined, '/usr/bin:/bin');
    assert.equal(missing.status, 127);
    assert.doesNotMatch(missing.stderr, /^tsshd:/m, 'a shell message must not look like tsshd\'s own');
    assert.ok(!existsSync(join(home, '.local')));
  });
});

test('version note: only for an older tsshd, with the command that updates it', () => {
  assert.equal(compareVersions('0.1.10', '0.1.9') > 0, true);
  assert.equal(compareVersions('0.1.0', '0.1.0'), 0);
  assert.equal(compareVersions('1.0.0-beta.1', '1.0.0'), 0);
  assert.equal(olderServerNote('0.1.0', '0.1.0', 'h', 'tsshd'), null);
  assert.equal(olderServerNote('0.2.0', '0.1.0', 'h', 'tsshd'), null);
  assert.equal(olderServerNote('0.0.9', '0.1.0', 'h', 'tsshd'), 'tssh: tsshd on h is 0.0.9, older than tssh 0.1.0; update it with: tssh --install-tsshd h');
  assert.equal(
    olderServerNote('0.0.9', '0.1.0', 'h', '/opt/x/tsshd'),
    'tssh: tsshd on h is 0.0.9, older than tssh 0.1.0; update it with: tssh --install-tsshd --install-path /opt/x h',
  );
});
