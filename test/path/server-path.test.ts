import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { generateSessionSecret } from '../../src/crypto/session-secret.js';
import { ClientPath } from '../../src/path/client-path.js';
import { DatagramCodec } from '../../src/path/datagram-codec.js';
import { DatagramType } from '../../src/path/datagram-format.js';
import { emptyDrops } from '../../src/path/path-stats.js';
import { NoFreePortError } from '../../src/path/port-binding.js';
import { ServerPath } from '../../src/path/server-path.js';
import { waitFor, waitForEvent } from '../support/wait.js';
import { pairThroughRelay, RawSender, startPair, testPortSpec } from './fixtures.js';

// Long heartbeats keep keepalives out of the way where a test counts datagrams.
const QUIET = { heartbeatTimeoutMs: 60_000 };

test('data flows both ways, client keepalives are answered and give RTT samples', async () => {
  const pair = await startPair();
  try {
    const { server, client } = pair;
    const atServer: string[] = [];
    const atClient: string[] = [];
    server.onDatagram = (p) => {
      atServer.push(p.toString());
      if (p.length < 100) server.send(Buffer.from(`re: ${p.toString()}`));
    };
    client.onDatagram = (p) => atClient.push(p.toString());
    for (let i = 0; i < 20; i++) client.send(Buffer.from(`m${i}`));
    await waitFor('20 replies', () => atClient.length === 20);
    assert.deepEqual(new Set(atServer), new Set(Array.from({ length: 20 }, (_, i) => `m${i}`)));
    assert.deepEqual(new Set(atClient), new Set(Array.from({ length: 20 }, (_, i) => `re: m${i}`)));
    // create() sent a keepalive; the server answered it and the echo gave the client an RTT sample.
    await waitFor('a keepalive answer', () => client.stats().keepalivesReceived >= 1);
    assert.ok(server.stats().keepalivesReceived >= 1);
    assert.ok(Number.isFinite(client.srttMs) && client.srttMs >= 0 && client.srttMs < 1000, `srtt ${client.srttMs}`);
    assert.ok(Number.isFinite(server.srttMs), 'the server samples RTT from the client echoes too');
    assert.equal(client.payloadBudget, 1370);
    assert.throws(() => client.send(Buffer.alloc(1371)), RangeError);
    assert.throws(() => server.send(Buffer.alloc(1371)), RangeError);
    client.send(Buffer.alloc(1370, 1));
    await waitFor('a full-size datagram', () => atServer.some((s) => s.length === 1370));
  } finally {
    pair.close();
  }
});

test('before first contact the server has no peer and send() is a counted drop', async () => {
  const server = await ServerPath.create({ portSpec: testPortSpec(), secret: generateSessionSecret(), host: '127.0.0.1' });
  try {
    server.send(Buffer.from('nobody'));
    server.send(Buffer.from('listens'));
    const stats = server.stats();
    assert.equal(stats.peer, null);
    assert.equal(stats.dropped.noPeer, 2);
    assert.equal(stats.datagramsSent, 0);
  } finally {
    server.close();
  }
});

