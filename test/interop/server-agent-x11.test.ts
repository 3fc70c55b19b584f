import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PYENV_REHASH_BOUND, SshdFixture } from '../support/sshd.js';
import { FakeXServer, X_CLIENT, XAUTH } from '../support/fake-x-server.js';
import { startAgentWithKey, type TestAgent } from '../support/ssh-agent.js';
import { killLeftovers } from '../e2e/harness.js';
import { goEnv, NO_GO_TSSH, runGoTssh } from './server-go-peer.js';

// Agent (-A, a real ssh-agent) and X11 (-Y, real xauth and a cookie-checking fake X server) forwarding asked for by the reference Go tssh, set up by
// our SessionForwarding under sshd_config's policy; each connection is announced on the bus and claimed.
const haveAgent = ['ssh-agent', 'ssh-add'].every((p) => spawnSync('which', [p]).status === 0);
const NO_AGENT = NO_GO_TSSH || (haveAgent ? false : 'needs ssh-agent and ssh-add (openssh-client)');
const NO_X11 = NO_GO_TSSH || (existsSync(XAUTH) ? false : 'needs xauth (apt-get install xauth)');

let sshd: SshdFixture;
let agent: TestAgent | undefined;
let agentSock = '';
let keyFingerprint = '';
let remoteXauth = '';
before(async () => {
  if (NO_GO_TSSH) return;
  sshd = await SshdFixture.start();
  remoteXauth = join(sshd.dir, 'remote-xauthority');
  writeFileSync(join(sshd.dir, 'xdg', 'tsshd', 'sshd_config'), `AcceptEnv LANG LC_* ${PYENV_REHASH_BOUND} XAUTHORITY\nX11Forwarding yes\nX11DisplayOffset 50\n`, { mode: 0o600 });
  if (haveAgent) {
    agent = startAgentWithKey(sshd.dir, 'tsshd-interop-agent');
    agentSock = agent.sock;
    keyFingerprint = agent.fingerprint;
  }
});
after(async () => {
  killLeftovers();
  agent?.stop();
  await sshd?.stop();
});

test('-A: ssh-add -l in the session lists the key of the client\'s agent, through tsshd\'s own socket', { skip: NO_AGENT }, async () => {
  const config = sshd.writeClientConfig('go_config_agent', []);
  const r = await runGoTssh(sshd, ['-F', config, '--kcp', '-A', sshd.host, 'sh -c \'echo "sock=$SSH_AUTH_SOCK"; ssh-add -l; ssh-add -l; echo "rc=$?"\''], {
    env: goEnv(sshd, { SSH_AUTH_SOCK: agentSock }),
  });
  const out = r.stdout.toString();
  assert.equal(r.status, 0, `${r.stderr}\n${out}`);
  const sock = /^sock=(\/.+)$/m.exec(out)?.[1];
  assert.ok(sock, out);
  assert.notEqual(sock, agentSock, 'the session gets tsshd\'s socket, not the client\'s');
  assert.equal(out.split(keyFingerprint).length - 1, 2, `two queries, both answered:\n${out}`);
  assert.match(out, /^rc=0$/m);
});

test('-A refused by AllowAgentForwarding no: the session runs without SSH_AUTH_SOCK', { skip: NO_AGENT }, async () => {
  const path = join(sshd.dir, 'xdg', 'tsshd', 'sshd_config');
  writeFileSync(path, `AcceptEnv LANG LC_* ${PYENV_REHASH_BOUND}\nAllowAgentForwarding no\n`, { mode: 0o600 });
  try {
    const config = sshd.writeClientConfig('go_config_agent_no', []);
    const r = await runGoTssh(sshd, ['-F', config, '--kcp', '-A', sshd.host, 'sh -c \'echo "sock=${SSH_AUTH_SOCK:-none}"\''], { env: goEnv(sshd, { SSH_AUTH_SOCK: agentSock }) });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'sock=none\n');
  } finally {
    writeFileSync(path, `AcceptEnv LANG LC_* ${PYENV_REHASH_BOUND} XAUTHORITY\nX11Forwarding yes\nX11DisplayOffset 50\n`, { mode: 0o600 });
  }
});

test('-Y: an X client in the session reaches the client\'s display, which sees the real cookie, never the fake one', { skip: NO_X11, timeout: 120_000 }, async () => {
  const real = randomBytes(16);
  const x = await FakeXServer.start(real);
  const localXauth = join(sshd.dir, `local-xauthority-${x.number}`);
  execFileSync(XAUTH, ['-f', localXauth, 'add', `:${x.number}`, 'MIT-MAGIC-COOKIE-1', real.toString('hex')], { stdio: 'ignore' });
  try {
    const client = join(sshd.dir, 'x-client.cjs');
    writeFileSync(client, X_CLIENT);
    const config = sshd.writeClientConfig('go_config_x11', [`SetEnv XAUTHORITY=${remoteXauth}`]);
    const r = await runGoTssh(sshd, ['-F', config, '--kcp', '-Y', sshd.host, `${process.execPath} ${client}`], {
      env: goEnv(sshd, { DISPLAY: `:${x.number}.0`, XAUTHORITY: localXauth }),
      timeoutMs: 60_000,
    });
    const out = r.stdout.toString();
    assert.equal(r.status, 0, `${r.stderr}\n${out}`);
    const m = /^display=localhost:([0-9]+)\.0 cookie=([0-9a-f]{32})$/m.exec(out);
    assert.ok(m, out);
    assert.ok(Number(m[1]) >= 50, 'the display comes from X11DisplayOffset 50 upward');
    assert.notDeepEqual(Buffer.from(m[2]!, 'hex'), real, 'the remote side never holds the real cookie');
    assert.match(out, /^x11=ok echo=ping$/m);
    assert.deepEqual(x.cookies, [real]);
  } finally {
    await x.stop();
    rmSync(localXauth, { force: true });
  }
});
