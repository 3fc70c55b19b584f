import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PYENV_REHASH_BOUND, SshdFixture } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { cleanEnv, freeUdpPort, killLeftovers, runTssh, type RunResult } from './harness.js';
import { FakeXServer, X_CLIENT, XAUTH } from '../support/fake-x-server.js';
import { startAgentWithKey, type TestAgent } from '../support/ssh-agent.js';

// Agent (-A) and X11 (-X/-Y) forwarding end to end: a real ssh-agent and real
// xauth on both sides, tsshd's policy from its sshd_config, and a fake local X
// server that checks the cookie it is given.

const haveTools = ['ssh-agent', 'ssh-add'].every((p) => spawnSync('which', [p]).status === 0) && existsSync(XAUTH);
const MISSING = haveTools ? false : 'needs ssh-agent, ssh-add (openssh-client) and xauth (apt-get install xauth)';

/** QUIC's session end can hang (issue 5, being fixed elsewhere): a QUIC run that hits it is skipped with this reason. */
const TSSH_TIMEOUT_MS = 60_000;

let sshd: SshdFixture;
let agent: TestAgent | undefined;
let agentSock = '';
let keyFingerprint = '';
let remoteXauth = '';
const tsshdConfig = (): string => join(sshd.dir, 'xdg', 'tsshd', 'sshd_config');
const BASE_TSSHD_CONFIG = `AcceptEnv LANG LC_* ${PYENV_REHASH_BOUND} XAUTHORITY\nX11Forwarding yes\nX11DisplayOffset 40\n`;

before(async () => {
  if (MISSING) return;
  sshd = await SshdFixture.start();
  remoteXauth = join(sshd.dir, 'remote-xauthority');
  // The remote sessions' xauth writes here, not to the user's ~/.Xauthority (SetEnv -> AcceptEnv).
  agent = startAgentWithKey(sshd.dir);
  agentSock = agent.sock;
  keyFingerprint = agent.fingerprint;
});

after(async () => {
  killLeftovers();
  agent?.stop();
  await sshd?.stop();
});

/** tsshd's sshd_config: `first` before the base lines (the first value of an option wins), `last` after them (Match blocks). */
function setTsshdConfig(first = '', last = ''): void {
  writeFileSync(tsshdConfig(), first + BASE_TSSHD_CONFIG + last, { mode: 0o600 });
}

/** Run tssh with the X11 test's client config. */
async function tssh(flag: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  const config = sshd.writeClientConfig('ssh_config_x11', [`SetEnv XAUTHORITY=${remoteXauth}`]);
  return runTssh(['-F', config, flag, ...args], { env: cleanEnv(env), timeoutMs: TSSH_TIMEOUT_MS });
}

const AGENT_PROBE = 'echo "sock=$SSH_AUTH_SOCK"; if [ -n "$SSH_AUTH_SOCK" ]; then stat -c "%a %F" "$(dirname "$SSH_AUTH_SOCK")" "$SSH_AUTH_SOCK"; fi; ssh-add -l; echo "rc=$?"';

for (const flag of ['--kcp', '--quic']) {
  test(`${flag}: -A: ssh-add -l in the session lists the client's key; socket 0600 in a 0700 directory, removed at the end`, { skip: MISSING, timeout: 120_000 }, async () => {
    setTsshdConfig();
    const r = await tssh(flag, ['-A', sshd.host, AGENT_PROBE], { SSH_AUTH_SOCK: agentSock });
    const out = r.stdout.toString();
    assert.equal(r.status, 0, r.stderr);
    const sock = /^sock=(\/.+)$/m.exec(out)?.[1];
    assert.ok(sock, out);
    assert.notEqual(sock, agentSock, 'the session gets tsshd\'s socket, not the client\'s');
    assert.match(out, /^700 directory$/m);
    assert.match(out, /^600 socket$/m);
    assert.ok(out.includes(keyFingerprint), `the key ${keyFingerprint} is listed:\n${out}`);
    assert.match(out, /^rc=0$/m);
    await waitFor('the agent socket directory to be removed', () => !existsSync(join(sock, '..')), 15_000, 50);
  });

  test(`${flag}: without -A the session has no agent`, { skip: MISSING, timeout: 120_000 }, async () => {
    setTsshdConfig();
    const r = await tssh(flag, [sshd.host, AGENT_PROBE], { SSH_AUTH_SOCK: agentSock });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.toString(), /^sock=$/m);
    assert.match(r.stdout.toString(), /^rc=2$/m);
  });
}

