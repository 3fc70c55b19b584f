import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveInitialEpoch, deriveNextEpoch, EphemeralKey, wipe } from '../../src/crypto/rekey-keys.js';
import { resolveCommonPathConfig } from '../../src/path/path-options.js';

const hex = (b: Buffer): string => b.toString('hex');

// Expected values computed independently (Python hmac/hashlib HKDF) from the formulas in docs/REKEY.md.
test('the epoch key schedule matches docs/REKEY.md (known answers)', () => {
  const e0 = deriveInitialEpoch(Buffer.alloc(32, 0x42));
  assert.equal(hex(e0.chain), '860e7e8db1313d6db8441c55d651c6175ee403997d16102b6e5b39bd4cf2bf0d');
  assert.equal(hex(e0.clientToServer), '8476432e10c1604865813b40475464f7ca6796ec5dcd1f0bcad780eed59831a9');
  const e1 = deriveNextEpoch(e0.chain, Buffer.alloc(32, 0x07), 1, Buffer.alloc(32, 0xc1), Buffer.alloc(32, 0x5e));
  assert.equal(hex(e1.chain), 'fd6f995ce1770934df6b2e364b30bc1c0f9f959b8eac2f97e6a6e3402bf74327');
  assert.equal(hex(e1.clientToServer), '2b9e021a4ce63aa92fc92473d876e878067e6f1c7dad9cafd2c8c416be088479');
  assert.equal(hex(e1.serverToClient), '62848bd5a53903c33de138d17e21b9cc1f19bbab90a77a812d1022fc67eea905');
  // The epoch number and the order of the public keys matter.
  assert.notEqual(hex(deriveNextEpoch(e0.chain, Buffer.alloc(32, 0x07), 2, Buffer.alloc(32, 0xc1), Buffer.alloc(32, 0x5e)).chain), hex(e1.chain));
  assert.notEqual(hex(deriveNextEpoch(e0.chain, Buffer.alloc(32, 0x07), 1, Buffer.alloc(32, 0x5e), Buffer.alloc(32, 0xc1)).chain), hex(e1.chain));
  wipe(e1.chain, null, e1.clientToServer);
  assert.ok(e1.chain.every((b) => b === 0) && e1.clientToServer.every((b) => b === 0));
});

test('X25519 ephemeral keys agree; bad, low-order and used keys are refused', () => {
  const a = new EphemeralKey();
  const b = new EphemeralKey();
  assert.equal(a.publicKey.length, 32);
  const ab = a.agree(b.publicKey);
  const ba = b.agree(a.publicKey);
  assert.ok(ab !== null && ba !== null);
  assert.deepEqual(ab, ba);
  assert.equal(a.agree(Buffer.alloc(31, 9)), null, 'wrong length');
  assert.equal(a.agree(Buffer.alloc(32)), null, 'the zero point gives an all-zero secret');
  const one = Buffer.alloc(32);
  one[0] = 1;
  assert.equal(a.agree(one), null, 'a low-order point');
  a.dispose();
  assert.equal(a.agree(b.publicKey), null, 'disposed');
});

test('rekey options are validated with a message naming the option', () => {
  const secret = Buffer.alloc(32, 1);
  assert.deepEqual(resolveCommonPathConfig({ secret }).rekey, { intervalMs: 3_600_000, bytes: 2 ** 30, overlapMs: 5000, atStart: true });
  assert.equal(resolveCommonPathConfig({ secret, rekey: { intervalMs: Infinity } }).rekey.intervalMs, Infinity);
  assert.throws(() => resolveCommonPathConfig({ secret, rekey: { intervalMs: 0 } }), /rekey\.intervalMs must be a positive number/);
  assert.throws(() => resolveCommonPathConfig({ secret, rekey: { bytes: -1 } }), /rekey\.bytes/);
  assert.throws(() => resolveCommonPathConfig({ secret, rekey: { overlapMs: Infinity } }), /rekey\.overlapMs must be finite/);
  assert.throws(() => resolveCommonPathConfig({ secret, rekey: { atStart: 'yes' as unknown as boolean } }), /rekey\.atStart/);
});
