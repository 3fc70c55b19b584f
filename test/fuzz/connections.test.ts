/**
 * The transport framing we own, fuzzed in a live connection: path payloads
 * (what a path hands the transport after authentication) made of random
 * bytes, verbatim replays of captured packets and mutations of them are fed
 * to the server side of a working KCP or QUIC connection between echo round
 * trips. KCP relies on the path's AEAD for authenticity, so for it only
 * random bytes and replays must leave the connection working, and mutated
 * packets must at worst end it cleanly; QUIC authenticates its own packets, so
 * nothing may disturb it.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import type { Connection, Stream } from '../../src/transport/connection.js';
import { KcpConnection } from '../../src/transport/kcp-connection.js';
import { loadQuicEngine } from '../../src/transport/quic/engine.js';
import { QuicConnection } from '../../src/transport/quic/quic-connection.js';
import { createQuicCredentials } from '../../src/transport/quic/certificate.js';
import { createMemoryPathPair, type MemoryPath } from '../support/memory-path.js';
import { waitFor } from '../support/wait.js';

const SEED = 4242;
const INJECTED = 3000;

type Factory = (path: MemoryPath, role: 'client' | 'server') => Connection;

const credentials = createQuicCredentials('tsshd-fuzz');
const factories: Record<string, Factory> = {
  kcp: (path, role) => new KcpConnection(path, { role }),
  quic: (path, role) =>
    role === 'server' ? new QuicConnection(path, { role, credentials }) : new QuicConnection(path, { role, pinnedFingerprints: [credentials.fingerprint] }),
};

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

/** Write `text` on `stream` and wait for the echo. */
async function roundTrip(stream: Stream, text: string): Promise<void> {
  let got = '';
  const onData = (b: Buffer): void => void (got += b.toString('latin1'));
  stream.on('data', onData);
  stream.write(text);
  try {
    await waitFor(`the echo of ${text}`, () => got.includes(text), 20_000);
  } finally {
    stream.off('data', onData);
  }
}

/** Payloads to inject: random, replayed from `captured`, or mutated from it. */
function payloads(captured: readonly Buffer[], kinds: readonly ('random' | 'replay' | 'mutate')[], seed: number): Buffer[] {
  const arb = fc.record({
    kind: fc.constantFrom(...kinds),
    random: fc.uint8Array({ maxLength: 1370 }),
    pick: fc.nat(),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }),
    cut: fc.nat(),
  });
  return fc.sample(arb, { seed, numRuns: INJECTED }).map((x) => {
    if (x.kind === 'random' || captured.length === 0) return Buffer.from(x.random);
    const base = Buffer.from(captured[x.pick % captured.length]!);
    if (x.kind === 'replay') return base;
    for (const [at, xor] of x.flips) base[at % base.length] ^= xor;
    return base.subarray(0, x.cut % 4 === 0 ? x.cut % (base.length + 1) : base.length);
  });
}

for (const [name, factory] of Object.entries(factories)) {
  const skip = name === 'quic' && loadQuicEngine() instanceof Error ? 'QUIC engine not installed' : false;

  test(`${name}: random, replayed and mutated transport packets at a live connection`, { skip }, async () => {
    const pair = createMemoryPathPair();
    const captured: Buffer[] = [];
    const send = pair.a.send.bind(pair.a);
    pair.a.send = (payload: Uint8Array): void => {
      if (captured.length < 500) captured.push(Buffer.from(payload));
      send(payload);
    };
    const client = factory(pair.a, 'client');
    const server = factory(pair.b, 'server');
    let serverClosed = false;
    server.on('close', () => (serverClosed = true));
    server.on('error', () => {});
    client.on('error', () => {});
    server.on('stream', (s: Stream) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    cleanups.push(() => {
      client.destroy();
      server.destroy();
      pair.close();
    });
    const stream = client.openStream(1);
    stream.on('error', () => {});
    await roundTrip(stream, 'before');

    // Random bytes and exact replays: a transport must shrug these off.
    const inject = (list: Buffer[]): void => {
      for (const p of list) pair.b.receive(p);
    };
    inject(payloads(captured, ['random', 'replay'], SEED));
    await roundTrip(stream, 'after-random-and-replays');
    const fresh = client.openStream(1);
    fresh.on('error', () => {});
    await roundTrip(fresh, 'new-stream');
    assert.equal(serverClosed, false);

    // Mutations of real packets: QUIC must authenticate them away; KCP (authenticated by the path, not here) may end, but only cleanly.
    inject(payloads(captured, ['mutate'], SEED + 1));
    if (name === 'quic') {
      await roundTrip(stream, 'after-mutations');
      assert.equal(serverClosed, false);
    } else {
      // Let the injected packets be processed (they are handled synchronously, their effects on the next turn).
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(server.stats().bytesReceived > 0);
    }
  });
}
