/**
 * A stream's end() after its data went out hands quiche a FIN with no data
 * beside it. quiche (the binding's version) keeps such a FIN only as the
 * stream's final size: if an ACK for all the data is read before the FIN is
 * sent, it counts the stream complete and never sends the FIN. That was the
 * "session end never delivered" hang (a command's stdout ended this way).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Stream } from '../../src/transport/connection.js';
import type { QuicConnection } from '../../src/transport/quic/quic-connection.js';
import { waitFor } from '../support/wait.js';
import { createTransportPair } from './harness.js';
import { quicFactory } from './quic-harness.js';

test('quic: a bare FIN reaches the peer even when the ACK of the stream\'s data is read right after end()', async () => {
  const pair = await createTransportPair(quicFactory);
  try {
    const server = pair.server as QuicConnection;
    const incoming = once(server, 'stream') as Promise<[Stream]>;
    const s = pair.client.openStream(7);
    s.end('request');
    const [peer] = await incoming;
    peer.resume();
    await once(peer, 'end');
    let text = '';
    let ended = false;
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.once('end', () => (ended = true));

    // Hold what reaches the server, so the client's ACK of 'hi' can be read at a moment of our choosing.
    const receive = pair.serverPath.onDatagram!;
    const held: Buffer[] = [];
    pair.serverPath.onDatagram = (payload) => held.push(Buffer.from(payload));
    peer.write('hi\n');
    await waitFor('the client to read hi', () => text === 'hi\n');
    await waitFor("the client's ACK to arrive", () => held.length > 0);
    assert.notEqual(server.quicStats().nextTimeoutMs, null, "'hi' is still unacknowledged for the server");

    peer.end();
    // _final runs on the next tick; read the ACK right after it, before the connection's flush.
    await new Promise((resolve) => process.nextTick(resolve));
    pair.serverPath.onDatagram = receive;
    for (const d of held) receive(d);

    await waitFor('the FIN to reach the client', () => ended, 5000);
    assert.equal(text, 'hi\n');
  } finally {
    await pair.close();
  }
});
