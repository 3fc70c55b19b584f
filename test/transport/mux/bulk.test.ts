import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '../../support/wait.js';
import { createMuxPair, hashAll, pseudoRandomBytes, writeChunked } from './harness.js';

const STREAMS = 100;
const BYTES = 1 << 20;

describe('mux bulk transfer', () => {
  it(`carries ${STREAMS} concurrent streams of 1 MiB each way intact (SHA-256)`, async () => {
    // Small random delivery chunks, as KCP segments would arrive, so frames are split everywhere.
    const pair = createMuxPair({ bytesPerTick: 512 * 1024, maxChunk: 1400, seed: 7 });
    try {
      const base = pseudoRandomBytes(BYTES + STREAMS, 99);
      // Each stream's payload differs (offset window of one base buffer), so misrouted bytes would show.
      const payload = (i: number): Buffer => base.subarray(i, i + BYTES);
      const clientStreams = Array.from({ length: STREAMS }, (_, i) => pair.client.openStream(i % 256));
      const clientSends = clientStreams.map((s, i) => writeChunked(s, payload(i), 64 * 1024, i + 1));
      const clientReads = clientStreams.map((s) => hashAll(s));
      const accepted = await waitFor('all streams accepted', () => (pair.serverAccepted.length === STREAMS ? pair.serverAccepted : null), 30_000);
      const serverSends = accepted.map((s, i) => writeChunked(s, payload(STREAMS - 1 - i), 32 * 1024, 1000 + i));
      const serverReads = accepted.map((s) => hashAll(s));

      const [sentUp, gotUp, sentDown, gotDown] = await Promise.all([
        Promise.all(clientSends),
        Promise.all(serverReads),
        Promise.all(serverSends),
        Promise.all(clientReads),
      ]);
      for (let i = 0; i < STREAMS; i++) {
        assert.equal(gotUp[i].bytes, BYTES, `stream ${i} upload length`);
        assert.equal(gotUp[i].sha256, sentUp[i], `stream ${i} upload content`);
        assert.equal(gotDown[i].bytes, BYTES, `stream ${i} download length`);
        assert.equal(gotDown[i].sha256, sentDown[i], `stream ${i} download content`);
      }
      assert.deepEqual(accepted.map((s) => s.kind), clientStreams.map((s) => s.kind));
      await waitFor('all streams finished on both sides', () => pair.client.stats().streamsOpen === 0 && pair.server.stats().streamsOpen === 0, 30_000);
      const c = pair.client.stats();
      const s = pair.server.stats();
      assert.equal(c.bytesOut, STREAMS * BYTES);
      assert.equal(s.bytesIn, STREAMS * BYTES);
      assert.equal(c.protocolErrors + s.protocolErrors, 0);
      // framesDropped may count late WINDOW_UPDATEs for streams their sender had finished: a normal race, not an error.
      assert.equal(c.bufferedBytes + s.bufferedBytes, 0);
      assert.equal(c.sendQueuedBytes + s.sendQueuedBytes, 0);
    } finally {
      pair.dispose();
    }
  });
});
