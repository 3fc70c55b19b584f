import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Direction } from '../../src/crypto/direction.js';
import { DatagramSealer } from '../../src/crypto/sealed-datagram.js';
import { DatagramType } from '../../src/path/datagram-format.js';
import type { PathEnd } from '../../src/path/path-end.js';
import type { RekeyConfig } from '../../src/path/path-options.js';
import { REKEY_MAX_SENDS } from '../../src/path/rekeyer.js';
import { waitFor } from '../support/wait.js';
import { pairThroughRelay, RawSender, startPair, type PathPair, type UdpRelay } from './fixtures.js';

// Long heartbeats keep keepalives out of the way where a test picks datagrams by size.
const QUIET = { heartbeatTimeoutMs: 60_000 };
/** Sealed sizes of the handshake messages: 30 bytes of overhead plus u32 epoch and a 32-byte key, or just the epoch. */
const KEY_MESSAGE_DATAGRAM = 30 + 36;
const CONFIRM_DATAGRAM = 30 + 4;

/** A pair talking through a UdpRelay (so datagrams can be dropped, held and copied), rekeying only when told. */
async function relayedPair(rekey: Partial<RekeyConfig> = {}): Promise<{ pair: PathPair; relay: UdpRelay }> {
  const options = { ...QUIET, rekey: { intervalMs: Infinity, atStart: false, ...rekey } };
  return pairThroughRelay({ server: options, client: options });
}

const epochOf = (path: PathEnd): number => path.stats().rekey.epoch;
const settled = (path: PathEnd, epoch: number): boolean => epochOf(path) === epoch && !path.stats().rekey.oldEpochHeld;

test('rekey() switches both sides to a new epoch, data flows across it, and retired secrets are zeroed', async () => {
  const { pair, relay } = await relayedPair({ overlapMs: 200 });
  try {
    const { server, client } = pair;
    const got: string[] = [];
    server.onDatagram = (p) => got.push(p.toString());
    client.send(Buffer.from('before'));
    await waitFor('the first datagram', () => got.length === 1);
    const epochZero = [...client.secretBuffersForTest(), ...server.secretBuffersForTest()];
    assert.equal(epochZero.length, 6, 'chain, sending and receiving key on each side');
    assert.ok(epochZero.every((b) => b.some((x) => x !== 0)));
    client.rekey();
    await waitFor('both sides settled in epoch 1', () => settled(client, 1) && settled(server, 1));
    assert.ok(epochZero.every((b) => b.every((x) => x === 0)), 'every epoch-0 secret Buffer was overwritten with zeros');
    client.send(Buffer.from('after'));
    await waitFor('the datagram after the rekey', () => got.length === 2);
    assert.deepEqual(got, ['before', 'after']);
    // The wire says which epoch: flags 0x11 = version 1, epoch bit set.
    assert.equal(relay.fromClient[relay.fromClient.length - 1][0], 0x11);
    const c = client.stats().rekey;
    const s = server.stats().rekey;
    assert.deepEqual([c.initiated, c.rekeys, c.responded, s.initiated, s.rekeys, s.responded], [1, 1, 0, 0, 1, 1]);
    // Two more rounds: the epoch bit flips back, keys never repeat.
    const epochOne = [...client.secretBuffersForTest(), ...server.secretBuffersForTest()];
    client.rekey();
    await waitFor('epoch 2', () => settled(client, 2) && settled(server, 2));
    server.rekey();
    await waitFor('epoch 3 (started by the server)', () => settled(client, 3) && settled(server, 3));
    assert.ok(epochOne.every((b) => b.every((x) => x === 0)));
    client.send(Buffer.from('epoch 3'));
    await waitFor('a datagram in epoch 3', () => got.length === 3);
    const current = [...client.secretBuffersForTest(), ...server.secretBuffersForTest()];
    pair.close();
    assert.ok(current.every((b) => b.every((x) => x === 0)), 'closing the path wipes the current keys too');
  } finally {
    pair.close();
    relay.close();
  }
});

