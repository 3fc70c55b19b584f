import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenText, SimRig } from './sim-rig.js';

// Predictive echo on a simulated clock: a fake line editor 100 ms away, the user's terminal a second headless xterm.

function started(o: ConstructorParameters<typeof SimRig>[0] = {}): SimRig {
  const rig = new SimRig(o);
  rig.remote('$ ');
  return rig;
}

test('after one echoed key the next keys show at once, and the screen ends identical to the model', () => {
  const rig = started();
  rig.type('l');
  rig.advance(10);
  assert.equal(screenText(rig.terminal).split('\n')[0], '$', 'the first key of a line is not shown before its echo');
  rig.advance(150);
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ l');
  rig.type('s');
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ ls', 'shown before the echo');
  assert.equal(rig.terminal.buffer.active.cursorX, 4, 'the cursor moves with the prediction');
  rig.advance(150);
  assert.ok(rig.identical, 'confirmed: the terminal is the model');
  assert.equal(rig.echo.stats.shown, 1);
  assert.equal(rig.echo.stats.confirmed, 1);
  assert.equal(rig.echo.stats.wrong, 0);
});

test('typing, backspace and arrows in the middle of the line are predicted and confirmed', () => {
  const rig = started();
  rig.typeSlowly(200, 'e');
  rig.typeSlowly(30, 'c', 'h', 'o', ' ', 'x', 'y', '\x7f', '\x1b[D', '\x1b[D', 'Z', '\x1b[C');
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ echoZ x');
  rig.advance(400);
  assert.ok(rig.identical);
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ echoZ x');
  assert.equal(rig.echo.stats.wrong, 0);
  assert.ok(rig.echo.stats.shown >= 8, `shown ${rig.echo.stats.shown}`);
});

test('a password typed with echo off is never drawn', () => {
  const rig = started();
  rig.typeSlowly(200, 'r');
  rig.typeSlowly(30, 'e', 'a', 'd');
  rig.advance(200);
  rig.editor.onEnter = () => {
    rig.editor.echo = false;
    return '';
  };
  rig.editor.prompt = 'PW: ';
  const before = rig.written.length;
  rig.type('\r');
  rig.advance(30);
  rig.typeSlowly(40, 'q', 'z', 'j', 'k', 'v', 'w', 'q', 'z');
  rig.advance(5000);
  const after = rig.written.slice(before);
  assert.doesNotMatch(after, /[qzjkvw]/, 'no byte of the password reached the terminal');
  assert.ok(rig.identical);
  assert.equal(rig.echo.stats.shown, 3, 'only "ead" was shown');
});

test('a program that echoes something else: the prediction is taken back and the real output shown', () => {
  const rig = started();
  rig.typeSlowly(200, 'a');
  rig.editor.mapEcho = (t) => (t === 'b' ? '*' : t);
  rig.type('b');
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ ab');
  rig.advance(300);
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ a*');
  assert.ok(rig.identical);
  assert.equal(rig.echo.stats.wrong, 1);
});

test('no echo at all: a shown prediction is dropped after the timeout', () => {
  const rig = started();
  rig.typeSlowly(200, 'a');
  rig.editor.echo = false;
  rig.type('b');
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ ab');
  rig.advance(999);
  assert.ok(rig.written.slice(-40).includes("\x1b[0;4m"), "underlined: the RTT is high");
  rig.advance(2000);
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ a');
  assert.ok(rig.identical);
  assert.equal(rig.echo.stats.wrong, 1);
});

test('wide (CJK) characters are predicted in two cells and confirmed', () => {
  const rig = started();
  rig.typeSlowly(200, '你');
  rig.type('好');
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ 你好');
  assert.equal(rig.terminal.buffer.active.cursorX, 6);
  rig.type('\x7f');
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ 你');
  rig.advance(300);
  assert.ok(rig.identical);
  assert.equal(rig.echo.stats.wrong, 0);
});

test('a combining character is not predicted, and the screen stays right', () => {
  const rig = started();
  rig.typeSlowly(200, 'e');
  rig.type('\u0301', 'x');
  rig.advance(300);
  assert.ok(rig.identical);
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ e\u0301x');
});

test('typing past the right margin: nothing is drawn in the last column, the screen ends identical', () => {
  const rig = started({ cols: 20 });
  rig.typeSlowly(200, 'a');
  for (let i = 0; i < 30; i++) rig.typeSlowly(25, String.fromCharCode(98 + (i % 20)));
  rig.advance(500);
  assert.ok(rig.identical, `terminal:\n${screenText(rig.terminal)}`);
  assert.equal(rig.echo.stats.wrong, 0);
});

test('Tab: keys after it wait for an echo before they show; the completion is never garbled', () => {
  const rig = started();
  rig.typeSlowly(200, 'c');
  rig.typeSlowly(20, 'd', ' ', 'D');
  // The editor completes "D" to "Documents/" on Tab.
  const key = rig.editor.key.bind(rig.editor);
  rig.editor.key = (k) => {
    if (k !== '\t') return key(k);
    rig.editor.line += 'ocuments/';
    rig.editor.cursor += 9;
    return 'ocuments/';
  };
  rig.type('\t');
  rig.type('x');
  assert.doesNotMatch(screenText(rig.terminal).split('\n')[0]!, /x/, 'not shown: the epoch after Tab is unconfirmed');
  rig.advance(20);
  rig.type('y');
  rig.advance(400);
  assert.ok(rig.identical);
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ cd Documents/xy');
  assert.equal(rig.echo.stats.wrong, 0);
});

