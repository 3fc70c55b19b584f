import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SshdFixture } from '../support/sshd.js';
import { cleanEnv, killLeftovers, PtyTssh, runTssh } from '../e2e/harness.js';
import { exampleConfig } from './example-fixture.js';

// examples/sshd as the tsshd of a real OpenSSH login, driven with tssh --udp.
let sshd: SshdFixture;
let config: string[];
before(async () => {
  sshd = await SshdFixture.start();
  config = exampleConfig(sshd, 'sshd/sshd.js');
});
after(async () => {
  killLeftovers();
  const left = await sshd?.stop();
  assert.deepEqual(left, [], 'the example left processes behind');
});

test('sshd example: a command without a pty keeps stdout and stderr apart, reads stdin, and gives its exit code', async () => {
  const r = await runTssh([...config, '--udp', sshd.host, 'echo to-out; echo to-err >&2; tr a-z A-Z; exit 3'], { input: 'typed\n' });
  assert.equal(r.status, 3, r.stderr);
  assert.equal(r.stdout.toString(), 'to-out\nTYPED\n');
  assert.equal(r.stderr, 'to-err\n');
});

test('sshd example: a command killed by a signal gives 255, as with ssh', async () => {
  const r = await runTssh([...config, '--udp', sshd.host, 'kill -KILL $$']);
  assert.equal(r.status, 255, r.stderr);
});

test('sshd example: a login shell in a pty sees its size, the new size after a resize, and its exit code', async (t) => {
  const tssh = new PtyTssh([...config, '--udp', sshd.host], { cols: 100, rows: 30, env: cleanEnv({ TERM: 'xterm-256color' }) });
  t.after(() => tssh.close());
  // The quotes keep the echoed command line from matching the output.
  tssh.type('echo "ter""m=$TERM"; stty size\r');
  await tssh.waitForScreen('the shell, TERM and the size', /^term=xterm-256color\n30 100$/m);
  tssh.resize(120, 40);
  // The window change (bus stream, sent when tssh handles SIGWINCH) and the typed line (session stream) race each
  // other: a `stty size` that ran first shows the old size, so ask again (bounded) until the new size is in force.
  await tssh.typeUntilScreen('the new size', 'stty size\r', /^40 120$/m);
  tssh.type('exit 5\r');
  assert.equal(await tssh.waitForExit(), 5);
});

test('sshd example: a subsystem request is refused by the handler with a message and 255', async () => {
  const r = await runTssh([...config, '--udp', '-s', sshd.host, 'sftp']);
  assert.equal(r.status, 255);
  assert.match(r.stderr, /this sshd has no subsystem sftp/);
});
