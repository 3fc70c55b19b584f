import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryPathPair } from '../support/memory-path.js';
import { waitFor } from '../support/wait.js';

test('memory path pair delivers both ways, asynchronously, copying the payload', async () => {
  const pair = createMemoryPathPair();
  try {
    const atB: string[] = [];
    const atA: string[] = [];
    pair.b.onDatagram = (p) => {
      atB.push(p.toString());
      pair.b.send(Buffer.from(`echo ${p.toString()}`));
    };
    pair.a.onDatagram = (p) => atA.push(p.toString());
    const reused = Buffer.from('one');
    pair.a.send(reused);
    reused.write('two');
    pair.a.send(reused);
    assert.equal(atB.length, 0, 'send must not re-enter the receiver synchronously');
    await waitFor('echoes at a', () => atA.length === 2);
    assert.deepEqual(atB, ['one', 'two']);
    assert.deepEqual(atA, ['echo one', 'echo two']);
    assert.equal(pair.a.counters.sent, 2);
    assert.equal(pair.b.counters.received, 2);
  } finally {
    pair.close();
  }
});

test('memory path enforces payloadBudget with RangeError', () => {
  const pair = createMemoryPathPair({ payloadBudget: 1000 });
  try {
    assert.equal(pair.a.payloadBudget, 1000);
    assert.throws(() => pair.a.send(new Uint8Array(1001)), RangeError);
    assert.doesNotThrow(() => pair.a.send(new Uint8Array(1000)));
    const defaults = createMemoryPathPair();
    assert.equal(defaults.b.payloadBudget, 1370);
    assert.throws(() => defaults.b.send(new Uint8Array(1371)), RangeError);
    defaults.close();
  } finally {
    pair.close();
  }
});

test('srttMs is the sum of configured delays and follows set()', () => {
  const pair = createMemoryPathPair({ aToB: { delayMs: 30 }, bToA: { delayMs: 20 } });
  try {
    assert.equal(pair.a.srttMs, 50);
    assert.equal(pair.b.srttMs, 50);
    pair.bToA.set({ delayMs: 70 });
    assert.equal(pair.a.srttMs, 100);
  } finally {
    pair.close();
  }
});

test('rebind() emits renewed on a; close() emits close and stops delivery', async () => {
  const pair = createMemoryPathPair({ aToB: { delayMs: 10 } });
  let renewed = 0;
  pair.a.on('renewed', () => renewed++);
  pair.rebind();
  assert.equal(renewed, 1);
  const got: Buffer[] = [];
  pair.b.onDatagram = (p) => got.push(p);
  pair.a.send(Buffer.from('in flight'));
  let closed = 0;
  pair.b.on('close', () => closed++);
  pair.close();
  pair.close();
  assert.equal(closed, 1, 'close is idempotent and emits once');
  // Wait past the in-flight packet's due time on the other direction's clock.
  const probe = createMemoryPathPair({ aToB: { delayMs: 20 } });
  let probed = false;
  probe.b.onDatagram = () => (probed = true);
  probe.a.send(Buffer.from('probe'));
  await waitFor('the probe', () => probed);
  probe.close();
  assert.doesNotThrow(() => pair.a.send(Buffer.from('after close')));
  assert.equal(pair.aToB.pending, 0);
  assert.equal(got.length, 0);
});

test('an impaired pair carries 50 MB with loss, jitter, reordering and duplication, all accounted for', async () => {
  const pair = createMemoryPathPair({
    aToB: { lossPct: 2, delayMs: 5, jitterMs: 3, reorderPct: 1, duplicatePct: 1 },
    seed: 11,
  });
  try {
    let bytes = 0;
    let count = 0;
    pair.b.onDatagram = (p) => {
      bytes += p.length;
      count++;
    };
    const payload = Buffer.alloc(pair.a.payloadBudget, 0x5a);
    const total = Math.ceil((50 * 1024 * 1024) / payload.length);
    for (let sent = 0; sent < total; ) {
      for (let i = 0; i < 2_000 && sent < total; i++, sent++) pair.a.send(payload);
      // Let deliveries run between batches, as a real sender would be paced.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const s = pair.aToB.stats;
    await waitFor('the link to drain', () => pair.aToB.pending === 0, 30_000);
    assert.equal(s.offered, total);
    assert.equal(s.passed + s.lost, total);
    assert.equal(count, s.passed + s.duplicated);
    assert.equal(bytes, count * payload.length);
    assert.ok(s.lost > 0 && s.reordered > 0 && s.duplicated > 0);
  } finally {
    pair.close();
  }
});
