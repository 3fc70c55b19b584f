import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Kcp } from '../../../src/transport/kcp/kcp.js';
import { createMemoryPathPair } from '../../support/memory-path.js';
import { waitFor } from '../../support/wait.js';
import { randomBytes } from './sim.js';

test('2 MB over the in-memory datagram path at 10 % loss each way, real timers', async () => {
  const link = { lossPct: 10, delayMs: 5, jitterMs: 2 };
  const paths = createMemoryPathPair({ aToB: link, bToA: link, seed: 17 });
  // The transport takes one byte of the path's budget for its frame class.
  const mtu = paths.a.payloadBudget - 1;
  const a = new Kcp({ conv: 3, mtu }, (pkt) => paths.a.send(pkt));
  const b = new Kcp({ conv: 3, mtu }, (pkt) => paths.b.send(pkt));
  paths.a.onDatagram = (pkt) => a.input(pkt);
  paths.b.onDatagram = (pkt) => b.input(pkt);
  try {
    const data = randomBytes(2 * 1024 * 1024, 8);
    const hash = createHash('sha256');
    let got = 0;
    b.onData = (c) => {
      hash.update(c);
      got += c.length;
    };
    a.write(data);
    await waitFor('2 MB delivered and both ends idle', () => got === data.length && a.idle && b.idle, 45_000);
    assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
    assert.ok(a.stats().retransmissions > 0, 'losses happened and were repaired');
    assert.ok(paths.aToB.stats.lost > 0);
  } finally {
    a.close();
    b.close();
    paths.close();
  }
});
