import assert from 'node:assert/strict';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { certificateFingerprint, createQuicCredentials, decodeFingerprint, matchesPin } from '../../src/transport/quic/certificate.js';
import { enginePackageName, loadQuicEngine } from '../../src/transport/quic/engine.js';
import { QuicIdentityError } from '../../src/transport/quic/errors.js';
import { QuicConnection } from '../../src/transport/quic/quic-connection.js';
import { createTransportPair } from './harness.js';
import { testCredentials } from './quic-harness.js';

test('quic credentials: a fresh self-signed P-256 certificate whose fingerprint is the SHA-256 of its DER', () => {
  const c = createQuicCredentials('unit');
  const x = new X509Certificate(c.certPem);
  assert.equal(x.subject, 'CN=unit');
  assert.equal(x.issuer, 'CN=unit');
  assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(x.verify(x.publicKey), 'self-signed');
  assert.equal(c.fingerprint, certificateFingerprint(x.raw));
  assert.equal(x.fingerprint256.replace(/:/g, '').toLowerCase(), c.fingerprint);
  assert.notEqual(createQuicCredentials('unit').fingerprint, c.fingerprint, 'a new key every time');
});

test('quic pins: hex, colon-separated hex and base64 forms match; others do not', () => {
  const der = new X509Certificate(testCredentials.certPem).raw;
  const hex = testCredentials.fingerprint;
  const b64 = Buffer.from(hex, 'hex').toString('base64');
  assert.ok(matchesPin(der, [hex]));
  assert.ok(matchesPin(der, [hex.toUpperCase().replace(/(..)(?!$)/g, '$1:')]));
  assert.ok(matchesPin(der, [b64]));
  assert.ok(matchesPin(der, [b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=$/, '')]));
  assert.ok(matchesPin(der, ['nonsense', hex]), 'any one pin may match');
  assert.ok(!matchesPin(der, [createQuicCredentials().fingerprint]));
  assert.equal(decodeFingerprint('abc'), null);
});

test('quic engine: the addon loads here, and a missing one is a one-line error', () => {
  assert.ok(!(loadQuicEngine() instanceof Error), `engine ${enginePackageName()} loads`);
  const missing = loadQuicEngine(enginePackageName('plan9', 'mips'));
  assert.ok(missing instanceof Error);
  assert.equal(missing.message, 'QUIC engine unavailable: @matrixai/quic-plan9-mips is not installed');
});

test('quic identity: a client pinning another certificate refuses the server, and no stream crosses', { timeout: 30_000 }, async () => {
  const other = createQuicCredentials();
  const pair = await createTransportPair((path, role) =>
    role === 'server'
      ? new QuicConnection(path, { role, credentials: testCredentials })
      : new QuicConnection(path, { role, pinnedFingerprints: [other.fingerprint] }),
  );
  try {
    let streams = 0;
    pair.server.on('stream', () => streams++);
    const clientClosed = once(pair.client, 'close') as Promise<[Error | undefined]>;
    const serverClosed = once(pair.server, 'close');
    const s = pair.client.openStream(1);
    s.on('error', () => undefined);
    s.write('secret');
    const [err] = await clientClosed;
    assert.ok(err instanceof QuicIdentityError, `expected QuicIdentityError, got ${err}`);
    assert.equal(err.fingerprint, testCredentials.fingerprint);
    await serverClosed;
    assert.equal(streams, 0);
  } finally {
    await pair.close();
  }
});
