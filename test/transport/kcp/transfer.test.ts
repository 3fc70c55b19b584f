import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { pair, randomBytes, rng, type LinkOptions } from './sim.js';

const SIZE = 5 * 1024 * 1024;

/** Move SIZE bytes a -> b over the given link and return what it took. */
function transfer(link: LinkOptions, seed: number) {
  const p = pair({}, { ...link, seed }, { ...link, seed: seed + 1 });
  const data = randomBytes(SIZE, seed);
  const hash = createHash('sha256');
  let received = 0;
  p.b.onData = (chunk) => {
    hash.update(chunk);
    received += chunk.length;
  };
  // Writes of uneven sizes, some tiny, so segments are both views and gathered copies.
  const r = rng(seed + 7);
  let offset = 0;
  let drains = 0;
  p.a.drainThreshold = 256 * 1024;
  const writeMore = (): void => {
    while (offset < SIZE && p.a.queuedBytes <= p.a.drainThreshold) {
      const n = Math.min(SIZE - offset, r() < 0.3 ? 1 + Math.floor(r() * 40) : 1 + Math.floor(r() * 100_000));
      p.a.write(data.subarray(offset, offset + n));
      offset += n;
    }
  };
  p.a.onDrain = () => {
    drains++;
    writeMore();
  };
  writeMore();
  const done = p.clock.runUntil(() => received === SIZE && p.a.idle && p.b.idle, p.clock.nowMs + 600_000);
  return { p, done, received, digest: hash.digest('hex'), expected: createHash('sha256').update(data).digest('hex'), drains };
}

for (const loss of [0, 0.1, 0.3]) {
  test(`5 MB arrive intact at ${loss * 100} % loss with reordering and duplication`, () => {
    const r = transfer({ loss, delayMs: 20, jitterMs: loss > 0 ? 8 : 0, duplicate: loss > 0 ? 0.02 : 0 }, 11 + loss * 100);
    assert.equal(r.received, SIZE, 'all bytes delivered');
    assert.ok(r.done, 'both ends idle at the end');
    assert.equal(r.digest, r.expected, 'SHA-256 of delivered bytes matches');
    assert.ok(r.drains > 0, 'onDrain fired as the queue emptied');
    const s = r.p.a.stats();
    if (loss === 0) assert.equal(s.retransmissions, 0, 'no retransmission without loss');
    else assert.ok(s.retransmissions > 0, 'losses were repaired by retransmission');
    // Full segments are never copied; only small ones (the tail) may be.
    assert.ok(s.redundantBytesSent < 0.01 * SIZE, `redundant bytes ${s.redundantBytesSent} stay under 1 % of the transfer`);
    // Both ends hold no timer once idle.
    assert.equal(r.p.aClock.armed, 0, 'sender holds no timer when idle');
    assert.equal(r.p.bClock.armed, 0, 'receiver holds no timer when idle');
    r.p.a.close();
    r.p.b.close();
  });
}

test('both directions at once at 10 % loss', () => {
  const p = pair({}, { loss: 0.1, delayMs: 15, jitterMs: 5, seed: 3 }, { loss: 0.1, delayMs: 15, jitterMs: 5, seed: 4 });
  const n = 1024 * 1024;
  const da = randomBytes(n, 1);
  const db = randomBytes(n, 2);
  const got = { a: [] as Buffer[], b: [] as Buffer[], na: 0, nb: 0 };
  p.a.onData = (c) => {
    got.a.push(c);
    got.na += c.length;
  };
  p.b.onData = (c) => {
    got.b.push(c);
    got.nb += c.length;
  };
  p.a.write(da);
  p.b.write(db);
  const ok = p.clock.runUntil(() => p.a.idle && p.b.idle && got.na === n && got.nb === n, p.clock.nowMs + 300_000, 2_000_000);
  assert.ok(ok, 'both transfers complete');
  assert.ok(Buffer.concat(got.b).equals(da), 'a -> b intact');
  assert.ok(Buffer.concat(got.a).equals(db), 'b -> a intact');
  p.a.close();
  p.b.close();
});

test('congestion control on: transfer completes at 10 % loss', () => {
  const p = pair({ congestionControl: true }, { loss: 0.1, delayMs: 10, seed: 5 });
  const data = randomBytes(512 * 1024, 9);
  const parts: Buffer[] = [];
  let n = 0;
  p.b.onData = (c) => {
    parts.push(c);
    n += c.length;
  };
  p.a.write(data);
  assert.ok(p.clock.runUntil(() => p.a.idle && p.b.idle && n === data.length, p.clock.nowMs + 600_000));
  assert.ok(Buffer.concat(parts).equals(data));
  p.a.close();
  p.b.close();
});

test('growMtu: segments cut later are larger, earlier ones keep their size, and the data arrive intact; it never shrinks', () => {
  const p = pair({ redundancy: false });
  const sizes: number[] = [];
  p.ab.filter = (pkt) => (sizes.push(pkt.length), true);
  const data = randomBytes(400_000, 5);
  let got = Buffer.alloc(0);
  p.b.onData = (c) => (got = Buffer.concat([got, c]));
  p.a.write(data.subarray(0, 100_000));
  assert.ok(p.clock.runUntil(() => got.length === 100_000, p.clock.nowMs + 5000));
  assert.ok(Math.max(...sizes) <= 1400);
  p.a.growMtu(16_000);
  p.a.growMtu(1000); // smaller: nothing changes
  assert.throws(() => p.a.growMtu(70_000), RangeError);
  sizes.length = 0;
  p.a.write(data.subarray(100_000));
  assert.ok(p.clock.runUntil(() => got.length === data.length, p.clock.nowMs + 5000));
  assert.ok(got.equals(data));
  assert.ok(Math.max(...sizes) > 1400 && Math.max(...sizes) <= 16_000, `largest packet ${Math.max(...sizes)}`);
  p.a.close();
  p.b.close();
});
