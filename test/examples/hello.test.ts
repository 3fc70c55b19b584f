import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SshdFixture } from '../support/sshd.js';
import { cleanEnv, killLeftovers, PtyTssh, runTssh } from '../e2e/harness.js';
import { exampleConfig } from './example-fixture.js';
import { waitFor } from '../support/wait.js';

// examples/hello as the tsshd of a real OpenSSH login, driven with tssh --udp.
let sshd: SshdFixture;
let config: string[];
before(async () => {
  sshd = await SshdFixture.start();
  config = exampleConfig(sshd, 'hello/hello.js');
});
after(async () => {
  killLeftovers();
  const left = await sshd?.stop();
  assert.deepEqual(left, [], 'the example left processes behind');
});

test('hello in a terminal: greets, edits the name with backspace and arrows, answers, exits 0', async (t) => {
  const tssh = new PtyTssh([...config, '--udp', sshd.host], { env: cleanEnv({ TERM: 'xterm-256color' }) });
  t.after(() => tssh.close());
  await tssh.waitForScreen('the greeting and the question', /Hello from a tsshd service[\s\S]*What's your name\? $/m);
  // "Jox", backspace, "e" -> "Joe"; three left arrows to the start, "Mr " -> "Mr Joe".
  // One key at a time, as a person types (Node 20's readline misplaces a multi-character chunk inserted mid-line).
  tssh.type('Jox');
  await tssh.waitForScreen('the typed name', /What's your name\? Jox/);
  tssh.type('\x7f');
  await tssh.waitForScreen('the backspace', /What's your name\? Jo$/m);
  tssh.type('e');
  tssh.type('\x1b[D\x1b[D\x1b[D');
  for (const [key, shown] of [['M', 'MJoe'], ['r', 'MrJoe'], [' ', 'Mr Joe']]) {
    await waitFor(`the cursor to reach the start`, () => tssh.screen.buffer.active.cursorX === "What's your name? ".length + shown.length - 4, 30_000, 25);
    tssh.type(key!);
    await tssh.waitForScreen(`"${shown}"`, new RegExp(`What's your name\\? ${shown}$`, 'm'));
  }
  tssh.type('\r');
  await tssh.waitForScreen('the answer', /Nice to meet you, Mr Joe!/);
  assert.equal(await tssh.waitForExit(), 0);
});

test('hello without a terminal reads the name from stdin', async () => {
  const r = await runTssh([...config, '--udp', sshd.host], { input: 'Ann\n' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.toString(), /^Hello from a tsshd service \(you are [0-9a-f.:]+\)\.\nWhat's your name\? Nice to meet you, Ann!\n$/);
});

test('hello: Ctrl-D at the question says goodbye with status 130', async (t) => {
  const tssh = new PtyTssh([...config, '--udp', sshd.host], { env: cleanEnv({ TERM: 'xterm-256color' }) });
  t.after(() => tssh.close());
  await tssh.waitForScreen('the question', /What's your name\? $/m);
  tssh.type('\x04');
  await tssh.waitForScreen('the goodbye', /Goodbye, stranger\./);
  assert.equal(await tssh.waitForExit(), 130);
});
