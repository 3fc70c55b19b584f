import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { closedQuietly, connectTo, echoServer, exchange, scratchDir } from '../forward/fixtures.js';
import { SshdFixture } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { freeTcpPort, freeUdpPort, killLeftovers, runTssh, startTssh, untilListening } from './harness.js';

// tsshd's sshd_config forwarding policy, seen through real tssh: each denial is reported as ssh reports it.
let sshd: SshdFixture;
let echo: Awaited<ReturnType<typeof echoServer>>;
let tsshdConfig: string;
let baseConfig: string;
const scratch = scratchDir();
before(async () => {
  sshd = await SshdFixture.start();
  echo = await echoServer();
  tsshdConfig = join(sshd.dir, 'xdg', 'tsshd', 'sshd_config');
  baseConfig = readFileSync(tsshdConfig, 'utf8');
});
afterEach(() => writeFileSync(tsshdConfig, baseConfig, { mode: 0o600 }));
after(async () => {
  killLeftovers();
  await echo?.close();
  await sshd?.stop();
  scratch.cleanup();
});

/** tsshd reads its sshd_config when it starts: the next tssh runs under these lines. */
function policy(...lines: string[]): void {
  writeFileSync(tsshdConfig, `${baseConfig}${lines.join('\n')}\n`, { mode: 0o600 });
}

const kcp = (...rest: string[]): string[] => [...sshd.configArgs, '--kcp', ...rest];

test('AllowTcpForwarding no: -W gets ssh\'s "administratively prohibited" line naming the option', async () => {
  policy('AllowTcpForwarding no');
  const r = await runTssh(kcp('-W', `127.0.0.1:${echo.port}`, sshd.host), { input: 'x' });
  assert.equal(r.status, 255);
  assert.match(r.stderr, /^channel \d+: open failed: administratively prohibited: TCP forwarding is disabled \(AllowTcpForwarding no\); stdio forwarding failed\n/m);
});

test('AllowTcpForwarding local: -R is refused (warning, the session still runs), -L works', async () => {
  policy('AllowTcpForwarding local');
  const [rPort, lPort] = [await freeTcpPort(), await freeTcpPort()];
  const tssh = startTssh(kcp('-R', `${rPort}:127.0.0.1:${echo.port}`, '-L', `${lPort}:127.0.0.1:${echo.port}`, sshd.host, 'echo ran; sleep 60'));
  try {
    await waitFor('the command to run', () => tssh.stdout().toString() === 'ran\n' || tssh.exitStatus() !== undefined, 40_000, 50);
    assert.match(tssh.stderr(), new RegExp(`remote forwarding is not permitted \\(AllowTcpForwarding local\\)\\nWarning: remote port forwarding failed for listen port ${rPort}\\n`));
    await assert.rejects(connectTo(rPort), 'no listener on the server');
    const back = await exchange(await connectTo(lPort), Buffer.from('local ok'));
    assert.equal(back.toString(), 'local ok');
  } finally {
    await tssh.stop();
  }
});

test(`PermitOpen in a Match User block: the permitted target opens, another is refused`, async () => {
  const other = await echoServer();
  policy(`Match User ${userInfo().username}`, `  PermitOpen 127.0.0.1:${echo.port}`);
  try {
    const ok = await runTssh(kcp('-W', `127.0.0.1:${echo.port}`, sshd.host), { input: 'permitted' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.toString(), 'permitted');
    const denied = await runTssh(kcp('-W', `127.0.0.1:${other.port}`, sshd.host), { input: 'x' });
    assert.equal(denied.status, 255);
    assert.match(denied.stderr, new RegExp(`administratively prohibited: 127\\.0\\.0\\.1:${other.port} is not permitted by PermitOpen`));
  } finally {
    await other.close();
  }
});

test('PermitListen: a listen port outside the list is refused; with ExitOnForwardFailure tssh exits 255', async () => {
  const [allowed, refused] = [await freeTcpPort(), await freeTcpPort()];
  policy(`PermitListen ${allowed}`);
  const r = await runTssh(kcp('-o', 'ExitOnForwardFailure=yes', '-R', `${refused}:127.0.0.1:${echo.port}`, sshd.host, 'echo ran'));
  assert.equal(r.status, 255, r.stderr);
  assert.match(r.stderr, new RegExp(`not permitted by PermitListen\\nError: remote port forwarding failed for listen port ${refused}\\n`));
  assert.equal(r.stdout.length, 0);
  const ok = await runTssh(kcp('-o', 'ExitOnForwardFailure=yes', '-R', `${allowed}:127.0.0.1:${echo.port}`, sshd.host, 'echo ran'));
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout.toString(), 'ran\n');
});

test('AllowStreamLocalForwarding no: -L to a Unix socket is refused, TCP still works', async () => {
  const unix = await echoServer(scratch.path('denied.sock'));
  policy('AllowStreamLocalForwarding no');
  try {
    const [uPort, tPort] = [await freeTcpPort(), await freeTcpPort()];
    const tssh = startTssh(kcp('-N', '-L', `${uPort}:${scratch.path('denied.sock')}`, '-L', `${tPort}:127.0.0.1:${echo.port}`, sshd.host));
    try {
      await untilListening(tssh, tPort);
      const socket = await connectTo(uPort);
      socket.write('x');
      assert.equal(await closedQuietly(socket), true, 'the local connection is closed without data');
      await waitFor('the refusal', () => /open failed: administratively prohibited: Unix socket forwarding is disabled \(AllowStreamLocalForwarding no\)/.test(tssh.stderr()), 20_000, 50);
      assert.equal(unix.connections(), 0);
      assert.equal((await exchange(await connectTo(tPort), Buffer.from('tcp'))).toString(), 'tcp');
    } finally {
      await tssh.stop();
    }
  } finally {
    await unix.close();
  }
});

test('DisableForwarding yes: UDP -R is refused too', async () => {
  policy('DisableForwarding yes');
  const port = await freeUdpPort();
  const r = await runTssh(kcp('-R', `udp/${port}:127.0.0.1:9`, sshd.host, 'echo ran'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`forwarding is disabled \\(DisableForwarding yes\\)\\nWarning: remote port forwarding failed for listen UDP port ${port}\\n`));
});
