import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { waitFor, waitForEvent } from '../support/wait.js';
import { pairThroughRelay, startPair } from './fixtures.js';

test('a 5 s outage: both sides notice, the client renews, and both recover when it ends', async () => {
  const { pair, relay } = await pairThroughRelay({
    server: { heartbeatTimeoutMs: 1000, aliveTimeoutMs: 30_000 },
    client: { heartbeatTimeoutMs: 1000, aliveTimeoutMs: 30_000 },
  });
  try {
    const { server, client } = pair;
    const events: string[] = [];
    for (const [name, path] of [['server', server], ['client', client]] as const) {
      path.on('contact-lost', () => events.push(`${name} lost`));
      path.on('contact-restored', () => events.push(`${name} restored`));
      path.on('gave-up', () => events.push(`${name} gave up`));
    }
    const atServer: string[] = [];
    const atClient: string[] = [];
    server.onDatagram = (p) => {
      atServer.push(p.toString());
      server.send(Buffer.from(`re: ${p.toString()}`));
    };
    client.onDatagram = (p) => atClient.push(p.toString());
    client.send(Buffer.from('before'));
    await waitFor('a reply before the outage', () => atClient.includes('re: before'));

    relay.blackout = true;
    const outageStart = performance.now();
    client.send(Buffer.from('during')); // lost, as on a dead network
    await waitFor('both sides to notice', () => events.includes('server lost') && events.includes('client lost'), 5_000);
    await waitFor('a renewal by heartbeat timeout', () => client.stats().renewals >= 1, 5_000);
    assert.match(client.stats().lastRenewalReason ?? '', /contact/);
    await waitFor('5 s of outage', () => performance.now() - outageStart >= 5_000, 6_000, 50);
    relay.blackout = false;

    await waitFor('both sides to recover', () => events.includes('server restored') && events.includes('client restored'), 5_000);
    client.send(Buffer.from('after'));
    await waitFor('a reply after the outage', () => atClient.includes('re: after'));
    assert.ok(!atServer.includes('during'), 'the datagram sent into the outage was lost, not delivered late');
    assert.ok(!events.some((e) => e.endsWith('gave up')));
    assert.equal(server.isClosed || client.isClosed, false);
    assert.equal(server.stats().contactLost, false);
    assert.ok(client.stats().renewals >= 2, 'renewed again while the outage lasted');
  } finally {
    pair.close();
    relay.close();
  }
});

test('alive timeout: both sides give up, say why, and close', async () => {
  const timing = { heartbeatTimeoutMs: 300, aliveTimeoutMs: 1200 };
  const { pair, relay } = await pairThroughRelay({ server: timing, client: timing });
  try {
    const { server, client } = pair;
    const serverGaveUp = waitForEvent<string>(server, 'gave-up', 10_000);
    const clientGaveUp = waitForEvent<string>(client, 'gave-up', 10_000);
    const serverClosed = waitForEvent<string>(server, 'close', 10_000);
    const clientClosed = waitForEvent<string>(client, 'close', 10_000);
    relay.blackout = true;
    assert.match(await serverGaveUp, /UdpAliveTimeout 1200 ms/);
    assert.match(await clientGaveUp, /UdpAliveTimeout 1200 ms/);
    assert.match(await serverClosed, /UdpAliveTimeout/);
    assert.match(await clientClosed, /UdpAliveTimeout/);
    assert.equal(server.isClosed && client.isClosed, true);
  } finally {
    pair.close();
    relay.close();
  }
});

test('a send error renews the client socket, and the server follows at once', async () => {
  const pair = await startPair({ server: { heartbeatTimeoutMs: 60_000 }, client: { heartbeatTimeoutMs: 60_000 } });
  try {
    const { server, client } = pair;
    const oldPort = client.stats().localPort;
    const renewed = waitForEvent<string>(client, 'renewed');
    const moved = waitForEvent(server, 'peer-moved');
    client.injectSendError('ENETUNREACH');
    assert.doesNotThrow(() => client.send(Buffer.from('into the void')));
    assert.equal(await renewed, 'send failed: ENETUNREACH');
    await moved;
    assert.notEqual(client.stats().localPort, oldPort);
    assert.equal(client.stats().dropped.sendError, 1);
    assert.equal(server.stats().peer?.port, client.stats().localPort);
    const atServer: string[] = [];
    server.onDatagram = (p) => atServer.push(p.toString());
    client.send(Buffer.from('after renewal'));
    await waitFor('delivery after the renewal', () => atServer.length === 1);
    assert.deepEqual(atServer, ['after renewal']);
  } finally {
    pair.close();
  }
});

test('a change of local addresses renews the client socket', async () => {
  let fingerprint = 'wlan0=192.0.2.10;';
  const pair = await startPair({
    server: { heartbeatTimeoutMs: 60_000 },
    client: { heartbeatTimeoutMs: 60_000, interfacePollMs: 50, localAddressFingerprint: () => fingerprint },
  });
  try {
    const { server, client } = pair;
    const renewed = waitForEvent<string>(client, 'renewed');
    const moved = waitForEvent(server, 'peer-moved');
    fingerprint = 'wwan0=198.51.100.7;';
    assert.equal(await renewed, 'local addresses changed');
    await moved;
    assert.equal(client.stats().renewals, 1);
  } finally {
    pair.close();
  }
});

