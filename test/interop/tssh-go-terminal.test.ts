import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PtyTssh } from '../e2e/harness.js';
import { overGoTsshd, SKIP_WITHOUT_GO_TSSHD, sshdForGoTsshd } from './go-peers.js';

// Our tssh against the reference Go tsshd in a real terminal (issue 16), read off the rendered screen.
const skip = SKIP_WITHOUT_GO_TSSHD;
const files = sshdForGoTsshd();

const PROMPT = /[$#>] ?$/m;

test('Go tsshd: a login shell shows a prompt, runs what is typed, follows a resize, exit 7 gives 7', { skip }, async (t) => {
  const term = new PtyTssh(overGoTsshd(files.sshd.configArgs, files.sshd.host), { cols: 100, rows: 30 });
  t.after(() => term.close());
  await term.waitForScreen('a shell prompt', PROMPT);
  term.type('echo $((6*7))-typed\r');
  await term.waitForScreen('the command output', /^42-typed$/m);
  term.type('stty size\r');
  await term.waitForScreen('the first size', /^30 100$/m);
  term.resize(123, 41);
  await term.typeUntilScreen('the new size', 'clear; stty size\r', /^41 123$/m);
  term.type('exit 7\r');
  assert.equal(await term.waitForExit(), 7);
  assert.match(term.text(), /^Connection to 127\.0\.0\.1 closed\.$/m);
});

test('Go tsshd: ~? names the reference protocol, ~. disconnects with 255', { skip }, async (t) => {
  const term = new PtyTssh(overGoTsshd(files.sshd.configArgs, files.sshd.host, ['-t'], ['echo cat-ready; exec cat']));
  t.after(() => term.close());
  await term.waitForScreen('the command to start', /^cat-ready$/m);
  term.type('hello-cat\r');
  await term.waitForScreen('cat echoing the line', /^hello-cat\r?\n?hello-cat$/m);
  term.type('~?');
  await term.waitForScreen('the escape help', /Supported escape sequences:[\s\S]*Connection: KCP to 127\.0\.0\.1:\d+, RTT \d+ ms[^\n]*reference \(Go tsshd 0\.1\.9\)\s*protocol/);
  term.type('~.');
  assert.equal(await term.waitForExit(), 255);
  assert.match(term.text(), /^Connection to 127\.0\.0\.1 closed\.$/m);
});