test('a datagram sealed under the old epoch is accepted during the overlap and refused after it', async () => {
  const { pair, relay } = await relayedPair({ overlapMs: 3000 });
  const raw = await RawSender.open();
  try {
    const { server, client } = pair;
    const got: string[] = [];
    server.onDatagram = (p) => got.push(p.toString());
    // Hold back two epoch-0 data datagrams, as a long reordering would.
    const held: Buffer[] = [];
    relay.onClientDatagram = (d) => {
      if (held.length < 2) {
        held.push(d);
        return 'drop';
      }
      return 'forward';
    };
    client.send(Buffer.from('late one'));
    client.send(Buffer.from('late two'));
    await waitFor('two held datagrams', () => held.length === 2);
    relay.onClientDatagram = null;
    client.rekey();
    await waitFor('the server to switch (it still holds epoch 0 for the overlap)', () => epochOf(server) === 1 && server.stats().rekey.oldEpochHeld);
    const peerBefore = server.stats().peer;
    raw.send(held[0], server.port);
    await waitFor('the late epoch-0 datagram delivered', () => got.includes('late one'));
    assert.deepEqual(server.stats().peer, peerBefore, 'an older datagram from elsewhere never moves the peer');
    await waitFor('the overlap to end', () => !server.stats().rekey.oldEpochHeld, 10_000);
    const authBefore = server.stats().dropped.auth;
    raw.send(held[1], server.port);
    await waitFor('the epoch-0 datagram refused', () => server.stats().dropped.auth === authBefore + 1);
    assert.ok(!got.includes('late two'));
  } finally {
    raw.close();
    pair.close();
    relay.close();
  }
});

test('lost handshake messages are retransmitted; a repeated init gets the same reply', async () => {
  const { pair, relay } = await relayedPair({ overlapMs: 200 });
  try {
    const { server, client } = pair;
    let dropInits = 5;
    let dropConfirms = 1;
    let dropReplies = 2;
    relay.onClientDatagram = (d) => {
      if (d.length === KEY_MESSAGE_DATAGRAM && dropInits > 0) return dropInits-- > 3 ? 'drop' : 'forward';
      if (d.length === CONFIRM_DATAGRAM && dropConfirms > 0) return dropConfirms-- > 0 ? 'drop' : 'forward';
      return 'forward';
    };
    relay.onServerDatagram = (d) => (d.length === KEY_MESSAGE_DATAGRAM && dropReplies-- > 0 ? 'drop' : 'forward');
    client.rekey();
    await waitFor('both sides settled in epoch 1', () => settled(client, 1) && settled(server, 1));
    const c = client.stats().rekey;
    const s = server.stats().rekey;
    // 2 inits lost, then 2 replies lost (each answered init re-sent), then 1 confirm lost.
    assert.ok(c.retransmits >= 5, `client retransmits ${c.retransmits}`);
    assert.ok(s.retransmits >= 2, `server re-sent replies ${s.retransmits}`);
    assert.equal(s.responded, 1, 'the repeated init was answered from the same derivation');
    assert.equal(c.failures, 0);
    const got: string[] = [];
    server.onDatagram = (p) => got.push(p.toString());
    client.send(Buffer.from('still here'));
    await waitFor('data in the new epoch', () => got.length === 1);
  } finally {
    pair.close();
    relay.close();
  }
});

test('an unanswered handshake gives up after a bounded number of sends; a later one succeeds', async () => {
  const { pair, relay } = await relayedPair({ overlapMs: 200 });
  try {
    const { server, client } = pair;
    relay.blackout = true;
    const sentBefore = relay.fromClient.length;
    client.rekey();
    await waitFor('the handshake to give up', () => client.stats().rekey.failures === 1, 20_000);
    const inits = relay.fromClient.slice(sentBefore).filter((d) => d.length === KEY_MESSAGE_DATAGRAM).length;
    assert.equal(inits, REKEY_MAX_SENDS);
    assert.equal(epochOf(client), 0);
    relay.blackout = false;
    client.rekey();
    await waitFor('the retry to succeed', () => settled(client, 1) && settled(server, 1));
  } finally {
    pair.close();
    relay.close();
  }
});

