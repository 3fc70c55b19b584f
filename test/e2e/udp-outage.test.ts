import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { SshdFixture } from '../support/sshd.js';
import { cleanEnv, freeUdpPort, killLeftovers, PtyTssh } from './harness.js';

// Connection loss as the user sees it: the notice on screen, keys discarded, recovery, quitting, giving up.
// Test seam as in udp-roaming: a fixed TsshdPort behind the proxy, reached through TSSH_TEST_UDP_TARGET.
let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start();
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

const PROMPT = /[$#>] ?$/m;

/** An interactive tssh whose datagrams pass through a proxy the test can cut. */
async function behindProxy(extra: string[], transport = '--udp'): Promise<{ term: PtyTssh; proxy: ImpairmentProxy }> {
  const tsshdPort = await freeUdpPort();
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: tsshdPort });
  const term = new PtyTssh([...sshd.configArgs, transport, '--tsshd-port', String(tsshdPort), ...extra, sshd.host], {
    env: cleanEnv({ TERM: 'xterm-256color', TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}` }),
  });
  return { term, proxy };
}

function cut(proxy: ImpairmentProxy): void {
  proxy.c2s.outage(Infinity);
  proxy.s2c.outage(Infinity);
}

function heal(proxy: ImpairmentProxy): void {
  proxy.c2s.endOutage();
  proxy.s2c.endOutage();
}

for (const [flag, name] of [['--udp', 'KCP'], ['--quic', 'QUIC']] as const) {
  test(`${name}: a 20 s outage shows the notice on top, discards typed keys, and the session carries on after it`, async (t) => {
    const { term, proxy } = await behindProxy(['-o', 'UdpReconnectTimeout=3'], flag);
    t.after(() => {
      term.close();
      proxy.close();
    });
    await term.waitForScreen('a shell prompt', PROMPT);
    term.type('echo $((2*21))-before\r');
    await term.waitForScreen('output before the outage', /^42-before$/m);

    cut(proxy);
    const notice = await term.waitForScreen('the outage notice', /^tssh: no reply from 127\.0\.0\.1:\d+ for \d+:\d\d; trying .*$/m);
    assert.equal(term.lines()[0], notice[0], 'the notice is on the first row');
    assert.match(term.lines()[1]!, /^tssh: Ctrl\+D or ~\. to quit; keys typed now are discarded\. Giving up in /);
    term.type('echo LOST-$((1+1))\r');
    // The notice counts the outage up; wait until it has lasted 20 s.
    await term.waitForScreen('the notice at 20 s', /^tssh: no reply from .* for 0:[2-5]\d;/m, 45_000);

    heal(proxy);
    await term.waitForScreen('the notice to go', /^(?![\s\S]*tssh: no reply)[\s\S]*$/, 30_000);
    term.type('echo $((3*14))-after\r');
    await term.waitForScreen('output after the outage', /^42-after$/m);
    assert.doesNotMatch(term.text(), /LOST-2/, 'keys typed during the outage were not delivered');
    term.type('exit\r');
    assert.equal(await term.waitForExit(), 0);
  });
}

test('Ctrl+D during an outage quits with status 253', async (t) => {
  // The goodbye cannot get through the cut link: a short UdpAliveTimeout (sent in the hello) lets tsshd end soon after.
  const { term, proxy } = await behindProxy(['-o', 'UdpReconnectTimeout=2', '-o', 'UdpAliveTimeout=10', '-o', 'ShowFullNotifications=no']);
  t.after(() => {
    term.close();
    proxy.close();
  });
  await term.waitForScreen('a shell prompt', PROMPT);
  cut(proxy);
  await term.waitForScreen('the short notice', /^tssh: connection lost \d+:\d\d, reconnecting\.\.\. \(Ctrl\+D or ~\. to quit\)/m);
  term.type('\x04');
  assert.equal(await term.waitForExit(), 253);
  assert.match(term.text(), /tssh: quit while the connection to 127\.0\.0\.1 was lost/);
});

test('silence for UdpAliveTimeout gives up with status 254', async (t) => {
  const { term, proxy } = await behindProxy(['-o', 'UdpReconnectTimeout=2', '-o', 'UdpAliveTimeout=6']);
  t.after(() => {
    term.close();
    proxy.close();
  });
  await term.waitForScreen('a shell prompt', PROMPT);
  cut(proxy);
  await term.waitForScreen('the notice with the time left', /Giving up in \d+:\d\d\./);
  assert.equal(await term.waitForExit(30_000), 254);
  assert.match(term.text(), /tssh: no reply from 127\.0\.0\.1:\d+ for \d+:\d\d \(UdpAliveTimeout\); giving up/);
});
