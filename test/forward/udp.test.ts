import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../support/wait.js';
import { memoryEnds, policyWith, udpEcho, udpSocket } from './fixtures.js';

const T = { timeout: 60_000 };

/** Send `msg` from `app` to `port` and resolve with the first reply. */
function roundTrip(app: Awaited<ReturnType<typeof udpSocket>>, port: number, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    app.once('message', (reply: Buffer) => resolve(reply));
    app.send(msg, port, '127.0.0.1');
  });
}

test('UDP -L: an idle association is cleared on both sides after ForwardUdpTimeout; a new datagram opens a new one', T, async () => {
  const ends = memoryEnds(policyWith(), { client: { udpTimeoutMs: 150 } });
  const target = await udpEcho();
  const app = await udpSocket();
  try {
    const forward = await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: target.port } });
    assert.equal((await roundTrip(app, forward.port!, Buffer.from('ping'))).toString(), 'ping');
    assert.equal(ends.forwarder.stats().udp.associations, 1);
    assert.equal(ends.host.stats().udp.associations, 1);
    await waitFor('the client to expire the association', () => ends.forwarder.stats().udp.associations === 0);
    await waitFor('tsshd to close its socket for it', () => ends.host.stats().udp.associations === 0);
    assert.equal((await roundTrip(app, forward.port!, Buffer.from('again'))).toString(), 'again');
    assert.equal(ends.host.stats().udp.associations, 1, 'a fresh association');
  } finally {
    app.close();
    target.close();
    await ends.close();
  }
});

test('UDP -R: tsshd expires an idle source after the client\'s timeout and tells the client', T, async () => {
  const ends = memoryEnds(policyWith(), { client: { udpTimeoutMs: 150 } });
  const target = await udpEcho();
  const app = await udpSocket();
  try {
    const forward = await ends.forwarder.udpRemoteForward({ proto: 'udp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: target.port } });
    assert.equal((await roundTrip(app, forward.port!, Buffer.from('remote ping'))).toString(), 'remote ping');
    assert.equal(ends.host.stats().udp.associations, 1);
    assert.equal(ends.forwarder.stats().udp.associations, 1);
    await waitFor('tsshd to expire the source', () => ends.host.stats().udp.associations === 0);
    await waitFor('the client to close its socket for it', () => ends.forwarder.stats().udp.associations === 0);
  } finally {
    app.close();
    target.close();
    await ends.close();
  }
});

test('UDP: a datagram above maxDatagramSize is dropped, counted and logged once per association, either way', T, async () => {
  const ends = memoryEnds();
  const max = ends.conns[0].maxDatagramSize;
  // The target answers "big" with a datagram one byte over the limit and anything else with an echo.
  const target = await udpEcho((m) => (m.toString() === 'big' ? Buffer.alloc(max + 1, 1) : m));
  const app = await udpSocket();
  try {
    const forward = await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: target.port } });
    const port = forward.port!;
    assert.equal((await roundTrip(app, port, Buffer.from('small'))).toString(), 'small');
    app.send(Buffer.alloc(max + 100), port, '127.0.0.1');
    app.send(Buffer.alloc(max + 200), port, '127.0.0.1');
    await waitFor('two oversize drops at the client', () => ends.forwarder.stats().udp.oversizeDropped === 2);
    assert.deepEqual(ends.clientLog, [`UDP forward to 127.0.0.1:${target.port}: datagram of ${max + 100} bytes exceeds the path's limit of ${max}; dropped`]);
    // Replies too large for the path are dropped at tsshd.
    app.send(Buffer.from('big'), port, '127.0.0.1');
    app.send(Buffer.from('big'), port, '127.0.0.1');
    await waitFor('two oversize drops at tsshd', () => ends.host.stats().udp.oversizeDropped === 2);
    assert.equal(ends.serverLog.filter((l) => l.includes(`datagram of ${max + 1} bytes exceeds the path's limit of ${max}; dropped`)).length, 1);
    // Exactly the limit still passes.
    assert.equal((await roundTrip(app, port, Buffer.alloc(max, 7))).length, max);
    assert.equal(target.received(), 4, 'the oversize datagrams never reached the target');
  } finally {
    app.close();
    target.close();
    await ends.close();
  }
});

test('UDP -L: sources beyond the association limit are dropped and logged once; existing ones keep working', T, async () => {
  const ends = memoryEnds(policyWith(), { client: { maxUdpAssociations: 2 } });
  const target = await udpEcho();
  const apps = await Promise.all([udpSocket(), udpSocket(), udpSocket()]);
  try {
    const forward = await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: target.port } });
    const port = forward.port!;
    assert.equal((await roundTrip(apps[0], port, Buffer.from('a'))).toString(), 'a');
    assert.equal((await roundTrip(apps[1], port, Buffer.from('b'))).toString(), 'b');
    apps[2].send(Buffer.from('c'), port, '127.0.0.1');
    apps[2].send(Buffer.from('c'), port, '127.0.0.1');
    await waitFor('the third source to be refused', () => ends.forwarder.stats().udp.dropped === 2);
    assert.deepEqual(ends.clientLog, [`UDP forward to 127.0.0.1:${target.port}: too many sources (at most 2); datagrams from new ones are dropped`]);
    assert.equal(ends.forwarder.stats().udp.associations, 2);
    assert.equal((await roundTrip(apps[0], port, Buffer.from('a2'))).toString(), 'a2');
  } finally {
    for (const a of apps) a.close();
    target.close();
    await ends.close();
  }
});

test('UDP -L to a target PermitOpen forbids: the association is refused with a one-line reason, logged once', T, async () => {
  const ends = memoryEnds(policyWith({ permitOpen: ['127.0.0.1:1'] }));
  const target = await udpEcho();
  const app = await udpSocket();
  try {
    const forward = await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: target.port } });
    app.send(Buffer.from('x'), forward.port!, '127.0.0.1');
    await waitFor('the refusal', () => ends.clientLog.length > 0);
    app.send(Buffer.from('y'), forward.port!, '127.0.0.1');
    await waitFor('the second datagram to be dropped quietly', () => ends.forwarder.stats().udp.dropped === 1);
    assert.deepEqual(ends.clientLog, [`UDP forward to 127.0.0.1:${target.port} failed: 127.0.0.1:${target.port} is not permitted by PermitOpen`]);
    assert.equal(ends.host.stats().udp.associations, 0);
    assert.equal(target.received(), 0);
  } finally {
    app.close();
    target.close();
    await ends.close();
  }
});
