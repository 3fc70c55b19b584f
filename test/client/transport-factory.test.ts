import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chooseClientTransport } from '../../src/client/transport-choice.js';
import { createClientTransport } from '../../src/client/transport-factory.js';
import type { BootstrapInfo } from '../../src/protocol/bootstrap.js';
import { StreamKind } from '../../src/protocol/stream-kind.js';
import { createServerTransport } from '../../src/server/transport-factory.js';
import type { Stream } from '../../src/transport/connection.js';
import { createMemoryPathPair } from '../support/memory-path.js';
import { PROTOCOL_VERSION } from '../../src/version.js';

const BASE: BootstrapInfo = {
  serverVersion: '0.0.0',
  protocolVersion: PROTOCOL_VERSION,
  port: 61001,
  mode: 'kcp',
  secret: 'A'.repeat(43),
  proxyMode: 'udp',
  mtu: 1400,
};

test('chooseClientTransport: kcp stays KCP; quic is QUIC when the engine loads, else KCP with one line', () => {
  let loads = 0;
  assert.deepEqual(chooseClientTransport('kcp', () => ++loads), { mode: 'kcp' });
  assert.equal(loads, 0, 'KCP never loads the QUIC engine');
  assert.deepEqual(chooseClientTransport('quic', () => ({})), { mode: 'quic' });
  assert.deepEqual(chooseClientTransport('quic', () => new Error('QUIC engine unavailable: @matrixai/quic-x is not installed')), {
    mode: 'kcp',
    notice: 'tssh: QUIC engine unavailable: @matrixai/quic-x is not installed; using KCP',
  });
});

for (const mode of ['kcp', 'quic'] as const) {
  test(`${mode}: the server factory's bootstrap fields give the client factory a matching end; a stream round-trips`, async (t) => {
    const pair = createMemoryPathPair();
    t.after(() => pair.close());
    const server = createServerTransport(mode, pair.b);
    t.after(() => server.conn.destroy());
    assert.equal(server.bootstrap.mode, mode);
    if (mode === 'kcp') {
      assert.ok(Number.isInteger(server.bootstrap.conv));
      assert.equal(server.bootstrap.quic, undefined);
    } else {
      assert.equal(server.bootstrap.conv, undefined);
      assert.match(server.bootstrap.quic?.certFingerprints[0] ?? '', /^[0-9a-f]{64}$/);
    }
    const client = createClientTransport({ ...BASE, ...server.bootstrap }, pair.a);
    t.after(() => client.conn.destroy());
    assert.equal(client.name, mode.toUpperCase());

    const accepted = once(server.conn, 'stream') as Promise<[Stream]>;
    const stream = client.conn.openStream(StreamKind.Session);
    stream.end('ping');
    const [peer] = await accepted;
    assert.equal(peer.kind, StreamKind.Session);
    const chunks: Buffer[] = [];
    for await (const chunk of peer) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'ping');
  });
}

test('createClientTransport refuses a QUIC bootstrap without a certificate fingerprint', () => {
  const pair = createMemoryPathPair();
  try {
    assert.throws(() => createClientTransport({ ...BASE, mode: 'quic' }, pair.a), /^Error: tssh: tsshd chose QUIC but sent no certificate fingerprint; /);
    assert.throws(() => createClientTransport({ ...BASE, mode: 'quic', quic: { certFingerprints: [] } }, pair.a), /no certificate fingerprint/);
  } finally {
    pair.close();
  }
});
