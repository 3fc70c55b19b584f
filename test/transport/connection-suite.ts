/**
 * The transport contract, tested through the Connection interface only, so
 * the same suite runs against every transport (KCP now, QUIC later), over
 * real UDP paths and the impairment proxy.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';
import { DatagramTooLargeError, StreamResetError, type Connection, type Stream } from '../../src/transport/connection.js';
import { waitFor } from '../support/wait.js';
import { createTransportPair, type ConnectionFactory } from './harness.js';

const CHUNK = 64 * 1024;
const KIND_BULK = 7;
const KIND_INTERACTIVE = 1;

/** Chunk i of a test stream: seeded bytes with the chunk index in front, so a misplaced chunk changes the hash. */
function chunkOf(i: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(CHUNK);
  let x = (i * 2654435761 + seed) >>> 0 || 1;
  for (let j = 0; j < CHUNK; j += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, j);
  }
  buf.writeUInt32BE(i, 0);
  return buf;
}

/** Write `chunks` chunks with backpressure, then end; returns the SHA-256 of what was written. */
async function writeChunks(stream: Stream, chunks: number, seed: number): Promise<string> {
  const hash = createHash('sha256');
  for (let i = 0; i < chunks; i++) {
    const c = chunkOf(i, seed);
    hash.update(c);
    if (!stream.write(c)) await once(stream, 'drain');
  }
  stream.end();
  return hash.digest('hex');
}

/** Read a stream to its end; returns the SHA-256 and the byte count. */
function readAll(stream: Stream, onProgress?: (bytes: number) => void): Promise<{ sha: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    stream.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
      onProgress?.(bytes);
    });
    stream.once('end', () => resolve({ sha: hash.digest('hex'), bytes }));
    stream.once('error', reject);
  });
}

function nextStream(conn: Connection): Promise<Stream> {
  return new Promise((resolve) => conn.once('stream', resolve));
}

