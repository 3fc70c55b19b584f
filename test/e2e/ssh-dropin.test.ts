import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SshdFixture, TSSH_BIN } from '../support/sshd.js';
import { cleanEnv, killLeftovers, PtyTssh, runCollect, runTssh } from './harness.js';

// tssh in UDP mode side by side with the real ssh, against the real sshd, where ssh has a behaviour:
// -F files that are not regular files, -1/-2, forced commands (ForceCommand, internal-sftp, authorized_keys
// command=, a certificate's force-command), LocalCommand, and bad options reported once, before any login.
// 127.0.0.2 and 127.0.0.3 reach the same sshd with other rules (Match LocalAddress).
const CA_DIR = mkdtempSync(join(tmpdir(), 'tssh-dropin-ca-'));
const FORCED = '127.0.0.2';
const CERT_ONLY = '127.0.0.3';
let sshd: SshdFixture;
let keys: string;

before(async () => {
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(CA_DIR, 'ca')]);
  sshd = await SshdFixture.start({
    sshdConfig: [
      `ListenAddress ${FORCED}`,
      `ListenAddress ${CERT_ONLY}`,
      'Subsystem sftp internal-sftp',
      `Match LocalAddress ${FORCED}`,
      '  ForceCommand internal-sftp',
      `Match LocalAddress ${CERT_ONLY}`,
      '  AuthorizedKeysFile none',
      `  TrustedUserCAKeys ${join(CA_DIR, 'ca.pub')}`,
    ],
    clientConfig: ['#!! UdpMode yes'],
  });
  keys = readFileSync(join(sshd.dir, 'authorized_keys'), 'utf8');
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
  rmSync(CA_DIR, { recursive: true, force: true });
});

/** ssh and tssh (UdpMode yes from the config) with the same arguments. */
async function both(args: readonly string[], input?: string): Promise<{ ssh: Awaited<ReturnType<typeof runCollect>>; tssh: Awaited<ReturnType<typeof runTssh>> }> {
  const options = input === undefined ? {} : { input };
  const ssh = await runCollect('ssh', args, options);
  const tssh = await runTssh(args, options);
  return { ssh, tssh };
}

/** Run `body` with the fixture's authorized_keys line carrying `options` (e.g. `command="..."`). */
async function withKeyOptions(options: string, body: () => Promise<void>): Promise<void> {
  writeFileSync(join(sshd.dir, 'authorized_keys'), `${options} ${keys}`, { mode: 0o600 });
  try {
    await body();
  } finally {
    writeFileSync(join(sshd.dir, 'authorized_keys'), keys, { mode: 0o600 });
  }
}

const NOTICE = /^tssh: tsshd-test runs a forced command for this login \(.*\), not tsshd; continuing as plain ssh\n/;

test('the fixture logs in over UDP without forced commands (so what follows is the forced commands\' doing)', async () => {
  const r = await runTssh([...sshd.configArgs, '-v', sshd.host, 'echo $SSH_CONNECTION']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /tsshd|UDP|KCP/i, 'went over UDP');
  assert.doesNotMatch(r.stderr, /forced command/);
});

test('authorized_keys command=: tssh shows what ssh shows, with one line saying why it stays on ssh', async () => {
  await withKeyOptions('command="echo forced: $SSH_ORIGINAL_COMMAND; exit 3"', async () => {
    const { ssh, tssh } = await both([...sshd.configArgs, sshd.host, 'echo', 'mine']);
    assert.equal(ssh.status, 3, ssh.stderr);
    assert.equal(ssh.stdout.toString(), 'forced: echo mine\n');
    assert.equal(tssh.status, ssh.status, tssh.stderr);
    assert.deepEqual(tssh.stdout, ssh.stdout, 'the forced command ran once for the user and its output is shown once');
    assert.match(tssh.stderr, NOTICE);
    assert.equal(tssh.stderr.replace(NOTICE, ''), ssh.stderr);
  });
});