test('output split inside an escape sequence: nothing is drawn in the middle of it', () => {
  const rig = started();
  rig.typeSlowly(200, 'a');
  rig.type('b');
  rig.remote('\x1b[3');
  const mid = rig.written.length;
  rig.type('c');
  assert.equal(rig.written.length, mid, 'nothing written while the parser is inside a sequence');
  rig.remote('1m');
  rig.advance(400);
  assert.ok(rig.identical);
});

test('the bottom line: Enter scrolls, predictions on the new line come back after an echo', () => {
  const rig = started({ rows: 4 });
  for (let line = 0; line < 6; line++) {
    rig.typeSlowly(200, 'x');
    rig.typeSlowly(20, 'y', 'z');
    rig.typeSlowly(200, '\r');
  }
  rig.advance(400);
  assert.ok(rig.identical, screenText(rig.terminal));
  assert.equal(rig.echo.stats.wrong, 0);
  assert.ok(rig.echo.stats.shown >= 10);
});

test('adaptive: nothing shown on a fast path; shown on a slow one', () => {
  const fast = started({ mode: 'adaptive', rttMs: 5 });
  fast.typeSlowly(50, 'a');
  fast.type('b');
  assert.equal(fast.echo.stats.shown, 0);
  const slow = started({ mode: 'adaptive', rttMs: 100 });
  slow.typeSlowly(200, 'a');
  slow.type('b');
  assert.equal(slow.echo.stats.shown, 1);
});

test('adaptive turns itself off after repeated wrong predictions', () => {
  const rig = started({ mode: 'adaptive' });
  rig.editor.mapEcho = (t) => (t === 'a' ? 'a' : '#');
  for (let i = 0; i < 6; i++) {
    rig.typeSlowly(200, 'a');
    rig.typeSlowly(300, 'b');
  }
  const wrong = rig.echo.stats.wrong;
  assert.ok(wrong >= 4 && wrong < 6, `wrong ${wrong}`);
  assert.ok(rig.identical);
});

test('alternate screen: a single echo is not enough to show predictions', () => {
  const rig = started();
  rig.remote('\x1b[?1049h\x1b[H');
  rig.typeSlowly(200, 'a');
  rig.type('b');
  assert.equal(rig.echo.stats.shown, 0);
  rig.advance(200);
  rig.type('c');
  assert.equal(rig.echo.stats.shown, 1);
  rig.advance(200);
  assert.ok(rig.identical);
});

test('colours: the restored cells and the pen are the model\'s', () => {
  const rig = started();
  rig.remote('\x1b[1;31mred\x1b[0m \x1b[44m');
  rig.typeSlowly(200, 'a');
  rig.type('b', '\x7f', '\x7f');
  rig.advance(400);
  assert.ok(rig.identical);
  rig.remote('more');
  assert.ok(rig.identical, 'the pen (blue background) survived the overlay');
});

test('a grey suggestion right of the cursor (fish, zsh-autosuggestions) is not shifted by a prediction', () => {
  const rig = started();
  rig.typeSlowly(200, 'g');
  // The program shows a suggestion in grey after the cursor, then consumes it as the user types it.
  rig.remote('\x1b[90mit status\x1b[0m\x1b[9D');
  rig.editor.key = (k) => (k === 'i' ? 'i' : '');
  rig.type('i');
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ git status', 'nothing drawn over the suggestion');
  assert.equal(rig.echo.stats.predicted, 1, 'typing into the suggestion is not predicted at all');
  rig.advance(300);
  assert.ok(rig.identical);
  assert.equal(rig.echo.stats.wrong, 0);
});

test("tssh's own notice and a window resize take the predictions off first", () => {
  const rig = started();
  rig.typeSlowly(200, 'a');
  rig.type('b');
  assert.equal(rig.overlayDrawn, true);
  rig.echo.local('\x1b7\x1b[6;1H\x1b[7mtssh: notice\x1b[0m\x1b8');
  assert.equal(rig.overlayDrawn, false);
  assert.ok(rig.identical, 'the notice went to the model too');
  rig.type('c');
  rig.advance(10);
  rig.terminal.resize(30, 8);
  rig.echo.resize(30, 8);
  assert.equal(rig.overlayDrawn, false);
  assert.ok(rig.identical);
  rig.advance(400);
  assert.ok(rig.identical);
  assert.match(screenText(rig.terminal).split('\n')[0]!, /abc$/);
});

test('close() takes the overlay off, and later output passes through untouched', () => {
  const rig = started();
  rig.typeSlowly(200, 'a');
  rig.type('b');
  rig.echo.close();
  assert.equal(screenText(rig.terminal).split('\n')[0], '$ a');
  const before = rig.written.length;
  rig.remote('\x1b[31mbye\x1b[0m');
  assert.equal(rig.written.slice(before), '\x1b[31mbye\x1b[0m');
});

test('tmux -CC (a DCS string that stays open) and OSC 52 pass unchanged; nothing is drawn inside the string', () => {
  const rig = started();
  rig.typeSlowly(200, 'a');
  const osc52 = '\x1b]52;c;c2VjcmV0\x07';
  const before = rig.written.length;
  rig.remote(osc52);
  assert.equal(rig.written.slice(before), osc52, 'OSC 52 as the program wrote it');
  // tmux -CC: the control-mode DCS opens and stays open for the whole session; its lines are not screen text.
  const start = rig.written.length;
  const control = '\x1bP1000p%begin 1 1 0\n%end 1 1 0\n';
  rig.remote(control);
  rig.editor.mapEcho = () => '%output %1 x\n';
  rig.typeSlowly(50, 'b', 'c', 'd');
  rig.advance(2000);
  assert.equal(rig.written.slice(start), control + '%output %1 x\n'.repeat(3), 'only the program bytes: no prediction drawn inside the DCS');
  assert.equal(rig.echo.stats.shown, 0);
});
