import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { numberedUdpClient, scratchDir, udpEcho, type NumberedDatagramClient } from '../forward/fixtures.js';
import { echoManyUnix, unixDatagramClient, unixDatagramEcho } from '../forward/unix-datagram-fixtures.js';
import { SshdFixture } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { cleanEnv, freeUdpPort, killLeftovers, startTssh, untilDatagramForwardUp } from './harness.js';

// UDP forwards to and from Unix datagram sockets (every -L udp / -R udp form with a socket path) through real tssh, tsshd and sshd.
let sshd: SshdFixture;
let udpTarget: Awaited<ReturnType<typeof udpEcho>>;
let unixTarget: Awaited<ReturnType<typeof unixDatagramEcho>>;
let tsshdConfig: string;
let baseConfig: string;
const scratch = scratchDir();
before(async () => {
  sshd = await SshdFixture.start();
  udpTarget = await udpEcho();
  unixTarget = await unixDatagramEcho(scratch.path('echo.sock'));
  tsshdConfig = join(sshd.dir, 'xdg', 'tsshd', 'sshd_config');
  baseConfig = readFileSync(tsshdConfig, 'utf8');
});
afterEach(() => writeFileSync(tsshdConfig, baseConfig, { mode: 0o600 }));
after(async () => {
  killLeftovers();
  udpTarget?.close();
  unixTarget?.close();
  await sshd?.stop();
  scratch.cleanup();
});

for (const flag of ['--kcp', '--quic']) {
  test(`${flag}: every Unix socket form of -L udp and -R udp carries datagrams both ways, intact; the socket files go when tssh ends`, async () => {
    const dir = scratchDir();
    const [lPort, rPort] = [await freeUdpPort(), await freeUdpPort()];
    const echoSock = scratch.path('echo.sock');
    const forms: Array<{ spec: string[]; client: () => Promise<NumberedDatagramClient> }> = [
      { spec: ['-L', `udp:${lPort}:${echoSock}`], client: () => numberedUdpClient(lPort) },
      { spec: ['-L', `udp_${dir.path('l1.sock')}:127.0.0.1:${udpTarget.port}`], client: () => unixDatagramClient(dir.path('c1.sock'), dir.path('l1.sock')) },
      { spec: ['-L', `udp-${dir.path('l2.sock')}:${echoSock}`], client: () => unixDatagramClient(dir.path('c2.sock'), dir.path('l2.sock')) },
      { spec: ['-R', `udp/${rPort}:${echoSock}`], client: () => numberedUdpClient(rPort) },
      { spec: ['-R', `udp_${dir.path('r1.sock')}:127.0.0.1:${udpTarget.port}`], client: () => unixDatagramClient(dir.path('c3.sock'), dir.path('r1.sock')) },
      { spec: ['-R', `udp-${dir.path('r2.sock')}:${echoSock}`], client: () => unixDatagramClient(dir.path('c4.sock'), dir.path('r2.sock')) },
    ];
    // tssh's own sockets for its associations (-R to a Unix socket) go in a private directory under its TMPDIR.
    const tmp = scratchDir();
    const tssh = startTssh([...sshd.configArgs, flag, '-N', ...forms.flatMap((f) => f.spec), sshd.host], { env: cleanEnv({ TMPDIR: tmp.dir }) });
    try {
      for (const form of forms) {
        const client = await form.client();
        try {
          await untilDatagramForwardUp(tssh, client, form.spec.join(' '));
          const back = await echoManyUnix(client, 300);
          // Loopback without impairment: nearly all come back (a UDP leg may still drop one under load); none changed.
          assert.ok(back >= 285, `${form.spec.join(' ')}: ${back} of 300 datagrams came back`);
        } finally {
          client.close();
        }
      }
      for (const name of ['l1.sock', 'l2.sock', 'r1.sock', 'r2.sock']) assert.ok(existsSync(dir.path(name)), `${name} is there while tssh runs`);
    } finally {
      await tssh.stop();
    }
    assert.equal(tssh.stderr(), 'Killed by signal 15.\n', 'no other line: nothing was refused or lost');
    for (const name of ['l1.sock', 'l2.sock']) assert.equal(existsSync(dir.path(name)), false, `tssh removed ${name}`);
    assert.deepEqual(readdirSync(tmp.dir), [], "tssh removed its private socket directory");
    tmp.cleanup();
    // tsshd leaves when tssh says goodbye, and removes its listeners' files as it goes.
    for (const name of ['r1.sock', 'r2.sock']) await waitFor(`tsshd to remove ${name}`, () => !existsSync(dir.path(name)), 20_000, 50);
    dir.cleanup();
  });
}

test('AllowStreamLocalForwarding no: -R udp_/path is refused like any -R, -L udp:port:/path is refused per association; no socket file is made', async () => {
  writeFileSync(tsshdConfig, `${baseConfig}AllowStreamLocalForwarding no\n`, { mode: 0o600 });
  const dir = scratchDir();
  const lPort = await freeUdpPort();
  const spec = `udp_${dir.path('r.sock')}:127.0.0.1:${udpTarget.port}`;
  const tssh = startTssh([...sshd.configArgs, '--kcp', '-N', '-R', spec, '-L', `udp:${lPort}:${scratch.path('echo.sock')}`, sshd.host]);
  try {
    await waitFor('the -R refusal', () => tssh.stderr().includes('Warning:') || tssh.exitStatus() !== undefined, 40_000, 50);
    assert.equal(
      tssh.stderr(),
      `tssh: remote UDP forwarding failed for listen ${dir.path('r.sock')}: Unix socket forwarding is disabled (AllowStreamLocalForwarding no)\nWarning: remote port forwarding failed for listen UDP path ${dir.path('r.sock')}\n`,
    );
    assert.equal(existsSync(dir.path('r.sock')), false);
    const client = await numberedUdpClient(lPort);
    try {
      const line = `UDP forward to ${scratch.path('echo.sock')} failed: Unix socket forwarding is disabled (AllowStreamLocalForwarding no)`;
      await waitFor(
        'the -L refusal',
        () => {
          client.send(1, 16);
          return tssh.stderr().includes(line);
        },
        40_000,
        200,
      );
      assert.equal(client.replies.size, 0, 'nothing got through');
    } finally {
      client.close();
    }
  } finally {
    await tssh.stop();
    dir.cleanup();
  }
});
