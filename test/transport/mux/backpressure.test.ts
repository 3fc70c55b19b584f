import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MuxStream } from '../../../src/transport/mux/mux.js';
import { MAX_FRAME_PAYLOAD } from '../../../src/transport/mux/frame.js';
import { waitFor, waitForEvent } from '../../support/wait.js';
import { createMuxPair, hashAll, pseudoRandomBytes, writeChunked } from './harness.js';

const CHUNK = 16 * 1024;

/** Write `data` in CHUNK pieces honouring backpressure; records what the writer saw. */
function backpressuredWriter(stream: MuxStream, data: Buffer) {
  const seen = { accepted: 0, sawFalse: false, maxWritableLength: 0, done: false };
  const finished = (async () => {
    for (let off = 0; off < data.length; off += CHUNK) {
      const ok = stream.write(data.subarray(off, off + CHUNK));
      seen.accepted = off + CHUNK;
      seen.maxWritableLength = Math.max(seen.maxWritableLength, stream.writableLength);
      if (!ok) {
        seen.sawFalse = true;
        await waitForEvent(stream, 'drain', 30_000);
      }
    }
    stream.end();
    seen.done = true;
  })();
  return { seen, finished };
}

describe('mux backpressure', () => {
  it('a stalled reader blocks only its own stream, and memory on both sides stays bounded', async (t) => {
    const pair = createMuxPair({ bytesPerTick: 128 * 1024 });
    try {
      const window = pair.server.config.streamWindow;
      const stalled = pair.client.openStream(1);
      const flowing = pair.client.openStream(2);
      const stalledData = pseudoRandomBytes(4 << 20, 1);
      const writer = backpressuredWriter(stalled, stalledData);
      const [stalledPeer, flowingPeer] = await waitFor('both accepted', () => (pair.serverAccepted.length === 2 ? pair.serverAccepted : null));
      // stalledPeer is never read until the end; flowingPeer is read at once.
      const flowingSent = writeChunked(flowing, pseudoRandomBytes(8 << 20, 2), 64 * 1024, 3);
      const flowingGot = await hashAll(flowingPeer);
      assert.equal(flowingGot.sha256, await flowingSent, 'the other stream carried all its bytes while one reader stalled');
      assert.equal(flowingGot.bytes, 8 << 20);

      await waitFor('the stalled writer sees backpressure', () => writer.seen.sawFalse);
      assert.ok(!writer.seen.done, 'the stalled writer cannot finish');
      // Receiver: at most one window queued plus the Readable's own buffer (high-water mark plus one frame).
      const rs = pair.server.stats();
      assert.ok(rs.bufferedBytes <= window, `receiver queued ${rs.bufferedBytes} > window ${window}`);
      assert.ok(stalledPeer.readableLength <= stalledPeer.readableHighWaterMark + MAX_FRAME_PAYLOAD);
      // Sender: one write in the Mux, the high-water mark in the Writable.
      const ws = pair.client.stats();
      assert.ok(ws.sendQueuedBytes <= CHUNK, `sender queued ${ws.sendQueuedBytes}`);
      assert.ok(writer.seen.maxWritableLength <= stalled.writableHighWaterMark + CHUNK);
      assert.ok(writer.seen.accepted <= window + stalledPeer.readableHighWaterMark + stalled.writableHighWaterMark + 4 * CHUNK, `writer got ${writer.seen.accepted} bytes accepted`);

      t.diagnostic(`stalled stream: writer accepted ${writer.seen.accepted} B, receiver queued ${rs.bufferedBytes} B + Readable ${stalledPeer.readableLength} B, sender queued ${ws.sendQueuedBytes} B + Writable max ${writer.seen.maxWritableLength} B`);
      // Once the reader reads, everything arrives intact.
      const got = await hashAll(stalledPeer);
      await writer.finished;
      assert.equal(got.bytes, stalledData.length);
      assert.equal(got.sha256, (await import('node:crypto')).createHash('sha256').update(stalledData).digest('hex'));
    } finally {
      pair.dispose();
    }
  });

  it('the connection memory cap pauses the pipe while many readers stall, and resumes when they read', async (t) => {
    const cap = 256 * 1024;
    const tick = 64 * 1024;
    const pair = createMuxPair({ bytesPerTick: tick }, {}, { maxBufferedBytes: cap });
    try {
      const streams = Array.from({ length: 6 }, () => pair.client.openStream(3));
      const data = streams.map((_, i) => pseudoRandomBytes(1 << 20, 10 + i));
      const sends = streams.map((s, i) => writeChunked(s, data[i], CHUNK, i + 1));
      await waitFor('receiver pauses the pipe', () => pair.server.stats().receivePaused, 20_000);
      assert.ok(pair.serverPipe.pauses >= 1);
      // Nothing is delivered while paused, so the sender's pipe queue holds what would overflow.
      const before = pair.clientPipe.bytesDelivered;
      await waitFor('sender pipe backs up', () => pair.clientPipe.queuedBytes > 0);
      assert.equal(pair.clientPipe.bytesDelivered, before);
      const buffered = pair.server.stats().bufferedBytes;
      assert.ok(buffered <= cap + tick, `buffered ${buffered} > cap ${cap} + one delivery ${tick}`);

      t.diagnostic(`paused with ${buffered} B buffered (cap ${cap})`);
      const accepted = await waitFor('all accepted', () => (pair.serverAccepted.length === streams.length ? pair.serverAccepted : null));
      const got = await Promise.all(accepted.map((s) => hashAll(s)));
      const sent = await Promise.all(sends);
      assert.deepEqual(got.map((g) => g.sha256), sent);
      assert.equal(pair.server.stats().receivePaused, false);
      assert.equal(pair.server.stats().bufferedBytes, 0);
    } finally {
      pair.dispose();
    }
  });
});
