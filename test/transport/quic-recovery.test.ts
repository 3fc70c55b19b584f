/**
 * After an outage, the QUIC engine's loss-detection timer has backed off to
 * seconds. With probing on, QuicConnection does not wait for it: during the
 * outage it replays its packets (bundled) with each poke, and the path's
 * 'contact-restored'/'peer-moved'/'renewed' events make it probe at once.
 * (The fresh packet each poke makes also keeps the timer from backing off,
 * so this run no longer waits for that.) The control run (probing off)
 * shows the same byte really waits for the timer.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import type { Stream } from '../../src/transport/connection.js';
import { QuicConnection } from '../../src/transport/quic/quic-connection.js';
import { waitFor } from '../support/wait.js';
import { createTransportPair, type ConnectionFactory } from './harness.js';
import { testCredentials } from './quic-harness.js';

const MIN_OUTAGE_MS = 5000;
/**
 * Only end the outage when the engine's next timer is at least this far away,
 * so "before it" has room: recovery takes one client keepalive interval
 * (heartbeat 1500 ms / 3 = 500 ms) plus a few loopback round trips. (While
 * probing, the PINGs sent at each renewal during the outage restart the
 * timer, so it stays below about 2 s there.)
 */
const MIN_BACKOFF_MS = 1200;

function factory(probeOnReconnect: boolean): ConnectionFactory {
  return (path, role) =>
    role === 'server'
      ? new QuicConnection(path, { role, credentials: testCredentials, probeOnReconnect })
      : new QuicConnection(path, { role, pinnedFingerprints: [testCredentials.fingerprint], probeOnReconnect });
}

/** Cut the link, write a byte, wait for a long backed-off timer, restore the link with a rebind; when did the byte arrive, and when would the timer have fired? */
async function outageThenRebind(probe: boolean): Promise<{ arrivedAt: number; rebindAt: number; timerAt: number; probes: number; bundles: number }> {
  // Short heartbeats: the client's keepalives (which bring the server back into contact) come every 500 ms.
  const pair = await createTransportPair(factory(probe), { heartbeatTimeoutMs: 1500 });
  try {
    const client = pair.client as QuicConnection;
    const server = pair.server as QuicConnection;
    const incoming = once(pair.server, 'stream') as Promise<[Stream]>;
    const out = client.openStream(5);
    out.write('a');
    const [s] = await incoming;
    let received = '';
    let arrivedAt = Infinity;
    s.on('data', (d: Buffer) => {
      received += d.toString();
      if (received.includes('b') && arrivedAt === Infinity) arrivedAt = performance.now();
    });
    await waitFor('the first byte', () => received === 'a');

    pair.proxy.c2s.outage(Infinity);
    pair.proxy.s2c.outage(Infinity);
    const cutAt = performance.now();
    out.write('b');
    const remaining = await waitFor(
      'the engine to back off',
      () => {
        const ms = client.quicStats().nextTimeoutMs;
        // With probing, the fresh packet each poke carries keeps the engine's timer from backing off: the outage's length is enough.
        return performance.now() - cutAt >= MIN_OUTAGE_MS && ms !== null && (probe || ms >= MIN_BACKOFF_MS) ? ms : null;
      },
      30_000,
    );
    const timerAt = performance.now() + remaining;
    const probesBefore = client.quicStats().probes + server.quicStats().probes;
    const bundlesBefore = server.quicStats().bundlesReceived;
    const rebindAt = performance.now();
    pair.proxy.c2s.endOutage();
    pair.proxy.s2c.endOutage();
    await pair.proxy.rebind();
    await waitFor('the byte written during the outage', () => received === 'ab', 30_000);
    const probes = client.quicStats().probes + server.quicStats().probes - probesBefore;
    return { arrivedAt, rebindAt, timerAt, probes, bundles: server.quicStats().bundlesReceived - bundlesBefore };
  } finally {
    await pair.close();
  }
}

test('quic: after a 5 s outage and a rebind, the byte written during it arrives and the engine probes', { timeout: 60_000 }, async (t) => {
  const r = await outageThenRebind(true);
  // Usually a replay carries it (quic-replay.test.ts checks that one does); now and then the engine's own timer fires first.
  t.diagnostic(`byte arrived ${Math.round(r.arrivedAt - r.rebindAt)} ms after the rebind; ${r.probes} probes, ${r.bundles} replays received`);
  assert.ok(r.probes > 0, 'the path events made the engine probe');
});

test('quic: control: without the probe, the same byte waits for the backed-off PTO', { timeout: 60_000 }, async (t) => {
  const r = await outageThenRebind(false);
  t.diagnostic(`byte arrived ${Math.round(r.arrivedAt - r.timerAt)} ms after the engine's timer`);
  assert.equal(r.probes, 0);
  // Nothing else can make the engine send: the byte cannot arrive before its timer (1 ms of rounding allowed).
  assert.ok(r.arrivedAt >= r.timerAt - 1, `the byte arrived ${Math.round(r.arrivedAt - r.timerAt)} ms after the timer`);
});
