import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamResetError } from '../../../src/transport/connection.js';
import { Mux, MuxConfigError, MuxStreamLimitError, createMux } from '../../../src/transport/mux/mux.js';
import { waitFor, waitForEvent } from '../../support/wait.js';
import { createMemoryPipePair } from './memory-pipe.js';
import { createMuxPair } from './harness.js';

describe('mux limits and options', () => {
  it('answers SYNs beyond maxStreams with RST and counts them', async () => {
    const pair = createMuxPair({}, {}, { maxStreams: 3 });
    try {
      const streams = Array.from({ length: 5 }, () => pair.client.openStream(1));
      const outcomes = streams.map(
        (s) =>
          new Promise<string>((resolve) => {
            s.once('error', (err) => resolve(err instanceof StreamResetError ? 'reset' : err.name));
            s.once('data', () => resolve('open'));
          }),
      );
      await waitFor('three accepted', () => pair.serverAccepted.length === 3);
      for (const s of pair.serverAccepted) s.write('welcome');
      assert.deepEqual(await Promise.all(outcomes), ['open', 'open', 'open', 'reset', 'reset']);
      assert.equal(pair.server.stats().streamsRejected, 2);
      assert.equal(pair.server.stats().streamsOpen, 3);
      assert.equal(pair.server.stats().protocolErrors, 0);

      // A slot frees when a stream finishes: the next SYN is accepted.
      pair.serverAccepted[0].reset();
      await waitFor('client forgets the reset stream', () => pair.client.stats().streamsOpen === 2);
      const late = pair.client.openStream(1);
      await waitFor('fourth accepted', () => pair.serverAccepted.length === 4);
      assert.equal(pair.serverAccepted[3].id, late.id);
    } finally {
      pair.dispose();
    }
  });

  it('refuses peer streams when nobody listens for them', async () => {
    const [a, b] = createMemoryPipePair();
    const client = createMux(a, { role: 'client' });
    const server = createMux(b, { role: 'server' });
    try {
      const s = client.openStream(1);
      const err = await waitForEvent<Error>(s, 'error');
      assert.ok(err instanceof StreamResetError);
      assert.equal(server.stats().streamsRejected, 1);
    } finally {
      client.destroy();
      server.destroy();
      a.close();
    }
  });

  it('limits streams we open ourselves and checks the kind', () => {
    const [a] = createMemoryPipePair();
    const mux = new Mux(a, { role: 'client', maxStreams: 2 });
    try {
      mux.openStream(0);
      mux.openStream(255);
      assert.throws(() => mux.openStream(1), MuxStreamLimitError);
      assert.throws(() => mux.openStream(256), RangeError);
      assert.throws(() => mux.openStream(-1), RangeError);
    } finally {
      mux.destroy();
      a.close();
    }
  });

  it('validates options in one place, naming the bad one', () => {
    const [a] = createMemoryPipePair();
    const bad: [Record<string, unknown>, string][] = [
      [{ role: 'peer' }, 'role'],
      [{ role: 'client', streamWindow: 1024 }, 'streamWindow'],
      [{ role: 'client', maxStreams: 0 }, 'maxStreams'],
      [{ role: 'client', maxFramePayload: 65536 }, 'maxFramePayload'],
      [{ role: 'client', maxBufferedBytes: 1.5 }, 'maxBufferedBytes'],
      [{ role: 'client', sendThreshold: -1 }, 'sendThreshold'],
      [{ role: 'client', smallWriteBytes: Number.NaN }, 'smallWriteBytes'],
    ];
    for (const [options, name] of bad) {
      assert.throws(
        () => new Mux(a, options as never),
        (err: unknown) => err instanceof MuxConfigError && err.option === name,
        `option ${name}`,
      );
    }
    const mux = new Mux(a, { role: 'server' });
    assert.deepEqual(mux.config, {
      role: 'server',
      streamWindow: 1024 * 1024,
      maxStreams: 1024,
      maxBufferedBytes: 32 * 1024 * 1024,
      maxFramePayload: 16 * 1024,
      sendThreshold: 64 * 1024,
      smallWriteBytes: 512,
      lane: 0,
    });
    mux.destroy();
    a.close();
  });
});
