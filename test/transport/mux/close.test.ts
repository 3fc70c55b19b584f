import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MuxClosedError } from '../../../src/transport/mux/mux.js';
import { GoAwayCode } from '../../../src/transport/mux/frame.js';
import { waitFor, waitForEvent } from '../../support/wait.js';
import { createMuxPair, hashAll, pseudoRandomBytes } from './harness.js';
import { createHash } from 'node:crypto';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('mux graceful close', () => {
  it('close() flushes everything written, ends each stream, sends GOAWAY, then resolves', async () => {
    const pair = createMuxPair({ bytesPerTick: 64 * 1024, tickMs: 1, maxChunk: 1400 });
    try {
      const big = pair.client.openStream(1);
      const small = pair.client.openStream(2);
      const bigData = pseudoRandomBytes(2 << 20, 1);
      big.write(bigData);
      small.write('not ended by the writer');
      const goaway = waitForEvent<number>(pair.server, 'goaway');
      const clientClosed = waitForEvent(pair.client, 'close');
      const closing = pair.client.close();
      assert.throws(() => pair.client.openStream(1), MuxClosedError, 'no new streams while closing');
      const [bigPeer, smallPeer] = await waitFor('accepted', () => (pair.serverAccepted.length === 2 ? pair.serverAccepted : null));
      const reads = [hashAll(bigPeer), hashAll(smallPeer)];
      assert.equal(await goaway, GoAwayCode.Normal);
      assert.throws(() => pair.server.openStream(1), (err: unknown) => err instanceof MuxClosedError && err.reason === 'goaway');
      await closing;
      await clientClosed;
      assert.equal(pair.client.stats().sendQueuedBytes, 0);
      const [gotBig, gotSmall] = await Promise.all(reads);
      assert.equal(gotBig.sha256, sha(bigData));
      assert.equal(gotSmall.sha256, sha(Buffer.from('not ended by the writer')));
      assert.equal(await pair.client.close(), undefined, 'close() again is harmless');
    } finally {
      pair.dispose();
    }
  });

  it('close() waits for peer credit; streams whose peer side is still open end without error', async () => {
    const pair = createMuxPair();
    try {
      const s = pair.client.openStream(1);
      s.write(pseudoRandomBytes(1 << 22, 3));
      const peer = await waitFor('accepted', () => pair.serverAccepted[0]);
      let closed = false;
      const closing = pair.client.close().then(() => (closed = true));
      // The server has not read: 4 MiB (more than the stream window) cannot all be sent, so close() is still waiting.
      await waitFor('client stalled on credit', () => pair.client.stats().bytesOut >= pair.server.config.streamWindow);
      assert.equal(closed, false);
      assert.ok(pair.client.stats().sendQueuedBytes > 0);
      const errors: Error[] = [];
      s.on('error', (err) => errors.push(err));
      const got = hashAll(peer);
      await closing;
      assert.equal((await got).bytes, 1 << 22);
      // The server never ended its side: the client's stream is destroyed quietly.
      await waitFor('client stream closed', () => s.destroyed);
      assert.deepEqual(errors, []);
    } finally {
      pair.dispose();
    }
  });
});
