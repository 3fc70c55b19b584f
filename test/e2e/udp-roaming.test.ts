import { after, before, test } from 'node:test';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { SshdFixture } from '../support/sshd.js';
import { assertIntactThroughRebinds, rebindWhileFlowing } from '../support/rebinds.js';
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
      assertIntactThroughRebinds(await run, proxy, expected);
    } finally {
      proxy.close();
    }
  });
}