test('forged, tampered, truncated, wrong-key, reflected and replayed datagrams are dropped and counted', async () => {
  const { pair, relay } = await pairThroughRelay({ server: QUIET, client: QUIET });
  const raw = await RawSender.open();
  try {
    const { server, client } = pair;
    const delivered: Buffer[] = [];
    let replies = 0;
    server.onDatagram = (p) => {
      delivered.push(p);
      for (let i = 0; i < 10; i++) server.send(Buffer.from('reply'));
    };
    client.onDatagram = () => replies++;
    client.send(Buffer.from('genuine'));
    await waitFor('the genuine datagram and 10 replies', () => delivered.length === 1 && replies === 10);
    const genuine = relay.fromClient[relay.fromClient.length - 1];
    // The server's packet numbers are now above the client's: a reflected one reaches authentication.
    const fromServer = relay.fromServer[relay.fromServer.length - 1];
    // Hold the next client datagram back: its tampered copies carry a packet number the server has not seen.
    let held: Buffer | null = null;
    relay.onClientDatagram = (d) => {
      if (held !== null) return 'forward';
      held = d;
      return 'drop';
    };
    client.send(Buffer.from('held back'));
    await waitFor('the relay to hold a datagram', () => held);
    const peerBefore = server.stats().peer;
    const fresh = held!;

    const tamperedHeader = Buffer.from(fresh);
    tamperedHeader[8] ^= 0x10;
    const tamperedBody = Buffer.from(fresh);
    tamperedBody[12] ^= 0x80;
    const tamperedTag = Buffer.from(fresh);
    tamperedTag[tamperedTag.length - 1] ^= 0x01;
    const truncatedLong = fresh.subarray(0, fresh.length - 1);
    // Another session's key, at a packet number this server has not seen (so it is authentication that refuses it).
    const forger = new DatagramCodec(generateSessionSecret(), 'client', emptyDrops());
    while (forger.nextPacketNumber < 50) forger.seal(DatagramType.Data, null, 0, 0);
    const wrongKey = forger.seal(DatagramType.Data, Buffer.from('x'), 0, 0);
    const truncatedShort = fresh.subarray(0, 20);
    const badVersion = Buffer.from(fresh);
    badVersion[0] = 0x02;

    for (const d of [tamperedHeader, tamperedBody, tamperedTag, truncatedLong, wrongKey, fromServer]) raw.send(d, server.port);
    for (const d of [truncatedShort, badVersion]) raw.send(d, server.port);
    raw.send(genuine, server.port); // a replay, from another address too
    await waitFor('9 drops', () => {
      const d = server.stats().dropped;
      return d.auth + d.malformed + d.replay === 9;
    });
    const stats = server.stats();
    assert.equal(stats.dropped.auth, 6, 'header, body, tag, truncated by one, wrong key, reflected');
    assert.equal(stats.dropped.malformed, 2, 'too short, bad version');
    assert.equal(stats.dropped.replay, 1);
    assert.equal(delivered.length, 1, 'nothing forged was delivered');
    assert.deepEqual(stats.peer, peerBefore, 'the peer did not move');
    assert.equal(stats.peerMoves, 0);
    // The real client is unaffected.
    client.send(Buffer.from('still here'));
    await waitFor('delivery after the attack', () => delivered.length === 2);
    assert.equal(delivered[1].toString(), 'still here');
  } finally {
    raw.close();
    pair.close();
    relay.close();
  }
});

test('the server follows the client to a new socket on its first datagram from there', async () => {
  const pair = await startPair({ server: QUIET, client: QUIET });
  try {
    const { server, client } = pair;
    await waitFor('the first keepalive answered', () => client.stats().keepalivesReceived === 1);
    const oldPort = client.stats().localPort;
    assert.equal(server.stats().peer?.port, oldPort);
    let receivedAtMove = -1;
    let sentAtMove = -1;
    server.once('peer-moved', () => {
      receivedAtMove = server.stats().datagramsReceived;
      sentAtMove = client.stats().datagramsSent;
    });
    const moved = waitForEvent<string>(server, 'peer-moved');
    const renewed = waitForEvent<string>(client, 'renewed');
    await client.renew();
    assert.equal(await renewed, 'requested');
    await moved;
    const newPort = client.stats().localPort;
    assert.notEqual(newPort, oldPort, 'a fresh source port');
    assert.equal(server.stats().peer?.port, newPort);
    assert.equal(server.stats().peerMoves, 1);
    // Everything the client sent had arrived when the peer moved: the renewal probe itself moved it.
    assert.equal(receivedAtMove, sentAtMove);
    const atClient: string[] = [];
    client.onDatagram = (p) => atClient.push(p.toString());
    server.send(Buffer.from('to the new address'));
    await waitFor('delivery to the new socket', () => atClient.length === 1);
    assert.equal(client.stats().renewals, 1);
  } finally {
    pair.close();
  }
});

