import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { PATH_OVERHEAD_BYTES } from '../../src/path/datagram-format.js';
import { loopbackMtu } from '../../src/path/loopback-mtu.js';
import type { Connection, Stream } from '../../src/transport/connection.js';
import { createTransportPair, kcpFactory, type ConnectionFactory, type TransportPairOptions } from './harness.js';
import { quicFactory } from './quic-harness.js';

const MB = 1024 * 1024;
const TOTAL = 8 * MB;

/** Send TOTAL random bytes on a new stream from `from` and read them at `to`: their SHA-256 must match. */
async function transfer(from: Connection, to: Connection): Promise<void> {
  const data = randomBytes(TOTAL);
  const incoming = new Promise<Stream>((resolve) => to.once('stream', resolve));
  const out = from.openStream(7);
  out.end(data);
  const stream = await incoming;
  const hash = createHash('sha256');
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  await new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  assert.equal(bytes, TOTAL);
  assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
}

const transports: Array<[string, ConnectionFactory]> = [
  ['kcp', kcpFactory],
  ['quic', quicFactory],
];

for (const [name, factory] of transports) {
  test(`${name}: with the loopback rule, 8 MB each way goes in loopback-sized datagrams, intact through 1 % loss and a rebind`, { timeout: 120_000 }, async (t) => {
    const lo = loopbackMtu();
    if (lo === null) return t.skip('no loopback MTU on this system');
    const lossy = { lossPct: 1 };
    const options: TransportPairOptions = { largeOnLoopback: true, clientToServer: lossy, serverToClient: lossy, seed: 7 };
    const pair = await createTransportPair(factory, options);
    t.after(() => pair.close());
    assert.equal(pair.clientPath.payloadBudget, lo - PATH_OVERHEAD_BYTES);
    await transfer(pair.client, pair.server);
    // Roaming on loopback: the server's peer moves to another loopback source; the size holds and data keep flowing.
    await pair.proxy.rebind();
    await transfer(pair.server, pair.client);
    assert.ok(pair.serverPath.stats().peerMoves >= 1, 'the peer moved');
    assert.equal(pair.serverPath.payloadBudget, lo - PATH_OVERHEAD_BYTES, 'the server grew at first contact and kept the size');
    // At 1400 bytes, 8 MB takes ~6000 datagrams each way; loopback-sized ones need a few hundred plus acks.
    for (const path of [pair.clientPath, pair.serverPath]) {
      const sent = path.stats().datagramsSent;
      assert.ok(sent < 3000, `${sent} datagrams sent for 8 MB of data and the acks of 8 MB`);
    }
    assert.ok(pair.client.maxDatagramSize > 1400 && pair.server.maxDatagramSize > 1400, 'unreliable datagrams may be as large');
  });

  test(`${name}: without the rule (UdpMTU set), datagrams stay within 1400 bytes on loopback`, { timeout: 120_000 }, async (t) => {
    const pair = await createTransportPair(factory, {});
    t.after(() => pair.close());
    await transfer(pair.server, pair.client);
    assert.equal(pair.serverPath.payloadBudget, 1400 - PATH_OVERHEAD_BYTES);
    assert.ok(pair.serverPath.stats().datagramsSent >= TOTAL / 1400, 'one datagram per 1400 bytes at most');
    assert.ok(pair.server.maxDatagramSize < 1400);
  });
}
