import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectTo, exchange, payload, sha256 } from '../forward/fixtures.js';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { waitFor } from '../support/wait.js';
import { cleanEnv, freeTcpPort, freeUdpPort, startTssh, untilListening } from './harness.js';
import { sshdAndTcpEcho } from './forward-files.js';

// A forwarded TCP connection that is open while the client's address changes keeps going (-L and -R, KCP and QUIC).
const files = sshdAndTcpEcho();

for (const [flag, dir] of [
  ['--kcp', 'L'],
  ['--kcp', 'R'],
  ['--quic', 'L'],
] as const) test(`${flag}: -${dir} TCP keeps going across address changes: 20 MB both ways through 1 % loss and 6 rebinds, SHA-256 intact`, async () => {
  const tsshdPort = await freeUdpPort();
  const proxy = await ImpairmentProxy.start({
    targetHost: '127.0.0.1',
    targetPort: tsshdPort,
    clientToServer: { lossPct: 1 },
    serverToClient: { lossPct: 1 },
    seed: 5,
  });
  const port = await freeTcpPort();
  const tssh = startTssh([...files.sshd.configArgs, flag, '--tsshd-port', String(tsshdPort), '-N', `-${dir}`, `${port}:127.0.0.1:${files.echo.port}`, files.sshd.host], {
    env: cleanEnv({ TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}` }),
  });
  try {
    await untilListening(tssh, port);
    const { data, sha256: expected } = payload(20 * 1024 * 1024);
    const socket = await connectTo(port);
    let done = false;
    const back = exchange(socket, data).finally(() => (done = true));
    for (let i = 0; i < 6 && !done; i++) {
      const mark = proxy.stats.toClient + 1500;
      await waitFor(`datagram ${mark} to the client`, () => proxy.stats.toClient >= mark || done, 120_000, 5);
      if (!done) await proxy.rebind();
    }
    const got = await back;
    assert.equal(got.length, data.length);
    assert.equal(sha256(got), expected);
    assert.ok(proxy.stats.rebinds >= 3, `the address changed while the data flowed (${proxy.stats.rebinds} rebinds)`);
  } finally {
    await tssh.stop();
    proxy.close();
  }
});
