import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { SshdFixture } from '../support/sshd.js';
import { rebindWhileFlowing } from '../support/rebinds.js';
import { cleanEnv, freeUdpPort, killLeftovers, runTssh } from './harness.js';

// Bulk output through a lossy link whose client address keeps changing.
// Test seam: tsshd gets a fixed port (TsshdPort) so the proxy can be started first, and
// TSSH_TEST_UDP_TARGET sends tssh's datagrams to the proxy instead of the address ssh reached.
let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start();
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

function seqText(n: number): string {
  const parts: string[] = [];
  for (let i = 1; i <= n; i++) parts.push(`${i}\n`);
  return parts.join('');
}
const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

for (const flag of ['--kcp', '--quic']) {
  test(`${flag}: 10 MB through 5 % loss each way and 10 address changes arrives intact and in order`, async () => {
    const tsshdPort = await freeUdpPort();
    const proxy = await ImpairmentProxy.start({
      targetHost: '127.0.0.1',
      targetPort: tsshdPort,
      clientToServer: { lossPct: 5 },
      serverToClient: { lossPct: 5 },
      seed: 7,
    });
    try {
      const n = 1_400_000;
      const expected = seqText(n);
      const run = runTssh([...sshd.configArgs, flag, '--tsshd-port', String(tsshdPort), sshd.host, `seq 1 ${n}`], {
        env: cleanEnv({ TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}` }),
        timeoutMs: 100_000,
      });
      let finished = false;
      void run.then(() => (finished = true), () => (finished = true));
      // Rebind as the data flows: each time another 300 datagrams reached the client.
      await rebindWhileFlowing(proxy, () => finished);
      const r = await run;
      assert.equal(r.status, 0, r.stderr);
      assert.equal(proxy.stats.rebinds, 10, 'all rebinds happened while the output was flowing');
      assert.ok(proxy.stats.c2s.lost > 0 && proxy.stats.s2c.lost > 0, 'the link did lose packets');
      assert.equal(r.stdout.length, expected.length);
      assert.equal(sha256(r.stdout), sha256(expected));
    } finally {
      proxy.close();
    }
  });
}
