import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aesGcmOpen } from '../../src/crypto/aes-gcm.js';
import { Direction } from '../../src/crypto/direction.js';
import { deriveDirectionKeyBytes } from '../../src/crypto/key-schedule.js';
import { DatagramCodec } from '../../src/path/datagram-codec.js';
import { DatagramType, NO_TIMESTAMP, PATH_OVERHEAD_BYTES, timestamp16 } from '../../src/path/datagram-format.js';
import { emptyDrops } from '../../src/path/path-stats.js';
import { RttEstimator } from '../../src/path/rtt-estimator.js';
import { TcpFrameDecoder, writeFrameHeader } from '../../src/path/tcp-framing.js';

const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

function codecs(): { client: DatagramCodec; server: DatagramCodec; clientDrops: ReturnType<typeof emptyDrops>; serverDrops: ReturnType<typeof emptyDrops> } {
  const clientDrops = emptyDrops();
  const serverDrops = emptyDrops();
  return { client: new DatagramCodec(SECRET, 'client', clientDrops), server: new DatagramCodec(SECRET, 'server', serverDrops), clientDrops, serverDrops };
}

test('path datagram layout: 30 bytes overhead, fixed-key vector (regression)', () => {
  const { client, server } = codecs();
  const datagram = client.seal(DatagramType.Data, Buffer.from('hello'), 0, 1234);
  assert.equal(PATH_OVERHEAD_BYTES, 30);
  assert.equal(datagram.length, 5 + 30);
  assert.equal(
    datagram.toString('hex'),
    '010000000000000001409f06587dffefb64647acb5d3e3f7062e7b8dd85cadc1f639b7',
  );
  // Inside: [u16 ts 1234][u16 echo none][u8 type 0]["hello"].
  const key = deriveDirectionKeyBytes(SECRET, Direction.ClientToServer);
  const nonce = Buffer.concat([Buffer.from([0, 0, 0, 0]), datagram.subarray(1, 9)]);
  const inner = aesGcmOpen(key, nonce, datagram.subarray(0, 9), datagram.subarray(9, -16), datagram.subarray(-16));
  assert.equal(inner?.toString('hex'), '04d2ffff00' + Buffer.from('hello').toString('hex'));
  const payload = server.open(datagram, 1300);
  assert.deepEqual(payload, Buffer.from('hello'));
  assert.equal(server.type, DatagramType.Data);
});

test('headroom is left in front of the sealed datagram', () => {
  const { client, server } = codecs();
  const framed = client.seal(DatagramType.Keepalive, null, 2, 0);
  assert.equal(framed.length, 2 + 30);
  assert.deepEqual(server.open(framed.subarray(2), 0), Buffer.alloc(0));
  assert.equal(server.type, DatagramType.Keepalive);
});

test('timestamps: 0xFFFF is reserved for "none"', () => {
  assert.equal(timestamp16(0xffff), 0);
  assert.equal(timestamp16(0x1_0005), 5);
  assert.equal(timestamp16(1234.9), 1234);
});

test('echo: held timestamp plus hold time comes back once and yields an RTT sample', () => {
  const { client, server } = codecs();
  // Client sends at t=1000 (its clock); server receives at its t=50_000, answers 30 ms later.
  assert.notEqual(server.open(client.seal(DatagramType.Keepalive, null, 0, 1000), 50_000), null);
  const reply = server.seal(DatagramType.Keepalive, null, 0, 50_030);
  // The echo is 1000 + 30 (time held); the client gets it at t=1100, so the RTT is 1100 - 1030 = 70.
  assert.notEqual(client.open(reply, 1100), null);
  assert.equal(client.rtt.latestMs, 70);
  assert.equal(client.rtt.samples, 1);
  // The next server datagram carries no echo (echoed once).
  const second = server.seal(DatagramType.Data, Buffer.from('x'), 0, 50_031);
  assert.notEqual(client.open(second, 1101), null);
  assert.equal(client.rtt.samples, 1);
});

test('echo: a timestamp held for a second or more is not echoed', () => {
  const { client, server } = codecs();
  server.open(client.seal(DatagramType.Data, null, 0, 10), 0);
  const late = server.seal(DatagramType.Data, null, 0, 1000);
  assert.notEqual(client.open(late, 2000), null);
  assert.equal(client.rtt.samples, 0);
  assert.equal(NO_TIMESTAMP, 0xffff);
});

test('codec counts refusals by reason and never throws', () => {
  const { client, server, serverDrops } = codecs();
  const good = client.seal(DatagramType.Data, Buffer.from('abc'), 0, 0);
  assert.equal(server.open(Buffer.alloc(3), 0), null);
  const tampered = Buffer.from(good);
  tampered[tampered.length - 1] ^= 1;
  assert.equal(server.open(tampered, 0), null);
  assert.notEqual(server.open(good, 0), null);
  assert.equal(server.open(good, 0), null);
  // A reflected datagram (the server's own, sent back, with a packet number not yet seen) fails authentication.
  server.seal(DatagramType.Data, null, 0, 0);
  assert.equal(server.open(server.seal(DatagramType.Data, null, 0, 0), 0), null);
  assert.deepEqual(serverDrops, { ...emptyDrops(), malformed: 1, auth: 2, replay: 1 });
});

test('codec: an authentic datagram with an unknown type is malformed', () => {
  const { client, server, serverDrops } = codecs();
  const odd = client.seal(8 as DatagramType, Buffer.from('?'), 0, 0);
  assert.equal(server.open(odd, 0), null);
  assert.equal(serverDrops.malformed, 1);
});

test('RTT smoothing follows RFC 6298 (alpha 1/8, beta 1/4)', () => {
  const rtt = new RttEstimator();
  assert.ok(Number.isNaN(rtt.srttMs));
  rtt.addSample(100);
  assert.equal(rtt.srttMs, 100);
  assert.equal(rtt.rttVarMs, 50);
  rtt.addSample(200);
  assert.equal(rtt.rttVarMs, 0.75 * 50 + 0.25 * 100);
  assert.equal(rtt.srttMs, 0.875 * 100 + 0.125 * 200);
  assert.equal(rtt.latestMs, 200);
});

test('TCP framing: frames split across chunks and several per chunk are reassembled', () => {
  const frames = [Buffer.alloc(30, 1), Buffer.alloc(100, 2), Buffer.alloc(31, 3)];
  const stream = Buffer.concat(
    frames.map((f) => {
      const framed = Buffer.alloc(f.length + 2);
      f.copy(framed, 2);
      writeFrameHeader(framed);
      return framed;
    }),
  );
  for (const step of [1, 2, 7, 64, stream.length]) {
    const got: Buffer[] = [];
    const decoder = new TcpFrameDecoder(30, 1400, (d) => got.push(Buffer.from(d)));
    for (let at = 0; at < stream.length; at += step) assert.equal(decoder.push(stream.subarray(at, at + step)), true);
    assert.deepEqual(got, frames, `step ${step}`);
  }
});

test('TCP framing: an impossible length (too short or above the MTU) stops the decoder', () => {
  const decoder = new TcpFrameDecoder(30, 1400, () => assert.fail('no frame expected'));
  assert.equal(decoder.push(Buffer.from([0, 29])), false);
  const decoder2 = new TcpFrameDecoder(30, 1400, () => assert.fail('no frame expected'));
  assert.equal(decoder2.push(Buffer.from([0x05, 0x79])), false, '1401 bytes');
});
