import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SshdFixture } from '../support/sshd.js';
import { killLeftovers } from '../e2e/harness.js';
import { GO_TSSHD, SKIP_WITHOUT_GO_TSSHD } from './go-peers.js';
import { NO_GO_TSSH, runGoTssh } from './server-go-peer.js';

// Differential: the same scripted commands from the reference Go tssh, once against the Go tsshd and once
// against ours, give the same stdout, stderr and exit status.
const SKIP = NO_GO_TSSH || SKIP_WITHOUT_GO_TSSHD;
let sshd: SshdFixture;
let ours: string;
let theirs: string;
before(async () => {
  if (SKIP) return;
  sshd = await SshdFixture.start();
  ours = sshd.writeClientConfig('go_config_ours', []);
  theirs = sshd.writeClientConfig('go_config_theirs', [], GO_TSSHD);
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

/** `shellMessage`: stderr comes from the shell, which is the login's $SHELL with ours (as sshd) and sh with the Go tsshd. */
const SCENARIOS: Array<{ name: string; command: string[]; input?: string; shellMessage?: RegExp }> = [
  { name: 'exit status and both streams', command: ["sh -c 'echo out; echo err >&2; exit 5'"] },
  { name: 'words taken literally', command: ['echo a;b $HOME * "two words"'] },
  { name: 'a shell builtin', command: ['exit 3'] },
  { name: 'cd through the shell', command: ['cd / && pwd'] },
  { name: 'stdin to EOF', command: ['wc -c'], input: 'x'.repeat(100_000) },
  { name: 'a signal', command: ["sh -c 'kill -TERM $$'"] },
  { name: 'a missing program', command: ['no-such-program-tsshd-test'], shellMessage: /^\S+: (line )?1: no-such-program-tsshd-test: (command )?not found\n$/ },
  { name: 'output without a newline', command: ['printf', 'no-newline'] },
];

/** A warning line of the Go tssh (yellow, ESC [ 0;33m ... ESC [ K). */
const WARNING_LINE = new RegExp(`\\r?${String.fromCharCode(27)}\\[0;33mWarning: udp .*?${String.fromCharCode(27)}\\[K\\r?\\n`, 'g');

for (const s of SCENARIOS) {
  test(`same result from both tsshds: ${s.name}`, { skip: SKIP }, async () => {
    const run = (config: string) => runGoTssh(sshd, ['-F', config, '--kcp', sshd.host, ...s.command], s.input === undefined ? {} : { input: s.input });
    const [a, b] = [await run(theirs), await run(ours)];
    // The Go tsshd's own warnings (its rekey race) are not part of the command's result.
    const clean = (e: string): string => e.replace(WARNING_LINE, '');
    assert.equal(b.status, a.status, `exit status: Go tsshd ${a.status}, ours ${b.status}`);
    assert.equal(b.stdout.toString(), a.stdout.toString());
    if (s.shellMessage) {
      assert.match(clean(a.stderr), s.shellMessage);
      assert.match(clean(b.stderr), s.shellMessage);
    } else {
      assert.equal(clean(b.stderr), clean(a.stderr));
    }
  });
}
