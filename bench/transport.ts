/**
 * `npm run bench -- transport [--quick] [--only kcp|quic]`: KCP and QUIC side
 * by side over the real sealed roaming path (ServerPath/ClientPath), with the
 * server in a worker thread so each side has its own core, as on two machines.
 *  (a) bulk: one stream server -> client on loopback: MB/s, and CPU seconds
 *      (both sides) per 100 MB, with 1400-byte datagrams (as on a real
 *      network) and with the loopback size tssh uses when the server is on a
 *      loopback address and UdpMTU is unset (docs/PROTOCOL.md, "Datagram size");
 *  (b) echo: 1-byte writes, one every 30 ms, through the impairment proxy at
 *      100 ms RTT (50 ms each way) with 0, 2 and 10 % loss each way: p50/p99;
 *  (c) recovery: an echo stream through the proxy (no delay); the proxy
 *      rebinds (new source port), alone or at the end of a 2 s outage; time
 *      from the rebind until every byte written before it has been echoed,
 *      and the same from the first authenticated datagram after the rebind
 *      (the server's 'peer-candidate'), the yardstick.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { generateSessionSecret } from '../src/crypto/session-secret.js';
import { ClientPath } from '../src/path/client-path.js';
import { ServerPath } from '../src/path/server-path.js';
import type { Connection, Stream } from '../src/transport/connection.js';
import { KcpConnection } from '../src/transport/kcp-connection.js';
import { createQuicCredentials, type QuicCredentials } from '../src/transport/quic/certificate.js';
import { QuicConnection } from '../src/transport/quic/quic-connection.js';
import { ImpairmentProxy } from '../test/support/impairment-proxy.js';
import { median, summarize } from './stats.js';

type Transport = 'kcp' | 'quic';

/** Stream kinds the bench server understands. */
const ECHO = 1;
const SOURCE = 2;

const RTT_MS = 100;
const ECHO_INTERVAL_MS = 30;
const RECOVERY_INTERVAL_MS = 10;
const RECOVERY_OUTAGE_MS = 2000;

interface ServerData {
  role: 'transport-bench-server';
  transport: Transport;
  secret: Uint8Array;
  credentials: QuicCredentials;
  /** Datagrams of the loopback size (the product's rule when UdpMTU is unset), else 1400 bytes. */
  largeOnLoopback: boolean;
}

function serverConnection(transport: Transport, path: ServerPath, credentials: QuicCredentials): Connection {
  return transport === 'kcp' ? new KcpConnection(path, { role: 'server' }) : new QuicConnection(path, { role: 'server', credentials });
}

function clientConnection(transport: Transport, path: ClientPath, credentials: QuicCredentials): Connection {
  return transport === 'kcp' ? new KcpConnection(path, { role: 'client' }) : new QuicConnection(path, { role: 'client', pinnedFingerprints: [credentials.fingerprint] });
}

/** The worker: a server that echoes or sources per stream kind, until the client closes. */
async function runServer(data: ServerData): Promise<void> {
  const path = await ServerPath.create({ portSpec: '30000-39999', secret: data.secret, host: '127.0.0.1', heartbeatTimeoutMs: 60_000, largeOnLoopback: data.largeOnLoopback });
  const conn = serverConnection(data.transport, path, data.credentials);
  conn.on('stream', (s: Stream) => {
    s.on('error', () => undefined);
    if (s.kind === ECHO) s.pipe(s);
    else if (s.kind === SOURCE) s.once('data', (d: Buffer) => void source(s, d.readUInt32BE(0)));
  });
  conn.once('close', () => process.exit(0));
  // Wall-clock ms (comparable across threads) of each first authenticated datagram from a new address.
  // The first authenticated datagram from a new address: the server answers there from then on (validation follows).
  path.on('peer-candidate', () => parentPort!.postMessage({ movedAt: performance.timeOrigin + performance.now() }));
  parentPort!.postMessage({ port: path.port });
}

async function source(s: Stream, mib: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let i = 0; i < mib * 16; i++) if (!s.write(chunk)) await once(s, 'drain');
  s.end();
}

if (!isMainThread && (workerData as ServerData | null)?.role === 'transport-bench-server') {
  void runServer(workerData as ServerData);
}

interface Link {
  client: Connection;
  proxy: ImpairmentProxy | null;
  /** Wall-clock ms of the server's latest 'peer-candidate' (first authenticated datagram from a new address). */
  movedAt(): number;
  close(): Promise<void>;
}

