import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { SshdFixture } from '../support/sshd.js';
import { killLeftovers, runTssh } from './harness.js';

// Commands over UDP without a terminal: exit statuses, stdout and stderr apart, stdin, bulk output.
let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start();
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

const udp = (...command: string[]): string[] => [...sshd.configArgs, '--udp', sshd.host, ...command];
/** The same over a given transport flag (--kcp or --quic). */
const over = (flag: string, ...command: string[]): string[] => [...sshd.configArgs, flag, sshd.host, ...command];

/** What `seq 1 n` prints. */
export function seqText(n: number): string {
  const parts: string[] = [];
  for (let i = 1; i <= n; i++) parts.push(`${i}\n`);
  return parts.join('');
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

// Over each transport: what a session carries must not depend on it.
for (const flag of ['--kcp', '--quic']) {
  test(`${flag}: the remote command's exit status is tssh's`, async () => {
    const r = await runTssh(over(flag, 'exit 7'));
    assert.equal(r.status, 7, r.stderr);
    assert.equal(r.stdout.length, 0);
  });

  test(`${flag}: stdout and stderr stay apart; stdin reaches the command and its EOF ends it`, async () => {
    const r = await runTssh(over(flag, 'echo to-out; echo to-err >&2; tr a-z A-Z'), { input: 'typed\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'to-out\nTYPED\n');
    assert.equal(r.stderr, 'to-err\n');
  });

  test(`${flag}: 10 MB of seq output arrives intact and in order`, async () => {
    const n = 1_400_000;
    const expected = seqText(n);
    assert.ok(expected.length > 10_000_000);
    const r = await runTssh(over(flag, `seq 1 ${n}`), { timeoutMs: 90_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, expected.length);
    assert.equal(sha256(r.stdout), sha256(expected));
  });
}

test('a remote command killed by a signal gives 255, as ssh', async () => {
  const r = await runTssh(udp('kill -KILL $$'));
  assert.equal(r.status, 255, r.stderr);
});

test('LANG and LC_* are sent and kept by AcceptEnv; other variables are not', async () => {
  const env = { ...process.env, LANG: 'C.UTF-8', LC_TSSH_TEST: 'yes', TSSH_NOT_SENT: 'no' } as Record<string, string>;
  const r = await runTssh(udp('echo "$LANG/$LC_TSSH_TEST/${TSSH_NOT_SENT:-unset}"'), { env });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'C.UTF-8/yes/unset\n');
});

