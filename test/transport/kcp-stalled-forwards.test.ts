import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { StreamKind, laneOfKind } from '../../src/protocol/stream-kind.js';
import type { Stream } from '../../src/transport/connection.js';
import { KcpConnection } from '../../src/transport/kcp-connection.js';
import { waitFor } from '../support/wait.js';
import { createTransportPair } from './harness.js';

const MIB = 1 << 20;

test('kcp: an agent stream flows beside ten stalled remote-forward streams in the same lane', async (t) => {
  // Smaller windows than the defaults keep the test light; the proportions (ten windows > the connection window) are the same.
  const mux = { streamWindow: MIB, maxBufferedBytes: 8 * MIB };
  const pair = await createTransportPair((path, role) => new KcpConnection(path, { role, laneOf: laneOfKind, mux }));
  try {
    const accepted: Stream[] = [];
    pair.client.on('stream', (s: Stream) => accepted.push(s));
    // tsshd opens a Forward stream per connection to a -R listener; tssh's local consumers never read.
    const stalled = Array.from({ length: 10 }, () => pair.server.openStream(StreamKind.Forward));
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    for (const s of stalled) for (let i = 0; i < (2 * MIB) / chunk.length; i++) s.write(chunk);
    await waitFor('ten forwards accepted', () => accepted.length === 10, 20_000);
    // Wait until the stalled streams have taken what credit lets them: nothing more moves.
    let last = -1;
    await waitFor(
      'the stalled streams stop moving',
      () => {
        const sent = pair.server.stats().bytesSent;
        const still = sent === last;
        last = sent;
        return still;
      },
      30_000,
      500,
    );

    // Now the agent asks for a signature through the same lane: it must get through, both ways.
    const started = performance.now();
    const agent = pair.server.openStream(StreamKind.Agent);
    const request = Buffer.alloc(256 * 1024, 0x42);
    agent.end(request);
    const clientAgent = await waitFor('agent stream accepted', () => accepted.find((s) => (s as { kind?: number }).kind === StreamKind.Agent), 10_000);
    const got = createHash('sha256');
    let bytes = 0;
    clientAgent.on('data', (d: Buffer) => {
      got.update(d);
      bytes += d.length;
    });
    await waitFor('the agent request arrives', () => bytes === request.length, 10_000);
    clientAgent.end(Buffer.from('signature'));
    let reply = '';
    agent.on('data', (d: Buffer) => (reply += d.toString()));
    await waitFor('the agent reply arrives', () => reply === 'signature', 10_000);
    assert.equal(got.digest('hex'), createHash('sha256').update(request).digest('hex'));
    t.diagnostic(`agent round trip of 256 KiB beside ten stalled forwards: ${(performance.now() - started).toFixed(0)} ms`);
  } finally {
    await pair.close();
  }
});
