import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SshdFixture } from '../support/sshd.js';
import { killLeftovers, runCollect, runTssh } from './harness.js';

// tssh without UDP mode is ssh: same output and status as the system ssh.
let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start();
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

test('without UDP, tssh prints and exits exactly as plain ssh does', async () => {
  const command = 'echo hi; echo oops >&2; exit 3';
  const viaSsh = await runCollect('ssh', [...sshd.configArgs, sshd.host, command]);
  const viaTssh = await runTssh([...sshd.configArgs, sshd.host, command]);
  assert.equal(viaSsh.status, 3, `ssh: ${viaSsh.stderr}`);
  assert.equal(viaTssh.status, 3, `tssh: ${viaTssh.stderr}`);
  assert.equal(viaTssh.stdout.toString(), 'hi\n');
  assert.deepEqual(viaTssh.stdout, viaSsh.stdout);
  assert.equal(viaTssh.stderr, viaSsh.stderr);
});

test('without UDP, tssh passes stdin through and drops its own options before ssh sees them', async () => {
  const r = await runTssh([...sshd.configArgs, '--tcp', '-o', 'UdpReconnectTimeout=5', sshd.host, 'tr a-z A-Z'], { input: 'piped text\n' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'PIPED TEXT\n');
});

test('a failed ssh login gives ssh\'s own status, 255', async () => {
  const r = await runTssh([...sshd.configArgs, '-o', 'Port=1', sshd.host, 'true']);
  assert.equal(r.status, 255);
  assert.match(r.stderr, /port 1/i);
});
