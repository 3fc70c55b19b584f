import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { waitFor } from '../support/wait.js';
import { cleanEnv, freeUdpPort, PtyTssh, runTssh } from '../e2e/harness.js';
import { overGoTsshd, SKIP_WITHOUT_GO_TSSHD, sshdForGoTsshd } from './go-peers.js';

// Our tssh against the reference Go tsshd through the impairment proxy (issue 16): loss, address changes
// (the proxy's rebind is a NAT rebinding: the server sees a new source address), an outage.
// Test seam as in test/e2e/udp-roaming: a fixed TsshdPort behind the proxy, reached through TSSH_TEST_UDP_TARGET.
const skip = SKIP_WITHOUT_GO_TSSHD;
const files = sshdForGoTsshd();

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const PROMPT = /[$#>] ?$/m;

async function proxyFor(loss = 0): Promise<{ proxy: ImpairmentProxy; port: number }> {
  const port = await freeUdpPort();
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: port, clientToServer: { lossPct: loss }, serverToClient: { lossPct: loss }, seed: 11 });
  return { proxy, port };
}

test('Go tsshd: 10 MB through 5 % loss each way and 10 address changes arrives intact and in order', { skip }, async () => {
  const { proxy, port } = await proxyFor(5);
  try {
    const n = 1_400_000;
    const parts: string[] = [];
    for (let i = 1; i <= n; i++) parts.push(`${i}\n`);
    const expected = parts.join('');
    // The Go tsshd waits at most 1 s after a command exits for its output to drain, then closes the pipe
    // (sessionContext.Wait): the sleep keeps the command alive while a backlog built up during a rebind drains.
    const run = runTssh(overGoTsshd(files.sshd.configArgs, files.sshd.host, ['--tsshd-port', String(port)], [`seq 1 ${n}; sleep 3`]), {
      env: cleanEnv({ TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}` }),
      timeoutMs: 150_000,
    });
    let finished = false;
    void run.then(() => (finished = true), () => (finished = true));
    for (let i = 0; i < 10; i++) {
      const mark = proxy.stats.toClient + 300;
      await waitFor(`datagram ${mark} to the client`, () => proxy.stats.toClient >= mark || finished, 60_000, 5);
      if (finished) break;
      await proxy.rebind();
    }
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

test('Go tsshd: typing works after an address change (the discard marker goes out before new input)', { skip }, async (t) => {
  const { proxy, port } = await proxyFor();
  const term = new PtyTssh(overGoTsshd(files.sshd.configArgs, files.sshd.host, ['--tsshd-port', String(port)]), {
    env: cleanEnv({ TERM: 'xterm-256color', TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}` }),
  });
  t.after(() => {
    term.close();
    proxy.close();
  });
  await term.waitForScreen('a shell prompt', PROMPT);
  term.type('echo $((6*7))-before\r');
  await term.waitForScreen('output before', /^42-before$/m);
  await proxy.rebind();
  // The Go tsshd holds all input after the move until it sees its marker; without it nothing typed would ever run.
  await term.typeUntilScreen('output after the address change', 'echo $((7*6))-after\r', /^42-after$/m, 10, 3000);
  term.type('exit\r');
  assert.equal(await term.waitForExit(), 0);
});

test('Go tsshd: a 20 s outage shows the notice on top, discards typed keys, and the session carries on', { skip }, async (t) => {
  const { proxy, port } = await proxyFor();
  const term = new PtyTssh(overGoTsshd(files.sshd.configArgs, files.sshd.host, ['--tsshd-port', String(port), '-o', 'UdpReconnectTimeout=3']), {
    env: cleanEnv({ TERM: 'xterm-256color', TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}` }),
  });
  t.after(() => {
    term.close();
    proxy.close();
  });
  await term.waitForScreen('a shell prompt', PROMPT);
  term.type('echo $((2*21))-before\r');
  await term.waitForScreen('output before the outage', /^42-before$/m);
  proxy.c2s.outage(Infinity);
  proxy.s2c.outage(Infinity);
  const notice = await term.waitForScreen('the outage notice', /^tssh: no reply from 127\.0\.0\.1:\d+ for \d+:\d\d; trying .*$/m);
  assert.equal(term.lines()[0], notice[0], 'the notice is on the first row');
  term.type('echo LOST-$((1+1))\r');
  await term.waitForScreen('the notice at 20 s', /^tssh: no reply from .* for 0:[2-5]\d;/m, 45_000);
  proxy.c2s.endOutage();
  proxy.s2c.endOutage();
  await term.waitForScreen('the notice to go', /^(?![\s\S]*tssh: no reply)[\s\S]*$/, 30_000);
  await term.typeUntilScreen('output after the outage', 'echo $((3*14))-after\r', /^42-after$/m, 10, 3000);
  assert.doesNotMatch(term.text(), /LOST-2/, 'keys typed during the outage were not delivered');
  term.type('exit\r');
  assert.equal(await term.waitForExit(), 0);
});
