import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBusMessage, ProtocolError, MAX_LIVENESS_TIMEOUT_MS } from '../../src/protocol/messages.js';
import { SessionClient } from '../../src/client/session-client.js';
import { SessionHost, type ClientLiveness } from '../../src/server/session-host.js';
import { ServerPath } from '../../src/path/server-path.js';
import { generateSessionSecret } from '../../src/crypto/session-secret.js';
import { memoryConnectionPair } from '../support/stream-pair.js';
import { waitForEvent } from '../support/wait.js';

test('hello carries optional liveness timeouts, range-checked', () => {
  assert.deepEqual(parseBusMessage({ type: 'hello', clientVersion: 'x', aliveTimeoutMs: 2000, heartbeatTimeoutMs: 500 }), {
    type: 'hello',
    clientVersion: 'x',
    aliveTimeoutMs: 2000,
    heartbeatTimeoutMs: 500,
  });
  assert.deepEqual(parseBusMessage({ type: 'hello', clientVersion: 'x' }), { type: 'hello', clientVersion: 'x' });
  for (const bad of [0, -1, 1.5, MAX_LIVENESS_TIMEOUT_MS + 1, '2000']) {
    assert.throws(() => parseBusMessage({ type: 'hello', clientVersion: 'x', aliveTimeoutMs: bad }), ProtocolError, `aliveTimeoutMs ${bad}`);
    assert.throws(() => parseBusMessage({ type: 'hello', clientVersion: 'x', heartbeatTimeoutMs: bad }), ProtocolError, `heartbeatTimeoutMs ${bad}`);
  }
});

test('SessionClient sends its timeouts in the hello, and the host reports them', async (t) => {
  const [clientConn, serverConn] = memoryConnectionPair();
  t.after(() => clientConn.destroy());
  const host = new SessionHost(serverConn, { envAccepted: () => false, subsystems: new Map(), loginEnv: { SHELL: '/bin/sh', HOME: '/' } });
  const hello = new Promise<[string, ClientLiveness]>((resolve) => host.once('hello', (v: string, l: ClientLiveness) => resolve([v, l])));
  new SessionClient(clientConn, 'tssh-x', { aliveTimeoutMs: 2000, heartbeatTimeoutMs: 700 });
  assert.deepEqual(await hello, ['tssh-x', { aliveTimeoutMs: 2000, heartbeatTimeoutMs: 700 }]);
});

test('SessionClient refuses an out-of-range timeout with RangeError', (t) => {
  const [clientConn] = memoryConnectionPair();
  t.after(() => clientConn.destroy());
  assert.throws(() => new SessionClient(clientConn, 'tssh-x', { aliveTimeoutMs: 0 }), RangeError);
});

test('ServerPath.setLivenessTimeouts shortens UdpAliveTimeout: the path gives up on schedule', async (t) => {
  const path = await ServerPath.create({ portSpec: '40000-40999', secret: generateSessionSecret(), host: '127.0.0.1' });
  t.after(() => path.close());
  assert.throws(() => path.setLivenessTimeouts({ aliveTimeoutMs: 0 }), RangeError);
  const gaveUp = waitForEvent<string>(path, 'gave-up', 10_000);
  path.setLivenessTimeouts({ aliveTimeoutMs: 300 });
  assert.match(await gaveUp, /UdpAliveTimeout 300 ms/);
  assert.equal(path.isClosed, true);
});
