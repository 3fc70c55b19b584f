import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { MAX_RELAY_MAPPINGS, TcpHopRelay, UdpHopRelay } from '../../src/server/hop-relay.js';
import { isRelayBye, parseRelayBootstrap, encodeRelayBootstrap, relayBye } from '../../src/protocol/relay-wire.js';
import { goesThroughHops, parseProxyJump } from '../../src/client/jump-relay.js';
import { parseRelayArgs } from '../../src/server/hop-relay-main.js';
import { waitFor } from '../support/wait.js';

function udp(): Promise<dgram.Socket> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

/** A target that answers every datagram with "re:" + it, and records the senders. */
async function echoTarget(): Promise<{ socket: dgram.Socket; senders: string[]; received: number }> {
  const socket = await udp();
  const t = { socket, senders: [] as string[], received: 0 };
  socket.on('message', (msg, r) => {
    t.received++;
    t.senders.push(`${r.address}:${r.port}`);
    socket.send(Buffer.concat([Buffer.from('re:'), msg]), r.port, r.address);
  });
  return t;
}

test('relay: one datagram out for each one in, answers back to the sender; each client address its own mapping', async () => {
  const target = await echoTarget();
  const secret = randomBytes(32);
  const relay = await UdpHopRelay.start(0, { targetAddress: '127.0.0.1', targetPort: target.socket.address().port, secret, aliveTimeoutMs: 30_000, connectTimeoutMs: 30_000 });
  const a = await udp();
  const b = await udp();
  const got: Record<string, string[]> = { a: [], b: [] };
  a.on('message', (m) => got.a!.push(m.toString()));
  b.on('message', (m) => got.b!.push(m.toString()));
  try {
    a.send('one', relay.port, '127.0.0.1');
    await waitFor('a answered', () => got.a!.length === 1);
    b.send('two', relay.port, '127.0.0.1');
    await waitFor('b answered', () => got.b!.length === 1);
    a.send('three', relay.port, '127.0.0.1');
    await waitFor('a answered again', () => got.a!.length === 2);
    assert.deepEqual(got.a, ['re:one', 're:three']);
    assert.deepEqual(got.b, ['re:two']);
    assert.equal(relay.mappingCount, 2);
    // The target saw two different senders (the relay's upstream sockets), the first twice.
    assert.equal(new Set(target.senders).size, 2);
    assert.equal(target.senders[0], target.senders[2]);
    assert.equal(relay.stats.fromClients, 3);
    assert.equal(relay.stats.toClients, 3);
  } finally {
    relay.close('test over');
    a.close();
    b.close();
    target.socket.close();
  }
});

test('relay: a stranger writing to an upstream socket gets nothing through; a bye with the wrong secret is just forwarded; the right bye ends it', async () => {
  const target = await echoTarget();
  const secret = randomBytes(32);
  const relay = await UdpHopRelay.start(0, { targetAddress: '127.0.0.1', targetPort: target.socket.address().port, secret, aliveTimeoutMs: 30_000, connectTimeoutMs: 30_000 });
  const client = await udp();
  const received: Buffer[] = [];
  client.on('message', (m) => received.push(m));
  try {
    client.send('hello', relay.port, '127.0.0.1');
    await waitFor('answer', () => received.length === 1);
    const upstreamPort = Number(target.senders[0]!.split(':')[1]);
    const stranger = await udp();
    stranger.send('inject', upstreamPort, '127.0.0.1');
    await waitFor('stranger dropped', () => relay.stats.dropped === 1);
    stranger.close();
    assert.equal(received.length, 1);
    // Another relay's bye passes through (a later hop's relay is its reader).
    client.send(relayBye(randomBytes(32)), relay.port, '127.0.0.1');
    await waitFor('foreign bye forwarded', () => target.received === 2);
    client.send(relayBye(secret), relay.port, '127.0.0.1');
    assert.equal(await relay.closed, 'the client ended the session');
    assert.equal(target.received, 2);
  } finally {
    relay.close('test over');
    client.close();
    target.socket.close();
  }
});

test('relay: new client addresses beyond the cap push out mappings the target never answered, not the answered one', async () => {
  const silent = await udp(); // a target that never answers
  const target = await echoTarget();
  const secret = randomBytes(32);
  const relay = await UdpHopRelay.start(0, { targetAddress: '127.0.0.1', targetPort: target.socket.address().port, secret, aliveTimeoutMs: 30_000, connectTimeoutMs: 30_000 });
  const real = await udp();
  let answers = 0;
  real.on('message', () => answers++);
  const strangers: dgram.Socket[] = [];
  try {
    real.send('me', relay.port, '127.0.0.1');
    await waitFor('real client answered', () => answers === 1);
    // Strangers flood from many addresses; the target answers them too, but only after they are mapped.
    target.socket.removeAllListeners('message');
    target.socket.on('message', () => undefined);
    for (let i = 0; i < MAX_RELAY_MAPPINGS + 8; i++) {
      const s = await udp();
      strangers.push(s);
      s.send('x', relay.port, '127.0.0.1');
    }
    await waitFor('strangers mapped', () => relay.stats.mappingsOpened >= MAX_RELAY_MAPPINGS + 8);
    assert.ok(relay.mappingCount <= MAX_RELAY_MAPPINGS);
    // The real client's mapping survived: its next datagram goes out from the same upstream socket.
    target.socket.removeAllListeners('message');
    const seen: string[] = [];
    target.socket.on('message', (m, r) => (seen.push(`${r.address}:${r.port}`), target.socket.send(m, r.port, r.address)));
    real.send('again', relay.port, '127.0.0.1');
    await waitFor('real client answered again', () => answers === 2);
    assert.equal(relay.stats.mappingsOpened, MAX_RELAY_MAPPINGS + 9);
  } finally {
    relay.close('test over');
    real.close();
    silent.close();
    for (const s of strangers) s.close();
    target.socket.close();
  }
});

