import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { waitFor } from '../support/wait.js';
import { alive, connectClient, startTsshd, stdio, testDirs } from './tsshd-fixture.js';

test('--tcp --mtu 1200: the bootstrap says so and a session runs over TCP', async (t) => {
  const { env } = testDirs(t);
  const { info, pid } = await startTsshd(t, ['--tcp', '--mtu', '1200', '--port', '62001-62999'], env);
  assert.equal(info.proxyMode, 'tcp');
  assert.equal(info.mtu, 1200);
  assert.ok(info.port >= 62001 && info.port <= 62999, `port ${info.port} in the range`);
  const { client, path } = await connectClient(t, info);
  const io = stdio();
  io.stdin.end();
  assert.deepEqual(await client.openSession({ command: 'echo over-tcp' }, io), { code: 0 });
  assert.equal(io.stdout.text(), 'over-tcp\n');
  assert.ok(path.stats().datagramsReceived > 0);
  await waitFor('tsshd to exit after its last session', async () => !(await alive(pid)), 30_000);
});

test('--debug: the log is 0600 in a 0700 directory, its path goes to stderr, and it never holds the secret', async (t) => {
  const { env, cacheHome } = testDirs(t);
  // A directory left with loose permissions is tightened before the log goes in.
  mkdirSync(join(cacheHome, 'tsshd'), { recursive: true, mode: 0o755 });
  const { info, pid, result } = await startTsshd(t, ['--debug'], env);
  assert.equal(result.stdout.split('\n').length, 2, 'stdout is still just the bootstrap line');
  const logPath = /^tsshd: debug log: (.+)\n$/.exec(result.stderr)?.[1];
  assert.ok(logPath !== undefined, `one stderr line naming the log: ${JSON.stringify(result.stderr)}`);
  assert.equal(dirname(logPath), join(cacheHome, 'tsshd'));
  assert.equal((await stat(logPath)).mode & 0o777, 0o600);
  assert.equal((await stat(dirname(logPath))).mode & 0o777, 0o700);

  const { client } = await connectClient(t, info);
  const io = stdio();
  io.stdin.end();
  assert.deepEqual(await client.openSession({ command: 'echo logged' }, io), { code: 0 });
  await waitFor('tsshd to exit after its last session', async () => !(await alive(pid)), 30_000);
  const log = await readFile(logPath, 'utf8');
  assert.match(log, new RegExp(`listening on UDP port ${info.port}`));
  assert.match(log, /hello from tsshd-test/);
  assert.match(log, /session 1 started, pid \d+/);
  assert.match(log, /exiting with status 0: the last session ended/);
  const secret = Buffer.from(info.secret, 'base64url');
  for (const form of [info.secret, secret.toString('hex'), secret.toString('base64')]) assert.ok(!log.includes(form), 'the log holds the secret');
});
