import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { waitFor } from '../support/wait.js';
import { RawSender, startPair } from './fixtures.js';

const FLOOD = 100_000;
const BATCH = 500;

test('100,000 random datagrams at the server port: nothing delivered, all counted, the exchange goes on', async () => {
  const pair = await startPair();
  const raw = await RawSender.open();
  const pool = randomBytes(1 << 21);
  let seq = 0;
  let pongs = 0;
  const pinger = setInterval(() => pair.client.send(Buffer.from(`ping ${seq++}`)), 5);
  try {
    const { server, client } = pair;
    const strays: Buffer[] = [];
    server.onDatagram = (p) => {
      if (!/^ping \d+$/.test(p.toString('latin1'))) strays.push(p);
      server.send(p);
    };
    client.onDatagram = () => pongs++;
    await waitFor('the exchange to run', () => pongs >= 5);
    const peer = server.stats().peer;
    const dropsBefore = (): number => {
      const d = server.stats().dropped;
      return d.malformed + d.auth + d.replay;
    };
    const baseline = dropsBefore();
    const pongsBefore = pongs;

    let sent = 0;
    while (sent < FLOOD) {
      for (let i = 0; i < BATCH; i++, sent++) {
        const length = Math.floor(Math.random() * 1501);
        const at = Math.floor(Math.random() * (pool.length - length));
        let datagram = pool.subarray(at, at + length);
        if (sent % 10 === 0) {
          // A valid-looking header: version 1, either key epoch, a packet number the server has not seen.
          datagram = Buffer.from(pool.subarray(at, at + Math.max(30, length)));
          datagram[0] = sent % 20 === 0 ? 0x01 : 0x11;
          datagram.writeUInt32BE(0, 1);
          datagram.writeUInt32BE(1_000_000 + sent, 5);
        }
        raw.send(datagram, server.port);
      }
      const expected = baseline + sent;
      await waitFor(`${sent} flood datagrams counted`, () => dropsBefore() >= expected, 20_000, 1);
    }
    const dropped = server.stats().dropped;
    assert.equal(dropped.malformed + dropped.auth + dropped.replay - baseline, FLOOD, 'every flood datagram counted once');
    assert.ok(dropped.auth >= FLOOD / 10, `valid-looking headers reach authentication (auth ${dropped.auth})`);
    assert.ok(dropped.malformed > FLOOD / 2, `most random bytes fail parsing (malformed ${dropped.malformed})`);
    assert.deepEqual(strays, [], 'nothing from the flood was delivered');
    assert.deepEqual(server.stats().peer, peer, 'the flood did not move the peer');
    assert.ok(pongs > pongsBefore, 'the exchange went on during the flood');
    const pongsAfterFlood = pongs;
    await waitFor('the exchange to continue after the flood', () => pongs >= pongsAfterFlood + 5);
    assert.equal(client.stats().contactLost, false);
  } finally {
    clearInterval(pinger);
    raw.close();
    pair.close();
  }
});
