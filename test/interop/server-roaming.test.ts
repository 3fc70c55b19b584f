import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seqText, sha256 } from '../forward/fixtures.js';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { SshdFixture, TSSHD_BIN } from '../support/sshd.js';
import { assertIntactThroughRebinds, rebindWhileFlowing } from '../support/rebinds.js';
import { freeUdpPort, killLeftovers, PtyTssh } from '../e2e/harness.js';
import { GO_TSSH, goConfig, goEnv, NO_GO_TSSH, runGoTssh } from './server-go-peer.js';

// The reference Go tssh against our tsshd through a lossy link whose address changes, and through an outage.
// Test seam: the Go tssh goes wherever ServerInfo.Port says; a wrapper starts our tsshd with
// TSSHD_TEST_REFERENCE_PORT naming the impairment proxy's port, which forwards to tsshd's fixed TsshdPort.
let sshd: SshdFixture;
before(async () => {
  if (NO_GO_TSSH) return;
  sshd = await SshdFixture.start();
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});


/** A proxy in front of a fixed tsshd port, and a Go tssh config whose tsshd names the proxy's port. */
async function behindProxy(name: string, impairment: Partial<Parameters<typeof ImpairmentProxy.start>[0]> = {}): Promise<{ proxy: ImpairmentProxy; config: string }> {
  const tsshdPort = await freeUdpPort();
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: tsshdPort, ...impairment });
  const wrapper = join(sshd.dir, `tsshd-${name}`);
  writeFileSync(wrapper, `#!/bin/sh\nTSSHD_TEST_REFERENCE_PORT=${proxy.port} exec '${process.execPath}' '${TSSHD_BIN}' "$@"\n`, { mode: 0o700 });
  const config = sshd.writeClientConfig(`go_config_${name}`, [`#!! TsshdPort ${tsshdPort}`, '#!! UdpReconnectTimeout 3'], wrapper);
  return { proxy, config };
}

test('10 MB through 5 % loss each way and 10 address changes arrives intact and in order', { skip: NO_GO_TSSH, timeout: 240_000 }, async () => {
  const { proxy, config } = await behindProxy('lossy', { clientToServer: { lossPct: 5 }, serverToClient: { lossPct: 5 }, seed: 11 });
  try {
    const n = 1_400_000;
    const expected = seqText(n);
    const run = runGoTssh(sshd, ['-F', config, '--kcp', sshd.host, 'seq', '1', String(n)], { timeoutMs: 200_000 });
    let finished = false;
    void run.then(() => (finished = true), () => (finished = true));
    // Rebind while the data flows: each time another 300 datagrams reached the client. The client re-authenticates
    // from the new address once it hears nothing (as it does with the Go tsshd): each rebind costs a heartbeat time-out.
    await rebindWhileFlowing(proxy, () => finished, 10, 300, 90_000);
    assertIntactThroughRebinds(await run, proxy, expected);
  } finally {
    proxy.close();
  }
});

test('a 20 s outage shows the Go client\'s notice, and the session carries on after it', { skip: NO_GO_TSSH, timeout: 120_000 }, async (t) => {
  const { proxy, config } = await behindProxy('outage');
  const term = new PtyTssh(['-F', config, '--kcp', sshd.host], { program: GO_TSSH, env: goEnv(sshd, { TERM: 'xterm-256color' }) });
  t.after(() => {
    term.close();
    proxy.close();
  });
  await term.waitForScreen('a shell prompt', /[$#>] ?$/m);
  term.type('echo $((2*21))-before\r');
  await term.waitForScreen('output before the outage', /^42-before$/m);
  proxy.c2s.outage(Infinity);
  proxy.s2c.outage(Infinity);
  await term.waitForScreen('the Go client\'s notice', /connection to the server was lost, trying to reconnect for/, 30_000);
  // Typed during the outage: after the reconnect the server discards it (the discard marker), so it never runs.
  term.type('echo LOST-$((1+1))\r');
  // The notice counts up; let the outage last 20 s.
  await term.waitForScreen('the notice at 20 s', /trying to reconnect for (2\d|[3-5]\d)s\//, 45_000);
  proxy.c2s.endOutage();
  proxy.s2c.endOutage();
  await term.typeUntilScreen('output after the outage', 'echo $((3*11))-after\r', /^33-after$/m, 10, 4000);
  assert.doesNotMatch(term.output, /LOST-2/, 'the line typed during the outage was not run');
  term.type('exit 4\r');
  assert.equal(await term.waitForExit(), 4);
});

test('UdpProxyMode TCP: the Go client reaches our tsshd over UDP-over-TCP', { skip: NO_GO_TSSH }, async () => {
  const config = goConfig(sshd, 'go_config_tcp', ['#!! UdpProxyMode TCP']);
  const r = await runGoTssh(sshd, ['-F', config, '--kcp', sshd.host, "sh -c 'seq 1 20000; echo err >&2; exit 9'"]);
  assert.equal(r.status, 9, r.stderr);
  assert.equal(sha256(r.stdout), sha256(Buffer.from(seqText(20000))));
  assert.match(r.stderr, /^err\n/);
});