test('relay: ends when no client comes within the connect timeout', async () => {
  const relay = await UdpHopRelay.start(0, { targetAddress: '127.0.0.1', targetPort: 9, secret: randomBytes(32), aliveTimeoutMs: 30_000, connectTimeoutMs: 300 });
  assert.match(await relay.closed, /no client came/);
});

test('relay: ends when the target stays silent for the alive timeout', async () => {
  const silent = await udp();
  const relay = await UdpHopRelay.start(0, { targetAddress: '127.0.0.1', targetPort: silent.address().port, secret: randomBytes(32), aliveTimeoutMs: 400, connectTimeoutMs: 30_000 });
  const client = await udp();
  client.send('anyone?', relay.port, '127.0.0.1');
  try {
    assert.match(await relay.closed, /target was silent/);
  } finally {
    client.close();
    silent.close();
  }
});

test('tcp relay: bytes spliced both ways to the target', async () => {
  const server = net.createServer((c) => c.pipe(c));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const relay = await TcpHopRelay.start(0, { targetAddress: '127.0.0.1', targetPort: (server.address() as net.AddressInfo).port, secret: randomBytes(32), aliveTimeoutMs: 30_000, connectTimeoutMs: 30_000 });
  try {
    const c = net.connect(relay.port, '127.0.0.1');
    let got = '';
    c.on('data', (d) => (got += d.toString()));
    c.write('ping over tcp');
    await waitFor('echo through the relay', () => got === 'ping over tcp');
    c.destroy();
  } finally {
    relay.close('test over');
    server.close();
  }
});

test('relay wire: bootstrap line round trip, bad lines refused with one line, bye checked', () => {
  const secret = randomBytes(32);
  const line = encodeRelayBootstrap({ serverVersion: '1.2.3', port: 61005, secret });
  const parsed = parseRelayBootstrap(`motd\n${line}`, 'bastion');
  assert.equal(parsed.port, 61005);
  assert.deepEqual(parsed.secret, secret);
  assert.throws(() => parseRelayBootstrap('no line here', 'bastion'), /printed no bootstrap line/);
  assert.throws(() => parseRelayBootstrap('\x07{"relay":2,"port":1,"secret":"x"}\n', 'bastion'), /relay version 2/);
  assert.throws(() => parseRelayBootstrap('\x07{"relay":1,"port":70000}\n', 'bastion'), /bad port/);
  assert.ok(isRelayBye(relayBye(secret), secret));
  assert.ok(!isRelayBye(relayBye(randomBytes(32)), secret));
  assert.ok(!isRelayBye(Buffer.alloc(24), secret));
});

test('ProxyJump hops and the UdpJump decision', () => {
  assert.deepEqual(parseProxyJump('bastion'), [{ spec: 'bastion', destination: 'bastion', host: 'bastion' }]);
  assert.deepEqual(parseProxyJump('u@h1:2222, h2'), [
    { spec: 'u@h1:2222', destination: 'ssh://u@h1:2222', host: 'h1' },
    { spec: 'h2', destination: 'h2', host: 'h2' },
  ]);
  assert.deepEqual(parseProxyJump('[::1]:22'), [{ spec: '[::1]:22', destination: 'ssh://[::1]:22', host: '::1' }]);
  assert.deepEqual(parseProxyJump('ssh://u@gw:2200'), [{ spec: 'ssh://u@gw:2200', destination: 'ssh://u@gw:2200', host: 'gw' }]);
  assert.throws(() => parseProxyJump('a,,b'), /empty hop/);
  assert.equal(goesThroughHops('auto', undefined), false);
  assert.equal(goesThroughHops('auto', 'bastion'), true);
  assert.equal(goesThroughHops('no', 'bastion'), false);
  assert.throws(() => goesThroughHops('yes', undefined), /UdpJump yes needs ProxyJump/);
});

test('tsshd --relay flags: checked with one line each', () => {
  assert.deepEqual(
    { ...parseRelayArgs(['--relay', '198.18.1.2:61001', '--tcp', '--alive-timeout', '5']) },
    { host: '198.18.1.2', port: 61001, tcp: true, portSpec: '61001-61999', aliveTimeout: 5, connectTimeout: 10, debug: false },
  );
  assert.equal(parseRelayArgs(['--relay=[::1]:7']).host, '::1');
  assert.throws(() => parseRelayArgs(['--relay', 'host']), /HOST:PORT/);
  assert.throws(() => parseRelayArgs(['--relay', 'h:1', '--attach']), /cannot be used with --relay/);
});