test('git-style accounts: a forced command that runs $SSH_ORIGINAL_COMMAND gets the user\'s command, with stdin', async () => {
  await withKeyOptions('restrict,command="case $SSH_ORIGINAL_COMMAND in tr*) eval $SSH_ORIGINAL_COMMAND;; *) echo refused >&2; exit 128;; esac"', async () => {
    const { ssh, tssh } = await both([...sshd.configArgs, sshd.host, 'tr', 'a-z', 'A-Z'], 'pack data\n');
    assert.equal(ssh.stdout.toString(), 'PACK DATA\n', ssh.stderr);
    assert.equal(tssh.status, 0, tssh.stderr);
    assert.deepEqual(tssh.stdout, ssh.stdout);
  });
});

test('an interactive login with a forced command gets a terminal as with ssh (a menu-style account)', async () => {
  await withKeyOptions('command="if [ -t 0 ]; then echo menu-on-a-tty; else echo no-tty; fi; read choice; echo chose-$choice"', async () => {
    const term = new PtyTssh([...sshd.configArgs, sshd.host]);
    try {
      await term.waitForScreen('the forced command on a terminal', /^menu-on-a-tty$/m);
      assert.match(term.text(), /runs a forced command for this login/);
      term.type('2\r');
      await term.waitForScreen('its answer', /^chose-2$/m);
      assert.equal(await term.waitForExit(), 0);
    } finally {
      term.close();
    }
  });
});

test('-q keeps the notice quiet, as ssh -q keeps its own', async () => {
  await withKeyOptions('command="echo forced"', async () => {
    const r = await runTssh([...sshd.configArgs, '-q', sshd.host]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'forced\n');
    assert.equal(r.stderr, '');
  });
});

