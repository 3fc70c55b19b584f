import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Socket as UdpSocket } from 'node:dgram';
import { test } from 'node:test';
import { waitFor } from '../support/wait.js';
import { kcpEnds, udpEcho, udpSocket } from './fixtures.js';

const COUNT = 10_000;
const BATCH = 100;
const lossy = { lossPct: 1 };

/** [u32 seq][body][sha256(seq + body)]: any corruption breaks the digest. */
function datagram(seq: number): Buffer {
  const body = Buffer.alloc(16 + (seq % 500), seq & 0xff);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(seq);
  const digest = createHash('sha256').update(head).update(body).digest();
  return Buffer.concat([head, body, digest]);
}

function check(msg: Buffer): number | null {
  if (msg.length < 36) return null;
  const seq = msg.readUInt32BE(0);
  const digest = createHash('sha256').update(msg.subarray(0, msg.length - 32)).digest();
  return digest.equals(msg.subarray(msg.length - 32)) ? seq : null;
}

/**
 * Send COUNT datagrams from `app` to `port` in batches, pacing on echoes (a
 * batch counts as through once 80 % of it is back, so loss never stalls the
 * run), and count what came back: unique, intact, none corrupted.
 */
async function run(app: UdpSocket, port: number): Promise<{ received: number; corrupted: number; duplicates: number }> {
  const seen = new Set<number>();
  const perBatch = new Array<number>(COUNT / BATCH).fill(0);
  let corrupted = 0;
  let duplicates = 0;
  app.on('message', (msg: Buffer) => {
    const seq = check(msg);
    if (seq === null || seq >= COUNT) return void corrupted++;
    if (seen.has(seq)) return void duplicates++;
    seen.add(seq);
    perBatch[Math.floor(seq / BATCH)]!++;
  });
  for (let b = 0; b < COUNT / BATCH; b++) {
    for (let i = 0; i < BATCH; i++) app.send(datagram(b * BATCH + i), port, '127.0.0.1');
    await waitFor(`echoes of batch ${b}`, () => perBatch[b]! >= BATCH * 0.8, 30_000, 2);
  }
  // Stragglers of the last batch: every datagram is back or given up on (a loss) within the bound.
  await waitFor('the last batch', () => perBatch[perBatch.length - 1]! >= BATCH * 0.9, 30_000);
  return { received: seen.size, corrupted, duplicates };
}

test(`UDP -L: ${COUNT} datagrams echoed over KCP at 1 % loss each way: losses counted, none corrupted or duplicated`, { timeout: 300_000 }, async () => {
  const ends = await kcpEnds({ clientToServer: lossy, serverToClient: lossy, seed: 21 });
  const target = await udpEcho();
  const app = await udpSocket();
  try {
    const forward = await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: target.port } });
    const r = await run(app, forward.port!);
    const lost = COUNT - r.received;
    assert.equal(r.corrupted, 0);
    assert.equal(r.duplicates, 0);
    assert.ok(lost > 0, 'the 1 % loss really cost some datagrams');
    assert.ok(lost < COUNT * 0.06, `${lost} lost is in line with 1 % loss each way`);
    assert.ok(ends.pair.proxy.c2s.stats.lost + ends.pair.proxy.s2c.stats.lost > 0);
    assert.equal(ends.forwarder.stats().udp.associations, 1, 'one local source is one association');
    assert.equal(ends.host.stats().udp.associations, 1);
  } finally {
    app.close();
    target.close();
    await ends.close();
  }
});

test(`UDP -R: ${COUNT} datagrams echoed over KCP at 1 % loss each way: losses counted, none corrupted or duplicated`, { timeout: 300_000 }, async () => {
  const ends = await kcpEnds({ clientToServer: lossy, serverToClient: lossy, seed: 22 });
  const target = await udpEcho();
  const app = await udpSocket();
  try {
    const forward = await ends.forwarder.udpRemoteForward({ proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: target.port } });
    assert.ok(forward.port! > 0, 'tsshd reports the UDP port it bound');
    const r = await run(app, forward.port!);
    const lost = COUNT - r.received;
    assert.equal(r.corrupted, 0);
    assert.equal(r.duplicates, 0);
    assert.ok(lost > 0, 'the 1 % loss really cost some datagrams');
    assert.ok(lost < COUNT * 0.06, `${lost} lost is in line with 1 % loss each way`);
    assert.equal(ends.host.stats().udp.associations, 1);
    assert.equal(ends.forwarder.stats().udp.associations, 1);
  } finally {
    app.close();
    target.close();
    await ends.close();
  }
});
