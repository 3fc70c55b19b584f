/**
 * tsshd writes a session's exit status and closes the connection in the same
 * turn. QuicConnection.close() must not take "nothing in flight" for "all
 * delivered" while those bytes still wait for the next flush: the client
 * would get CONNECTION_CLOSE instead of the exit status.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Stream } from '../../src/transport/connection.js';
import type { QuicConnection } from '../../src/transport/quic/quic-connection.js';
import { waitFor } from '../support/wait.js';
import { createTransportPair } from './harness.js';
import { quicFactory } from './quic-harness.js';

test('quic: close() in the same turn as the last write, on an idle connection, still delivers the write', async () => {
  const pair = await createTransportPair(quicFactory);
  try {
    const server = pair.server as QuicConnection;
    const incoming = once(server, 'stream') as Promise<[Stream]>;
    const s = pair.client.openStream(7);
    s.write('a');
    const [peer] = await incoming;
    const chunks: Buffer[] = [];
    const ended = new Promise<string>((resolve) => {
      s.on('data', (d: Buffer) => chunks.push(d));
      s.once('end', () => resolve('end'));
    });
    // Everything so far acknowledged: the server's engine has no timer armed.
    await waitFor('the server to be idle', () => server.quicStats().nextTimeoutMs === null);
    peer.end(Buffer.alloc(1000, 7));
    void server.close();
    const first = await Promise.race([ended, once(pair.client, 'close').then(() => 'client closed first')]);
    assert.equal(first, 'end');
    assert.equal(Buffer.concat(chunks).length, 1000);
  } finally {
    await pair.close();
  }
});
