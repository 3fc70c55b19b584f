import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SMALL_PACKET_BYTES, SmallPacketCopies } from '../../src/transport/quic/small-packet-copies.js';

/** Simulate `packets` small packets a second for `seconds` with a per-transmission loss rate; the engine sees a loss only when every copy was lost. */
function simulate(c: SmallPacketCopies, lossRate: number, seconds: number, start: number, counters: { sent: number; lost: number }, seed = 1): number {
  let x = seed;
  const random = (): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
  let now = start;
  for (let i = 0; i < seconds * 30; i++) {
    now += 1000 / 30;
    const n = c.copiesFor(60, now);
    let arrived = false;
    for (let k = 0; k < n; k++) if (random() >= lossRate) arrived = true;
    counters.sent++;
    if (!arrived) counters.lost++;
    c.update(counters.sent, counters.lost, now);
  }
  return now;
}

test('quic copies: a fresh connection copies small packets, never large ones', () => {
  const c = new SmallPacketCopies(0);
  assert.equal(c.copies, 2, 'pessimistic start');
  assert.equal(c.copiesFor(SMALL_PACKET_BYTES, 1), 2);
  assert.equal(c.copiesFor(SMALL_PACKET_BYTES + 1, 2), 1);
});

test('quic copies: 10 % loss calls for 3 copies and keeps them although the copies hide the loss', () => {
  const c = new SmallPacketCopies(0);
  const counters = { sent: 0, lost: 0 };
  simulate(c, 0.1, 120, 0, counters);
  assert.equal(c.copies, 3);
  assert.ok(c.lossRate > 0.03 && c.lossRate < 0.3, `estimated raw loss ${c.lossRate}`);
});

test('quic copies: a clean link stops copying within a couple of minutes', () => {
  const c = new SmallPacketCopies(0);
  const counters = { sent: 0, lost: 0 };
  simulate(c, 0, 120, 0, counters);
  assert.equal(c.copies, 1);
});

test('quic copies: copies are capped by their byte budget', () => {
  const c = new SmallPacketCopies(0);
  let extra = 0;
  // 10 000 small packets in the same millisecond: only the bucket's 32 KiB of copies go out.
  for (let i = 0; i < 10_000; i++) extra += c.copiesFor(200, 0) - 1;
  assert.equal(extra, Math.floor((32 * 1024) / 200));
});
