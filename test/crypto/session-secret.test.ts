import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Direction } from '../../src/crypto/direction.js';
import { deriveDirectionKeyBytes } from '../../src/crypto/key-schedule.js';
import {
  decodeSessionSecret,
  encodeSessionSecret,
  generateSessionSecret,
  SESSION_SECRET_BYTES,
  SESSION_SECRET_TEXT_LENGTH,
} from '../../src/crypto/session-secret.js';

test('a generated secret is 32 random bytes and survives encode/decode', () => {
  const a = generateSessionSecret();
  const b = generateSessionSecret();
  assert.equal(a.length, SESSION_SECRET_BYTES);
  assert.notDeepEqual(a, b);
  const text = encodeSessionSecret(a);
  assert.match(text, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(text.length, SESSION_SECRET_TEXT_LENGTH);
  assert.deepEqual(decodeSessionSecret(text), a);
  assert.deepEqual(decodeSessionSecret(`  ${text}\n`), a, 'surrounding whitespace is tolerated');
});

test('bad secret text is rejected with a message naming the expected form', () => {
  const good = encodeSessionSecret(generateSessionSecret());
  for (const bad of ['', good.slice(1), `${good}A`, `${good.slice(0, 42)}=`, `${good.slice(0, 42)}+`, good.replace(/./, '/')]) {
    assert.throws(() => decodeSessionSecret(bad), /session secret .*base64url/, JSON.stringify(bad));
  }
  // The 43rd character carries 2 spare bits; a non-zero spare makes a non-canonical encoding.
  const lastIndex = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(good[42]);
  const nonCanonical = good.slice(0, 42) + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[lastIndex ^ 1];
  assert.throws(() => decodeSessionSecret(nonCanonical), /canonical/);
  assert.throws(() => encodeSessionSecret(Buffer.alloc(31)), RangeError);
});

test('the two direction keys differ from each other and between sessions', () => {
  const secret = generateSessionSecret();
  const c2s = deriveDirectionKeyBytes(secret, Direction.ClientToServer);
  const s2c = deriveDirectionKeyBytes(secret, Direction.ServerToClient);
  assert.equal(c2s.length, 32);
  assert.notDeepEqual(c2s, s2c);
  assert.notDeepEqual(deriveDirectionKeyBytes(generateSessionSecret(), Direction.ClientToServer), c2s);
  assert.deepEqual(deriveDirectionKeyBytes(secret, Direction.ClientToServer), c2s, 'deterministic');
  assert.throws(() => deriveDirectionKeyBytes(Buffer.alloc(16), Direction.ClientToServer), RangeError);
});
