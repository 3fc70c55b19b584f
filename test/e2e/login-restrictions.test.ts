import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { closedQuietly, connectTo, echoServer } from '../forward/fixtures.js';
import { SshdFixture } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { freeTcpPort, killLeftovers, runCollect, runTssh, startTssh } from './harness.js';

// The login's key and certificate restrictions, through real ssh, sshd (ExposeAuthInfo yes) and tssh:
// tsshd refuses what sshd refused the login, with ssh's own messages.
let sshd: SshdFixture;
let echo: Awaited<ReturnType<typeof echoServer>>;
let authorizedKeys: string;
let publicKey: string;
let tsshdConfig: string;
let baseConfig: string;
before(async () => {
  sshd = await SshdFixture.start({ sshdConfig: ['ExposeAuthInfo yes'] });
  echo = await echoServer();
  authorizedKeys = join(sshd.dir, 'authorized_keys');
  publicKey = readFileSync(authorizedKeys, 'utf8').trim();
  // tsshd reads the key options where sshd does: its own sshd_config names the same AuthorizedKeysFile.
  tsshdConfig = join(sshd.dir, 'xdg', 'tsshd', 'sshd_config');
  baseConfig = readFileSync(tsshdConfig, 'utf8');
  writeFileSync(tsshdConfig, `${baseConfig}AuthorizedKeysFile ${authorizedKeys}\n`, { mode: 0o600 });
});
afterEach(() => {
  writeFileSync(authorizedKeys, `${publicKey}\n`, { mode: 0o600 });
  rmSync(join(sshd.dir, 'id_ed25519-cert.pub'), { force: true });
});
after(async () => {
  killLeftovers();
  await echo?.close();
  await sshd?.stop();
});

const kcp = (...rest: string[]): string[] => [...sshd.configArgs, '--kcp', ...rest];

