import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SshdFixture } from '../support/sshd.js';
import { killLeftovers, PtyTssh } from './harness.js';

// An interactive login over UDP in a real terminal, read off the rendered screen.
let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start();
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

/** A shell prompt: a line ending in `$ `, `# ` or `> ` (the screen may keep the trailing space). */
const PROMPT = /[$#>] ?$/m;

test('an interactive login shows a prompt and runs what is typed; exit ends it like ssh', async (t) => {
  const term = new PtyTssh([...sshd.configArgs, '--udp', sshd.host]);
  t.after(() => term.close());
  await term.waitForScreen('a shell prompt', PROMPT);
  // The arithmetic is done remotely: the typed line shows the formula, only the output shows the result.
  term.type('echo $((6*7))-typed\r');
  await term.waitForScreen('the command output', /^42-typed$/m);
  term.type('exit\r');
  assert.equal(await term.waitForExit(), 0);
  assert.match(term.text(), /^Connection to 127\.0\.0\.1 closed\.$/m);
});

test('a window resize reaches the remote pty (stty size)', async (t) => {
  const term = new PtyTssh([...sshd.configArgs, '--udp', sshd.host], { cols: 100, rows: 30 });
  t.after(() => term.close());
  await term.waitForScreen('a shell prompt', PROMPT);
  term.type('stty size\r');
  await term.waitForScreen('the first size', /^30 100$/m);
  term.resize(123, 41);
  // The window change and the typed line travel on different streams: ask again (bounded) until the new size shows.
  await term.typeUntilScreen('the new size', 'clear; stty size\r', /^41 123$/m);
  term.type('exit 5\r');
  assert.equal(await term.waitForExit(), 5);
});

for (const [flag, name] of [['--udp', 'KCP'], ['--quic', 'QUIC']] as const) {
  test(`${flag}: ~? lists escapes with the connection status (naming the transport), ~. disconnects with ssh's message and 255`, async (t) => {
    // The marker shows the shell's startup files are done: ~. during them (pyenv's rehash) would leave a stale lock behind.
    const term = new PtyTssh([...sshd.configArgs, flag, sshd.host, '-t', 'echo cat-ready; exec cat']);
    t.after(() => term.close());
    await term.waitForScreen('the command to start', /^cat-ready$/m);
    term.type('hello-cat\r');
    await term.waitForScreen('cat echoing the line', /^hello-cat\r?\n?hello-cat$/m);
    term.type('~?');
    await term.waitForScreen('the escape help', new RegExp(`Supported escape sequences:[\\s\\S]*~\\.\\s+- terminate connection[\\s\\S]*Connection: ${name} to 127\\.0\\.0\\.1:\\d+, RTT \\d+ ms`));
    term.type('~.');
    assert.equal(await term.waitForExit(), 255);
    assert.match(term.text(), /^Connection to 127\.0\.0\.1 closed\.$/m);
  });
}
