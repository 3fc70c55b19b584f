/**
 * `npm run bench -- path [seconds]`: the secure datagram path on loopback.
 *  (a) one-way throughput of sealed 1400-byte datagrams, measured at the
 *      receiver, with the sender in a worker thread (its own core) paced by a
 *      window of datagrams in flight; plus raw seal+open rates without sockets;
 *  (b) RTT of small datagrams, ping-pong, p50/p90/p99;
 *  (c) time from ClientPath.renew() to the server's first datagram from the
 *      new address (from which it answers there), whether that first datagram
 *      is what made the server follow, and the time until the address is validated;
 *  (d) a rekey handshake on loopback: rekey() to the client sealing under the
 *      new epoch, and the CPU of one side's X25519 + HKDF work.
 */
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { generateSessionSecret } from '../src/crypto/session-secret.js';
import { ClientPath } from '../src/path/client-path.js';
import { deriveNextEpoch, EphemeralKey, wipe } from '../src/crypto/rekey-keys.js';
import { DatagramCodec } from '../src/path/datagram-codec.js';
import { DatagramType } from '../src/path/datagram-format.js';
import { emptyDrops } from '../src/path/path-stats.js';
import { ServerPath } from '../src/path/server-path.js';
import { median, percentile } from './stats.js';

const MTU = 1400;
const QUIET = { heartbeatTimeoutMs: 60_000 };
/** QUIET, and the rekey at start settles (old key wiped) soon, so measurements can begin after it. */
const SHORT_OVERLAP = { ...QUIET, rekey: { overlapMs: 50 } };
/** Datagrams the sender keeps in flight: enough to keep the receiver busy, few enough for its socket buffer. */
const WINDOW = 512;
/** Shared counters: [0] received by the main thread, [1] stop flag, [2] sent by the worker. */
const RECEIVED = 0;
const STOP = 1;
const SENT = 2;

interface SenderData {
  role: 'path-bench-sender';
  port: number;
  secret: Uint8Array;
  shared: SharedArrayBuffer;
}


const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The worker side of (a): send full datagrams as fast as the window allows until told to stop. */
async function runSender(data: SenderData): Promise<void> {
  const counters = new Int32Array(data.shared);
  const client = await ClientPath.create({ host: '127.0.0.1', port: data.port, secret: data.secret, mtu: MTU, ...QUIET, interfacePollMs: 0 });
  const payload = Buffer.alloc(client.payloadBudget, 0x5a);
  parentPort!.postMessage('ready');
  let sent = 0;
  let presumedLost = 0;
  let lastReceived = 0;
  let lastProgressAt = performance.now();
  while (Atomics.load(counters, STOP) === 0) {
    const received = Atomics.load(counters, RECEIVED);
    const now = performance.now();
    if (received !== lastReceived) {
      lastReceived = received;
      lastProgressAt = now;
    } else if (now - lastProgressAt > 50) {
      // Nothing arrived for a while: whatever is in flight was dropped; stop waiting for it.
      presumedLost = sent - received;
      lastProgressAt = now;
    }
    let room = WINDOW - (sent - received - presumedLost);
    while (room-- > 0) {
      client.send(payload);
      sent++;
    }
    Atomics.store(counters, SENT, sent);
    await yieldToLoop();
  }
  const stats = client.stats();
  client.close();
  parentPort!.postMessage({ sendErrors: stats.dropped.sendError });
}

if (!isMainThread && (workerData as SenderData | null)?.role === 'path-bench-sender') {
  void runSender(workerData as SenderData);
}

async function throughput(seconds: number): Promise<{ datagramsPerSec: number; payloadMBPerSec: number; wireMBPerSec: number; sent: number; received: number; lost: number; sendErrors: number }> {
  const secret = generateSessionSecret();
  const server = await ServerPath.create({ portSpec: '40000-40999', host: '127.0.0.1', secret, mtu: MTU, ...QUIET });
  const shared = new SharedArrayBuffer(16);
  const counters = new Int32Array(shared);
  let received = 0;
  let payloadBytes = 0;
  server.onDatagram = (payload) => {
    received++;
    payloadBytes += payload.length;
    Atomics.store(counters, RECEIVED, received);
  };
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { role: 'path-bench-sender', port: server.port, secret, shared } satisfies SenderData,
  });
  const done = new Promise<{ sendErrors: number }>((resolve, reject) => {
    worker.on('message', (message: unknown) => {
      if (message !== 'ready') resolve(message as { sendErrors: number });
    });
    worker.on('error', reject);
  });
  // Warm up half a second, then measure.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const startCount = received;
  const startBytes = payloadBytes;
  const startAt = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const elapsed = (performance.now() - startAt) / 1000;
  const count = received - startCount;
  const bytes = payloadBytes - startBytes;
  Atomics.store(counters, STOP, 1);
  const { sendErrors } = await done;
  await worker.terminate();
  const sent = Atomics.load(counters, SENT);
  server.close();
  return {
    datagramsPerSec: count / elapsed,
    payloadMBPerSec: bytes / elapsed / 1e6,
    wireMBPerSec: (count * MTU) / elapsed / 1e6,
    sent,
    received,
    lost: sent - received,
    sendErrors,
  };
}