for (const [name, config, message] of [
  ['AllowAgentForwarding no', () => ['AllowAgentForwarding no\n'], /agent forwarding request failed: agent forwarding is disabled \(AllowAgentForwarding no\)/],
  ['DisableForwarding yes', () => ['DisableForwarding yes\n'], /agent forwarding request failed: agent forwarding is disabled \(DisableForwarding yes\)/],
  ['a Match User block with AllowAgentForwarding no', () => ['', `Match User nobody-else,${sshd.user}\n  AllowAgentForwarding no\n`], /agent forwarding is disabled \(AllowAgentForwarding no\)/],
] as const) {
  test(`--kcp: -A refused by ${name}: a clear message, the session runs without an agent`, { skip: MISSING, timeout: 120_000 }, async () => {
    setTsshdConfig(...config());
    const r = await tssh('--kcp', ['-A', sshd.host, AGENT_PROBE], { SSH_AUTH_SOCK: agentSock });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, message);
    assert.match(r.stdout.toString(), /^sock=$/m);
    assert.match(r.stdout.toString(), /^rc=2$/m);
  });
}

// ---------------------------------------------------------------------------
// X11


async function withFakeDisplay(fn: (env: Record<string, string>, x: FakeXServer) => Promise<void>): Promise<void> {
  const real = randomBytes(16);
  const x = await FakeXServer.start(real);
  const localXauth = join(sshd.dir, `local-xauthority-${x.number}`);
  execFileSync(XAUTH, ['-f', localXauth, 'add', `:${x.number}`, 'MIT-MAGIC-COOKIE-1', real.toString('hex')], { stdio: 'ignore' });
  try {
    await fn({ DISPLAY: `:${x.number}.0`, XAUTHORITY: localXauth, SSH_AUTH_SOCK: '' }, x);
  } finally {
    await x.stop();
    rmSync(localXauth, { force: true });
  }
}

function writeXClient(): string {
  const path = join(sshd.dir, 'x-client.cjs');
  writeFileSync(path, X_CLIENT);
  return path;
}

for (const flag of ['--kcp', '--quic']) {
  for (const x11Flag of ['-Y', '-X']) {
    test(`${flag}: ${x11Flag}: an X client in the session reaches the local display, which sees the REAL cookie, never the fake`, { skip: MISSING, timeout: 120_000 }, async () => {
      setTsshdConfig();
      rmSync(remoteXauth, { force: true });
      await withFakeDisplay(async (env, x) => {
        const client = writeXClient();
        const r = await tssh(flag, [x11Flag, sshd.host, `${JSON.stringify(process.execPath)} ${client}`], env);
        const out = r.stdout.toString();
        assert.equal(r.status, 0, `${r.stderr}\n${out}`);
        const m = /^display=localhost:([0-9]+)\.0 cookie=([0-9a-f]{32})$/m.exec(out);
        assert.ok(m, out);
        assert.ok(Number(m[1]) >= 40, 'the display comes from X11DisplayOffset 40 upward');
        const fakeCookie = Buffer.from(m[2]!, 'hex');
        assert.notDeepEqual(fakeCookie, x.real, 'the remote side never holds the real cookie');
        assert.match(out, /^x11=ok echo=ping$/m);
        assert.deepEqual(x.cookies, [x.real]);
        // The fake cookie is in the session's XAUTHORITY, registered by tsshd with xauth.
        assert.ok(readFileSync(remoteXauth).includes(fakeCookie));
      });
    });
  }
}

