import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { startSession, type RunningSession } from '../../src/server/session-runner.js';

// A pty session's last output must reach the client however late it is read: node-pty destroys its
// reader 200 ms after the process exits, which lost a shell's "logout" line when output was held
// (before attach, under flow control) or tsshd's event loop was late on a loaded machine.

const spawnPty = (command: string): Promise<RunningSession> =>
  startSession({ shell: '/bin/sh', home: '/tmp', env: { PATH: '/usr/bin:/bin' }, command, pty: { term: 'xterm', cols: 80, rows: 24 } });

/** Resolves once `session` exits (the output is then held, unread, for as long as the test likes). */
const collect = (session: RunningSession, output: Writable = new PassThrough()): Promise<string> => {
  let text = '';
  output.on('data', (b: Buffer) => (text += b.toString('latin1')));
  session.attach({ input: new PassThrough(), output });
  return session.done.then(() => text);
};

test('output held until after the exit (a late attach) is delivered in full, every time', async () => {
  const sessions = await Promise.all(Array.from({ length: 6 }, (_, i) => spawnPty(`printf 'first %s\\n'; printf 'logout\\n'`.replace('%s', String(i)))));
  // Held past node-pty's 200 ms: the processes exit meanwhile (bounded wait on a condition).
  await Promise.all(sessions.map((s) => s.exited));
  await new Promise((resolve) => setTimeout(resolve, 400)); // the timer under test is node-pty's own 200 ms
  const texts = await Promise.all(sessions.map((s) => collect(s)));
  texts.forEach((text, i) => assert.match(text, new RegExp(`first ${i}\\r\\nlogout\\r\\n$`), JSON.stringify(text)));
});

test('an event loop blocked right after the exit does not cut the last line', async () => {
  for (let round = 0; round < 4; round++) {
    const session = await spawnPty(`printf 'logout\\n'`);
    const text = collect(session);
    // Block (synchronously) while the shell runs and exits: node-pty's exit timer and the pty read then race.
    const until = Date.now() + 350;
    while (Date.now() < until) {
      // busy: as tsshd on a loaded 2-core machine
    }
    assert.match(await text, /logout\r\n$/);
  }
});

test('output under flow control (a reader that stalls past the exit) is complete', async () => {
  const session = await spawnPty(`seq 1 3000; printf 'logout\\n'`);
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const chunks: Buffer[] = [];
  const stalled = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      void released.then(() => callback());
    },
  });
  session.attach({ input: new PassThrough(), output: stalled });
  await session.exited.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 400));
  release();
  await session.done;
  const text = Buffer.concat(chunks).toString('latin1');
  assert.match(text, /^1\r\n2\r\n/);
  assert.match(text, /3000\r\nlogout\r\n$/);
});