test('a copy of a fresh datagram raced from another address: answered there within 3x its size and challenged, never the peer, dropped when the client speaks again', async () => {
  const { pair, relay } = await pairThroughRelay({ server: QUIET, client: QUIET });
  const attacker = await RawSender.open();
  let attackerBytes = 0;
  attacker.socket.on('message', (m) => (attackerBytes += m.length));
  try {
    const { server, client } = pair;
    const peer = server.stats().peer;
    const challengesBefore = server.stats().challengesSent;
    const answeredBefore = client.stats().challengesAnswered;
    const atClient: string[] = [];
    client.onDatagram = (p) => atClient.push(p.toString());
    // Hold the client's next datagram back; its copy reaches the server first, from the attacker's address.
    let copy: Buffer | null = null;
    relay.onClientDatagram = (d) => {
      if (copy !== null) return 'forward';
      copy = Buffer.from(d);
      attacker.send(copy, server.port);
      return 'drop';
    };
    client.send(Buffer.from('x'));
    await waitFor('the copy to make a candidate', () => server.stats().candidate?.port === attacker.port);
    assert.equal(server.stats().challengesSent, challengesBefore + 1);
    // The server streams meanwhile: the attacker's address gets at most 3x the copy, the rest goes to the peer.
    for (let i = 0; i < 50; i++) server.send(Buffer.alloc(1000, i));
    await waitFor('the real client to get what did not fit', () => atClient.length >= 48);
    assert.ok(attackerBytes <= 3 * copy!.length, `${attackerBytes} bytes to the attacker from a ${copy!.length}-byte datagram`);
    assert.deepEqual(server.stats().peer, peer);
    // The real client's next datagram (a newer packet number) ends the candidacy.
    client.send(Buffer.from('y'));
    await waitFor('no candidate', () => server.stats().candidate === null);
    assert.equal(server.stats().peerMoves, 0);
    assert.equal(client.stats().challengesAnswered, answeredBefore, 'the challenge never reached the client');
  } finally {
    attacker.close();
    pair.close();
    relay.close();
  }
});

test('a client that really moved gets its first answer at its new address at once, and is validated in the same round trip', async () => {
  const pair = await startPair({ server: QUIET, client: QUIET });
  try {
    const { server, client } = pair;
    const answersBefore = client.stats().keepalivesReceived;
    const challengesBefore = server.stats().challengesSent;
    const answeredBefore = client.stats().challengesAnswered;
    const atClient: number[] = [];
    client.onDatagram = (p) => atClient.push(p.length);
    // Before validation the server already answers the new address: two full datagrams right at its first one.
    server.once('peer-candidate', () => {
      server.send(Buffer.alloc(1000, 1));
      server.send(Buffer.alloc(1000, 2));
    });
    const candidate = waitForEvent(server, 'peer-candidate');
    const moved = waitForEvent(server, 'peer-moved');
    await client.renew();
    await candidate;
    await moved;
    await waitFor('both datagrams at the new socket', () => atClient.length === 2);
    // The keepalive from the new socket was answered there; the challenge beside the answer was answered too.
    await waitFor('the keepalive answer at the new socket', () => client.stats().keepalivesReceived > answersBefore);
    assert.equal(client.stats().challengesAnswered, answeredBefore + 1);
    assert.equal(server.stats().challengesSent, challengesBefore + 1);
    assert.equal(server.stats().peer?.port, client.stats().localPort);
    assert.equal(server.stats().dropped.unvalidated, 0, 'nothing was held back');
  } finally {
    pair.close();
  }
});

test('an old datagram replayed from a new address is dropped and does not move the peer', async () => {
  const { pair, relay } = await pairThroughRelay({ server: QUIET, client: QUIET });
  const raw = await RawSender.open();
  try {
    const { server, client } = pair;
    const delivered: string[] = [];
    server.onDatagram = (p) => delivered.push(p.toString());
    for (let i = 0; i < 5; i++) client.send(Buffer.from(`d${i}`));
    await waitFor('5 deliveries', () => delivered.length === 5);
    const peer = server.stats().peer;
    assert.equal(peer?.port, relay.outboundPort);
    for (const old of relay.fromClient) raw.send(old, server.port);
    await waitFor('all replays dropped', () => server.stats().dropped.replay === relay.fromClient.length);
    assert.deepEqual(server.stats().peer, peer);
    assert.equal(server.stats().peerMoves, 0);
    assert.equal(delivered.length, 5);
  } finally {
    raw.close();
    pair.close();
    relay.close();
  }
});

