import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BELL_INTERVAL_MS, InputGate, QUIT_BYTE } from '../../src/client/input-gate.js';

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('without an outage every byte is forwarded, Ctrl+D included', () => {
  const gate = new InputGate();
  const r = gate.push(Buffer.from('ls -l\r\x04'));
  assert.equal(r.forward?.toString(), 'ls -l\r\x04');
  assert.equal(r.quit, false);
  assert.equal(r.discarded, 0);
  assert.equal(r.bell, false);
});

test('during an outage typed bytes are discarded, counted, and never delivered later', () => {
  const gate = new InputGate();
  gate.setOutage(true);
  assert.equal(gate.inOutage, true);
  const r = gate.push(Buffer.from('rm -rf build\r'));
  assert.equal(r.forward, null);
  assert.equal(r.quit, false);
  assert.equal(r.discarded, 13);
  gate.setOutage(false);
  const after = gate.push(Buffer.from('x'));
  assert.equal(after.forward?.toString(), 'x', 'only what is typed after the outage is sent');
});

test('Ctrl+D during an outage quits, wherever it is in the chunk', () => {
  const gate = new InputGate();
  gate.setOutage(true);
  const r = gate.push(Buffer.from([0x61, QUIT_BYTE, 0x62]));
  assert.equal(r.quit, true);
  assert.equal(r.forward, null);
  assert.equal(r.discarded, 3);
});

test('discarded input rings the bell at most once per interval, and again at the next outage', () => {
  const clock = manualClock();
  const gate = new InputGate(clock.now);
  gate.setOutage(true);
  assert.equal(gate.push(Buffer.from('a')).bell, true);
  clock.advance(BELL_INTERVAL_MS - 1);
  assert.equal(gate.push(Buffer.from('b')).bell, false);
  clock.advance(1);
  assert.equal(gate.push(Buffer.from('c')).bell, true);
  gate.setOutage(false);
  gate.setOutage(true);
  assert.equal(gate.push(Buffer.from('d')).bell, true, 'a new outage rings at once');
});

test('an empty chunk forwards nothing and does not ring', () => {
  const gate = new InputGate();
  assert.equal(gate.push(Buffer.alloc(0)).forward, null);
  gate.setOutage(true);
  const r = gate.push(Buffer.alloc(0));
  assert.equal(r.bell, false);
  assert.equal(r.discarded, 0);
});

test('UdpReconnectExitKey: another key quits instead of Ctrl+D, and none means no key quits', () => {
  const ctrlX = new InputGate(() => 0, 0x18);
  ctrlX.setOutage(true);
  assert.equal(ctrlX.push(Buffer.from([QUIT_BYTE])).quit, false);
  assert.equal(ctrlX.push(Buffer.from([0x18])).quit, true);
  const none = new InputGate(() => 0, null);
  none.setOutage(true);
  assert.equal(none.push(Buffer.from([QUIT_BYTE, 0x18])).quit, false);
});