test('an idle client keeps contact with keepalives that the server answers', async () => {
  const timing = { heartbeatTimeoutMs: 1500 };
  const pair = await startPair({ server: timing, client: timing });
  try {
    const { server, client } = pair;
    const trouble: string[] = [];
    for (const event of ['contact-lost', 'renewed', 'gave-up']) {
      client.on(event, () => trouble.push(`client ${event}`));
      server.on(event, () => trouble.push(`server ${event}`));
    }
    await waitFor('4 keepalive answers', () => client.stats().keepalivesReceived >= 4, 10_000);
    assert.deepEqual(trouble, []);
    assert.ok(server.stats().keepalivesReceived >= 4);
    assert.ok(server.stats().keepalivesSent >= 4);
    assert.equal(client.stats().dropped.sendError, 0);
  } finally {
    pair.close();
  }
});

test('a client that only sends still hears keepalive answers and does not renew', async () => {
  const timing = { heartbeatTimeoutMs: 900 };
  const pair = await startPair({ server: timing, client: timing });
  const ticker = setInterval(() => pair.client.send(Buffer.from('upload')), 40);
  try {
    const { server, client } = pair;
    const trouble: string[] = [];
    for (const event of ['contact-lost', 'renewed']) client.on(event, () => trouble.push(event));
    let received = 0;
    server.onDatagram = () => received++;
    // About 3 heartbeat timeouts of one-way traffic.
    await waitFor('2.7 s of uploads', () => received >= 60 && client.stats().keepalivesReceived >= 6, 15_000);
    assert.deepEqual(trouble, []);
    assert.equal(client.stats().renewals, 0);
  } finally {
    clearInterval(ticker);
    pair.close();
  }
});

test('when data stops arriving the client also looks at its addresses: a change is caught long before the next poll', async () => {
  let fingerprint = 'wlan0=192.0.2.10;';
  const pair = await startPair({
    server: { heartbeatTimeoutMs: 60_000 },
    // Polls an hour apart: a renewal within 5 s can only come from the silence probe's look.
    client: { heartbeatTimeoutMs: 60_000, interfacePollMs: 3_600_000, localAddressFingerprint: () => fingerprint },
  });
  try {
    const { server, client } = pair;
    let received = 0;
    client.onDatagram = () => received++;
    const renewed = waitForEvent<string>(client, 'renewed', 5_000);
    fingerprint = 'wwan0=198.51.100.7;';
    server.send(Buffer.from('output'));
    await waitFor('the output at the client', () => received === 1);
    assert.equal(await renewed, 'local addresses changed');
  } finally {
    pair.close();
  }
});

test('when data stops arriving the client sends one silence probe, long before its next regular keepalive', async () => {
  // Regular keepalives every 10 s: a keepalive within 5 s of the pause can only be the probe.
  const timing = { heartbeatTimeoutMs: 30_000 };
  const pair = await startPair({ server: timing, client: timing });
  try {
    const { server, client } = pair;
    let received = 0;
    client.onDatagram = () => received++;
    const sentBefore = client.stats().keepalivesSent;
    const heardBefore = server.stats().keepalivesReceived;
    for (let i = 0; i < 3; i++) server.send(Buffer.from(`output ${i}`));
    await waitFor('the output at the client', () => received === 3);
    await waitFor('the silence probe at the server', () => server.stats().keepalivesReceived === heardBefore + 1, 5_000);
    assert.equal(client.stats().keepalivesSent, sentBefore + 1);
    assert.equal(client.stats().renewals, 0);
  } finally {
    pair.close();
  }
});

/** Bytes waiting in the receive queue of this process's IPv4 UDP socket bound to `port` (/proc/net/udp). */
function udpReceiveQueue(port: number): number {
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5 || parseInt(fields[1]!.split(':')[1]!, 16) !== port) continue;
    return parseInt(fields[4]!.split(':')[1]!, 16);
  }
  return -1;
}

test('a stopped process (event loop stalled 3 s, as by SIGSTOP): on resume it reads its socket first, loses no contact and keeps its socket', async () => {
  const timing = { heartbeatTimeoutMs: 1000, aliveTimeoutMs: 30_000 };
  const pair = await startPair({ server: timing, client: timing });
  try {
    const { server, client } = pair;
    const events: string[] = [];
    client.on('contact-lost', () => events.push('client lost'));
    client.on('resumed', (ms: number) => events.push(`client resumed after ${ms > 2000 ? '> 2 s' : `${ms} ms`}`));
    const atClient: string[] = [];
    client.onDatagram = (p) => atClient.push(p.toString());
    const keepalivesBefore = client.stats().keepalivesReceived;
    server.send(Buffer.from('while stopped'));
    // dgram resolves the address on the next tick, then writes to the socket at once.
    await new Promise((resolve) => process.nextTick(resolve));
    assert.ok(udpReceiveQueue(client.stats().localPort) > 0, 'the datagram waits in the client socket');
    // The stall itself is the fault under test: nothing in this process runs, as under SIGSTOP.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
    await waitFor('the datagram sent before the stop', () => atClient.includes('while stopped'), 5_000);
    await waitFor('a keepalive answer after the resume', () => client.stats().keepalivesReceived > keepalivesBefore, 5_000);
    assert.deepEqual(events, ['client resumed after > 2 s']);
    assert.equal(client.stats().renewals, 0, 'the socket (and what waited in it) was kept');
    assert.equal(client.stats().contactLost, false);
  } finally {
    pair.close();
  }
});
