import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { waitFor, waitForEvent } from '../support/wait.js';
import { alive, connectClient, endProcess, sessionPid, startTsshd, stdio, testDirs } from './tsshd-fixture.js';

test('exits when no client authenticates within --connect-timeout', async (t) => {
  const { env } = testDirs(t);
  const { pid } = await startTsshd(t, ['--connect-timeout', '1'], env);
  assert.ok(await alive(pid));
  await waitFor('tsshd to give up waiting for a client', async () => !(await alive(pid)), 20_000);
});

test('SIGTERM: the client hears a goodbye naming it, and the session process is hung up', async (t) => {
  const { env } = testDirs(t);
  const { info, pid } = await startTsshd(t, [], env);
  const { client } = await connectClient(t, info);
  const io = stdio();
  const done = client.openSession({ command: 'echo pid=$$; exec sleep 1000' }, io);
  void done.catch(() => undefined);
  const sleepPid = await sessionPid('the session', () => io.stdout.text());
  t.after(() => endProcess(sleepPid));
  const goodbye = waitForEvent<string>(client, 'goodbye', 20_000);
  process.kill(pid, 'SIGTERM');
  assert.equal(await goodbye, 'tsshd received SIGTERM');
  await waitFor('the session process to be gone', async () => !(await alive(sleepPid)), 15_000);
  await waitFor('tsshd to exit', async () => !(await alive(pid)), 30_000);
  // The process was hung up, and the client was told how it ended before the connection closed.
  assert.deepEqual(await done, { signal: 'HUP' });
});

test('after the client\'s UdpAliveTimeout without contact, tsshd hangs up the session and exits', async (t) => {
  const { env, cacheHome } = testDirs(t);
  const { info, pid, result } = await startTsshd(t, ['--debug'], env);
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: info.port });
  t.after(() => proxy.close());
  const { client } = await connectClient(t, info, { aliveTimeoutMs: 2000, viaPort: proxy.port });
  const io = stdio();
  const done = client.openSession({ command: 'echo pid=$$; exec sleep 1000' }, io);
  void done.catch(() => undefined);
  const sleepPid = await sessionPid('the session', () => io.stdout.text());
  t.after(() => endProcess(sleepPid));
  // The client vanishes without a goodbye: nothing gets through any more, either way.
  proxy.c2s.outage(Infinity);
  proxy.s2c.outage(Infinity);
  await waitFor('the session process to be hung up', async () => !(await alive(sleepPid)), 20_000);
  await waitFor('tsshd to exit', async () => !(await alive(pid)), 20_000);
  // The log shows the server used the 2 s the client asked for (not its default of a day).
  const logPath = /^tsshd: debug log: (.+)$/m.exec(result.stderr)?.[1];
  assert.ok(logPath !== undefined && logPath.startsWith(join(cacheHome, 'tsshd')), `log path in stderr: ${result.stderr}`);
  const log = await readFile(logPath, 'utf8');
  assert.match(log, /UdpAliveTimeout 2000 ms/);
  assert.match(log, /exiting with status 1: gave up on the client/);
  assert.equal((await readdir(join(cacheHome, 'tsshd'))).length, 1);
});

test('a redraw request sends SIGWINCH to the pty\'s foreground program', async (t) => {
  const { env } = testDirs(t);
  const { info, pid } = await startTsshd(t, [], env);
  const { client } = await connectClient(t, info);
  const io = stdio();
  const done = client.openSession(
    { pty: { term: 'xterm', cols: 80, rows: 24 }, command: "trap 'echo got-winch' WINCH; echo ready; while :; do sleep 0.1; done" },
    io,
  );
  void done.catch(() => undefined);
  await waitFor('the program to start', () => io.stdout.text().includes('ready'));
  client.redraw();
  await waitFor('the program to see SIGWINCH', () => io.stdout.text().includes('got-winch'), 15_000);
  // The size did not change.
  client.goodbye('done');
  assert.deepEqual(await done, { signal: 'HUP' });
  await waitFor('tsshd to exit', async () => !(await alive(pid)), 30_000);
});