test('--kcp: an X connection with a wrong cookie is refused by tssh and never reaches the local display', { skip: MISSING, timeout: 120_000 }, async () => {
  setTsshdConfig();
  await withFakeDisplay(async (env, x) => {
    const client = writeXClient();
    // Overwrite the registered fake cookie with another one before the client reads it.
    const wrong = randomBytes(16).toString('hex');
    const r = await tssh('--kcp', ['-Y', sshd.host, `${XAUTH} add "$DISPLAY" MIT-MAGIC-COOKIE-1 ${wrong} && ${JSON.stringify(process.execPath)} ${client}`], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.toString(), /^x11=failed$/m);
    assert.match(r.stderr, /X11 connection rejected because of wrong authentication/);
    assert.deepEqual(x.cookies, [], 'the local X server saw no connection');
  });
});

test('--kcp: -X untrusted against a display without the SECURITY extension: ssh\'s warning, no DISPLAY, the session runs', { skip: MISSING, timeout: 120_000 }, async () => {
  setTsshdConfig();
  await withFakeDisplay(async (env) => {
    const r = await tssh('--kcp', ['-X', '-o', 'ForwardX11Trusted=no', sshd.host, 'echo "display=$DISPLAY"'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /untrusted X11 forwarding setup failed/);
    assert.match(r.stdout.toString(), /^display=$/m);
  });
});

for (const [name, config, message] of [
  ['X11Forwarding no', 'X11Forwarding no\n', /X11 forwarding request failed: X11 forwarding is disabled \(X11Forwarding no\)/],
  ['DisableForwarding yes', 'DisableForwarding yes\n', /X11 forwarding request failed: X11 forwarding is disabled \(DisableForwarding yes\)/],
  ['XAuthLocation missing', 'XAuthLocation /nonexistent/xauth\n', /X11 forwarding request failed: no xauth program at \/nonexistent\/xauth/],
] as const) {
  test(`--kcp: -Y refused by ${name}: a clear message, the session runs without DISPLAY`, { skip: MISSING, timeout: 120_000 }, async () => {
    setTsshdConfig(config);
    await withFakeDisplay(async (env) => {
      const r = await tssh('--kcp', ['-Y', sshd.host, 'echo "display=$DISPLAY"'], env);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stdout.toString(), /^display=$/m);
    });
  });
}

// ---------------------------------------------------------------------------
// A real X server (Debian's xvfb) and a real X client (xdpyinfo from x11-utils).

const XVFB = '/usr/bin/Xvfb';
const XDPYINFO = '/usr/bin/xdpyinfo';
const NO_XVFB = MISSING || (existsSync(XVFB) && existsSync(XDPYINFO) ? false : 'needs Xvfb and xdpyinfo (apt-get install xvfb x11-utils)');

/** Xvfb on a free display, with a cookie in its own authority file; ended by PID. */
async function withXvfb(fn: (env: Record<string, string>) => Promise<void>): Promise<void> {
  const real = randomBytes(16).toString('hex');
  let number = -1;
  for (let attempt = 0; attempt < 50 && number < 0; attempt++) {
    const n = 600 + Math.floor(Math.random() * 300);
    if (!existsSync(`/tmp/.X11-unix/X${n}`) && !existsSync(`/tmp/.X${n}-lock`)) number = n;
  }
  assert.ok(number >= 0, 'a free display number');
  const auth = join(sshd.dir, `xvfb-auth-${number}`);
  execFileSync(XAUTH, ['-f', auth, 'add', `:${number}`, 'MIT-MAGIC-COOKIE-1', real], { stdio: 'ignore' });
  const xvfb = spawn(XVFB, [`:${number}`, '-auth', auth, '-nolisten', 'tcp', '-screen', '0', '640x480x24'], { stdio: 'ignore' });
  let exited = false;
  xvfb.once('exit', () => (exited = true));
  try {
    await waitFor('Xvfb to listen', () => {
      if (exited) throw new Error('Xvfb exited');
      return spawnSync(XDPYINFO, ['-display', `:${number}`], { env: { ...process.env, XAUTHORITY: auth }, stdio: 'ignore' }).status === 0;
    }, 20_000, 100);
    await fn({ DISPLAY: `:${number}`, XAUTHORITY: auth, SSH_AUTH_SOCK: '' });
  } finally {
    xvfb.kill('SIGTERM');
    await waitFor('Xvfb to exit', () => exited, 10_000, 50).catch(() => xvfb.kill('SIGKILL'));
    rmSync(auth, { force: true });
  }
}

