import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamResetError } from '../../../src/transport/connection.js';
import { waitFor, waitForEvent } from '../../support/wait.js';
import { createMuxPair, readAll } from './harness.js';

describe('mux stream lifecycle', () => {
  it('opens a stream synchronously; the peer accepts it with its kind and the first bytes', async () => {
    const pair = createMuxPair({ maxChunk: 7 });
    try {
      const s = pair.client.openStream(42);
      assert.equal(s.id, 1);
      assert.equal(s.kind, 42);
      s.write('hi');
      const t = pair.client.openStream(0);
      assert.equal(t.id, 5, 'client ids in lane 0 are 1, 5, 9, ...');
      const accepted = await waitFor('two accepted streams', () => (pair.serverAccepted.length === 2 ? pair.serverAccepted : null));
      assert.deepEqual(accepted.map((x) => [x.id, x.kind]), [[1, 42], [5, 0]]);
      const back = pair.server.openStream(7);
      assert.equal(back.id, 4, 'server ids in lane 0 are 4, 8, 12, ... (0 is the session)');
      const firstBytes = await waitForEvent<Buffer>(accepted[0], 'data');
      assert.equal(firstBytes.toString(), 'hi');
      await waitFor('client accepts the server stream', () => pair.clientAccepted.length === 1);
      assert.equal(pair.clientAccepted[0].kind, 7);
      assert.equal(pair.client.stats().streamsOpenedTotal, 3);
    } finally {
      pair.dispose();
    }
  });

  it('half-close: one side ends, the other keeps writing and then ends; both see end and close', async () => {
    const pair = createMuxPair({ maxChunk: 100 });
    try {
      const c = pair.client.openStream(1);
      c.end('request');
      const s = await waitFor('accepted', () => pair.serverAccepted[0]);
      const request = await readAll(s);
      assert.equal(request.toString(), 'request');
      assert.ok(!s.writableEnded, 'the server side can still write after the client ended');
      const clientRead = readAll(c);
      s.write('response part 1, ');
      await waitFor('client received part 1', () => pair.client.stats().bytesIn >= 17);
      s.end('part 2');
      assert.equal((await clientRead).toString(), 'response part 1, part 2');
      await waitFor('both streams close', () => c.closed && s.closed);
      await waitFor('both sides forget the stream', () => pair.client.stats().streamsOpen === 0 && pair.server.stats().streamsOpen === 0);
      assert.equal(pair.client.stats().protocolErrors + pair.server.stats().protocolErrors, 0);
    } finally {
      pair.dispose();
    }
  });

  it('reset: the peer errors with StreamResetError; late frames are dropped, not protocol errors', async () => {
    const pair = createMuxPair();
    try {
      const c = pair.client.openStream(1);
      c.write(Buffer.alloc(1000, 1));
      const s = await waitFor('accepted', () => pair.serverAccepted[0]);
      await waitForEvent(s, 'data');
      const serverError = waitForEvent<Error>(s, 'error');
      // The server keeps writing while the reset is in flight: those frames reach a retired stream.
      s.write(Buffer.alloc(5000, 2));
      c.reset();
      assert.ok(c.destroyed);
      const err = await serverError;
      assert.ok(err instanceof StreamResetError);
      assert.equal(err.streamId, c.id);
      await waitFor('server forgets the stream', () => pair.server.stats().streamsOpen === 0);
      await waitFor('client saw the late data frame', () => pair.client.stats().framesDropped > 0);
      assert.equal(pair.client.stats().streamsOpen, 0);
      assert.equal(pair.client.stats().protocolErrors, 0);
      assert.equal(pair.server.stats().protocolErrors, 0);
      // Other streams are unaffected.
      const d = pair.client.openStream(2);
      d.end('still works');
      const s2 = await waitFor('second stream', () => pair.serverAccepted[1]);
      assert.equal((await readAll(s2)).toString(), 'still works');
    } finally {
      pair.dispose();
    }
  });

  it('reset from the accepting side errors the opener, and pending writes fail', async () => {
    const pair = createMuxPair();
    try {
      const c = pair.client.openStream(1);
      c.write('x');
      const s = await waitFor('accepted', () => pair.serverAccepted[0]);
      const clientError = waitForEvent<Error>(c, 'error');
      s.reset();
      assert.ok((await clientError) instanceof StreamResetError);
      const writeErr = await new Promise<Error | null | undefined>((resolve) => c.write('after reset', resolve));
      assert.ok(writeErr instanceof Error);
    } finally {
      pair.dispose();
    }
  });

  it('destroy(err) on the Mux errors every open stream with err and emits close', async () => {
    const pair = createMuxPair();
    try {
      const a = pair.client.openStream(1);
      const b = pair.client.openStream(1);
      const errors = [waitForEvent<Error>(a, 'error'), waitForEvent<Error>(b, 'error')];
      const closed = waitForEvent<Error | undefined>(pair.client, 'close');
      const boom = new Error('path gave up');
      pair.client.destroy(boom);
      assert.deepEqual(await Promise.all(errors), [boom, boom]);
      assert.equal(await closed, boom);
      assert.throws(() => pair.client.openStream(1), { name: 'MuxClosedError' });
      await assert.rejects(pair.client.ping(), { name: 'MuxClosedError' });
    } finally {
      pair.dispose();
    }
  });

  it('ping measures a round trip through the peer', async () => {
    const pair = createMuxPair();
    try {
      const ms = await pair.client.ping();
      assert.ok(Number.isFinite(ms) && ms >= 0);
      assert.equal(pair.client.stats().framesDropped, 0);
    } finally {
      pair.dispose();
    }
  });
});
