import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameDecoder } from '../../../src/transport/mux/decode.js';
import { HEADER_SIZE } from '../../../src/transport/mux/frame.js';
import { waitFor } from '../../support/wait.js';
import { createMuxPair, hashAll, pseudoRandomBytes } from './harness.js';

describe('mux priority', () => {
  it('a keystroke overtakes a multi-megabyte bulk backlog: at most sendThreshold + one frame goes before it', async (t) => {
    // A slow link: 16 KiB per 1 ms tick, chunked like KCP segments.
    const pair = createMuxPair({ bytesPerTick: 16 * 1024, tickMs: 1, maxChunk: 1400 });
    try {
      const { sendThreshold, maxFramePayload } = pair.client.config;
      const interactive = pair.client.openStream(1);
      const bulk = pair.client.openStream(2);
      const bulkData = pseudoRandomBytes(4 << 20, 5);
      bulk.end(bulkData);

      // Watch the client -> server byte stream frame by frame: bulk payload bytes delivered, and when the keystroke lands.
      let bulkDelivered = 0;
      let bulkAtKeystroke = -1;
      let current = 0;
      const tap = new FrameDecoder({
        controlFrame: () => {},
        dataHeader: (id, length) => {
          current = id;
          if (id === interactive.id && length > 0 && bulkAtKeystroke < 0) bulkAtKeystroke = bulkDelivered;
          return true;
        },
        dataPayload: (piece) => {
          if (current === bulk.id) bulkDelivered += piece.length;
        },
        unknownFrame: () => {},
        framingError: (err) => assert.fail(err),
      });
      pair.clientPipe.tap = (chunk) => tap.push(chunk);

      const [, bulkPeer] = await waitFor('both accepted', () => (pair.serverAccepted.length === 2 ? pair.serverAccepted : null));
      const bulkRead = hashAll(bulkPeer);
      await waitFor('bulk is flowing', () => bulkDelivered >= 512 * 1024, 20_000);
      const backlog = pair.client.stats().sendQueuedBytes;
      assert.ok(backlog >= 2 << 20, `bulk backlog is only ${backlog} bytes`);

      const bulkAtWrite = bulkDelivered;
      interactive.write('k');
      await waitFor('keystroke delivered', () => bulkAtKeystroke >= 0, 20_000);
      const ahead = bulkAtKeystroke - bulkAtWrite;
      assert.ok(ahead <= sendThreshold + maxFramePayload + HEADER_SIZE, `${ahead} bulk bytes went ahead of the keystroke`);
      assert.ok(bulkDelivered < bulkData.length, 'the keystroke arrived before the bulk backlog');
      // The peer's stream gets it too.
      const interactivePeer = pair.serverAccepted[0];
      const keystroke = await waitFor('keystroke readable', () => interactivePeer.read() as Buffer | null);
      assert.equal(keystroke.toString(), 'k');
      t.diagnostic(`bulk bytes delivered ahead of the keystroke: ${ahead} (bound ${sendThreshold + maxFramePayload + HEADER_SIZE}); backlog at write ${backlog}`);

      assert.equal((await bulkRead).bytes, bulkData.length);
    } finally {
      pair.dispose();
    }
  });

  it('bulk streams share the pipe round-robin a frame at a time', async (t) => {
    const pair = createMuxPair({ bytesPerTick: 32 * 1024, tickMs: 1 });
    try {
      const streams = [1, 2, 3].map(() => pair.client.openStream(2));
      for (const s of streams) s.end(pseudoRandomBytes(1 << 20, s.id));
      const delivered = new Map<number, number>();
      let current = 0;
      const tap = new FrameDecoder({
        controlFrame: () => {},
        dataHeader: (id) => ((current = id), true),
        dataPayload: (piece) => void delivered.set(current, (delivered.get(current) ?? 0) + piece.length),
        unknownFrame: () => {},
        framingError: (err) => assert.fail(err),
      });
      pair.clientPipe.tap = (chunk) => tap.push(chunk);
      const accepted = await waitFor('accepted', () => (pair.serverAccepted.length === 3 ? pair.serverAccepted : null));
      const reads = accepted.map((s) => hashAll(s));
      await waitFor('half a megabyte delivered in total', () => [...delivered.values()].reduce((a, b) => a + b, 0) >= 512 * 1024, 20_000);
      const shares = streams.map((s) => delivered.get(s.id) ?? 0);
      const spread = Math.max(...shares) - Math.min(...shares);
      // Each stream is at most a couple of frames ahead of the others.
      t.diagnostic(`bytes per stream after 512 KiB: ${shares.join(', ')}`);
      assert.ok(spread <= 3 * pair.client.config.maxFramePayload, `shares ${shares.join(', ')}`);
      for (const r of await Promise.all(reads)) assert.equal(r.bytes, 1 << 20);
    } finally {
      pair.dispose();
    }
  });
});