async function connect(transport: Transport, link: { delayMs: number; lossPct: number } | null, largeOnLoopback = false): Promise<Link> {
  const secret = generateSessionSecret();
  const credentials = createQuicCredentials();
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: 'transport-bench-server', transport, secret, credentials, largeOnLoopback } satisfies ServerData });
  const [{ port }] = (await once(worker, 'message')) as [{ port: number }];
  let movedAt = NaN;
  worker.on('message', (m: { movedAt?: number }) => {
    if (m.movedAt !== undefined) movedAt = m.movedAt;
  });
  let proxy: ImpairmentProxy | null = null;
  let target = port;
  if (link !== null) {
    proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: port, clientToServer: link, serverToClient: link, seed: 7 });
    target = proxy.port;
  }
  const path = await ClientPath.create({ host: '127.0.0.1', port: target, secret, heartbeatTimeoutMs: 60_000, interfacePollMs: 0, largeOnLoopback });
  const client = clientConnection(transport, path, credentials);
  return {
    client,
    proxy,
    movedAt: () => movedAt,
    async close() {
      await client.close();
      proxy?.close();
      await worker.terminate();
    },
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

async function bulk(transport: Transport, mib: number, largeOnLoopback = false): Promise<{ mbPerSec: number; cpuSecPer100MB: number }> {
  const link = await connect(transport, null, largeOnLoopback);
  const s = link.client.openStream(SOURCE);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(mib);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  s.write(header);
  let bytes = 0;
  s.on('data', (d: Buffer) => (bytes += d.length));
  await once(s, 'end');
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await link.close();
  const mb = bytes / 1e6;
  // process.cpuUsage covers every thread of the process: the client and the server worker.
  return { mbPerSec: round1(mb / seconds), cpuSecPer100MB: Math.round(((cpu.user + cpu.system) / 1e6 / mb) * 100 * 100) / 100 };
}

/** An echo stream with per-byte send times; `echoed` resolves latencies in order. */
async function echoStream(client: Connection): Promise<{ send(): void; latencies: number[]; sentAt: number[] }> {
  const s = client.openStream(ECHO);
  s.write('w');
  await once(s, 'data');
  const sentAt: number[] = [];
  const latencies: number[] = [];
  s.on('data', (d: Buffer) => {
    const now = performance.now();
    for (let i = 0; i < d.length; i++) latencies.push(now - sentAt[latencies.length]!);
  });
  return {
    send() {
      sentAt.push(performance.now());
      s.write('k');
    },
    latencies,
    sentAt,
  };
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  return check();
}

async function echo(transport: Transport, loss: number, samples: number): Promise<ReturnType<typeof summarize> & { loss: number }> {
  const link = await connect(transport, { delayMs: RTT_MS / 2, lossPct: loss });
  const e = await echoStream(link.client);
  for (let i = 0; i < samples; i++) {
    e.send();
    await new Promise((resolve) => setTimeout(resolve, ECHO_INTERVAL_MS));
  }
  await waitUntil(() => e.latencies.length >= samples, 10_000);
  await link.close();
  return { loss, ...summarize(e.latencies) };
}

/** Time from a proxy rebind (after an optional outage) until every byte written before it was echoed; median of `runs`. */
async function recovery(
  transport: Transport,
  outageMs: number,
  runs: number,
  oneWayDelayMs = 0,
): Promise<{ outageMs: number; rttMs: number; medianMs: number; runsMs: number[]; medianAfterFirstMs: number; afterFirstMs: number[] }> {
  const link = await connect(transport, { delayMs: oneWayDelayMs, lossPct: 0 });
  const proxy = link.proxy!;
  const e = await echoStream(link.client);
  let running = true;
  const ticker = (async () => {
    while (running) {
      e.send();
      await new Promise((resolve) => setTimeout(resolve, RECOVERY_INTERVAL_MS));
    }
  })();
  const runsMs: number[] = [];
  const afterFirstMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (outageMs > 0) {
      proxy.c2s.outage(outageMs);
      proxy.s2c.outage(outageMs);
      await new Promise((resolve) => setTimeout(resolve, outageMs));
    }
    const pending = e.sentAt.length;
    const t0 = performance.now();
    const movedBefore = link.movedAt();
    await proxy.rebind();
    const ok = await waitUntil(() => e.latencies.length >= pending, 30_000);
    runsMs.push(ok ? round1(performance.now() - t0) : Infinity);
    // The echo settles in this thread, the first datagram is seen in the worker: compare wall clocks.
    await waitUntil(() => !Object.is(link.movedAt(), movedBefore), 1000);
    const doneAt = performance.timeOrigin + t0 + (runsMs.at(-1) ?? NaN);
    afterFirstMs.push(ok && !Object.is(link.movedAt(), movedBefore) ? round1(Math.max(0, doneAt - link.movedAt())) : Infinity);
  }
  running = false;
  await ticker;
  await link.close();
  return { outageMs, rttMs: 2 * oneWayDelayMs, medianMs: median(runsMs), runsMs, medianAfterFirstMs: median(afterFirstMs), afterFirstMs };
}

