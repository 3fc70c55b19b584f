import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TSSH_LONG_OPTIONS } from '../../src/client/ssh-args.js';
import { SshdFixture } from '../support/sshd.js';
import { killLeftovers, runTssh } from './harness.js';

// Each mistake gives status 255 and one tssh line that names the problem and the fix.
let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start();
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

/** The lines tssh itself wrote to stderr. */
function tsshLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('tssh:'));
}

test('an unknown option is named, with where to look', async () => {
  const long = await runTssh([...sshd.configArgs, '--bogus', sshd.host]);
  assert.equal(long.status, 255);
  assert.deepEqual(tsshLines(long.stderr), [
    `tssh: unknown option "--bogus"; tssh's own options are ${TSSH_LONG_OPTIONS.join(', ')} (tssh --help)`,
  ]);
  const short = await runTssh([...sshd.configArgs, '-7', sshd.host]);
  assert.equal(short.status, 255);
  assert.deepEqual(tsshLines(short.stderr), ['tssh: unknown option -- 7; run tssh --help for usage']);
});

test('a bad #!! value names the file, the line and the expected form', async () => {
  const config = sshd.writeClientConfig('bad_config', ['#!! UdpReconnectTimeout soon']);
  const r = await runTssh(['-F', config, '--udp', sshd.host, 'true']);
  assert.equal(r.status, 255);
  const lines = tsshLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^tssh: .*bad_config line \d+: UdpReconnectTimeout must be a positive number of seconds \(got "soon"\)$/);
});

test('tsshd missing on the server: says so and how to install it', async () => {
  const r = await runTssh([...sshd.configArgs, '--udp', '-o', 'TsshdPath=/nonexistent/tsshd', sshd.host, 'true']);
  assert.equal(r.status, 255);
  assert.deepEqual(tsshLines(r.stderr), [
    `tssh: tsshd was not found on ${sshd.host} (TsshdPath "/nonexistent/tsshd"); install it with tssh --install-tsshd ${sshd.host}, or set TsshdPath`,
  ]);
});

test('a TsshdPath that prints no bootstrap line is reported with what it printed', async () => {
  const r = await runTssh([...sshd.configArgs, '--udp', '--tsshd-path', '/bin/echo', sshd.host, 'true']);
  assert.equal(r.status, 255);
  assert.deepEqual(tsshLines(r.stderr), [
    `tssh: TsshdPath "/bin/echo" on ${sshd.host} printed no bootstrap line (it printed "--kcp"); is TsshdPath a compatible tsshd?`,
  ]);
});

test('no UDP reply within ConnectTimeout: a firewall hint, status 255', async () => {
  // Port 9 on loopback (discard) has no UDP listener: nothing ever answers.
  const r = await runTssh([...sshd.configArgs, '--udp', '-o', 'ConnectTimeout=2', sshd.host, 'true'], {
    env: { ...process.env, TSSH_TEST_UDP_TARGET: '127.0.0.1:9' } as Record<string, string>,
  });
  assert.equal(r.status, 255);
  const lines = tsshLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^tssh: no UDP reply from 127\.0\.0\.1:9 within 2 s; .*TsshdPort.*UdpProxyMode TCP$/);
});