test("simultaneous rekeys from both sides: the client's handshake wins", async () => {
  const { pair, relay } = await relayedPair({ overlapMs: 200 });
  try {
    const { server, client } = pair;
    // Both inits are lost at first, so each side is sure to be waiting for its own reply when the other's arrives.
    relay.blackout = true;
    client.rekey();
    server.rekey();
    await waitFor('both to start', () => client.stats().rekey.initiated === 1 && server.stats().rekey.initiated === 1);
    relay.blackout = false;
    await waitFor('both sides settled in epoch 1', () => settled(client, 1) && settled(server, 1));
    const c = client.stats().rekey;
    const s = server.stats().rekey;
    assert.equal(s.yielded, 1, 'the server gave up its own handshake');
    assert.equal(c.yielded, 0);
    assert.equal(s.responded, 1);
    assert.equal(c.responded, 0);
    // (Whether the server's init reached the client before the server yielded depends on timing; the client ignores it if it does.)
    const got: string[] = [];
    client.onDatagram = (p) => got.push(p.toString());
    server.send(Buffer.from('agreed'));
    await waitFor('server data in the new epoch', () => got.length === 1);
  } finally {
    pair.close();
    relay.close();
  }
});

test('a replayed rekey message does nothing, during the overlap and after it', async () => {
  const { pair, relay } = await relayedPair({ overlapMs: 3000 });
  const raw = await RawSender.open();
  try {
    const { server, client } = pair;
    client.rekey();
    await waitFor('the server to switch', () => epochOf(server) === 1 && server.stats().rekey.oldEpochHeld);
    const init = relay.fromClient.find((d) => d.length === KEY_MESSAGE_DATAGRAM)!;
    const before = server.stats();
    raw.send(init, server.port);
    await waitFor('the replay refused', () => server.stats().dropped.replay === before.dropped.replay + 1);
    await waitFor('the overlap to end', () => settled(server, 1), 10_000);
    raw.send(init, server.port);
    await waitFor('the stale init refused', () => server.stats().dropped.auth === before.dropped.auth + 1);
    const after = server.stats();
    assert.deepEqual(after.peer, before.peer);
    assert.deepEqual({ ...after.rekey, oldEpochHeld: true }, before.rekey, 'no rekey state changed');
    assert.equal(epochOf(client), 1);
  } finally {
    raw.close();
    pair.close();
    relay.close();
  }
});

test('the byte limit and the interval trigger rekeys on their own', async () => {
  const bytes = await startPair({ server: { rekey: { bytes: 50_000, intervalMs: Infinity, overlapMs: 100, atStart: false } }, client: { rekey: { bytes: 50_000, intervalMs: Infinity, overlapMs: 100, atStart: false } } });
  const timed = await startPair({ server: { rekey: { intervalMs: 150, overlapMs: 50 } }, client: { rekey: { intervalMs: 150, overlapMs: 50 } } });
  try {
    let received = 0;
    bytes.server.onDatagram = () => received++;
    const payload = Buffer.alloc(1000, 7);
    for (let i = 0; i < 40; i++) bytes.client.send(payload);
    await waitFor('40 datagrams', () => received === 40);
    assert.equal(epochOf(bytes.client), 0, 'below the limit: no rekey');
    for (let i = 0; i < 40; i++) bytes.client.send(payload);
    await waitFor('a rekey after 50 kB', () => settled(bytes.client, 1) && settled(bytes.server, 1));
    await waitFor('several timed rekeys', () => epochOf(timed.client) >= 4 && epochOf(timed.server) >= 4, 20_000);
  } finally {
    bytes.close();
    timed.close();
  }
});

