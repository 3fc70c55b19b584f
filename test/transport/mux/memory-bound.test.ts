import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Command, HEADER_SIZE } from '../../../src/transport/mux/frame.js';
import { encodeSyn, writeHeader } from '../../../src/transport/mux/encode.js';
import { Mux, type MuxStream } from '../../../src/transport/mux/mux.js';
import { createMemoryPipePair } from './memory-pipe.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap plus ArrayBuffer memory after a full collection. */
function liveBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** `count` DATA frames of one byte each for `streamId`, packed into one input chunk (as KCP delivers a datagram's worth). */
function oneByteFrames(streamId: number, count: number): Buffer {
  const out = Buffer.allocUnsafe(count * (HEADER_SIZE + 1));
  for (let i = 0; i < count; i++) {
    const at = i * (HEADER_SIZE + 1);
    writeHeader(out, at, Command.Data, streamId, 1);
    out[at + HEADER_SIZE] = i & 0xff;
  }
  return out;
}

describe('mux receive memory', () => {
  it('one-byte DATA frames into unread streams keep memory within the window plus a bounded overhead', (t) => {
    const window = 1 << 20;
    const streamsCount = 2;
    const [peerEnd, ourEnd] = createMemoryPipePair();
    const server = new Mux(ourEnd, { role: 'server', streamWindow: window, maxBufferedBytes: 4 * window });
    const accepted: MuxStream[] = [];
    server.on('stream', (s) => accepted.push(s));
    try {
      const deliver = (chunk: Buffer): void => ourEnd.onData?.(chunk);
      const before = liveBytes();
      for (let k = 0; k < streamsCount; k++) deliver(encodeSyn(1 + 4 * k, 4));
      assert.equal(accepted.length, streamsCount);
      // Every byte of every window, one byte per frame, nobody reading.
      const perChunk = 1000;
      for (let k = 0; k < streamsCount; k++) {
        for (let sent = 0; sent < window; sent += perChunk) deliver(oneByteFrames(1 + 4 * k, Math.min(perChunk, window - sent)));
      }
      const payload = streamsCount * window;
      const grown = liveBytes() - before;
      const stats = server.stats();
      assert.equal(stats.protocolErrors, 0);
      assert.equal(stats.bytesIn, payload, 'the peer stayed within its credit');
      const held = accepted.reduce((n, s) => n + s.receiveQueued + s.readableLength, 0);
      assert.equal(held, payload, 'every byte is held for the reader');
      // Today's chunk-per-frame queue costs over 100 bytes of heap per payload byte here.
      assert.ok(grown <= 3 * payload + (4 << 20), `memory grew by ${grown} B for ${payload} B buffered`);
      t.diagnostic(`${payload} B buffered in one-byte frames: memory grew by ${grown} B`);
    } finally {
      server.destroy();
      peerEnd.close();
    }
  });
});
