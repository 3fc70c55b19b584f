import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { Direction } from '../../src/crypto/direction.js';
import { deriveDirectionKeyBytes } from '../../src/crypto/key-schedule.js';
import {
  DatagramOpener,
  DatagramSealer,
  OpenFailure,
  SEALED_HEADER_BYTES,
  SEALED_OVERHEAD_BYTES,
} from '../../src/crypto/sealed-datagram.js';
import { generateSessionSecret } from '../../src/crypto/session-secret.js';

const secret = generateSessionSecret();
const c2sKey = deriveDirectionKeyBytes(secret, Direction.ClientToServer);
const s2cKey = deriveDirectionKeyBytes(secret, Direction.ServerToClient);

function pair(): { sealer: DatagramSealer; opener: DatagramOpener } {
  return {
    sealer: new DatagramSealer(c2sKey, Direction.ClientToServer),
    opener: new DatagramOpener(c2sKey, Direction.ClientToServer),
  };
}

function expectRefused(opener: DatagramOpener, datagram: Buffer, reason: OpenFailure, what: string): void {
  assert.equal(opener.open(datagram), null, what);
  assert.equal(opener.failure, reason, `${what}: reason`);
}

test('seal then open round-trips, packet numbers count up from 1, newest is reported', () => {
  const { sealer, opener } = pair();
  for (let i = 1; i <= 3; i++) {
    const plaintext = randomBytes(i * 100);
    const sealed = sealer.seal(plaintext);
    assert.equal(sealed.length, plaintext.length + SEALED_OVERHEAD_BYTES);
    assert.equal(sealed.readBigUInt64BE(1), BigInt(i));
    assert.deepEqual(opener.open(sealed), plaintext);
    assert.equal(opener.failure, OpenFailure.None);
    assert.equal(opener.packetNumber, i);
    assert.equal(opener.newest, true);
  }
});

test('a tampered header byte, ciphertext byte or tag byte fails authentication', () => {
  const { sealer, opener } = pair();
  const sealed = sealer.seal(Buffer.from('a datagram worth protecting'));
  // Byte 0 keeps a valid version; flipping a packet-number byte must fail authentication too.
  for (const at of [8, SEALED_HEADER_BYTES, SEALED_HEADER_BYTES + 10, sealed.length - 1]) {
    const bad = Buffer.from(sealed);
    bad[at] ^= 0x40;
    expectRefused(opener, bad, OpenFailure.Auth, `flipped byte ${at}`);
  }
  // After all those refusals the genuine datagram still opens: failures leave no trace in the window.
  assert.notEqual(opener.open(sealed), null);
});

test('flags: wrong version or reserved bits are malformed; the other key epoch fails authentication', () => {
  const { sealer, opener } = pair();
  const sealed = sealer.seal(Buffer.from('x'));
  for (const flags of [0x00, 0x02, 0x0f, 0x21, 0x81]) {
    const bad = Buffer.from(sealed);
    bad[0] = flags;
    expectRefused(opener, bad, OpenFailure.Malformed, `flags ${flags.toString(16)}`);
  }
  const otherEpoch = Buffer.from(sealed);
  otherEpoch[0] = 0x11;
  expectRefused(opener, otherEpoch, OpenFailure.Auth, 'epoch 1');
  const epochOneSealer = new DatagramSealer(c2sKey, Direction.ClientToServer, 1);
  const epochOne = epochOneSealer.seal(Buffer.from('x'));
  assert.equal(epochOne[0], 0x11);
  assert.notEqual(new DatagramOpener(c2sKey, Direction.ClientToServer, 1).open(epochOne), null);
});

test('packet number 0 and numbers beyond 2^53 are malformed', () => {
  const { sealer, opener } = pair();
  const sealed = sealer.seal(Buffer.from('x'));
  const zero = Buffer.from(sealed);
  zero.fill(0, 1, 9);
  expectRefused(opener, zero, OpenFailure.Malformed, 'pn 0');
  const huge = Buffer.from(sealed);
  huge.writeUInt32BE(0x0020_0000, 1);
  expectRefused(opener, huge, OpenFailure.Malformed, 'pn 2^53');
});

test('truncated datagrams are malformed (too short) or fail authentication', () => {
  const { sealer, opener } = pair();
  const sealed = sealer.seal(Buffer.from('truncate me, please'));
  for (let length = 0; length < SEALED_OVERHEAD_BYTES; length++) {
    expectRefused(opener, sealed.subarray(0, length), OpenFailure.Malformed, `length ${length}`);
  }
  for (const length of [SEALED_OVERHEAD_BYTES, sealed.length - 1]) {
    expectRefused(opener, sealed.subarray(0, length), OpenFailure.Auth, `length ${length}`);
  }
});

test('wrong key and wrong direction fail authentication', () => {
  const { sealer } = pair();
  const sealed = sealer.seal(Buffer.from('for the server only'));
  const otherSecret = generateSessionSecret();
  const wrongKey = new DatagramOpener(deriveDirectionKeyBytes(otherSecret, Direction.ClientToServer), Direction.ClientToServer);
  expectRefused(wrongKey, sealed, OpenFailure.Auth, 'other session');
  expectRefused(new DatagramOpener(s2cKey, Direction.ServerToClient), sealed, OpenFailure.Auth, 'opened as server->client');
  // Same key, other direction in the nonce: a reflected datagram.
  expectRefused(new DatagramOpener(c2sKey, Direction.ServerToClient), sealed, OpenFailure.Auth, 'reflected');
});

test('a replayed datagram is refused; reordered ones within the window are accepted once', () => {
  const { sealer, opener } = pair();
  const sealed = Array.from({ length: 5 }, (_, i) => sealer.seal(Buffer.from([i])));
  assert.notEqual(opener.open(sealed[4]), null);
  assert.equal(opener.newest, true);
  expectRefused(opener, sealed[4], OpenFailure.Replay, 'replay of the newest');
  for (const i of [2, 0, 3, 1]) {
    assert.deepEqual(opener.open(sealed[i]), Buffer.from([i]), `reordered ${i}`);
    assert.equal(opener.newest, false, `reordered ${i} is not the newest`);
  }
  for (const datagram of sealed) expectRefused(opener, datagram, OpenFailure.Replay, 'second copy');
});

test('sealInPlace writes at an offset and leaves the headroom alone', () => {
  const { sealer, opener } = pair();
  const out = Buffer.alloc(2 + 10 + SEALED_OVERHEAD_BYTES, 0xee);
  out.fill(7, 2 + SEALED_HEADER_BYTES, 2 + SEALED_HEADER_BYTES + 10);
  const length = sealer.sealInPlace(out, 2, 10);
  assert.equal(length, 10 + SEALED_OVERHEAD_BYTES);
  assert.deepEqual(out.subarray(0, 2), Buffer.from([0xee, 0xee]));
  assert.deepEqual(opener.open(out.subarray(2)), Buffer.alloc(10, 7));
});

test('property: open() never throws and never accepts random or mutated input', () => {
  const { sealer, opener } = pair();
  const genuine = sealer.seal(Buffer.from('genuine'));
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 1500 }), (bytes) => {
      assert.equal(opener.open(Buffer.from(bytes)), null);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: genuine.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
      const bad = Buffer.from(genuine);
      bad[at] ^= xor;
      assert.equal(opener.open(bad), null);
    }),
    { numRuns: 500 },
  );
});
