/**
 * A live tsshd under hostile traffic. The real bin/tsshd (with --debug, whose
 * log reports the path's counters at exit) serves a session to a client
 * behind the impairment proxy, which also captures the client's datagrams.
 * Meanwhile other sockets send a million random datagrams and a hundred
 * thousand replays of the captured ones from other addresses, and a second
 * client that knows the port but not the secret tries to talk. The session
 * must keep working, the peer must never move to a sender of that traffic,
 * and every datagram must show up in a drop counter (the server's, or the
 * kernel's for a full socket buffer).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { test, type TestContext } from 'node:test';
import { ClientPath } from '../../src/path/client-path.js';
import { generateSessionSecret } from '../../src/crypto/session-secret.js';
import { createClientTransport } from '../../src/client/transport-factory.js';
import { SessionClient } from '../../src/client/session-client.js';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { waitFor } from '../support/wait.js';
import { alive, connectClient, startTsshd, stdio, testDirs, type TestClient } from './tsshd-fixture.js';

/** Random datagrams; TSSH_TEST_FLOOD lowers it for a quick local run. */
const FLOOD = Number(process.env.TSSH_TEST_FLOOD ?? 1_000_000);
const REPLAYS = Math.min(100_000, FLOOD);
/** The flood may take this long on a loaded machine; what did not fit is reported (it never has so far). */
const FLOOD_BOUND_MS = 240_000;
const BATCH = 1000;

function bindSocket(host: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, host, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

/** Send a batch and wait until the kernel took its last datagram (so nothing piles up in user space). */
function sendBatch(socket: dgram.Socket, port: number, next: () => Uint8Array, count: number): Promise<void> {
  return new Promise((resolve) => {
    for (let i = 0; i < count - 1; i++) socket.send(next(), port, '127.0.0.1');
    socket.send(next(), port, '127.0.0.1', () => resolve());
  });
}

/** Drops the kernel counted for sockets bound to `port` (receive buffer full), from /proc/net/udp and udp6. */
async function kernelDrops(port: number): Promise<number> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 13 && f[1]!.endsWith(hex)) drops += Number(f[12]);
    }
  }
  return drops;
}

/** utime + stime of a process, in clock ticks. */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** An echo session (`cat`) and a way to check a round trip through it. */
function echoSession(client: TestClient): { roundTrip: (tag: string) => Promise<void>; end: () => void; done: Promise<unknown> } {
  const io = stdio();
  const done = client.client.openSession({ command: 'cat' }, io);
  void done.catch(() => undefined);
  return {
    async roundTrip(tag: string): Promise<void> {
      io.stdin.write(`${tag}\n`);
      await waitFor(`the echo of ${tag}`, () => io.stdout.text().includes(`${tag}\n`), 60_000);
    },
    end: () => io.stdin.end(),
    done,
  };
}

interface PathLine {
  dropped: { malformed: number; auth: number; replay: number };
  peer: string;
  moves: number;
}

function pathLine(log: string): PathLine {
  const m = /path: received \d+, sent \d+, dropped (\{[^}]*\}), peer (.*), peer moves (\d+)$/m.exec(log);
  assert.ok(m, `no path line in the debug log:\n${log}`);
  return { dropped: JSON.parse(m[1]!) as PathLine['dropped'], peer: m[2]!, moves: Number(m[3]) };
}

async function startWithDebug(t: TestContext): Promise<{ info: Awaited<ReturnType<typeof startTsshd>>['info']; pid: number; logPath: string }> {
  const { env } = testDirs(t);
  const { info, pid, result } = await startTsshd(t, ['--debug', '--connect-timeout', '30'], env);
  const logPath = /^tsshd: debug log: (.+)$/m.exec(result.stderr)?.[1];
  assert.ok(logPath, result.stderr);
  return { info, pid, logPath };
}

