import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { waitFor } from '../support/wait.js';
import { alive, connectClient, endProcess, sessionPid, startTsshd, stdio, testDirs } from './tsshd-fixture.js';

/** Fields 4 (ppid) and 6 (session id) of /proc/<pid>/stat. */
async function parentAndSession(pid: number): Promise<{ ppid: number; sid: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), sid: Number(f[3]) };
}

/** The secret as the bootstrap line has it, and as hex, in case some log or argument had it in another form. */
function secretForms(secret: string): string[] {
  return [secret, Buffer.from(secret, 'base64url').toString('hex'), Buffer.from(secret, 'base64url').toString('base64')];
}

async function assertNoSecret(pid: number, secret: string, what: string): Promise<void> {
  for (const file of ['cmdline', 'environ']) {
    const bytes = await readFile(`/proc/${pid}/${file}`);
    for (const form of secretForms(secret)) assert.ok(!bytes.includes(form), `${what}: /proc/${pid}/${file} holds the secret`);
    assert.ok(!bytes.includes(Buffer.from(secret, 'base64url')), `${what}: /proc/${pid}/${file} holds the secret's bytes`);
  }
}

test('prints exactly one bootstrap line, exits 0 with stdio closed, and leaves a detached daemon without the secret in argv or environment', async (t) => {
  const { env } = testDirs(t);
  const daemon = await startTsshd(t, ['--port', '61001-61999', '--connect-timeout', '60'], env);
  const { result, info, pid } = daemon;
  // runTsshd returned, so the parent exited and nothing held its stdout or stderr open.
  assert.equal(result.code, 0);
  assert.equal(result.stderr, '');
  assert.ok(result.stdout.startsWith('\x07'), 'the line starts with BEL');
  assert.match(result.stdout.slice(1), /^\{[^\n]*\}\n$/, 'then JSON and one newline, nothing else');
  assert.equal(info.mode, 'kcp');
  assert.equal(info.proxyMode, 'udp');
  assert.equal(info.mtu, 1400);
  assert.ok(info.port >= 61001 && info.port <= 61999, `port ${info.port} in the range`);
  assert.ok(Number.isInteger(info.conv));

  assert.ok(await alive(pid), 'the daemon runs after the parent exited');
  const { ppid, sid } = await parentAndSession(pid);
  assert.equal(sid, pid, 'the daemon leads its own session (setsid)');
  assert.notEqual(ppid, process.pid);
  assert.equal(await readlink(`/proc/${pid}/cwd`), homedir(), 'the daemon works in HOME, not the login directory');
  for (const fd of [0, 1, 2]) assert.equal(await readlink(`/proc/${pid}/fd/${fd}`), '/dev/null', `fd ${fd}`);
  await assertNoSecret(pid, info.secret, 'daemon');
  await endProcess(pid);
  assert.equal(await alive(pid), false);
});

// The same sessions over each transport.
for (const transport of ['--kcp', '--quic']) {
  test(`${transport}: runs \`echo hi; exit 3\` without a pty, then exits by itself`, { timeout: 90_000 }, async (t) => {
    const { env } = testDirs(t);
    const { info, pid } = await startTsshd(t, [transport], env);
    const { client } = await connectClient(t, info);
    const io = stdio();
    io.stdin.end();
    const status = await client.openSession({ command: 'echo hi; echo oops >&2; exit 3' }, io);
    assert.deepEqual(status, { code: 3 });
    assert.equal(io.stdout.text(), 'hi\n');
    assert.equal(io.stderr.text(), 'oops\n');
    await waitFor('tsshd to exit after its last session', async () => !(await alive(pid)), 30_000);
  });

  test(`${transport}: a pty session shows its size with stty, and the new size after a resize`, { timeout: 90_000 }, async (t) => {
    const { env } = testDirs(t);
    const { info, pid } = await startTsshd(t, [transport], env);
    const { client } = await connectClient(t, info);
    const io = stdio();
    const done = client.openSession({ pty: { term: 'xterm', cols: 80, rows: 24 }, command: 'stty size; echo mark; while read line; do [ "$line" = q ] && exit 0; stty size; done' }, io);
    await waitFor('the first size', () => /24 80\r?\nmark/.test(io.stdout.text()));
    client.resize(100, 30);
    // The resize goes on the bus, the newlines on the session stream (no order between them): ask until the new size shows.
    await waitFor('the resize to reach the pty', async () => {
      io.stdin.write('\n');
      return /30 100/.test(io.stdout.text());
    }, 15_000, 200);
    io.stdin.write('q\n');
    assert.deepEqual(await done, { code: 0 });
    await waitFor('tsshd to exit after its last session', async () => !(await alive(pid)), 30_000);
  });
}

test('sessions get the login environment only: SSH_CONNECTION, AcceptEnv from sshd_config, never tsshd\'s other variables or the secret', async (t) => {
  const { env } = testDirs(t, 'AcceptEnv LANG TSSHD_OK_*\n', {
    SSH_CONNECTION: '127.0.0.9 50022 127.0.0.1 22',
    SSH_CLIENT: '127.0.0.9 50022 22',
    TSSHD_TEST_LEAK: 'leaked',
  });
  const { info, pid } = await startTsshd(t, [], env);
  const { client } = await connectClient(t, info);
  const io = stdio();
  const done = client.openSession(
    { command: 'env; echo pid=$$; exec sleep 1000', env: { TSSHD_OK_A: 'yes', TSSHD_NO: 'no', LANG: 'C' } },
    io,
  );
  void done.catch(() => undefined);
  const sleepPid = await sessionPid('the session', () => io.stdout.text());
  t.after(() => endProcess(sleepPid));
  const lines = io.stdout.text().split('\n');
  assert.ok(lines.includes('SSH_CONNECTION=127.0.0.9 50022 127.0.0.1 22'), 'SSH_CONNECTION passed on');
  assert.ok(lines.includes('SSH_CLIENT=127.0.0.9 50022 22'), 'SSH_CLIENT passed on');
  assert.ok(lines.includes('TSSHD_OK_A=yes'), 'AcceptEnv TSSHD_OK_* from sshd_config');
  assert.ok(lines.includes('LANG=C'));
  assert.ok(!lines.some((l) => l.startsWith('TSSHD_NO=')), 'a variable AcceptEnv does not name is dropped');
  assert.ok(!lines.some((l) => l.includes('leaked')), "tsshd's own environment does not reach sessions");
  assert.ok(!lines.some((l) => l.startsWith('TSSHD_DAEMON')), 'no internal marker reaches sessions');
  await assertNoSecret(sleepPid, info.secret, 'session process');
  await assertNoSecret(pid, info.secret, 'daemon');

  // The client leaves: tsshd hangs up the session and exits.
  client.goodbye('test is done');
  await waitFor('the session process to be hung up', async () => !(await alive(sleepPid)), 15_000);
  await waitFor('tsshd to exit after the goodbye', async () => !(await alive(pid)), 30_000);
});