function keygen(...args: string[]): void {
  const r = spawnSync('ssh-keygen', ['-q', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `ssh-keygen ${args.join(' ')}: ${r.stderr}`);
}

/** -W to the echo server: refused with ssh's line naming the key's option, as ssh -W is. */
async function assertForwardRefused(reason: RegExp): Promise<void> {
  const viaSsh = await runCollect('ssh', [...sshd.configArgs, '-W', `127.0.0.1:${echo.port}`, sshd.host], { input: 'x' });
  assert.equal(viaSsh.status, 255, `ssh -W was refused too: ${viaSsh.stderr}`);
  const r = await runTssh(kcp('-W', `127.0.0.1:${echo.port}`, sshd.host), { input: 'x' });
  assert.equal(r.status, 255, r.stderr);
  assert.match(r.stderr, new RegExp(`^channel \\d+: open failed: administratively prohibited: ${reason.source}; stdio forwarding failed\\n`, 'm'));
}

/** -tt tty: ssh gives up when sshd refuses the pty (status 255); tssh too, naming the key's option. */
async function assertPtyRefused(reason: RegExp): Promise<void> {
  const viaSsh = await runCollect('ssh', [...sshd.configArgs, '-tt', sshd.host, 'tty']);
  assert.equal(viaSsh.status, 255);
  assert.match(viaSsh.stderr, /PTY allocation request failed on channel 0/);
  const r = await runTssh(kcp('-tt', sshd.host, 'tty'));
  assert.equal(r.status, 255, r.stderr);
  assert.equal(r.stdout.toString(), '');
  assert.match(r.stderr, new RegExp(`PTY allocation request failed: ${reason.source}`));
}

test('authorized_keys no-port-forwarding,no-pty: -W and -L are refused and -tt is refused its pty, as with ssh', async () => {
  writeFileSync(authorizedKeys, `no-port-forwarding,no-pty ${publicKey}\n`, { mode: 0o600 });
  await assertForwardRefused(/port forwarding is disabled for this key \(no-port-forwarding in \S+authorized_keys\)/);
  await assertPtyRefused(/pty allocation is disabled for this key \(no-pty in \S+authorized_keys\)/);

  const lPort = await freeTcpPort();
  const tssh = startTssh(kcp('-L', `${lPort}:127.0.0.1:${echo.port}`, sshd.host, 'echo ran; sleep 60'));
  try {
    await waitFor('the command to run', () => tssh.stdout().toString() === 'ran\n' || tssh.exitStatus() !== undefined, 40_000, 50);
    const socket = await connectTo(lPort);
    socket.write('hello');
    await closedQuietly(socket);
    await waitFor('the refusal', () => /open failed: administratively prohibited: port forwarding is disabled for this key/.test(tssh.stderr()), 10_000);
  } finally {
    await tssh.stop();
  }
});

test('without restrictions the same key forwards and gets a pty (the check above is the key, not the set-up)', async () => {
  const r = await runTssh(kcp('-W', `127.0.0.1:${echo.port}`, sshd.host), { input: 'ping' });
  assert.equal(r.stdout.toString(), 'ping', r.stderr);
  const tty = await runTssh(kcp('-tt', sshd.host, 'tty'));
  assert.match(tty.stdout.toString(), /^\/dev\/pts\/\d+/, tty.stderr);
});

test('authorized_keys restrict,pty and permitopen=: the pty is back, forwarding only to the permitted target', async () => {
  writeFileSync(authorizedKeys, `restrict,pty,port-forwarding,permitopen="127.0.0.1:${echo.port}" ${publicKey}\n`, { mode: 0o600 });
  const ok = await runTssh(kcp('-W', `127.0.0.1:${echo.port}`, sshd.host), { input: 'ping' });
  assert.equal(ok.stdout.toString(), 'ping', ok.stderr);
  const other = await freeTcpPort();
  const r = await runTssh(kcp('-W', `127.0.0.1:${other}`, sshd.host), { input: 'x' });
  assert.equal(r.status, 255);
  assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${other} is not permitted by the key's permitopen`));
  const tty = await runTssh(kcp('-tt', sshd.host, 'tty'));
  assert.match(tty.stdout.toString(), /^\/dev\/pts\/\d+/, tty.stderr);
});

test("a certificate's restrictions (ssh-keygen -O no-port-forwarding -O no-pty) hold over UDP as over ssh", async () => {
  const ca = join(sshd.dir, 'user_ca');
  rmSync(ca, { force: true });
  rmSync(`${ca}.pub`, { force: true });
  keygen('-t', 'ed25519', '-N', '', '-C', 'test-ca', '-f', ca);
  keygen('-s', ca, '-I', 'tsshd-e2e', '-n', userInfo().username, '-O', 'no-port-forwarding', '-O', 'no-pty', join(sshd.dir, 'id_ed25519.pub'));
  // Only the CA is trusted now: the login must use the certificate.
  writeFileSync(authorizedKeys, `cert-authority ${readFileSync(`${ca}.pub`, 'utf8').trim()}\n`, { mode: 0o600 });
  await assertForwardRefused(/port forwarding is disabled for this certificate \(it lacks permit-port-forwarding\)/);
  await assertPtyRefused(/pty allocation is disabled for this certificate \(it lacks permit-pty\)/);
});

test('without ExposeAuthInfo: learned only when sshd lets nothing but the authorized keys log in', async () => {
  const plain = await SshdFixture.start();
  try {
    const keys = join(plain.dir, 'authorized_keys');
    writeFileSync(keys, `no-port-forwarding,no-pty ${readFileSync(keys, 'utf8').trim()}\n`, { mode: 0o600 });
    const config = join(plain.dir, 'xdg', 'tsshd', 'sshd_config');
    const base = readFileSync(config, 'utf8');
    const args = (...rest: string[]): string[] => [...plain.configArgs, '--kcp', ...rest];
    // Password logins possible (OpenSSH's default): the key used is unknown, nothing is learned.
    writeFileSync(config, `${base}AuthorizedKeysFile ${keys}\n`, { mode: 0o600 });
    const open = await runTssh(args('-W', `127.0.0.1:${echo.port}`, plain.host), { input: 'ping' });
    assert.equal(open.stdout.toString(), 'ping', open.stderr);
    // As the fixture's sshd really is: keys only. Every key forbids it, so the login was forbidden it.
    writeFileSync(config, `${base}AuthorizedKeysFile ${keys}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n`, { mode: 0o600 });
    const r = await runTssh(args('-W', `127.0.0.1:${echo.port}`, plain.host), { input: 'x' });
    assert.equal(r.status, 255, r.stderr);
    assert.match(r.stderr, /administratively prohibited: port forwarding is disabled for this key \(no-port-forwarding in \S+authorized_keys\)/);
    const tty = await runTssh(args('-tt', plain.host, 'tty'));
    assert.equal(tty.status, 255);
    assert.match(tty.stderr, /PTY allocation request failed: pty allocation is disabled for this key/);
  } finally {
    await plain.stop();
  }
});