test(`a live session survives ${FLOOD.toLocaleString('en')} random datagrams and ${REPLAYS.toLocaleString('en')} replays from other addresses`, async (t) => {
  const { info, pid, logPath } = await startWithDebug(t);
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: info.port });
  t.after(() => proxy.close());
  const captured: Buffer[] = [];
  proxy.tapClient = (d) => void (captured.length < 5000 && captured.push(Buffer.from(d)));
  const client = await connectClient(t, info, { viaPort: proxy.port });
  const session = echoSession(client);
  for (let i = 0; i < 5; i++) await session.roundTrip(`warm-up-${i}`);
  const peerPort = proxy.outboundPort;
  proxy.tapClient = null;
  assert.ok(captured.length >= 10, `captured ${captured.length} client datagrams`);

  // 1. Random datagrams, one in ten with a valid-looking header (version 1, an unseen packet number) so it reaches the AEAD.
  const flooder = await bindSocket('127.0.0.1');
  t.after(() => flooder.close());
  const pool = randomBytes(1 << 21);
  const headed: Buffer[] = [];
  for (let i = 0; i < 1024; i++) {
    const d = Buffer.from(pool.subarray(i * 1500, i * 1500 + 30 + ((i * 37) % 1400)));
    d[0] = i % 2 === 0 ? 0x01 : 0x11;
    d.writeUInt32BE(0, 1);
    d.writeUInt32BE(1_000_000_000 + i, 5);
    headed.push(d);
  }
  let n = 0;
  const nextRandom = (): Uint8Array => {
    const i = n++;
    if (i % 10 === 0) return headed[(i / 10) & 1023]!;
    const length = (i * 7919) % 1501;
    const at = (i * 104_729) % (pool.length - length);
    return pool.subarray(at, at + length);
  };
  const cpuBefore = await cpuTicks(pid);
  const dropsBefore = await kernelDrops(info.port);
  const started = Date.now();
  let sent = 0;
  while (sent < FLOOD && Date.now() - started < FLOOD_BOUND_MS) {
    const count = Math.min(BATCH, FLOOD - sent);
    await sendBatch(flooder, info.port, nextRandom, count);
    sent += count;
    // The session keeps working during the flood.
    if (sent % 200_000 === 0) await session.roundTrip(`during-flood-${sent}`);
  }
  const floodMs = Date.now() - started;
  await session.roundTrip('after-flood');

  // 2. Exact copies of the client's datagrams, from two other addresses: all are replays by now.
  const replayers = await Promise.all([bindSocket('127.0.0.2'), bindSocket('127.0.0.3')]);
  t.after(() => replayers.forEach((s) => s.close()));
  let r = 0;
  const nextReplay = (): Uint8Array => captured[r++ % captured.length]!;
  let replayed = 0;
  while (replayed < REPLAYS) {
    const count = Math.min(BATCH, REPLAYS - replayed);
    await sendBatch(replayers[(replayed / BATCH) % 2]!, info.port, nextReplay, count);
    replayed += count;
  }
  await session.roundTrip('after-replays');
  const cpuTicksUsed = (await cpuTicks(pid)) - cpuBefore;
  t.diagnostic(`flood: ${sent} random datagrams in ${floodMs} ms, ${replayed} replays; tsshd used ${cpuTicksUsed} CPU ticks; kernel drops ${(await kernelDrops(info.port)) - dropsBefore}`);
  assert.equal(sent, FLOOD, `only ${sent} of ${FLOOD} random datagrams fit in ${FLOOD_BOUND_MS} ms`);

  // End the session; tsshd logs its path counters as it shuts down.
  const kernel = (await kernelDrops(info.port)) - dropsBefore;
  session.end();
  assert.deepEqual(await session.done, { code: 0 });
  await waitFor('tsshd to exit', async () => !(await alive(pid)), 30_000);
  const log = await readFile(logPath, 'utf8');
  const stats = pathLine(log);
  t.diagnostic(`tsshd path counters: ${JSON.stringify(stats)}`);
  assert.doesNotMatch(log, /client moved to/, 'the peer never moved');
  assert.equal(stats.moves, 0);
  assert.match(stats.peer, new RegExp(`127\\.0\\.0\\.1 port ${peerPort}$`), 'the peer is still the real client');
  const counted = stats.dropped.malformed + stats.dropped.auth + stats.dropped.replay;
  // Every hostile datagram was refused by the path or, when the socket buffer was full, by the kernel.
  assert.ok(counted + kernel >= sent + replayed, `counted ${counted} + kernel ${kernel} < ${sent + replayed} sent`);
  assert.ok(stats.dropped.auth >= (sent / 10) * 0.5 || kernel > sent / 4, `valid-looking headers reached authentication (auth ${stats.dropped.auth})`);
  assert.ok(stats.dropped.replay >= replayed * 0.5 || kernel > replayed / 4, `replays counted as such (replay ${stats.dropped.replay})`);
});

