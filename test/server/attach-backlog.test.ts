import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetachedOutput, summaryLine } from '../../src/server/attach-backlog.js';

const lines = (from: number, to: number): string => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}\r\n`).join('');

test('detached output under the bound comes back whole, without a summary', () => {
  const out = new DetachedOutput(1000);
  out.push(Buffer.from(lines(1, 10)));
  out.push(Buffer.from('prompt$ '));
  assert.equal(out.take().toString(), `${lines(1, 10)}prompt$ `);
  assert.ok(out.isEmpty);
  assert.equal(out.take().length, 0);
});

test('past the bound the tail is kept from a line start and every dropped line is counted', () => {
  const out = new DetachedOutput(100);
  const all = lines(1, 200);
  // In odd-sized chunks, so cuts fall inside chunks and lines.
  for (let at = 0; at < all.length; at += 37) out.push(Buffer.from(all.slice(at, at + 37)));
  assert.ok(out.size <= 100);
  const text = out.take().toString();
  const m = /^\r\n\[tsshd: (\d+) lines \((\d+) bytes\) of output while detached not shown\]\r\n/.exec(text);
  assert.ok(m, text.slice(0, 80));
  const kept = text.slice(m[0].length);
  const firstKept = Number(kept.split('\r\n')[0]);
  assert.equal(kept, lines(firstKept, 200));
  assert.equal(Number(m[1]), firstKept - 1);
  assert.equal(Number(m[2]) + kept.length, all.length);
});

test('one huge line is cut by bytes and still summarised', () => {
  const out = new DetachedOutput(64);
  out.push(Buffer.alloc(1000, 0x61));
  const text = out.take().toString();
  assert.ok(text.startsWith(summaryLine(0, 936)));
  assert.equal(text.length - summaryLine(0, 936).length, 64);
});
