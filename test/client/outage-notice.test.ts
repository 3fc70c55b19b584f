import { test } from 'node:test';
import assert from 'node:assert/strict';
import xterm from '@xterm/headless';
import {
  OutageNotice,
  clearTopBytes,
  formatDuration,
  renderNotice,
  topNoticeBytes,
  type NoticeTimers,
  type OutageState,
} from '../../src/client/outage-notice.js';

const { Terminal: XTerm } = xterm;
type Screen = InstanceType<typeof XTerm>;

const STATE: OutageState = {
  lostSinceMs: 1_000_000,
  aliveTimeoutMs: 86_400_000,
  serverAddress: '198.18.0.2:61001',
  trying: 'a new UDP path from 198.18.0.1',
};

/** A headless terminal of the given size, as a person's screen. */
function screen(cols = 60, rows = 10): Screen {
  return new XTerm({ cols, rows, allowProposedApi: true });
}

/** Write to the screen and wait until it has been parsed. */
function feed(term: Screen, data: string): Promise<void> {
  return new Promise((resolve) => term.write(data, resolve));
}

/** The visible rows as text, right-trimmed. */
function rows(term: Screen): string[] {
  const out: string[] = [];
  const buf = term.buffer.active;
  for (let y = 0; y < term.rows; y++) out.push(buf.getLine(buf.viewportY + y)?.translateToString(true) ?? '');
  return out;
}

function cursor(term: Screen): [number, number] {
  return [term.buffer.active.cursorX, term.buffer.active.cursorY];
}

/** A screen full of an application's content, with the cursor left mid-screen in bold red. */
async function busyScreen(cols = 60, rows = 10): Promise<Screen> {
  const term = screen(cols, rows);
  let s = '';
  for (let y = 1; y <= rows; y++) s += `\x1b[${y};1Happ line ${y} ${'.'.repeat(20)}`;
  await feed(term, s + '\x1b[6;12H\x1b[1;31m');
  return term;
}

/** Timers the test fires by hand; counts what is armed. */
function manualTimers(): NoticeTimers & { fire: () => void; armed: number; created: number } {
  const fns = new Map<number, () => void>();
  let next = 1;
  const t = {
    created: 0,
    get armed() {
      return fns.size;
    },
    setInterval(fn: () => void) {
      t.created++;
      fns.set(next, fn);
      return next++;
    },
    clearInterval(h: unknown) {
      fns.delete(h as number);
    },
    fire() {
      for (const fn of [...fns.values()]) fn();
    },
  };
  return t;
}

test('durations read m:ss under an hour and h:mm:ss above', () => {
  assert.equal(formatDuration(0), '0:00');
  assert.equal(formatDuration(23_999), '0:23');
  assert.equal(formatDuration(605_000), '10:05');
  assert.equal(formatDuration(3_600_000), '1:00:00');
  assert.equal(formatDuration(86_399_000), '23:59:59');
  assert.equal(formatDuration(-5000), '0:00');
});

test('the one-line notice says how long, that it reconnects, and how to quit', () => {
  const input = { ...STATE, nowMs: STATE.lostSinceMs + 23_000, full: false, escapeChar: 0x7e };
  assert.deepEqual(renderNotice(input), ['tssh: connection lost 0:23, reconnecting... (Ctrl+D or ~. to quit)']);
  assert.deepEqual(renderNotice({ ...input, escapeChar: null }), ['tssh: connection lost 0:23, reconnecting... (Ctrl+D to quit)']);
  assert.match(renderNotice({ ...input, escapeChar: 0x1d })[0]!, /Ctrl\+D or \^]\. to quit/);
});

test('the full notice names the server, what is tried, how to quit, and the time left', () => {
  const lines = renderNotice({ ...STATE, nowMs: STATE.lostSinceMs + 83_000, full: true, escapeChar: 0x7e });
  assert.deepEqual(lines, [
    'tssh: no reply from 198.18.0.2:61001 for 1:23; trying a new UDP path from 198.18.0.1',
    'tssh: Ctrl+D or ~. to quit; keys typed now are discarded. Giving up in 23:58:37.',
  ]);
});