function sealOpenRates(count: number): { sealPerSec: number; openPerSec: number; sealOpenPairsPerSec: number } {
  const secret = generateSessionSecret();
  const client = new DatagramCodec(secret, 'client', emptyDrops());
  const server = new DatagramCodec(secret, 'server', emptyDrops());
  const payload = Buffer.alloc(MTU - 30, 0x5a);
  // Batches of 1000, so the measurement is not of the garbage collector moving 140 MB of retained datagrams.
  const batch: Buffer[] = new Array(1000);
  let sealMs = 0;
  let openMs = 0;
  let opened = 0;
  for (let done = 0; done < count; done += batch.length) {
    let t = performance.now();
    for (let i = 0; i < batch.length; i++) batch[i] = client.seal(DatagramType.Data, payload, 0, t);
    sealMs += performance.now() - t;
    t = performance.now();
    for (let i = 0; i < batch.length; i++) if (server.open(batch[i], t) !== null) opened++;
    openMs += performance.now() - t;
  }
  if (opened !== count) throw new Error(`only ${opened} of ${count} opened`);
  return {
    sealPerSec: count / (sealMs / 1000),
    openPerSec: count / (openMs / 1000),
    sealOpenPairsPerSec: count / ((sealMs + openMs) / 1000),
  };
}

