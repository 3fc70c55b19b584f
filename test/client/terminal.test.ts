import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import pty from '@lydell/node-pty';
import xterm from '@xterm/headless';
import { waitFor } from '../support/wait.js';
import { SIGNAL_EXIT_STATUS, Terminal } from '../../src/client/terminal.js';

/** The compiled module under test, imported by the fixture from dist/. */
const TERMINAL_MODULE = new URL('../../src/client/terminal.js', import.meta.url).href;

/**
 * Runs inside the pty: enters raw mode through Terminal, reports the tty
 * state as stty sees it, then leaves the way TSSH_MODE says.
 */
const FIXTURE = `
import { spawnSync } from 'node:child_process';
const { Terminal } = await import(process.env.TSSH_TERMINAL_MODULE);
const mode = process.env.TSSH_MODE;
const say = (s) => process.stdout.write(s + '\\r\\n');
const stty = (...a) => spawnSync('stty', a, { stdio: [0, 'pipe', 'inherit'] }).stdout.toString().trim().replace(/\\s+/g, ' ');
const options = mode === 'callback'
  ? { onSignal: (sig) => { say('GOT:' + sig + ':' + term.isRaw + ':' + stty('-g')); process.exit(7); } }
  : {};
const term = new Terminal(options);
say('SIZE:' + term.size().cols + 'x' + term.size().rows);
term.enterRaw();
term.enterRaw();
say('RAW:' + stty('-g'));
say('RAWA[' + stty('-a') + ']');
say('PID:' + process.pid);
switch (mode) {
  case 'restore': term.restore(); term.restore(); say('MID:' + stty('-g')); break;
  case 'exit': process.exit(3);
  case 'natural': break;
  case 'throw': setTimeout(() => { throw new Error('boom'); }, 0); break;
  case 'wait': case 'callback':
    term.onResize((c, r) => say('RESIZE:' + c + 'x' + r));
    process.stdin.on('data', (d) => say('BYTES:' + [...d].join(',')));
    break;
  case 'suspend':
    term.suspend(() => { say('RESUMED:' + stty('-g')); process.exit(0); });
    break;
}
say('READY');
`;

/** The shell around the fixture: tty state before and after, and the fixture's exit status. */
const SCRIPT = `printf 'BEFORE:%s\\r\\n' "$(stty -g)"
"$TSSH_NODE" --input-type=module -e "$TSSH_FIXTURE"
printf 'STATUS:%s\\r\\n' "$?"
printf 'AFTER:%s\\r\\n' "$(stty -g)"
printf 'DONE:1\\r\\n'`;

/** With job control, so a stopped fixture is not in an orphaned process group; the shell looks at the tty, then resumes it. */
const SUSPEND_SCRIPT = `set -m
printf 'BEFORE:%s\\r\\n' "$(stty -g)"
"$TSSH_NODE" --input-type=module -e "$TSSH_FIXTURE"
printf 'STOPPED:%s\\r\\n' "$(stty -g)"
fg >/dev/null
printf 'STATUS:%s\\r\\n' "$?"
printf 'AFTER:%s\\r\\n' "$(stty -g)"
printf 'DONE:1\\r\\n'`;

interface Run {
  term: pty.IPty;
  output: () => string;
  /** The value after `marker:` once it has been printed. */
  value: (marker: string) => Promise<string>;
}

/** Ptys still running, so none outlives a failed test. */
const running = new Set<pty.IPty>();
after(() => {
  for (const p of running) p.kill();
});

function start(mode: string, script = SCRIPT): Run {
  let out = '';
  const term = pty.spawn('/bin/sh', ['-c', script], {
    name: 'xterm',
    cols: 100,
    rows: 30,
    env: {
      PATH: process.env.PATH,
      TSSH_NODE: process.execPath,
      TSSH_FIXTURE: FIXTURE,
      TSSH_MODE: mode,
      TSSH_TERMINAL_MODULE: TERMINAL_MODULE,
    },
  });
  running.add(term);
  term.onExit(() => running.delete(term));
  term.onData((d) => (out += d));
  const value = async (marker: string): Promise<string> => {
    const re = new RegExp(`${marker}:(\\S+)`);
    const m = await waitFor(`${marker} in the pty output`, () => re.exec(out), 15_000).catch((e: Error) => {
      throw new Error(`${e.message}; output so far: ${JSON.stringify(out)}`);
    });
    return m[1]!;
  };
  return { term, output: () => out, value };
}

/** Run to the end; return the states seen and the fixture's exit status. */
async function finish(run: Run): Promise<{ before: string; raw: string; after: string; status: number }> {
  await run.value('DONE');
  return {
    before: await run.value('BEFORE'),
    raw: await run.value('RAW'),
    after: await run.value('AFTER'),
    status: Number(await run.value('STATUS')),
  };
}

/** Flags shown by `stty -a` while raw, as a set of words such as `-icanon`. */
function rawFlags(run: Run): Set<string> {
  const m = /RAWA\[([^\]]*)\]/.exec(run.output());
  assert.ok(m, 'the fixture printed stty -a');
  return new Set(m[1]!.split(/[\s;]+/));
}