test('the full notice counts down to giving up, and says nothing of it without a limit', () => {
  const at = (nowMs: number, aliveTimeoutMs: number): string =>
    renderNotice({ ...STATE, aliveTimeoutMs, nowMs, full: true, escapeChar: 0x7e })[1]!;
  assert.match(at(STATE.lostSinceMs + 99_500, 100_000), /Giving up in 0:01\.$/);
  assert.match(at(STATE.lostSinceMs + 100_000, 100_000), /Giving up now\.$/);
  assert.doesNotMatch(at(STATE.lostSinceMs + 5000, 0), /Giving up/);
  assert.doesNotMatch(at(STATE.lostSinceMs + 5000, Infinity), /Giving up/);
});

test('control bytes in the server address or the attempt are not passed to the terminal', () => {
  const lines = renderNotice({ ...STATE, serverAddress: 'evil\x1b[2J', trying: 'x\x07\x9by', nowMs: STATE.lostSinceMs, full: true, escapeChar: null });
  const control = [...lines.join('')].filter((ch) => ch.charCodeAt(0) < 0x20 || (ch.charCodeAt(0) >= 0x7f && ch.charCodeAt(0) <= 0x9f));
  assert.deepEqual(control, []);
  assert.match(lines[0]!, /evil\?\[2J/);
});

test('on top: the notice is bracketed by save/restore cursor and changes only row 1', async () => {
  const term = await busyScreen();
  const before = rows(term);
  const cur = cursor(term);
  const bytes = topNoticeBytes(['tssh: connection lost 0:05'], term.cols);
  assert.ok(bytes.startsWith('\x1b7'));
  assert.ok(bytes.endsWith('\x1b8'));
  await feed(term, bytes);
  const after = rows(term);
  assert.equal(after[0]!.trimEnd(), 'tssh: connection lost 0:05', 'padded with spaces to the full width');
  assert.deepEqual(after.slice(1), before.slice(1));
  assert.deepEqual(cursor(term), cur);
  const row1 = term.buffer.active.getLine(0)!;
  assert.ok(row1.getCell(0)!.isInverse(), 'notice text is in reverse video');
  assert.ok(row1.getCell(term.cols - 1)!.isInverse(), 'the reverse bar spans the width');
  // The application's attributes (bold red) are back for its next byte.
  await feed(term, 'Z');
  const cell = term.buffer.active.getLine(5)!.getCell(11)!;
  assert.equal(cell.getChars(), 'Z');
  assert.ok(cell.isBold());
  assert.ok(!cell.isInverse());
  assert.equal(cell.getFgColor(), 1);
});

test('on top: a notice longer than the width is cut, never wrapping onto row 2', async () => {
  const term = await busyScreen(30, 6);
  const before = rows(term);
  await feed(term, topNoticeBytes(['x'.repeat(100)], term.cols));
  assert.equal(rows(term)[0], 'x'.repeat(30));
  assert.deepEqual(rows(term).slice(1), before.slice(1));
});

test('on top: clearing blanks the notice rows and keeps the cursor', async () => {
  const term = await busyScreen();
  const cur = cursor(term);
  await feed(term, topNoticeBytes(['line one', 'line two'], term.cols));
  await feed(term, clearTopBytes(2));
  const after = rows(term);
  assert.equal(after[0], '');
  assert.equal(after[1], '');
  assert.equal(after[2], `app line 3 ${'.'.repeat(20)}`);
  assert.deepEqual(cursor(term), cur);
});

test('OutageNotice on top: shows, refreshes each tick with one timer, hides with needsRedraw', async () => {
  const term = await busyScreen(100, 8);
  const before = rows(term);
  const cur = cursor(term);
  let now = STATE.lostSinceMs + 15_000;
  const timers = manualTimers();
  const notice = new OutageNotice({
    write: (s) => term.write(s),
    now: () => now,
    full: false,
    onTop: true,
    columns: () => term.cols,
    timers,
  });
  notice.show(STATE);
  assert.equal(notice.visible, true);
  assert.equal(timers.armed, 1);
  await feed(term, '');
  assert.match(rows(term)[0]!, /^tssh: connection lost 0:15, reconnecting/);
  now += 1000;
  timers.fire();
  await feed(term, '');
  assert.match(rows(term)[0]!, /^tssh: connection lost 0:16, reconnecting/);
  notice.show({ ...STATE, trying: 'something else' });
  assert.equal(timers.created, 1, 'showing again does not start a second timer');
  assert.deepEqual(rows(term).slice(1), before.slice(1));
  assert.deepEqual(cursor(term), cur);
  assert.deepEqual(notice.hide(), { needsRedraw: true });
  assert.equal(timers.armed, 0);
  await feed(term, '');
  assert.equal(rows(term)[0], '');
  assert.deepEqual(cursor(term), cur);
  assert.deepEqual(notice.hide(), { needsRedraw: false }, 'hiding twice does nothing');
});

test('OutageNotice full on top uses rows 1 and 2 and clears both', async () => {
  const term = await busyScreen(120, 8);
  const before = rows(term);
  const notice = new OutageNotice({ write: (s) => term.write(s), now: () => STATE.lostSinceMs + 2000, columns: () => term.cols, timers: manualTimers() });
  notice.show(STATE);
  await feed(term, '');
  assert.match(rows(term)[0]!, /^tssh: no reply from 198\.18\.0\.2:61001 for 0:02/);
  assert.match(rows(term)[1]!, /^tssh: Ctrl\+D or ~\. to quit/);
  assert.deepEqual(rows(term).slice(2), before.slice(2));
  notice.hide();
  await feed(term, '');
  assert.deepEqual(rows(term).slice(0, 2), ['', '']);
});

test('OutageNotice at the cursor: lines of its own, rewritten in place, then a line saying it is back', async () => {
  const term = screen(100, 12);
  await feed(term, 'user@host:~$ ');
  let now = STATE.lostSinceMs + 15_000;
  const timers = manualTimers();
  const notice = new OutageNotice({ write: (s) => term.write(s), now: () => now, onTop: false, full: true, columns: () => term.cols, timers });
  notice.show(STATE);
  await feed(term, '');
  let r = rows(term);
  assert.equal(r[0], 'user@host:~$ ', 'the prompt line is left as it was');
  assert.match(r[1]!, /for 0:15; trying/);
  assert.match(r[2]!, /keys typed now are discarded/);
  now += 7000;
  timers.fire();
  await feed(term, '');
  r = rows(term);
  assert.match(r[1]!, /for 0:22; trying/);
  assert.match(r[2]!, /Giving up in 23:59:38\./);
  assert.equal(r[3], '', 'the refresh rewrote the same lines');
  assert.deepEqual(notice.hide(), { needsRedraw: false });
  await feed(term, '');
  r = rows(term);
  assert.equal(r[3], 'tssh: connection is back after 0:22');
  assert.deepEqual(cursor(term), [0, 4]);
  notice.update(now + 5000);
  await feed(term, '');
  assert.deepEqual(rows(term), r, 'update after hide writes nothing');
});

test('OutageNotice at the cursor, one line: each refresh stays on the same line', async () => {
  const term = screen(80, 6);
  let now = STATE.lostSinceMs;
  const timers = manualTimers();
  const notice = new OutageNotice({ write: (s) => term.write(s), now: () => now, onTop: false, full: false, columns: () => term.cols, timers });
  notice.show(STATE);
  for (let i = 0; i < 3; i++) {
    now += 1000;
    timers.fire();
  }
  await feed(term, '');
  assert.deepEqual(rows(term).slice(0, 3), ['', 'tssh: connection lost 0:03, reconnecting... (Ctrl+D or ~. to quit)', '']);
  notice.hide();
});

test('the quit hint follows UdpReconnectExitKey and says detach in attach mode', () => {
  const input = { ...STATE, nowMs: STATE.lostSinceMs + 23_000, full: false, escapeChar: 0x7e };
  assert.match(renderNotice({ ...input, exitKey: { key: 0x18, detach: false } })[0]!, /\(Ctrl\+X or ~\. to quit\)$/);
  assert.match(renderNotice({ ...input, exitKey: { key: 0x04, detach: true } })[0]!, /\(Ctrl\+D to detach, ~\. to quit\)$/);
  assert.match(renderNotice({ ...input, exitKey: { key: null, detach: false } })[0]!, /\(~\. to quit\)$/);
});