test('an authentic but older datagram from a new address is delivered yet does not move the peer', async () => {
  const { pair, relay } = await pairThroughRelay({ server: QUIET, client: QUIET });
  const raw = await RawSender.open();
  try {
    const { server, client } = pair;
    const delivered: string[] = [];
    server.onDatagram = (p) => delivered.push(p.toString());
    // Hold back the next client datagram (as a slow route would), let two later ones pass.
    let held: Buffer | null = null;
    relay.onClientDatagram = (d) => {
      if (held === null) {
        held = d;
        return 'drop';
      }
      return 'forward';
    };
    client.send(Buffer.from('late'));
    client.send(Buffer.from('early 1'));
    client.send(Buffer.from('early 2'));
    await waitFor('the later two', () => delivered.length === 2);
    const peer = server.stats().peer;
    raw.send(held!, server.port);
    await waitFor('the held datagram', () => delivered.length === 3);
    assert.equal(delivered[2], 'late');
    assert.deepEqual(server.stats().peer, peer, 'an older packet number never moves the peer');
    assert.equal(server.stats().peerMoves, 0);
  } finally {
    raw.close();
    pair.close();
    relay.close();
  }
});

test('goodbye: closing one end closes the other with the reason', async () => {
  const a = await startPair({ server: QUIET, client: QUIET });
  const serverClosed = waitForEvent<string>(a.server, 'close');
  a.client.close('user typed exit');
  assert.equal(await serverClosed, 'user typed exit');
  assert.equal(a.server.isClosed, true);
  a.close();

  const b = await startPair({ server: QUIET, client: QUIET });
  const clientClosed = waitForEvent<string>(b.client, 'close');
  b.server.close('server shutting down');
  assert.equal(await clientClosed, 'server shutting down');
  assert.equal(b.client.isClosed, true);
  b.close();
});

async function occupyUdp(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

test('port busy: the server tries the other ports of the spec', async () => {
  const busy = await occupyUdp();
  const free = await occupyUdp();
  const busyPort = busy.address().port;
  const freePort = free.address().port;
  free.close();
  await new Promise((resolve) => setImmediate(resolve));
  try {
    // Several attempts: each draws a random order, so the busy port comes first about half the time.
    for (let i = 0; i < 6; i++) {
      const server = await ServerPath.create({ portSpec: `${busyPort},${freePort}`, secret: generateSessionSecret(), host: '127.0.0.1' });
      assert.equal(server.port, freePort);
      server.close();
    }
  } finally {
    busy.close();
  }
});

test('exhausted range: a clear error naming the spec and TsshdPort', async () => {
  const a = await occupyUdp();
  const b = await occupyUdp();
  const spec = `${a.address().port}, ${b.address().port}`;
  try {
    await assert.rejects(
      ServerPath.create({ portSpec: spec, secret: generateSessionSecret(), host: '127.0.0.1' }),
      (err: Error) => {
        assert.ok(err instanceof NoFreePortError);
        assert.match(err.message, new RegExp(`^no free port in ${spec}; widen TsshdPort`));
        assert.match(err.message, /tried 2 of its 2 ports/);
        return true;
      },
    );
    await assert.rejects(ServerPath.create({ portSpec: '70000', secret: generateSessionSecret() }), /outside 1\.\.65535/);
  } finally {
    a.close();
    b.close();
  }
});

test('invalid options are refused up front', async () => {
  const secret = generateSessionSecret();
  await assert.rejects(ServerPath.create({ portSpec: testPortSpec(), secret: Buffer.alloc(5) }), /secret must be 32 bytes/);
  await assert.rejects(ServerPath.create({ portSpec: testPortSpec(), secret, mtu: 20 }), /mtu must be/);
  await assert.rejects(ClientPath.create({ host: '127.0.0.1', port: 0, secret }), /port must be 1\.\.65535/);
  await assert.rejects(ClientPath.create({ host: '127.0.0.1', port: 9, secret, heartbeatTimeoutMs: -1 }), /heartbeatTimeoutMs/);
});