export function defineConnectionSuite(name: string, factory: ConnectionFactory): void {
  for (const direction of ['client->server', 'server->client'] as const) {
    test(`${name}: 50 MB ${direction} at 10 % loss with 20 rebinds and three 2 s outages arrives intact and in order`, { timeout: 300_000 }, async () => {
      const lossy = { lossPct: 10 };
      const pair = await createTransportPair(factory, { clientToServer: lossy, serverToClient: lossy, seed: 42 });
      try {
        const total = 800; // 800 x 64 KiB = 50 MiB
        const totalBytes = total * CHUNK;
        const [from, to] = direction === 'client->server' ? [pair.client, pair.server] : [pair.server, pair.client];
        const incoming = nextStream(to);
        const out = from.openStream(KIND_BULK);
        // Rebinds and outages are driven by progress, not by clocks, so the test means the same on a slow machine.
        let rebinds = 0;
        let outages = 0;
        const rebindEvery = totalBytes / 21;
        const onProgress = (bytes: number): void => {
          if (bytes >= (rebinds + 1) * rebindEvery && rebinds < 20) {
            rebinds++;
            void pair.proxy.rebind();
          }
          if (bytes >= ((outages + 1) * totalBytes) / 4 && outages < 3) {
            outages++;
            pair.proxy.c2s.outage(2000);
            pair.proxy.s2c.outage(2000);
          }
        };
        const writing = writeChunks(out, total, 7);
        const stream = await incoming;
        assert.equal(stream.kind, KIND_BULK);
        const got = await readAll(stream, onProgress);
        assert.equal(got.bytes, totalBytes);
        assert.equal(got.sha, await writing);
        assert.equal(rebinds, 20);
        assert.equal(outages, 3);
        assert.ok(pair.proxy.stats.rebinds >= 20, 'the proxy really changed its source port');
        assert.ok(from.stats().retransmissions > 0, 'loss really happened and was repaired');
      } finally {
        await pair.close();
      }
    });
  }

  test(`${name}: 100 concurrent streams of 1 MB each are echoed intact`, { timeout: 180_000 }, async () => {
    const pair = await createTransportPair(factory);
    try {
      pair.server.on('stream', (s: Stream) => s.pipe(s));
      const results = await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const s = pair.client.openStream(i % 2 ? KIND_BULK : KIND_INTERACTIVE);
          const [sent, got] = await Promise.all([writeChunks(s, 16, i), readAll(s)]);
          return { sent, got, id: s.id };
        }),
      );
      const ids = new Set<number>();
      for (const { sent, got, id } of results) {
        assert.ok(!ids.has(id), `stream id ${id} is unique within the connection`);
        ids.add(id);
        assert.equal(got.bytes, 16 * CHUNK);
        assert.equal(got.sha, sent);
      }
      assert.equal(pair.client.stats().streamsOpenedTotal, 100);
    } finally {
      await pair.close();
    }
  });

  test(`${name}: half-close leaves the other direction open, and reset reaches the peer`, { timeout: 60_000 }, async () => {
    const pair = await createTransportPair(factory);
    try {
      const incoming = nextStream(pair.server);
      const c = pair.client.openStream(KIND_BULK);
      c.end('request');
      const s = await incoming;
      let request = '';
      s.on('data', (d: Buffer) => (request += d.toString()));
      await once(s, 'end');
      assert.equal(request, 'request');
      // The server can still answer after the client's FIN.
      let reply = '';
      c.on('data', (d: Buffer) => (reply += d.toString()));
      const clientEnded = once(c, 'end');
      s.write('reply part 1, ');
      s.end('part 2');
      await clientEnded;
      assert.equal(reply, 'reply part 1, part 2');

      const incoming2 = nextStream(pair.server);
      const c2 = pair.client.openStream(KIND_BULK);
      c2.write('x');
      const s2 = await incoming2;
      const errored = new Promise<Error>((resolve) => s2.once('error', resolve));
      s2.resume();
      c2.reset();
      const err = await errored;
      assert.ok(err instanceof StreamResetError, `expected StreamResetError, got ${err}`);
    } finally {
      await pair.close();
    }
  });

  test(`${name}: a stalled reader blocks only its own stream and memory stays bounded`, { timeout: 120_000 }, async () => {
    const pair = await createTransportPair(factory);
    try {
      const stalledIn = nextStream(pair.server);
      const stalled = pair.client.openStream(KIND_BULK);
      // The writer ignores backpressure and hands over 8 MiB at once; the reader never reads.
      const offered = 128 * CHUNK;
      for (let i = 0; i < 128; i++) stalled.write(chunkOf(i, 1));
      const stalledPeer = await stalledIn;
      stalledPeer.pause();

      // Another stream moves 16 MiB while the first stays stalled.
      const otherIn = nextStream(pair.server);
      const other = pair.client.openStream(KIND_BULK);
      const writing = writeChunks(other, 256, 2);
      const got = await readAll(await otherIn);
      assert.equal(got.sha, await writing);

      // Only about one flow-control window of the stalled stream crossed; the rest waits at the writer.
      const crossed = offered - stalled.writableLength;
      assert.ok(stalled.writableNeedDrain, 'the stalled writer is told to wait');
      assert.ok(crossed <= 2 * 1024 * 1024, `${crossed} bytes of the stalled stream crossed (bounded by its window)`);
      assert.ok(stalledPeer.readableLength <= 2 * 1024 * 1024, 'the reader-side buffer is bounded');
      assert.ok(pair.server.stats().bytesReceived >= got.bytes, 'the other stream really flowed');
    } finally {
      await pair.close();
    }
  });

  test(`${name}: datagrams are delivered whole or lost, never corrupted or duplicated; oversize is refused`, { timeout: 60_000 }, async () => {
    const lossy = { lossPct: 5, duplicatePct: 5, reorderPct: 5 };
    const pair = await createTransportPair(factory, { clientToServer: lossy, serverToClient: lossy, seed: 9 });
    try {
      // Streams first, so the transport is established both ways (QUIC needs its handshake).
      const ready = nextStream(pair.server);
      pair.client.openStream(KIND_BULK).write('hello');
      await ready;
      const max = pair.client.maxDatagramSize;
      assert.ok(max >= 1200, `datagram budget ${max} is usable`);
      assert.throws(() => pair.client.sendDatagram(3, Buffer.alloc(max + 1)), DatagramTooLargeError);

      const seen = new Set<number>();
      let corrupted = 0;
      pair.server.on('datagram', (channel: number, payload: Buffer) => {
        const id = payload.readUInt32BE(0);
        const expected = Buffer.alloc(payload.length, id & 0xff);
        expected.writeUInt32BE(id, 0);
        if (channel !== 3 || !payload.equals(expected) || payload.length !== 4 + (id % 1000)) corrupted++;
        else if (seen.has(id)) corrupted++;
        seen.add(id);
      });
      const count = 2000;
      for (let id = 0; id < count; id++) {
        const payload = Buffer.alloc(4 + (id % 1000), id & 0xff);
        payload.writeUInt32BE(id, 0);
        pair.client.sendDatagram(3, payload);
        // Pace the sender (datagrams are unreliable: a burst would only overflow socket buffers).
        if (id % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await waitFor('most datagrams to arrive', () => seen.size >= count * 0.8, 20_000);
      assert.equal(corrupted, 0);
      assert.ok(seen.size < count, 'loss was really applied');
      // A full-size datagram fits.
      const fullSeen = new Promise<number>((resolve) => pair.server.on('datagram', (ch: number, p: Buffer) => ch === 4 && resolve(p.length)));
      for (let i = 0; i < 20; i++) pair.client.sendDatagram(4, Buffer.alloc(max, 1));
      assert.equal(await fullSeen, max);
    } finally {
      await pair.close();
    }
  });

  test(`${name}: the peer's close does not cut off what arrived: a reader that had not read yet gets every byte and the end before 'close'`, { timeout: 60_000 }, async () => {
    const pair = await createTransportPair(factory);
    try {
      // Both half-open (client still writing, as a session's stdin) and fully finished streams, in both lanes.
      const incoming: Stream[] = [];
      pair.client.on('stream', (st: Stream) => incoming.push(st));
      const writing = [writeChunks(pair.server.openStream(KIND_INTERACTIVE), 4, 11), writeChunks(pair.server.openStream(KIND_BULK), 4, 12)];
      await waitFor('both streams at the client', () => incoming.length === 2, 20_000);
      const a = incoming.find((st) => st.kind === KIND_INTERACTIVE)!;
      const b = incoming.find((st) => st.kind === KIND_BULK)!;
      b.end(); // the client finished its direction of one stream: the transport may forget that stream on the wire
      // Nothing is read until the server is gone (its goodbye arrived), as when tssh's stdout is slower than the network.
      await Promise.all(writing);
      await pair.server.close();
      await waitFor('the server goodbye to reach the client', () => pair.clientPath.isClosed, 20_000);
      let closed = false;
      pair.client.once('close', () => (closed = true));
      const ended: boolean[] = [];
      const results = await Promise.all(
        [a, b].map((st) =>
          readAll(st).then((r) => {
            ended.push(closed);
            return r;
          }),
        ),
      );
      assert.deepEqual(ended, [false, false], "each stream ended before the connection's 'close'");
      assert.deepEqual(
        results.map((r) => r.bytes),
        [4 * CHUNK, 4 * CHUNK],
      );
      assert.deepEqual(
        results.map((r) => r.sha),
        await Promise.all(writing),
      );
      await waitFor("the client's 'close' after the reads", () => closed, 20_000);
    } finally {
      await pair.close();
    }
  });

  test(`${name}: graceful close delivers what was written, then both sides close`, { timeout: 60_000 }, async () => {
    const pair = await createTransportPair(factory, { clientToServer: { lossPct: 5 }, serverToClient: { lossPct: 5 }, seed: 3 });
    try {
      const incoming = nextStream(pair.server);
      const s = pair.client.openStream(KIND_BULK);
      const writing = writeChunks(s, 32, 5);
      const serverClosed = once(pair.server, 'close');
      const received = incoming.then((st) => readAll(st));
      const sha = await writing;
      // The path's goodbye is one best-effort datagram (a lost one leaves the peer to its alive
      // timeout, a known gap): the closing handshake itself is checked on a clean link.
      pair.proxy.c2s.set({ lossPct: 0 });
      pair.proxy.s2c.set({ lossPct: 0 });
      await pair.client.close();
      assert.equal((await received).sha, sha);
      await serverClosed;
    } finally {
      await pair.close();
    }
  });
}
