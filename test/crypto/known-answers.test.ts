import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aesGcmOpen, aesGcmSealInto, AES_GCM_TAG_BYTES } from '../../src/crypto/aes-gcm.js';
import { Direction } from '../../src/crypto/direction.js';
import { deriveDirectionKeyBytes, hkdfSha256 } from '../../src/crypto/key-schedule.js';
import { DatagramOpener, DatagramSealer } from '../../src/crypto/sealed-datagram.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('HKDF-SHA256 matches RFC 5869 test case 1', () => {
  const okm = hkdfSha256(hex('0b'.repeat(22)), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42);
  assert.equal(
    okm.toString('hex'),
    '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  );
});

// The GCM specification (McGrew & Viega), test case 16: AES-256, 96-bit IV, 60-byte plaintext, 20-byte AAD.
const GCM16 = {
  key: hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308'),
  iv: hex('cafebabefacedbaddecaf888'),
  aad: hex('feedfacedeadbeeffeedfacedeadbeefabaddad2'),
  plaintext: hex(`d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                  1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39`),
  ciphertext: hex(`522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
                   8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662`),
  tag: hex('76fc6ece0f4e1768cddf8853bb2d551b'),
};

test('AES-256-GCM sealing primitive reproduces GCM spec test case 16', () => {
  const out = Buffer.alloc(GCM16.plaintext.length + AES_GCM_TAG_BYTES);
  const written = aesGcmSealInto(GCM16.key, GCM16.iv, GCM16.aad, GCM16.plaintext, out, 0);
  assert.equal(written, out.length);
  assert.deepEqual(out.subarray(0, GCM16.plaintext.length), GCM16.ciphertext);
  assert.deepEqual(out.subarray(GCM16.plaintext.length), GCM16.tag);
});

test('AES-256-GCM sealing in place (plaintext aliasing the output) gives the same bytes', () => {
  const buf = Buffer.alloc(4 + GCM16.plaintext.length + AES_GCM_TAG_BYTES);
  GCM16.plaintext.copy(buf, 4);
  aesGcmSealInto(GCM16.key, GCM16.iv, GCM16.aad, buf.subarray(4, 4 + GCM16.plaintext.length), buf, 4);
  assert.deepEqual(buf.subarray(4), Buffer.concat([GCM16.ciphertext, GCM16.tag]));
});

test('AES-256-GCM open accepts test case 16 and refuses any flipped bit of ciphertext, tag or AAD', () => {
  assert.deepEqual(aesGcmOpen(GCM16.key, GCM16.iv, GCM16.aad, GCM16.ciphertext, GCM16.tag), GCM16.plaintext);
  for (const field of ['ciphertext', 'tag', 'aad', 'iv'] as const) {
    const bad = { ...GCM16, [field]: Buffer.from(GCM16[field]) };
    bad[field][3] ^= 0x01;
    assert.equal(aesGcmOpen(bad.key, bad.iv, bad.aad, bad.ciphertext, bad.tag), null, `flipped ${field}`);
  }
  assert.equal(aesGcmOpen(GCM16.key, GCM16.iv, GCM16.aad, GCM16.ciphertext, GCM16.tag.subarray(0, 12)), null, 'short tag');
});

// Regression vector of our own format: secret 00..1f, client->server, packet number 1, plaintext "tsshd".
const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const DATAGRAM_VECTOR = {
  c2sKey: '9d1cd02471d885f14b89b5077783d52795773e914b72e49b9e5c39f35bf8284f',
  s2cKey: 'fd3d9ee0935a483ae19bcff587da8d365f8b633ec38dda6269d2dcbf19fa09f8',
  sealed: '010000000000000001303e8acf191f03dfa56564398b599835138c771894',
};

test('direction keys of a fixed secret are stable (regression)', () => {
  assert.equal(deriveDirectionKeyBytes(SECRET, Direction.ClientToServer).toString('hex'), DATAGRAM_VECTOR.c2sKey);
  assert.equal(deriveDirectionKeyBytes(SECRET, Direction.ServerToClient).toString('hex'), DATAGRAM_VECTOR.s2cKey);
});

test('fixed-key sealed datagram is byte-exact and opens (regression)', () => {
  const key = deriveDirectionKeyBytes(SECRET, Direction.ClientToServer);
  const sealed = new DatagramSealer(key, Direction.ClientToServer).seal(Buffer.from('tsshd'));
  assert.equal(sealed.toString('hex'), DATAGRAM_VECTOR.sealed);
  assert.equal(sealed[0], 0x01, 'version 1, epoch 0');
  assert.deepEqual(sealed.subarray(1, 9), hex('0000000000000001'));
  const opened = new DatagramOpener(key, Direction.ClientToServer).open(sealed);
  assert.deepEqual(opened, Buffer.from('tsshd'));
});