test('sshd ForceCommand internal-sftp: sftp through tssh works as through ssh', async () => {
  const wrapper = join(sshd.dir, 'tssh-for-sftp');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(TSSH_BIN)} "$@"\n`, { mode: 0o700 });
  const args = ['-F', sshd.configPath, '-o', `HostName=${FORCED}`, '-b', '-', sshd.host];
  const viaSsh = await runCollect('sftp', args, { input: 'pwd\n' });
  const viaTssh = await runCollect('sftp', ['-S', wrapper, ...args], { input: 'pwd\n', env: cleanEnv() });
  assert.equal(viaSsh.status, 0, viaSsh.stderr);
  assert.match(viaSsh.stdout.toString(), /Remote working directory: \//);
  assert.equal(viaTssh.status, 0, viaTssh.stderr);
  assert.deepEqual(viaTssh.stdout.toString(), viaSsh.stdout.toString());
  assert.match(viaTssh.stderr, /forced command/);
});

test('sshd ForceCommand with a command: tssh prints what ssh prints', async () => {
  const { ssh, tssh } = await both([...sshd.configArgs, '-o', `HostName=${FORCED}`, sshd.host, 'echo', 'hi']);
  assert.equal(tssh.status, ssh.status, tssh.stderr);
  assert.deepEqual(tssh.stdout, ssh.stdout);
  assert.match(tssh.stderr, NOTICE);
});

test("a certificate's force-command: tssh prints what ssh prints", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tssh-dropin-cert-'));
  try {
    copyFileSync(join(sshd.dir, 'id_ed25519'), join(dir, 'id'));
    copyFileSync(join(sshd.dir, 'id_ed25519.pub'), join(dir, 'id.pub'));
    const signed = spawnSync('ssh-keygen', ['-q', '-s', join(CA_DIR, 'ca'), '-I', 'dropin', '-n', sshd.user, '-O', 'force-command=echo cert-forced', join(dir, 'id.pub')], { encoding: 'utf8' });
    assert.equal(signed.status, 0, signed.stderr);
    const args = [...sshd.configArgs, '-o', `HostName=${CERT_ONLY}`, '-o', `CertificateFile=${join(dir, 'id-cert.pub')}`, sshd.host, 'echo', 'mine'];
    const { ssh, tssh } = await both(args);
    assert.equal(ssh.stdout.toString(), 'cert-forced\n', ssh.stderr);
    assert.equal(tssh.status, ssh.status, tssh.stderr);
    assert.deepEqual(tssh.stdout, ssh.stdout);
    assert.match(tssh.stderr, NOTICE);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("LocalCommand's output is shown over UDP as ssh shows it, before the command's", async () => {
  const args = [...sshd.configArgs, '-o', 'PermitLocalCommand=yes', '-o', 'LocalCommand=echo local-%n', sshd.host, 'echo remote'];
  const { ssh, tssh } = await both(args);
  assert.equal(ssh.stdout.toString(), 'local-tsshd-test\nremote\n', ssh.stderr);
  assert.equal(tssh.status, 0, tssh.stderr);
  assert.deepEqual(tssh.stdout.toString(), ssh.stdout.toString());
  assert.doesNotMatch(tssh.stderr, /forced command/);
});

test('-F /dev/null and -F from a pipe work as with ssh', async () => {
  const reach = ['-o', `HostName=127.0.0.1`, '-o', `Port=${sshd.port}`, '-o', `IdentityFile=${join(sshd.dir, 'id_ed25519')}`, '-o', 'StrictHostKeyChecking=no', '-o', `UserKnownHostsFile=${join(sshd.dir, 'known_hosts')}`, '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR'];
  const ssh = await runCollect('ssh', ['-F', '/dev/null', ...reach, 'tsshd-test', 'echo via-null']);
  assert.equal(ssh.stdout.toString(), 'via-null\n', ssh.stderr);
  const tssh = await runTssh(['-F', '/dev/null', '--udp', ...reach, '-o', `TsshdPath=${join(sshd.dir, 'tsshd')}`, 'tsshd-test', 'echo via-null; echo $SSH_CONNECTION']);
  assert.equal(tssh.status, 0, tssh.stderr);
  assert.match(tssh.stdout.toString(), /^via-null\n/);
  // A pipe (bash's <(...)) can be read once; tssh reads it and ssh -G and the login still get the config.
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const line = `exec ${q(process.execPath)} ${q(TSSH_BIN)} -F <(cat ${q(sshd.configPath)}) -v tsshd-test 'echo via-pipe'`;
  const piped = await runCollect('bash', ['-c', line]);
  assert.equal(piped.status, 0, piped.stderr);
  assert.equal(piped.stdout.toString(), 'via-pipe\n');
  assert.match(piped.stderr, /tsshd|UDP|KCP/i, 'the #!! UdpMode line in the pipe was read');
});

test('-2 is accepted and -1 refused with ssh\'s words and status', async () => {
  const two = await runTssh([...sshd.configArgs, '-2', sshd.host, 'echo two']);
  assert.equal(two.status, 0, two.stderr);
  assert.equal(two.stdout.toString(), 'two\n');
  const { ssh, tssh } = await both([...sshd.configArgs, '-1', sshd.host, 'true']);
  assert.equal(ssh.status, 255);
  assert.equal(tssh.status, 255);
  // ssh ends its fatal lines with CR LF.
  assert.equal(tssh.stderr.trimEnd(), ssh.stderr.trimEnd());
});

test('an unknown -o option is reported once, as ssh reports it', async () => {
  const { ssh, tssh } = await both([...sshd.configArgs, '-o', 'NoSuchOption=1', sshd.host, 'true']);
  assert.equal(ssh.status, 255);
  assert.equal(tssh.status, 255);
  const line = ssh.stderr.trim();
  assert.match(line, /Bad configuration option: nosuchoption/);
  assert.equal(tssh.stderr.split(line).length - 1, 1, tssh.stderr);
});

test('a bad TsshdPort is reported once, before any login (no ssh is run at all)', async () => {
  for (const args of [['--tsshd-port', '70000'], ['-o', 'TsshdPort=5-3']]) {
    // Port 1: a login would fail with "connection refused"; the port spec must be refused first.
    const r = await runTssh([...sshd.configArgs, ...args, '-o', 'Port=1', sshd.host, 'true']);
    assert.equal(r.status, 255);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /port spec '(70000|5-3)'/);
  }
});

test('-f with a command: its output reaches the caller as with ssh -f (control-master.test.ts: -f -N returns at once)', async () => {
  const command = 'sleep 1; echo from-background';
  const { ssh, tssh } = await both([...sshd.configArgs, '-f', sshd.host, command]);
  assert.equal(ssh.stdout.toString(), 'from-background\n', ssh.stderr);
  assert.equal(tssh.status, 0, tssh.stderr);
  assert.deepEqual(tssh.stdout, ssh.stdout);
});