// Untrusted (-X with ForwardX11Trusted no) is not run against Xvfb: Debian 12's
// X server refuses cookies made by `xauth generate` even to local clients.
test('--kcp: -Y: xdpyinfo in the session sees the client\'s real X display (Xvfb)', { skip: NO_XVFB, timeout: 120_000 }, async () => {
  setTsshdConfig();
  await withXvfb(async (env) => {
    const r = await tssh('--kcp', ['-Y', sshd.host, `${XDPYINFO} | grep -E "^(name of display|vendor string):|dimensions:"`], env);
    const out = r.stdout.toString();
    assert.equal(r.status, 0, `${r.stderr}\n${out}`);
    assert.match(out, /^name of display:\s+localhost:[0-9]+\.0$/m);
    assert.match(out, /^vendor string:\s+The X\.Org Foundation$/m);
    assert.match(out, /dimensions:\s+640x480 pixels/);
    assert.doesNotMatch(r.stderr, /Warning/);
  });
});

// ---------------------------------------------------------------------------
// Roaming: agent and X11 connections keep going through loss and address changes.

for (const flag of ['--kcp', '--quic']) {
  test(`${flag}: through 2 % loss and address changes, 4 MB over an X11 connection echo intact and 20 agent queries all answer`, { skip: MISSING, timeout: 180_000 }, async () => {
    setTsshdConfig();
    const tsshdPort = await freeUdpPort();
    const proxy = await ImpairmentProxy.start({
      targetHost: '127.0.0.1',
      targetPort: tsshdPort,
      clientToServer: { lossPct: 2 },
      serverToClient: { lossPct: 2 },
      seed: 11,
    });
    try {
      await withFakeDisplay(async (env) => {
        const client = writeXClient();
        const bulk = 4 * 1024 * 1024;
        const expected = createHash('sha256').update(Buffer.alloc(bulk, 'tsshd-x11-bulk-0123456789')).digest('hex');
        const command = `${JSON.stringify(process.execPath)} ${client} ${bulk}; n=0; for i in $(seq 20); do ssh-add -l >/dev/null && n=$((n+1)); done; echo "agent=$n"`;
        const config = sshd.writeClientConfig('ssh_config_x11', [`SetEnv XAUTHORITY=${remoteXauth}`]);
        const run = runTssh(['-F', config, flag, '--tsshd-port', String(tsshdPort), '-A', '-Y', sshd.host, command], {
          env: cleanEnv({ ...env, SSH_AUTH_SOCK: agentSock, TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}` }),
          timeoutMs: 90_000,
        });
        let finished = false;
        void run.then(() => (finished = true), () => (finished = true));
        for (let i = 0; i < 5; i++) {
          const mark = proxy.stats.toClient + 400;
          await waitFor(`datagram ${mark} to the client`, () => proxy.stats.toClient >= mark || finished, 100_000, 5);
          if (finished) break;
          await proxy.rebind();
        }
        const r: RunResult = await run;
        const out = r.stdout.toString();
        assert.equal(r.status, 0, `${r.stderr}\n${out}`);
        assert.ok(proxy.stats.rebinds >= 3, `address changes during the transfer: ${proxy.stats.rebinds}`);
        assert.ok(proxy.stats.c2s.lost + proxy.stats.s2c.lost > 0, 'the link did lose packets');
        assert.match(out, new RegExp(`^x11=ok echo=${expected} ${bulk}$`, 'm'));
        assert.match(out, /^agent=20$/m);
      });
    } finally {
      proxy.close();
    }
  });
}
