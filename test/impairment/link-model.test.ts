import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Impairment, LinkModel, type Fate, type ImpairmentOptions } from '../support/impairment.js';
import { waitFor } from '../support/wait.js';

/** A packet whose first 4 bytes carry its sequence number. */
function packet(seq: number, size = 100): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(seq, 0);
  return b;
}

/** Offer `count` packets synchronously to a fresh Impairment and collect the received sequence numbers once all fell due. */
async function runBurst(options: ImpairmentOptions, count: number): Promise<{ got: number[]; link: Impairment }> {
  const got: number[] = [];
  const link = new Impairment((p) => got.push(p.readUInt32BE(0)), options);
  for (let i = 0; i < count; i++) link.push(packet(i));
  await waitFor('the link to drain', () => link.pending === 0);
  link.close();
  return { got, link };
}

test('random loss over 20,000 packets lies within 6 standard deviations of the setting', async () => {
  const n = 20_000;
  const pct = 5;
  const { got, link } = await runBurst({ lossPct: pct, seed: 42 }, n);
  const mean = (n * pct) / 100;
  const sd = Math.sqrt(n * (pct / 100) * (1 - pct / 100));
  assert.ok(Math.abs(link.stats.lost - mean) < 6 * sd, `lost ${link.stats.lost}, expected about ${mean}`);
  assert.equal(got.length, n - link.stats.lost);
  assert.equal(link.stats.delivered, got.length);
  assert.equal(link.stats.passed + link.stats.lost, n);
});

test('burst loss loses in runs at about the Gilbert-Elliott stationary rate', () => {
  const model = new LinkModel({ burstLoss: { enterPct: 1, exitPct: 25 }, seed: 7 });
  const n = 20_000;
  let runs = 0;
  let prevLost = false;
  for (let i = 0; i < n; i++) {
    const lost = model.judge(100, i).verdict === 'burst';
    if (lost && !prevLost) runs++;
    prevLost = lost;
  }
  const lost = model.stats.burstLost;
  // Stationary bad fraction is enter / (enter + exit) = 1/26, about 3.8 %.
  assert.ok(lost > n * 0.02 && lost < n * 0.065, `burst lost ${lost}`);
  assert.equal(model.stats.lost, lost);
  // Mean burst length is 1 / exit = 4 packets: well above 1, unlike independent loss.
  assert.ok(lost / runs > 2, `mean run ${lost / runs}`);
});

test('duplication delivers extra copies and counts them', async () => {
  const n = 5_000;
  const { got, link } = await runBurst({ duplicatePct: 3, seed: 3 }, n);
  assert.ok(link.stats.duplicated > 0);
  assert.equal(got.length, n + link.stats.duplicated);
  assert.equal(new Set(got).size, n);
  // Each copy follows its original directly, since it has the same due time.
  let adjacentRepeats = 0;
  for (let i = 1; i < got.length; i++) if (got[i] === got[i - 1]) adjacentRepeats++;
  assert.equal(adjacentRepeats, link.stats.duplicated);
});

test('reordering holds chosen packets back so later ones overtake them, and counts them', async () => {
  const n = 2_000;
  const { got, link } = await runBurst({ reorderPct: 5, reorderExtraMs: 20, seed: 5 }, n);
  assert.ok(link.stats.reordered > 0);
  assert.equal(got.length, n);
  assert.deepEqual([...got].sort((x, y) => x - y), Array.from({ length: n }, (_, i) => i));
  let inversions = 0;
  let highest = -1;
  for (const seq of got) {
    if (seq < highest) inversions++;
    else highest = seq;
  }
  // Every held-back packet (except one that happened to be last) arrives after a higher number.
  assert.ok(inversions >= link.stats.reordered - 1, `inversions ${inversions}, reordered ${link.stats.reordered}`);
});