export async function run(args: string[]): Promise<unknown> {
  const quick = args.includes('--quick');
  const onlyAt = args.indexOf('--only');
  const transports: Transport[] = onlyAt >= 0 ? [args[onlyAt + 1] as Transport] : ['kcp', 'quic'];
  const sectionsAt = args.indexOf('--sections');
  const sections = new Set(sectionsAt >= 0 ? (args[sectionsAt + 1] ?? '').split(',') : ['bulk', 'echo', 'recovery']);
  const results: Record<string, unknown> = {};
  const rows: string[][] = [];
  for (const t of transports) {
    const bulkRuns = [];
    if (sections.has('bulk')) for (let i = 0; i < (quick ? 1 : 3); i++) bulkRuns.push(await bulk(t, quick ? 100 : 200));
    bulkRuns.sort((a, b) => a.mbPerSec - b.mbPerSec);
    const bulkMedian = bulkRuns[Math.floor(bulkRuns.length / 2)] ?? { mbPerSec: NaN, cpuSecPer100MB: NaN };
    const largeRuns = [];
    if (sections.has('bulk')) for (let i = 0; i < (quick ? 1 : 3); i++) largeRuns.push(await bulk(t, quick ? 100 : 200, true));
    largeRuns.sort((a, b) => a.mbPerSec - b.mbPerSec);
    const largeMedian = largeRuns[Math.floor(largeRuns.length / 2)] ?? { mbPerSec: NaN, cpuSecPer100MB: NaN };
    const samples = quick ? 100 : 300;
    const echoes = [];
    if (sections.has('echo')) for (const loss of [0, 2, 10]) echoes.push(await echo(t, loss, samples));
    const recoveries = [];
    if (sections.has('recovery')) {
      for (const outage of [0, RECOVERY_OUTAGE_MS]) recoveries.push(await recovery(t, outage, quick ? 3 : 5));
      // At a real RTT, "within one RTT of the first authenticated datagram" can be read off (loopback's RTT is below the timers' grain).
      recoveries.push(await recovery(t, RECOVERY_OUTAGE_MS, quick ? 3 : 5, RTT_MS / 2));
    }
    results[t] = { bulkRuns, bulkMedian, largeRuns, largeMedian, echoes, recoveries };
    rows.push([
      t,
      String(bulkMedian.mbPerSec),
      String(bulkMedian.cpuSecPer100MB),
      `${largeMedian.mbPerSec} (${largeMedian.cpuSecPer100MB})`,
      ...echoes.map((r) => `${r.p50}/${r.p99}`),
      ...recoveries.map((r) => `${r.medianMs} (${r.medianAfterFirstMs})`),
    ]);
    console.error(`${t}: done`);
  }
  const header = [
    'transport', 'bulk MB/s', 'CPU s/100MB', 'loopback size: MB/s (CPU)', 'echo 0% p50/p99', 'echo 2% p50/p99', 'echo 10% p50/p99', 'rebind ms (from 1st dgram)',
    `${RECOVERY_OUTAGE_MS / 1000}s outage+rebind ms (from 1st dgram)`,
    `same at ${RTT_MS} ms RTT`,
  ].filter((_, i) => i < 4 || (i < 7 ? sections.has('echo') : sections.has('recovery')));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join(' | ');
  console.log(`\nloopback bulk (server -> client; 1400-byte datagrams, then the loopback size); echo of 1-byte writes every ${ECHO_INTERVAL_MS} ms at ${RTT_MS} ms RTT (ms); recovery = rebind (in brackets: the server's first authenticated datagram after it) until all earlier bytes echoed (median, ms)`);
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  return { rttMs: RTT_MS, echoIntervalMs: ECHO_INTERVAL_MS, recoveryOutageMs: RECOVERY_OUTAGE_MS, ...results };
}
