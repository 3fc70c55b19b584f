/**
 * Keystrokes typed during an outage used to fill quiche's congestion window
 * (each went out as a new packet and was lost), and quiche sends no PING
 * into a full window: recovery then waited for the backed-off PTO. Now the
 * connection holds new data while the peer is silent and pokes it over the
 * path instead, so after the outage everything typed arrives promptly.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import type { Stream } from '../../src/transport/connection.js';
import type { QuicConnection } from '../../src/transport/quic/quic-connection.js';
import { waitFor } from '../support/wait.js';
import { createTransportPair } from './harness.js';
import { quicFactory } from './quic-harness.js';

const OUTAGES = 5;
const OUTAGE_MS = 2000;

test('quic: keys typed through five outages in a row arrive within 400 ms of each rebind; writes were held and the peer poked', { timeout: 90_000 }, async (t) => {
  // Long heartbeats: the path never calls contact lost, so only the connection's own silence logic acts.
  const pair = await createTransportPair(quicFactory, { heartbeatTimeoutMs: 60_000 });
  try {
    const client = pair.client as QuicConnection;
    const incoming = once(pair.server, 'stream') as Promise<[Stream]>;
    const out = client.openStream(5);
    out.write('k');
    const [s] = await incoming;
    let received = 0;
    s.on('data', (d: Buffer) => (received += d.length));
    let sent = 1;
    const ticker = setInterval(() => {
      out.write('k');
      sent++;
    }, 10);
    try {
      for (let i = 0; i < OUTAGES; i++) {
        await waitFor('the keys so far', () => received === sent, 10_000, 5);
        pair.proxy.c2s.outage(OUTAGE_MS);
        pair.proxy.s2c.outage(OUTAGE_MS);
        await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
        const target = sent;
        const t0 = performance.now();
        await pair.proxy.rebind();
        await waitFor('the keys typed during the outage', () => received >= target, 30_000, 5);
        const ms = performance.now() - t0;
        t.diagnostic(`outage ${i + 1}: caught up ${Math.round(ms)} ms after the rebind`);
        // Without held writes and pokes the later outages waited for the backed-off PTO (measured 500-900 ms
        // after the rebind); a poke comes every 50 ms and recovery then takes a few round trips.
        assert.ok(ms < 400, `outage ${i + 1}: caught up only ${Math.round(ms)} ms after the rebind`);
      }
    } finally {
      clearInterval(ticker);
    }
    const stats = client.quicStats();
    assert.ok(stats.pokes > 0, 'the client poked the silent server');
  } finally {
    await pair.close();
  }
});
