import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '../../support/wait.js';
import { createMemoryPipePair } from './memory-pipe.js';

describe('memory pipe (test fixture)', () => {
  it('delivers bytes in order at the configured rate, reporting queuedBytes and onDrain', async () => {
    const [a, b] = createMemoryPipePair({ bytesPerTick: 1000, maxChunk: 300, seed: 3 });
    try {
      a.drainThreshold = 2000;
      let drains = 0;
      a.onDrain = () => drains++;
      const got: Buffer[] = [];
      let largest = 0;
      b.onData = (chunk) => {
        got.push(chunk);
        largest = Math.max(largest, chunk.length);
      };
      const sent = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
      for (let i = 0; i < sent.length; i += 700) a.write(sent.subarray(i, i + 700));
      assert.equal(a.queuedBytes, sent.length);
      await waitFor('all delivered', () => a.bytesDelivered === sent.length);
      assert.deepEqual(Buffer.concat(got), sent);
      assert.equal(a.queuedBytes, 0);
      assert.equal(drains, 1);
      assert.ok(largest <= 300);
      assert.ok(got.length >= sent.length / 300);
    } finally {
      a.close();
    }
  });

  it('holds the sender queue while the receiver is paused and resumes on resumeReceive', async () => {
    const [a, b] = createMemoryPipePair({ bytesPerTick: 100 });
    try {
      let received = 0;
      b.onData = (chunk) => {
        received += chunk.length;
        if (received >= 300) b.pauseReceive();
      };
      a.write(Buffer.alloc(1000));
      await waitFor('paused', () => b.paused);
      const at = received;
      // Bytes written after the pause stay queued while paused.
      a.write(Buffer.alloc(10));
      // Give the pipe's tick several turns: with the receiver paused none of them may deliver.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(received, at);
      assert.equal(a.queuedBytes, 1010 - at);
      b.onData = (chunk) => (received += chunk.length);
      b.resumeReceive();
      await waitFor('rest delivered', () => received === 1010);
    } finally {
      a.close();
    }
  });
});