test('roaming during a rekey: the server follows the client and the handshake completes', async () => {
  const pair = await startPair({ server: { ...QUIET, rekey: { intervalMs: Infinity, overlapMs: 200, atStart: false } }, client: { ...QUIET, rekey: { intervalMs: Infinity, overlapMs: 200, atStart: false } } });
  try {
    const { server, client } = pair;
    const portBefore = client.stats().localPort;
    client.rekey();
    const renewing = client.renew();
    await renewing;
    await waitFor('both sides settled in epoch 1', () => settled(client, 1) && settled(server, 1));
    await waitFor('the server to follow', () => server.stats().peer?.port === client.stats().localPort);
    assert.notEqual(client.stats().localPort, portBefore);
    const got: string[] = [];
    client.onDatagram = (p) => got.push(p.toString());
    server.send(Buffer.from('found you'));
    await waitFor('server data at the new address', () => got.length === 1);
  } finally {
    pair.close();
  }
});

test('by default the client rekeys right after the path starts, so epoch 0 carries only the first round trip', async () => {
  const pair = await startPair({ server: QUIET, client: QUIET });
  try {
    await waitFor('both sides in epoch 1', () => settled(pair.client, 1) && settled(pair.server, 1), 15_000);
    assert.equal(pair.client.stats().rekey.initiated, 1);
    assert.equal(pair.server.stats().rekey.initiated, 0, 'the server waits for the client (and an hour)');
  } finally {
    pair.close();
  }
});

test('TCP proxy mode rekeys the same way (the handshake travels in framed datagrams)', async () => {
  const options = { ...QUIET, proxyMode: 'tcp' as const, rekey: { overlapMs: 100 } };
  const pair = await startPair({ server: options, client: options });
  try {
    const { server, client } = pair;
    await waitFor('the rekey at start', () => settled(client, 1) && settled(server, 1));
    client.rekey();
    await waitFor('epoch 2', () => settled(client, 2) && settled(server, 2));
    const got: string[] = [];
    client.onDatagram = (p) => got.push(p.toString());
    server.send(Buffer.from('over tcp'));
    await waitFor('server data in epoch 2', () => got.length === 1);
  } finally {
    pair.close();
  }
});

test('authentic but out-of-place rekey messages (stale or future epoch, reply without init, bad length) are ignored', async () => {
  const { pair, relay } = await relayedPair({ overlapMs: 100 });
  const raw = await RawSender.open();
  try {
    const { server, client } = pair;
    client.rekey();
    await waitFor('both sides settled in epoch 1', () => settled(client, 1) && settled(server, 1));
    // Seal messages as the client would now (its epoch-1 sending key), a few packet numbers ahead of its counter.
    const [, clientSendKey] = client.secretBuffersForTest();
    const forger = new DatagramSealer(clientSendKey, Direction.ClientToServer, 1);
    while (forger.nextPacketNumber < relay.fromClient.length + 5) forger.seal(Buffer.alloc(0));
    const control = (type: number, epoch: number, bodyBytes: number): Buffer => {
      const plaintext = Buffer.alloc(5 + 4 + bodyBytes);
      plaintext.writeUInt16BE(0xffff, 2);
      plaintext[4] = type;
      plaintext.writeUInt32BE(epoch, 5);
      randomBytes(bodyBytes).copy(plaintext, 9);
      return forger.seal(plaintext);
    };
    const before = server.stats().rekey;
    const received = server.stats().datagramsReceived;
    // Sent to the relay, so the server sees them from the client's usual address.
    for (const d of [
      control(DatagramType.RekeyInit, 1, 32), // a late retransmission for the epoch already in use
      control(DatagramType.RekeyInit, 3, 32), // an epoch from the future
      control(DatagramType.RekeyReply, 2, 32), // a reply the server never asked for
      control(DatagramType.RekeyInit, 2, 10), // wrong length
      control(DatagramType.RekeyConfirm, 1, 1), // wrong length
    ]) {
      raw.send(d, relay.port);
    }
    await waitFor('five authentic messages', () => server.stats().datagramsReceived === received + 5);
    const after = server.stats().rekey;
    assert.equal(after.ignored, before.ignored + 5);
    assert.deepEqual({ ...after, ignored: before.ignored }, before, 'nothing else changed');
    // The real client goes on rekeying.
    client.rekey();
    await waitFor('epoch 2', () => settled(client, 2) && settled(server, 2));
  } finally {
    raw.close();
    pair.close();
    relay.close();
  }
});