test('enterRaw gives ssh raw mode (no echo, no line editing, no key signals, no output processing); restore puts back the exact mode', async () => {
  const run = start('restore');
  const mid = await run.value('MID');
  const { before, raw, after, status } = await finish(run);
  assert.notEqual(raw, before, 'raw mode changed the tty');
  const flags = rawFlags(run);
  for (const f of ['-icanon', '-echo', '-isig', '-icrnl', '-ixon', '-opost']) assert.ok(flags.has(f), `raw has ${f}`);
  assert.equal(mid, before, 'restore() put back the mode while the process still runs');
  assert.equal(after, before);
  assert.equal(status, 0);
});

test('a process.exit() while raw restores the terminal', async () => {
  const { before, raw, after, status } = await finish(start('exit'));
  assert.notEqual(raw, before);
  assert.equal(after, before);
  assert.equal(status, 3);
});

test('the event loop running dry while raw restores the terminal', async () => {
  const { before, raw, after, status } = await finish(start('natural'));
  assert.notEqual(raw, before);
  assert.equal(after, before);
  assert.equal(status, 0);
});

test('an uncaught exception restores the terminal before the error is printed, so it is readable', async () => {
  const run = start('throw');
  const { before, after, status } = await finish(run);
  assert.equal(after, before);
  assert.equal(status, 1);
  const screen = new xterm.Terminal({ cols: 100, rows: 30, allowProposedApi: true });
  await new Promise<void>((resolve) => screen.write(run.output(), resolve));
  const lines: string[] = [];
  const buf = screen.buffer.active;
  for (let y = 0; y < buf.length; y++) lines.push(buf.getLine(y)?.translateToString(true) ?? '');
  const i = lines.findIndex((l) => l.startsWith('Error: boom'));
  assert.ok(i >= 0, `"Error: boom" starts a line on screen:\n${lines.join('\n')}`);
  assert.ok(lines[i + 1]!.startsWith('    at '), 'the stack trace is not staircased');
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const) {
  test(`${signal} sent to tssh restores the terminal and exits with status ${SIGNAL_EXIT_STATUS}, as ssh does`, async () => {
    const run = start('wait');
    const pid = Number(await run.value('PID'));
    await waitFor('READY', () => run.output().includes('READY'), 15_000);
    process.kill(pid, signal);
    const { before, raw, after, status } = await finish(run);
    assert.notEqual(raw, before);
    assert.equal(after, before);
    assert.equal(status, SIGNAL_EXIT_STATUS);
  });
}

test('^C, ^Z and ^\\ typed while raw reach the program as bytes instead of signalling it', async () => {
  const run = start('wait');
  const pid = Number(await run.value('PID'));
  await waitFor('READY', () => run.output().includes('READY'), 15_000);
  run.term.write('\x03\x1a\x1c\r');
  assert.equal(await run.value('BYTES'), '3,26,28,13');
  process.kill(pid, 'SIGTERM');
  const { status } = await finish(run);
  assert.equal(status, SIGNAL_EXIT_STATUS);
});

test('onSignal is called with the terminal already restored, and decides the exit', async () => {
  const run = start('callback');
  const pid = Number(await run.value('PID'));
  await waitFor('READY', () => run.output().includes('READY'), 15_000);
  process.kill(pid, 'SIGHUP');
  const got = await run.value('GOT');
  const { before, status } = await finish(run);
  const [sig, isRaw] = got.split(':');
  assert.equal(sig, 'SIGHUP');
  assert.equal(isRaw, 'false');
  assert.equal(got.slice(`${sig}:${isRaw}:`.length), before, 'the mode seen by the callback is the original one');
  assert.equal(status, 7);
});

test('size() reads the window and onResize reports each change (SIGWINCH)', async () => {
  const run = start('wait');
  assert.equal(await run.value('SIZE'), '100x30');
  const pid = Number(await run.value('PID'));
  await waitFor('READY', () => run.output().includes('READY'), 15_000);
  run.term.resize(91, 33);
  assert.equal(await run.value('RESIZE'), '91x33');
  process.kill(pid, 'SIGTERM');
  await finish(run);
});

test('suspend() restores the terminal while stopped and goes raw again on continue', async () => {
  const run = start('suspend', SUSPEND_SCRIPT);
  const stopped = await run.value('STOPPED');
  const resumed = await run.value('RESUMED');
  const { before, raw, after, status } = await finish(run);
  assert.equal(stopped, before, 'cooked while stopped');
  assert.equal(resumed, raw, 'raw again after SIGCONT');
  assert.equal(after, before);
  assert.equal(status, 0);
});

test('without a terminal every method is a harmless no-op', () => {
  let rawCalls = 0;
  const t = new Terminal({
    input: { isTTY: false, setRawMode: () => rawCalls++ },
    output: { isTTY: false, on: () => undefined, off: () => undefined },
  });
  const before = process.listenerCount('SIGTERM');
  t.enterRaw();
  assert.equal(t.isTTY, false);
  assert.equal(t.isRaw, false);
  assert.equal(rawCalls, 0);
  assert.equal(process.listenerCount('SIGTERM'), before, 'no signal handler armed');
  t.restore();
  t.suspend();
  assert.deepEqual(t.size(), { cols: 80, rows: 24 });
  t.onResize(() => assert.fail('no resize without a terminal'))();
});