test('delay without jitter keeps order across sends spread over time, and delivers asynchronously', async () => {
  const got: number[] = [];
  const link = new Impairment((p) => got.push(p.readUInt32BE(0)), { delayMs: 15, rateBytesPerSec: 2_000_000, queueBytes: 1_000_000 });
  let seq = 0;
  for (let round = 0; round < 20; round++) {
    const before = got.length;
    for (let i = 0; i < 50; i++) link.push(packet(seq++, 500));
    assert.equal(got.length, before, 'push must not deliver synchronously');
    // Yield a turn so the sends of each round happen at a different time.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await waitFor('all packets', () => got.length === seq);
  assert.deepEqual(got, Array.from({ length: seq }, (_, i) => i));
  link.close();
});

test('rate cap: queue occupancy never exceeds its bound and the excess is tail-dropped (virtual clock)', () => {
  const model = new LinkModel({ rateBytesPerSec: 10_000, queueBytes: 5_000 });
  const verdicts: string[] = [];
  for (let i = 0; i < 8; i++) verdicts.push(model.judge(1_000, 0).verdict);
  assert.deepEqual(verdicts, ['pass', 'pass', 'pass', 'pass', 'pass', 'queue', 'queue', 'queue']);
  // 100 ms later 1,000 bytes have left the bottleneck: room for exactly one more.
  assert.equal(model.judge(1_000, 100).verdict, 'pass');
  assert.equal(model.judge(1_000, 100).verdict, 'queue');
  // Offer twice the rate for 10 virtual seconds: about half gets through, the queue stays bounded.
  const steady = new LinkModel({ rateBytesPerSec: 50_000, queueBytes: 8_000 });
  let lastDue = -Infinity;
  for (let t = 0; t < 10_000; t += 10) {
    const fate = steady.judge(1_000, t);
    if (fate.verdict === 'pass') {
      assert.ok(fate.dueMs >= lastDue, 'departures stay in order');
      lastDue = fate.dueMs;
    }
    assert.ok(steady.queuedBytes(t) <= 8_000);
  }
  assert.ok(steady.stats.maxQueuedBytes <= 8_000);
  assert.ok(steady.stats.queueDropped > 400 && steady.stats.passed > 400, JSON.stringify(steady.stats));
  assert.equal(steady.stats.passed + steady.stats.queueDropped, 1_000);
});

test('rate cap on a real clock: bounded queue, drops beyond it, survivors in order', async () => {
  const { got, link } = await runBurst({ rateBytesPerSec: 1_000_000, queueBytes: 20_000 }, 2_000);
  assert.ok(link.stats.maxQueuedBytes <= 20_000);
  assert.ok(link.stats.queueDropped > 0);
  assert.equal(got.length, link.stats.passed);
  for (let i = 1; i < got.length; i++) assert.ok(got[i]! > got[i - 1]!);
});

test('outage drops everything sent or falling due during it, then the link passes again', async () => {
  const got: number[] = [];
  const link = new Impairment((p) => got.push(p.readUInt32BE(0)), { delayMs: 5 });
  for (let i = 0; i < 10; i++) link.push(packet(i));
  // Long enough that the in-flight packets fall due inside it even on a loaded machine.
  link.outage(1_000);
  assert.ok(link.inOutage);
  for (let i = 10; i < 20; i++) link.push(packet(i));
  await waitFor('the in-flight packets to fall due', () => link.pending === 0);
  assert.equal(got.length, 0);
  assert.equal(link.stats.outageDropped, 20);
  await waitFor('the outage to end', () => !link.inOutage);
  for (let i = 20; i < 30; i++) link.push(packet(i));
  await waitFor('packets after the outage', () => got.length === 10);
  assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => 20 + i));
  link.close();
});

test('set() changes impairment at run time', async () => {
  const got: number[] = [];
  const link = new Impairment((p) => got.push(p.readUInt32BE(0)));
  link.set({ lossPct: 100 });
  for (let i = 0; i < 50; i++) link.push(packet(i));
  assert.equal(link.stats.lost, 50);
  link.set({ lossPct: 0, delayMs: 5 });
  assert.equal(link.options.delayMs, 5);
  for (let i = 0; i < 50; i++) link.push(packet(i));
  await waitFor('delivery after loss is lifted', () => got.length === 50);
  assert.throws(() => link.set({ lossPct: 101 }), RangeError);
  assert.throws(() => link.set({ delayMs: -1 }), RangeError);
  link.close();
});

test('the same seed gives the same fate sequence; another seed does not', () => {
  const options: ImpairmentOptions = {
    lossPct: 3,
    burstLoss: { enterPct: 0.5, exitPct: 30 },
    delayMs: 30,
    jitterMs: 8,
    reorderPct: 2,
    duplicatePct: 2,
    rateBytesPerSec: 500_000,
    queueBytes: 30_000,
  };
  const trace = (seed: number): string[] => {
    const model = new LinkModel({ ...options, seed });
    const out: string[] = [];
    for (let i = 0; i < 5_000; i++) {
      const f: Fate = model.judge(200 + (i % 1000), i * 0.5);
      out.push(`${f.verdict} ${f.dueMs} ${f.duplicate} ${f.reordered}`);
    }
    return out;
  };
  const first = trace(99);
  assert.deepEqual(trace(99), first);
  assert.notDeepEqual(trace(100), first);
  const verdicts = new Set(first.map((s) => s.split(' ')[0]));
  for (const v of ['pass', 'lost', 'burst', 'queue']) assert.ok(verdicts.has(v), `trace exercises ${v}`);
});

test('close() discards pending packets and stops delivery', async () => {
  const got: Buffer[] = [];
  const link = new Impairment((p) => got.push(p), { delayMs: 10 });
  for (let i = 0; i < 10; i++) link.push(packet(i));
  link.close();
  link.push(packet(11));
  assert.equal(link.pending, 0);
  // Let the (cleared) timer's moment pass via a second link that does deliver.
  const probe: Buffer[] = [];
  const other = new Impairment((p) => probe.push(p), { delayMs: 20 });
  other.push(packet(0));
  await waitFor('the probe link', () => probe.length === 1);
  other.close();
  assert.equal(got.length, 0);
});
