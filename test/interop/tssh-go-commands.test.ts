import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { runTssh } from '../e2e/harness.js';
import { overGoTsshd, SKIP_WITHOUT_GO_TSSHD, sshdForGoTsshd } from './go-peers.js';

// Our tssh against the reference Go tsshd (issue 16): commands without a terminal, over a real sshd.
const skip = SKIP_WITHOUT_GO_TSSHD;
const files = sshdForGoTsshd();

const go = (command: string, options: string[] = []): string[] => overGoTsshd(files.sshd.configArgs, files.sshd.host, options, [command]);
const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

test('Go tsshd: exit status, stdout and stderr apart, stdin and its EOF', { skip }, async () => {
  const r = await runTssh(go('echo to-out; echo to-err >&2; tr a-z A-Z; exit 7'), { input: 'typed\n' });
  assert.equal(r.status, 7, r.stderr);
  assert.equal(r.stdout.toString(), 'to-out\nTYPED\n');
  assert.equal(r.stderr, 'to-err\n');
});

test('Go tsshd: 10 MB of output arrives intact and in order', { skip }, async () => {
  const n = 1_400_000;
  // The Go tsshd waits at most 1 s after a command exits for its output to drain (sessionContext.Wait), then
  // closes the pipe: on a loaded machine the tail of a backlog would be lost on its side. The sleep keeps it open.
  const r = await runTssh(go(`seq 1 ${n}; sleep 2`), { timeoutMs: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  let expected = '';
  const parts: string[] = [];
  for (let i = 1; i <= n; i++) parts.push(`${i}\n`);
  expected = parts.join('');
  assert.equal(r.stdout.length, expected.length);
  assert.equal(sha256(r.stdout), sha256(expected));
});

test('Go tsshd: a command killed by a signal gives 255, as ssh', { skip }, async () => {
  const r = await runTssh(go('kill -KILL $$'));
  assert.equal(r.status, 255, r.stderr);
});

test('Go tsshd: environment passes as its AcceptEnv allows (LC_* yes, others no)', { skip }, async () => {
  const r = await runTssh(go('echo "[$LC_TSSH_TEST][$NOT_ACCEPTED]"', ['-o', 'SetEnv=LC_TSSH_TEST=hello NOT_ACCEPTED=x']));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.toString(), '[hello][]\n');
});

test('Go tsshd: TsshdProtocol native gives one clear line and 255, no hang', { skip }, async () => {
  const r = await runTssh(go('true', ['-o', 'TsshdProtocol=native']), { timeoutMs: 30_000 });
  assert.equal(r.status, 255);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /TsshdProtocol native, but the tsshd on tsshd-test is the Go tsshd 0\.1\.9, which speaks only the reference protocol; set TsshdProtocol auto or reference/);
});

// Known open problem (issue 16): over UDP-over-TCP the command's first output is sometimes missing when several
// sessions start at once on a loaded machine (exit status right, stdout empty); not seen over UDP. Kept visible as todo.
test('Go tsshd: TsshdProtocol reference and UDP-over-TCP (UdpProxyMode TCP)', { skip, todo: skip ? false : 'output sometimes lost over TCP under load' }, async () => {
  const r = await runTssh(go('echo over-tcp; exit 3', ['-o', 'TsshdProtocol=reference', '-o', 'UdpProxyMode=TCP']), { timeoutMs: 30_000 });
  assert.equal(r.status, 3, r.stderr);
  assert.equal(r.stdout.toString(), 'over-tcp\n');
});

test('Go tsshd: a remote UDP forward fails with one line (not supported yet), never a hang', { skip }, async () => {
  const r = await runTssh(go('true', ['-o', 'ExitOnForwardFailure=yes', '-R', 'udp/127.0.0.1:45999:127.0.0.1:9']), { timeoutMs: 30_000 });
  assert.equal(r.status, 255);
  assert.match(r.stderr, /remote UDP forwarding \(-R udp\/\.\.\.\) with the Go tsshd is not supported by tssh yet/);
});
