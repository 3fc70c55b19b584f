import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ReferenceKcpSession } from '../../src/transport/reference/kcp-session.js';
import type { SmuxStream } from '../../src/transport/reference/smux.js';
import { waitFor, waitForEvent } from '../support/wait.js';

/** Two sessions joined by an in-memory datagram link dropping a seeded fraction of datagrams each way. */
function pair(loss: number) {
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const pass = randomBytes(48);
  const salt = randomBytes(48);
  const counts = { toServer: 0, toClient: 0 };
  const ends: { server?: ReferenceKcpSession } = {};
  const client = new ReferenceKcpSession(
    {
      send: (d) => {
        counts.toServer++;
        if (rand() >= loss) setImmediate(() => ends.server!.input(d));
      },
    },
    { role: 'client', pass, salt },
  );
  const server = new ReferenceKcpSession(
    {
      send: (d) => {
        counts.toClient++;
        if (rand() >= loss) setImmediate(() => client.input(d));
      },
    },
    { role: 'server', pass, salt },
  );
  ends.server = server;
  return { client, server, counts };
}

describe('reference KCP session (framing + KCP + smux)', () => {
  it('a stream carries 1 MB each way at 10 % loss; the server adopts the client conversation', async () => {
    const { client, server } = pair(0.1);
    const accepted = waitForEvent<SmuxStream>(server, 'stream');
    const s = client.openStream();
    const data = randomBytes(1024 * 1024);
    s.end(data);
    const t = await accepted;
    assert.equal(server.kcp!.stats().packetsReceived > 0, true);
    t.pipe(t); // echo
    const hash = createHash('sha256');
    let n = 0;
    s.on('data', (c: Buffer) => {
      hash.update(c);
      n += c.length;
    });
    await waitFor('echo complete', () => n === data.length, 60_000);
    assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
    client.close();
    server.close();
  });

  it('out-of-band datagrams reach the peer, and a rekey keeps the stream going', async () => {
    const { client, server } = pair(0);
    const accepted = waitForEvent<SmuxStream>(server, 'stream');
    const s = client.openStream();
    s.write('first');
    const t = await accepted;
    const got: Buffer[] = [];
    t.on('data', (c: Buffer) => got.push(c));
    await waitFor('first', () => Buffer.concat(got).toString() === 'first');
    const dgram = waitForEvent<Buffer>(server, 'datagram');
    client.sendDatagram(Buffer.from('oob'));
    assert.equal((await dgram).toString(), 'oob');
    const secret = randomBytes(32);
    server.installKey(secret);
    client.installKey(secret);
    s.write('second');
    await waitFor('second', () => Buffer.concat(got).toString() === 'firstsecond');
    assert.equal(server.framing.cipher.keyCount, 1, 'the server promoted the new key');
    assert.throws(() => client.sendDatagram(Buffer.alloc(client.maxDatagramSize + 1)), RangeError);
    client.close();
    server.close();
  });
});
