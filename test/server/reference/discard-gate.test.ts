import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DiscardGate, MAX_HELD } from '../../../src/server/reference/discard-gate.js';

function run(gate: DiscardGate, chunks: Buffer[]): Buffer {
  const out: Buffer[] = [];
  gate.on('data', (c: Buffer) => out.push(c));
  for (const c of chunks) gate.write(c);
  return Buffer.concat(out);
}

test('unarmed, input passes; armed, input before the marker is discarded and reported, input after it passes', () => {
  const discarded: Buffer[] = [];
  const gate = new DiscardGate((b) => discarded.push(Buffer.from(b)));
  const marker = Buffer.from([0xff, 0xc0, 0xc1, 0xff, 0, 0, 0, 1]);
  const out: Buffer[] = [];
  gate.on('data', (c: Buffer) => out.push(c));
  gate.write(Buffer.from('before '));
  gate.arm(marker);
  assert.equal(gate.armed, true);
  // The marker split across writes, stale input in front of it.
  gate.write(Buffer.concat([Buffer.from('stale'), marker.subarray(0, 3)]));
  gate.write(Buffer.concat([marker.subarray(3), Buffer.from('fresh')]));
  gate.write(Buffer.from(' more'));
  assert.equal(Buffer.concat(out).toString('latin1'), 'before fresh more');
  assert.equal(Buffer.concat(discarded).toString(), 'stale');
  assert.equal(gate.armed, false);
});

test('held input is bounded when the marker never comes', () => {
  let discardedBytes = 0;
  const gate = new DiscardGate((b) => (discardedBytes += b.length));
  gate.arm(Buffer.from([0xff, 0xc0, 0xc1, 0xff, 0, 0, 0, 2]));
  const out = run(gate, Array.from({ length: 40 }, () => Buffer.alloc(4096, 0x61)));
  assert.equal(out.length, 0);
  assert.ok(discardedBytes >= 40 * 4096 - MAX_HELD, `discarded ${discardedBytes}`);
});
