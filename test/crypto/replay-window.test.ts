import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { REPLAY_WINDOW_SIZE, ReplayVerdict, ReplayWindow } from '../../src/crypto/replay-window.js';

function take(window: ReplayWindow, pn: number): ReplayVerdict {
  const verdict = window.check(pn);
  if (verdict === ReplayVerdict.Fresh) window.accept(pn);
  return verdict;
}

test('in order: every number is fresh once, and the newest', () => {
  const window = new ReplayWindow();
  for (let pn = 1; pn <= 5000; pn++) {
    assert.equal(window.check(pn), ReplayVerdict.Fresh);
    assert.equal(window.accept(pn), true);
  }
  assert.equal(window.highest, 5000);
});

test('reordered within the window: accepted, not newest', () => {
  const window = new ReplayWindow();
  assert.equal(take(window, 100), ReplayVerdict.Fresh);
  for (const pn of [99, 50, 1, 98]) {
    assert.equal(window.check(pn), ReplayVerdict.Fresh, `pn ${pn}`);
    assert.equal(window.accept(pn), false);
  }
  assert.equal(window.highest, 100);
});

test('duplicates are refused, including the highest', () => {
  const window = new ReplayWindow();
  for (const pn of [1, 2, 3, 10, 7]) take(window, pn);
  for (const pn of [1, 2, 3, 10, 7]) assert.equal(window.check(pn), ReplayVerdict.Duplicate, `pn ${pn}`);
  assert.equal(window.check(8), ReplayVerdict.Fresh);
});

test('too old: numbers at or beyond the window size below the highest are refused', () => {
  const window = new ReplayWindow();
  take(window, 10_000);
  assert.equal(window.check(10_000 - REPLAY_WINDOW_SIZE + 1), ReplayVerdict.Fresh, 'oldest in the window');
  assert.equal(window.check(10_000 - REPLAY_WINDOW_SIZE), ReplayVerdict.TooOld, 'just below');
  assert.equal(window.check(1), ReplayVerdict.TooOld);
  assert.equal(window.check(0), ReplayVerdict.TooOld, 'zero is never valid');
});

test('far ahead: a big jump forgets the old window, and slots reused by new numbers are fresh', () => {
  const window = new ReplayWindow();
  for (let pn = 1; pn <= 100; pn++) take(window, pn);
  // Same ring slots as 1..100, one window later: must not look like duplicates.
  assert.equal(take(window, 1 + REPLAY_WINDOW_SIZE), ReplayVerdict.Fresh);
  for (let pn = 2 + REPLAY_WINDOW_SIZE; pn <= 100 + REPLAY_WINDOW_SIZE; pn += 7) {
    assert.equal(window.check(pn), ReplayVerdict.Fresh, `pn ${pn}`);
  }
  assert.equal(take(window, 1_000_000_000_000), ReplayVerdict.Fresh);
  assert.equal(window.check(1_000_000_000_000 - 1), ReplayVerdict.Fresh);
  assert.equal(window.check(100 + REPLAY_WINDOW_SIZE), ReplayVerdict.TooOld);
  assert.equal(window.check(1_000_000_000_000), ReplayVerdict.Duplicate);
});

test('property: matches a model set for random sequences', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 6000 }), { maxLength: 400 }), (pns) => {
      const window = new ReplayWindow();
      const seen = new Set<number>();
      let highest = 0;
      for (const pn of pns) {
        const expected = seen.has(pn)
          ? highest - pn >= REPLAY_WINDOW_SIZE
            ? ReplayVerdict.TooOld
            : ReplayVerdict.Duplicate
          : pn <= highest - REPLAY_WINDOW_SIZE
            ? ReplayVerdict.TooOld
            : ReplayVerdict.Fresh;
        assert.equal(window.check(pn), expected, `pn ${pn} after highest ${highest}`);
        if (expected === ReplayVerdict.Fresh) {
          assert.equal(window.accept(pn), pn > highest);
          seen.add(pn);
          highest = Math.max(highest, pn);
        }
      }
    }),
    { numRuns: 300 },
  );
});
