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

test('quic: after the peer closed cleanly, a reader that pauses longer than closeLingerMs still gets every byte (drain.ts, as over KCP)', { timeout: 60_000 }, async () => {
  const { QuicConnection } = await import('../../src/transport/quic/quic-connection.js');
  const { testCredentials } = await import('./quic-harness.js');
  // A short close linger: before the fix it also bounded how long the client waited for its reader.
  const tuning = { closeLingerMs: 300 };
  const pair = await createTransportPair((path, role) =>
    role === 'server'
      ? new QuicConnection(path, { role, credentials: testCredentials, tuning })
      : new QuicConnection(path, { role, pinnedFingerprints: [testCredentials.fingerprint], tuning }),
  );
  try {
    const incoming = once(pair.client, 'stream') as Promise<[Stream]>;
    const out = pair.server.openStream(3);
    const data = Buffer.alloc(256 * 1024, 9);
    out.end(data);
    const [st] = await incoming;
    st.pause();
    await waitFor('the peer to have everything acknowledged', () => (pair.server as QuicConnection).quicStats().nextTimeoutMs === null || out.writableFinished, 20_000);
    await pair.server.close();
    await waitFor('the server goodbye to reach the client', () => pair.clientPath.isClosed, 20_000);
    // The reader stays away five times the linger (a terminal held with Ctrl-S, a loaded machine).
    await new Promise((resolve) => setTimeout(resolve, 5 * tuning.closeLingerMs));
    assert.ok(!st.destroyed, 'the stream was destroyed while its reader paused, with its data');
    const chunks: Buffer[] = [];
    st.on('data', (d: Buffer) => chunks.push(d));
    st.resume();
    await new Promise<void>((resolve, reject) => {
      st.once('end', () => resolve());
      st.once('close', () => (st.readableEnded ? resolve() : reject(new Error(`stream closed after ${Buffer.concat(chunks).length} bytes`))));
    });
    assert.equal(Buffer.concat(chunks).length, data.length);
  } finally {
    await pair.close();
  }
});
