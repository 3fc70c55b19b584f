/**
 * Key lifetime under load: a forced short rekey interval while KCP (and QUIC, whose
 * datagrams the path seals just the same) streams
 * megabytes both ways over real UDP paths through the impairment proxy, with
 * loss, reordering and rebinds. Rekeying happens in the path layer; the
 * transport must not notice, so every byte arrives intact and in order.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';
import type { Connection, Stream } from '../../src/transport/connection.js';
import { createTransportPair, kcpFactory, type ConnectionFactory } from './harness.js';
import { quicFactory } from './quic-harness.js';

const CHUNK = 64 * 1024;
const KIND_BULK = 7;

/** Chunk i of a stream: xorshift bytes seeded by (i, seed), with i in front so a misplaced chunk changes the hash. */
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

function readAll(stream: Stream, onProgress: (bytes: number) => void): Promise<{ sha: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    stream.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
      onProgress(bytes);
    });
    stream.once('end', () => resolve({ sha: hash.digest('hex'), bytes }));
    stream.once('error', reject);
  });
}

function nextStream(conn: Connection): Promise<Stream> {
  return new Promise((resolve) => conn.once('stream', resolve));
}

const variants: Array<[name: string, factory: ConnectionFactory, mib: number, rekeyBytes: number]> = [
  ['kcp', kcpFactory, 12, 1024 * 1024],
  ['quic', quicFactory, 4, 256 * 1024],
];

for (const [name, factory, mib, rekeyBytes] of variants) {
  test(`${name}: 2 x ${mib} MiB both ways at 10 % loss, reordering and 10 rebinds, rekeying every 200 ms and every ${rekeyBytes / 1024} KiB, arrives intact and in order`, { timeout: 300_000 }, async () => {
    const link = { lossPct: 10, delayMs: 2, jitterMs: 1, reorderPct: 5, reorderExtraMs: 20 };
    const pair = await createTransportPair(factory, {
      clientToServer: link,
      serverToClient: link,
      seed: 9,
      // Every 200 ms, and every few hundred KiB so that more than 5 rekeys happen however fast the machine is.
      rekey: { intervalMs: 200, bytes: rekeyBytes, overlapMs: 100 },
    });
    try {
      const chunks = (mib * 1024 * 1024) / CHUNK;
      const totalBytes = chunks * CHUNK;
      const atServer = nextStream(pair.server);
      const atClient = nextStream(pair.client);
      const up = pair.client.openStream(KIND_BULK);
      const down = pair.server.openStream(KIND_BULK);
      const writingUp = writeChunks(up, chunks, 1);
      const writingDown = writeChunks(down, chunks, 2);
      // Rebinds follow progress, not clocks, so the test means the same on a slow machine.
      let rebinds = 0;
      const onProgress = (bytes: number): void => {
        if (bytes >= ((rebinds + 1) * totalBytes) / 11 && rebinds < 10) {
          rebinds++;
          void pair.proxy.rebind();
        }
      };
      const [serverEnd, clientEnd] = await Promise.all([atServer, atClient]);
      const [gotUp, gotDown] = await Promise.all([readAll(serverEnd, () => undefined), readAll(clientEnd, onProgress)]);
      assert.equal(gotUp.bytes, totalBytes);
      assert.equal(gotDown.bytes, totalBytes);
      assert.equal(gotUp.sha, await writingUp);
      assert.equal(gotDown.sha, await writingDown);
      assert.equal(rebinds, 10);
      const c = pair.clientPath.stats();
      const s = pair.serverPath.stats();
      assert.ok(c.rekey.rekeys > 5 && s.rekey.rekeys > 5, `rekeys: client ${c.rekey.rekeys}, server ${s.rekey.rekeys}`);
      // Every rebind is followed once validated; two rebinds closer together than a validation round trip
      // (progress can trigger them back to back) become one move, so at least one, at most ten.
      assert.ok(s.peerMoves >= 1 && s.peerMoves <= 10, `the server followed ${s.peerMoves} rebinds`);
      assert.ok(pair.proxy.stats.c2s.lost > 0 && pair.proxy.stats.s2c.reordered > 0, 'loss and reordering really happened');
      assert.ok(pair.client.stats().retransmissions > 0, 'loss was repaired by the transport');
      console.log(
        `# ${name}: rekeys client ${c.rekey.rekeys} (initiated ${c.rekey.initiated}, retransmits ${c.rekey.retransmits}, failures ${c.rekey.failures}), ` +
          `server ${s.rekey.rekeys} (initiated ${s.rekey.initiated}, yielded ${s.rekey.yielded}); auth drops client ${c.dropped.auth}, server ${s.dropped.auth}`,
      );
    } finally {
      await pair.close();
    }
  });
}
