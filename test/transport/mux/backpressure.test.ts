import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MuxStream } from '../../../src/transport/mux/mux.js';
import { MAX_FRAME_PAYLOAD } from '../../../src/transport/mux/frame.js';
import { waitFor } from '../../support/wait.js';
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
        // 'close' too: a test that ends with the writer still stalled destroys the stream.
        await new Promise((resolve) => {
          stream.once('drain', resolve);
          stream.once('close', resolve);
        });
        if (stream.destroyed) return;
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

  it('the connection window bounds what stalled readers hold; the pipe never pauses and control frames flow', async (t) => {
    const cap = 256 * 1024;
    const tick = 64 * 1024;
    const pair = createMuxPair({ bytesPerTick: tick }, {}, { maxBufferedBytes: cap });
    try {
      const streams = Array.from({ length: 6 }, () => pair.client.openStream(3));
      const data = streams.map((_, i) => pseudoRandomBytes(1 << 20, 10 + i));
      const sends = streams.map((s, i) => writeChunked(s, data[i], CHUNK, i + 1));
      // Six stalled readers with 64 KiB each would take more than the window: the connection credit runs out.
      await waitFor('connection credit used up', () => pair.client.stats().sendCredit === 0 && pair.clientPipe.queuedBytes === 0, 20_000);
      const buffered = pair.server.stats().bufferedBytes;
      assert.ok(buffered <= cap, `buffered ${buffered} > connection window ${cap}`);
      assert.equal(pair.serverPipe.pauses, 0, 'the pipe was never paused');
      // Control frames still get through both ways.
      const rtt = await pair.client.ping();
      assert.ok(rtt >= 0);
      t.diagnostic(`credit exhausted with ${buffered} B buffered (window ${cap}); PING answered in ${rtt.toFixed(1)} ms`);

      const accepted = await waitFor('all accepted', () => (pair.serverAccepted.length === streams.length ? pair.serverAccepted : null));
      const got = await Promise.all(accepted.map((s) => hashAll(s)));
      const sent = await Promise.all(sends);
      assert.deepEqual(got.map((g) => g.sha256), sent);
      assert.equal(pair.server.stats().bufferedBytes, 0);
    } finally {
      pair.dispose();
    }
  });

  it('ten stalled readers leave room for a new stream to flow', async (t) => {
    const window = 1 << 20;
    const cap = 4 << 20;
    const pair = createMuxPair({ bytesPerTick: 256 * 1024 }, { streamWindow: window, maxBufferedBytes: cap });
    try {
      const stalled = Array.from({ length: 10 }, () => pair.client.openStream(4));
      const writers = stalled.map((s, i) => backpressuredWriter(s, pseudoRandomBytes(2 * window, 30 + i)));
      await waitFor('every stalled writer sees backpressure', () => writers.every((w) => w.seen.sawFalse), 20_000);
      await waitFor('nothing more moves', () => pair.clientPipe.queuedBytes === 0 && pair.client.stats().sendQueuedBytes > 0);
      const held = pair.server.stats().bufferedBytes;
      assert.ok(held <= cap / 2 + 10 * 64 * 1024, `stalled readers hold ${held} B`);

      // A new stream (an agent connection, say) beside them carries its bytes at once.
      const fresh = pair.client.openStream(5);
      const sent = writeChunked(fresh, pseudoRandomBytes(2 << 20, 99), CHUNK, 7);
      const peer = await waitFor('accepted', () => pair.serverAccepted.find((s) => s.id === fresh.id));
      const got = await hashAll(peer);
      assert.equal(got.sha256, await sent);
      assert.equal(got.bytes, 2 << 20);
      t.diagnostic(`10 stalled readers hold ${held} B (window ${cap}); a new stream moved 2 MiB beside them`);
    } finally {
      pair.dispose();
    }
  });
});
