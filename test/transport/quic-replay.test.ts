/**
 * During an outage QuicConnection replays its recent small packets, bundled,
 * instead of a bare poke; what is written meanwhile goes into the engine at
 * each poke and out only inside the replay. So the first datagram that gets
 * through after the outage carries everything the peer missed, and the peer
 * answers it at once with everything it owes (its own replay included).
 *
 * Here exactly one replay crosses client -> server after the outage, and
 * nothing from the client after it: the server can only have the keys typed
 * during the outage if that replay carried them, and the client can only get
 * their echo if the server's answer to it carried it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Stream } from '../../src/transport/connection.js';
import { BUNDLE } from '../../src/transport/quic/packet-replay.js';
import { QuicConnection } from '../../src/transport/quic/quic-connection.js';
import { createMemoryPathPair } from '../support/memory-path.js';
import { waitFor } from '../support/wait.js';
import { testCredentials } from './quic-harness.js';

const KEYS = 'bcdefghijk';

test('quic: the first replay through after an outage carries the keys typed during it, and the answer to it carries their echo', { timeout: 60_000 }, async () => {
  const paths = createMemoryPathPair({ aToB: { delayMs: 10 }, bToA: { delayMs: 10 } });
  const client = new QuicConnection(paths.a, { role: 'client', pinnedFingerprints: [testCredentials.fingerprint] });
  const server = new QuicConnection(paths.b, { role: 'server', credentials: testCredentials });
  try {
    let serverGot = '';
    server.on('stream', (s: Stream) => {
      s.on('data', (d: Buffer) => (serverGot += d.toString()));
      s.pipe(s);
    });
    const out = client.openStream(5);
    let echoed = '';
    out.on('data', (d: Buffer) => (echoed += d.toString()));
    out.write('a');
    await waitFor('the first echo', () => echoed === 'a');

    // The server's echo of 'x' is lost too: it has something in flight when the outage ends.
    paths.bToA.outage(Infinity);
    out.write('x');
    await waitFor('x at the server', () => serverGot === 'ax');
    paths.aToB.outage(Infinity);
    for (const key of KEYS) {
      out.write(key);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    await waitFor('replays during the outage', () => (client.quicStats().replays >= 3 ? true : null), 20_000);
    assert.equal(serverGot, 'ax', 'nothing crossed during the outage');
    const serverReplaysBefore = server.quicStats().replays;

    // Let exactly one replay through (its bundles go out together, in one turn); nothing from the client after it.
    const send = paths.a.send.bind(paths.a);
    let state: 'blocked' | 'passing' | 'cut' = 'blocked';
    paths.a.send = (payload: Uint8Array): void => {
      if (state === 'blocked' && payload[0] === BUNDLE) {
        state = 'passing';
        paths.aToB.endOutage();
        paths.bToA.endOutage();
        setImmediate(() => (state = 'cut'));
      }
      // While blocked the outage drops it; once cut, so do we.
      if (state === 'blocked' || (state === 'passing' && payload[0] === BUNDLE)) send(payload);
    };
    await waitFor('the keys at the server, from that one replay', () => (serverGot === `ax${KEYS}` ? true : null), 5_000).catch((e: Error) => { throw new Error(`${e.message}: server has ${serverGot}, ${state}, client ${JSON.stringify(client.quicStats())}, server ${JSON.stringify(server.quicStats())}`); });
    await waitFor('their echo at the client, from the answer to it', () => (echoed === `ax${KEYS}` ? true : null), 20_000);
    assert.ok(server.quicStats().replays > serverReplaysBefore, 'the server replayed its own (the lost echo of x) at once');
  } finally {
    client.destroy();
    server.destroy();
    paths.close();
  }
});

test('quic: pokes and replays are bounded: a few datagrams per poke, a poke every 50 ms', { timeout: 60_000 }, async () => {
  const paths = createMemoryPathPair({ aToB: { delayMs: 5 }, bToA: { delayMs: 5 } });
  const client = new QuicConnection(paths.a, { role: 'client', pinnedFingerprints: [testCredentials.fingerprint] });
  const server = new QuicConnection(paths.b, { role: 'server', credentials: testCredentials });
  try {
    server.on('stream', (s: Stream) => s.pipe(s));
    const out = client.openStream(5);
    out.write('a');
    await once(out, 'data');
    paths.aToB.outage(Infinity);
    paths.bToA.outage(Infinity);
    const sentBefore = paths.a.counters.sent;
    const start = Date.now();
    // A fast typist: 100 keys a second for 2 s.
    for (let i = 0; i < 200; i++) {
      out.write('k');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const seconds = (Date.now() - start) / 1000;
    const sent = paths.a.counters.sent - sentBefore;
    const stats = client.quicStats();
    // Before holding (about 250 ms), keys go one per packet (with up to 3 copies); after it, at most 4 datagrams per poke.
    assert.ok(stats.pokes <= seconds * 20 + 2, `${stats.pokes} pokes in ${seconds.toFixed(1)} s`);
    assert.ok(sent <= 0.5 * 100 * 3 + stats.pokes * 4 + 20, `${sent} datagrams in ${seconds.toFixed(1)} s (${stats.pokes} pokes)`);
  } finally {
    client.destroy();
    server.destroy();
    paths.close();
  }
});