test('a client with the port but not the secret gets nothing and disturbs nothing', async (t) => {
  const { info, pid, logPath } = await startWithDebug(t);
  const client = await connectClient(t, info);
  const session = echoSession(client);
  await session.roundTrip('before');

  // The intruder runs the real client stack with a secret of its own.
  const path = await ClientPath.create({ host: '127.0.0.1', port: info.port, secret: generateSessionSecret(), mtu: info.mtu, interfacePollMs: 0, heartbeatTimeoutMs: 600 });
  const { conn } = createClientTransport(info, path);
  t.after(() => conn.destroy());
  const intruder = new SessionClient(conn, 'intruder');
  intruder.on('protocol-error', () => undefined);
  const io = stdio();
  void intruder.openSession({ command: 'echo intruder-was-here' }, io).catch(() => undefined);
  // Its keepalives go out every heartbeat/3; wait until it has sent a good number.
  await waitFor('the intruder to send', () => path.stats().datagramsSent >= 20, 20_000);
  await session.roundTrip('during');
  assert.equal(path.stats().datagramsReceived, 0, 'the intruder received no authenticated datagram');
  assert.equal(io.stdout.text(), '');
  const intruderSent = path.stats().datagramsSent;
  conn.destroy();

  session.end();
  assert.deepEqual(await session.done, { code: 0 });
  await waitFor('tsshd to exit', async () => !(await alive(pid)), 30_000);
  const log = await readFile(logPath, 'utf8');
  const stats = pathLine(log);
  assert.equal(stats.moves, 0);
  assert.doesNotMatch(log, /intruder/);
  // Its packet numbers overlap the real client's, so some fail the replay check before reaching the AEAD.
  const refused = stats.dropped.auth + stats.dropped.replay;
  assert.ok(refused >= intruderSent, `auth + replay drops ${refused} >= intruder's ${intruderSent}`);
});

test('a fresh datagram raced from another address never moves the peer and gets at most 3x its size', async (t) => {
  const { info, pid, logPath } = await startWithDebug(t);
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: info.port });
  t.after(() => proxy.close());
  const client = await connectClient(t, info, { viaPort: proxy.port });
  const session = echoSession(client);
  await session.roundTrip('before');
  const realPort = proxy.outboundPort;

  // An on-path attacker holds back one of the client's datagrams and sends a copy first, from elsewhere.
  let stolen: Buffer | null = null;
  proxy.c2s.outage(Infinity);
  proxy.tapClient = (d) => void (stolen ??= Buffer.from(d));
  await waitFor('a client datagram to steal', () => stolen, 20_000);
  proxy.tapClient = null;
  const attacker = await bindSocket('127.0.0.2');
  t.after(() => attacker.close());
  let attackerBytes = 0;
  attacker.on('message', (m) => (attackerBytes += m.length));
  await new Promise<void>((resolve) => attacker.send(stolen!, info.port, '127.0.0.1', () => resolve()));
  await waitFor('the server to log the new address', async () => /new client address \S*127\.0\.0\.2 port/.test(await readFile(logPath, 'utf8')), 20_000);

  // The real client's next datagram (newer packet number) ends the attacker's candidacy; the session never noticed.
  proxy.c2s.endOutage();
  await session.roundTrip('after');
  session.end();
  assert.deepEqual(await session.done, { code: 0 });
  await waitFor('tsshd to exit', async () => !(await alive(pid)), 30_000);
  const log = await readFile(logPath, 'utf8');
  assert.deepEqual([...log.matchAll(/client moved to (\S+) port (\d+)/g)], [], 'the unvalidated address never became the peer');
  assert.ok(attackerBytes <= 3 * stolen!.length, `the attacker's address got ${attackerBytes} bytes from a ${stolen!.length}-byte datagram`);
  assert.match(pathLine(log).peer, new RegExp(`127\\.0\\.0\\.1 port ${realPort}$`));
});
