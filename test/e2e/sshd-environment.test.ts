import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SshdFixture } from '../support/sshd.js';
import { connect, createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { cleanEnv, freeTcpPort, killLeftovers, runCollect, runTssh, startTssh, untilListening } from './harness.js';
import { waitFor } from '../support/wait.js';

// What sshd imposes on a login's sessions reaches tsshd's sessions too, compared with ssh's on the same sshd:
// SetEnv, PermitUserEnvironment with authorized_keys environment=, and the sshd_config of the sshd that
// was started with -f (tsshd finds it from the running sshd, not /etc/ssh/sshd_config), and ChannelTimeout.
let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start({
    sshdConfig: ['PermitUserEnvironment DROPIN_*', 'AcceptEnv DROPIN_SENT', 'ChannelTimeout session:*=3s direct-tcpip=3s'],
    clientConfig: ['SendEnv DROPIN_SENT'],
  });
  // No tsshd file of the user's: tsshd must find the fixture's sshd_config (sshd -f) by itself.
  rmSync(join(sshd.dir, 'xdg', 'tsshd', 'sshd_config'));
  const keys = readFileSync(join(sshd.dir, 'authorized_keys'), 'utf8');
  writeFileSync(join(sshd.dir, 'authorized_keys'), `environment="DROPIN_KEY=from-key",environment="OTHER_KEY=refused" ${keys}`, { mode: 0o600 });
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

const SHOW = 'echo "set=$XDG_CONFIG_HOME key=$DROPIN_KEY other=$OTHER_KEY sent=$DROPIN_SENT"';

test('SetEnv, authorized_keys environment= (under PermitUserEnvironment) and AcceptEnv from the -f config: as with ssh', async () => {
  const env = cleanEnv({ DROPIN_SENT: 'from-client' });
  const ssh = await runCollect('ssh', [...sshd.configArgs, sshd.host, SHOW], { env });
  const tssh = await runTssh([...sshd.configArgs, '--udp', sshd.host, SHOW], { env });
  assert.equal(ssh.stdout.toString(), `set=${join(sshd.dir, 'xdg')} key=from-key other= sent=from-client\n`, ssh.stderr);
  assert.equal(tssh.status, 0, tssh.stderr);
  assert.equal(tssh.stdout.toString(), ssh.stdout.toString());
});

test('ChannelTimeout: a session silent for longer is ended as sshd ends it; one with traffic lives on', async () => {
  const idle = 'echo start; sleep 9; echo late';
  const ssh = await runCollect('ssh', [...sshd.configArgs, sshd.host, idle]);
  const tssh = await runTssh([...sshd.configArgs, '--udp', sshd.host, idle]);
  assert.equal(ssh.stdout.toString(), 'start\n', ssh.stderr);
  assert.equal(ssh.status, 255);
  assert.equal(tssh.stdout.toString(), ssh.stdout.toString(), tssh.stderr);
  assert.equal(tssh.status, ssh.status);
  // Output every half second keeps it alive past the timeout.
  const busy = 'for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; sleep 0.5; done';
  const kept = await runTssh([...sshd.configArgs, '--udp', sshd.host, busy]);
  assert.equal(kept.status, 0, kept.stderr);
  assert.equal(kept.stdout.toString(), '1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n');
});

test('ChannelTimeout direct-tcpip: an idle -L connection is closed, by tsshd as by sshd', async () => {
  const echo = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as { port: number }).port;
  const sshPort = await freeTcpPort();
  const tsshPort = await freeTcpPort();
  const ssh = spawn('ssh', [...sshd.configArgs, '-N', '-L', `${sshPort}:127.0.0.1:${echoPort}`, sshd.host], { stdio: 'ignore' });
  const tssh = startTssh([...sshd.configArgs, '--udp', '-N', '-L', `${tsshPort}:127.0.0.1:${echoPort}`, sshd.host]);
  try {
    await untilListening(tssh, tsshPort);
    await waitFor('ssh -L to listen', () => canConnect(sshPort), 20_000, 50);
    /** Open a connection, echo once, then wait (bounded) for it to be closed from the far side; resolves with ms until then. */
    const idleClose = (port: number): Promise<number> =>
      new Promise((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        let opened = 0;
        socket.once('data', () => (opened = Date.now()));
        socket.once('connect', () => socket.write('x'));
        socket.once('close', () => (opened > 0 ? resolve(Date.now() - opened) : reject(new Error('closed before the echo'))));
        socket.on('error', () => undefined);
        setTimeout(() => {
          socket.destroy();
          reject(new Error('an idle forwarded connection was not closed within 20 s'));
        }, 20_000).unref();
      });
    const [bySsh, byTssh] = await Promise.all([idleClose(sshPort), idleClose(tsshPort)]);
    assert.ok(bySsh >= 2500, `ssh's closed after ${bySsh} ms`);
    assert.ok(byTssh >= 2500, `tssh's closed after ${byTssh} ms, not before the 3 s timeout`);
  } finally {
    ssh.kill('SIGTERM');
    await tssh.stop();
    echo.close();
  }
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