/** Let the client's rekey at start (docs/REKEY.md) finish, so it does not mix with what is measured. */
async function settledInEpochOne(client: ClientPath, server: ServerPath): Promise<void> {
  const deadline = performance.now() + 10_000;
  const settled = (s: { rekey: { epoch: number; oldEpochHeld: boolean } }): boolean => s.rekey.epoch >= 1 && !s.rekey.oldEpochHeld;
  while (!(settled(client.stats()) && settled(server.stats())) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function pingPong(rounds: number): Promise<{ p50Ms: number; p90Ms: number; p99Ms: number; pathSrttMs: number }> {
  const secret = generateSessionSecret();
  const server = await ServerPath.create({ portSpec: '40000-40999', host: '127.0.0.1', secret, ...SHORT_OVERLAP });
  const client = await ClientPath.create({ host: '127.0.0.1', port: server.port, secret, ...SHORT_OVERLAP, interfacePollMs: 0 });
  server.onDatagram = (p) => server.send(p);
  await settledInEpochOne(client, server);
  const samples: number[] = [];
  const ping = Buffer.alloc(32, 1);
  await new Promise<void>((resolve) => {
    let sentAt = 0;
    const next = (): void => {
      sentAt = performance.now();
      client.send(ping);
    };
    client.onDatagram = () => {
      samples.push(performance.now() - sentAt);
      if (samples.length === rounds) resolve();
      else next();
    };
    next();
  });
  const pathSrttMs = client.srttMs;
  client.close();
  server.close();
  samples.sort((a, b) => a - b);
  return { p50Ms: percentile(samples, 50), p90Ms: percentile(samples, 90), p99Ms: percentile(samples, 99), pathSrttMs };
}

async function rebinds(count: number): Promise<{ renewToServerMedianMs: number; probeToServerMedianMs: number; probeToValidatedMedianMs: number; movedOnFirstDatagram: number; rebinds: number }> {
  const secret = generateSessionSecret();
  const server = await ServerPath.create({ portSpec: '40000-40999', host: '127.0.0.1', secret, ...SHORT_OVERLAP });
  const client = await ClientPath.create({ host: '127.0.0.1', port: server.port, secret, ...SHORT_OVERLAP, interfacePollMs: 0 });
  await new Promise<void>((resolve) => server.once('peer', () => resolve()));
  await settledInEpochOne(client, server);
  const renewToServer: number[] = [];
  const probeToServer: number[] = [];
  const probeToValidated: number[] = [];
  let movedOnFirst = 0;
  for (let i = 0; i < count; i++) {
    const receivedBefore = server.stats().datagramsReceived;
    let renewedAt = 0;
    client.once('renewed', () => {
      renewedAt = performance.now();
    });
    // The server answers the new address from its first datagram ('peer-candidate'); it is the peer once validated.
    let firstCount = -1;
    const moved = new Promise<number>((resolve) =>
      server.once('peer-candidate', () => {
        firstCount = server.stats().datagramsReceived;
        resolve(performance.now());
      }),
    );
    const validated = new Promise<number>((resolve) => server.once('peer-moved', () => resolve(performance.now())));
    const startAt = performance.now();
    await client.renew();
    const movedAt = await moved;
    const validatedAt = await validated;
    renewToServer.push(movedAt - startAt);
    probeToServer.push(movedAt - renewedAt);
    probeToValidated.push(validatedAt - renewedAt);
    // Exactly one datagram arrived between the renewal and the move: the probe from the new socket.
    if (firstCount === receivedBefore + 1) movedOnFirst++;
    await yieldToLoop();
  }
  client.close();
  server.close();
  return {
    renewToServerMedianMs: median(renewToServer),
    probeToServerMedianMs: median(probeToServer),
    probeToValidatedMedianMs: median(probeToValidated),
    movedOnFirstDatagram: movedOnFirst,
    rebinds: count,
  };
}

async function rekeys(count: number): Promise<{ handshakeMedianMs: number; cryptoMedianUs: number; rekeys: number }> {
  const secret = generateSessionSecret();
  // A short overlap so the next rekey can start soon; atStart off so every handshake is one we time.
  const rekey = { intervalMs: Infinity, overlapMs: 1, atStart: false };
  const server = await ServerPath.create({ portSpec: '40000-40999', host: '127.0.0.1', secret, ...QUIET, rekey });
  const client = await ClientPath.create({ host: '127.0.0.1', port: server.port, secret, ...QUIET, interfacePollMs: 0, rekey });
  await new Promise<void>((resolve) => server.once('peer', () => resolve()));
  const handshake: number[] = [];
  for (let i = 1; i <= count; i++) {
    const startAt = performance.now();
    client.rekey();
    while (client.stats().rekey.epoch < i) await yieldToLoop();
    handshake.push(performance.now() - startAt);
    while (client.stats().rekey.oldEpochHeld || server.stats().rekey.oldEpochHeld || server.stats().rekey.epoch < i) await yieldToLoop();
  }
  client.close();
  server.close();
  const crypto: number[] = [];
  const chain = Buffer.alloc(32, 1);
  for (let i = 0; i < count; i++) {
    const peer = new EphemeralKey();
    const t = performance.now();
    const own = new EphemeralKey();
    const shared = own.agree(peer.publicKey)!;
    const next = deriveNextEpoch(chain, shared, 1, own.publicKey, peer.publicKey);
    wipe(shared, next.chain, next.clientToServer, next.serverToClient);
    crypto.push((performance.now() - t) * 1000);
  }
  return { handshakeMedianMs: median(handshake), cryptoMedianUs: median(crypto), rekeys: count };
}

/** Run all four measurements; args[0] = seconds of throughput measurement (default 3). */
export async function run(args: string[]): Promise<unknown> {
  const seconds = Number(args[0] ?? 3) || 3;
  const crypto = sealOpenRates(100_000);
  const flow = await throughput(seconds);
  const rtt = await pingPong(2000);
  const roam = await rebinds(20);
  const rekey = await rekeys(20);
  const oneWayMs = rtt.p50Ms / 2;
  const rows: Array<[string, string]> = [
    ['seal only (1400 B, no sockets)', `${Math.round(crypto.sealPerSec).toLocaleString()} /s`],
    ['open only (1400 B, no sockets)', `${Math.round(crypto.openPerSec).toLocaleString()} /s`],
    ['seal+open, one thread', `${Math.round(crypto.sealOpenPairsPerSec).toLocaleString()} /s`],
    ['UDP one-way, received', `${Math.round(flow.datagramsPerSec).toLocaleString()} datagrams/s`],
    ['  payload goodput', `${flow.payloadMBPerSec.toFixed(1)} MB/s (wire ${flow.wireMBPerSec.toFixed(1)} MB/s)`],
    ['  sent / received / lost', `${flow.sent} / ${flow.received} / ${flow.lost} (send errors ${flow.sendErrors})`],
    ['ping-pong RTT p50/p90/p99', `${rtt.p50Ms.toFixed(3)} / ${rtt.p90Ms.toFixed(3)} / ${rtt.p99Ms.toFixed(3)} ms (path srtt ${rtt.pathSrttMs.toFixed(2)} ms, 1 ms resolution)`],
    ['renew() -> server follows, median', `${roam.renewToServerMedianMs.toFixed(3)} ms`],
    ['probe sent -> server follows, median', `${roam.probeToServerMedianMs.toFixed(3)} ms (one-way ~ RTT/2 = ${oneWayMs.toFixed(3)} ms)`],
    ['probe sent -> address validated, median', `${roam.probeToValidatedMedianMs.toFixed(3)} ms (~ 1.5 RTT)`],
    ['moved on the first datagram', `${roam.movedOnFirstDatagram} of ${roam.rebinds} rebinds`],
    ['rekey() -> client on new keys, median', `${rekey.handshakeMedianMs.toFixed(3)} ms (${rekey.rekeys} rekeys)`],
    ['rekey crypto, one side, median', `${rekey.cryptoMedianUs.toFixed(0)} us (X25519 key pair + agreement + HKDF)`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`path benchmark (${process.version}, target >= 80,000 sealed datagrams/s)`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  return { crypto, throughput: flow, rtt, rebind: { ...roam, oneWayEstimateMs: oneWayMs }, rekey };
}
