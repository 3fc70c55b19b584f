/**
 * `npm run bench -- kcp [--quick]`: the KCP transport (KCP + multiplexer over
 * the sealed roaming path), with the server in a worker thread so each side
 * has its own core, as on two machines.
 *  (a) bulk: one stream server -> client on loopback: MB/s and CPU seconds
 *      (both sides) per 100 MB;
 *  (b) echo: 1-byte writes on an interactive stream, open loop (one every
 *      30 ms), through the impairment proxy at 100 ms RTT with 0, 2 and 10 %
 *      loss in each direction, alone and beside a bulk transfer paced at
 *      2 MB/s (the link is not saturated): p50/p90/p99/max in ms.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { generateSessionSecret } from '../src/crypto/session-secret.js';
import { ClientPath } from '../src/path/client-path.js';
import { ServerPath } from '../src/path/server-path.js';
import type { Connection, Stream } from '../src/transport/connection.js';
import { KcpConnection } from '../src/transport/kcp-connection.js';
import { ImpairmentProxy } from '../test/support/impairment-proxy.js';
import { summarize } from './stats.js';

/** Stream kinds the bench server understands. */
const ECHO = 1;
const SOURCE = 2;
const SINK = 3;

/** Bulk kinds in KCP's bulk lane, as the protocol puts forwards there. */
const benchLane = (kind: number): 0 | 1 => (kind === ECHO ? 0 : 1);

const RTT_MS = 100;
const ECHO_INTERVAL_MS = 30;
const BULK_PACE_BYTES_PER_SEC = 2 * 1024 * 1024;

interface ServerData {
  role: 'kcp-bench-server';
  secret: Uint8Array;
}

/** The worker: a KCP server that echoes, sources or sinks per stream kind, until the client closes. */
async function runServer(data: ServerData): Promise<void> {
  const path = await ServerPath.create({ portSpec: '30000-39999', secret: data.secret, host: '127.0.0.1', heartbeatTimeoutMs: 60_000 });
  const conn = new KcpConnection(path, { role: 'server', laneOf: benchLane });
  conn.on('stream', (s: Stream) => {
    s.on('error', () => undefined);
    if (s.kind === ECHO) s.pipe(s);
    else if (s.kind === SINK) s.resume();
    else if (s.kind === SOURCE) {
      // The first 4 bytes say how many MiB to send.
      s.once('data', (d: Buffer) => void source(s, d.readUInt32BE(0)));
    }
  });
  conn.once('close', () => process.exit(0));
  parentPort!.postMessage({ port: path.port });
}

async function source(s: Stream, mib: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let i = 0; i < mib * 16; i++) if (!s.write(chunk)) await once(s, 'drain');
  s.end();
}

if (!isMainThread && (workerData as ServerData | null)?.role === 'kcp-bench-server') {
  void runServer(workerData as ServerData);
}

interface Link {
  client: Connection;
  proxy: ImpairmentProxy | null;
  close(): Promise<void>;
}

async function connect(loss: number | null): Promise<Link> {
  const secret = generateSessionSecret();
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: 'kcp-bench-server', secret } satisfies ServerData });
  const [{ port }] = (await once(worker, 'message')) as [{ port: number }];
  let proxy: ImpairmentProxy | null = null;
  let target = port;
  if (loss !== null) {
    const link = { delayMs: RTT_MS / 2, lossPct: loss };
    proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: port, clientToServer: link, serverToClient: link, seed: 7 });
    target = proxy.port;
  }
  const path = await ClientPath.create({ host: '127.0.0.1', port: target, secret, heartbeatTimeoutMs: 60_000, interfacePollMs: 0 });
  const client = new KcpConnection(path, { role: 'client', laneOf: benchLane });
  return {
    client,
    proxy,
    async close() {
      await client.close();
      proxy?.close();
      await worker.terminate();
    },
  };
}

async function bulk(mib: number): Promise<{ mbPerSec: number; cpuSecPer100MB: number }> {
  const link = await connect(null);
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
  // process.cpuUsage covers every thread of the process: client, proxy-less path and the server worker.
  return { mbPerSec: Math.round((mb / seconds) * 10) / 10, cpuSecPer100MB: Math.round(((cpu.user + cpu.system) / 1e6 / mb) * 100 * 100) / 100 };
}

async function echo(loss: number, withBulk: boolean, samples: number): Promise<ReturnType<typeof summarize> & { loss: number; withBulk: boolean }> {
  const link = await connect(loss);
  const s = link.client.openStream(ECHO);
  // Warm up: one round trip so the stream exists on both sides and RTT is known.
  s.write('w');
  await once(s, 'data');
  let pacer: NodeJS.Timeout | null = null;
  let sink: Stream | null = null;
  if (withBulk) {
    sink = link.client.openStream(SINK);
    const chunk = Buffer.alloc(BULK_PACE_BYTES_PER_SEC / 50, 0x62);
    pacer = setInterval(() => sink!.write(chunk), 20);
  }
  const sentAt: number[] = [];
  const latencies: number[] = [];
  let next = 0;
  s.on('data', (d: Buffer) => {
    const now = performance.now();
    for (let i = 0; i < d.length; i++) latencies.push(now - sentAt[next++]);
  });
  for (let i = 0; i < samples; i++) {
    sentAt.push(performance.now());
    s.write('k');
    await new Promise((resolve) => setTimeout(resolve, ECHO_INTERVAL_MS));
  }
  const deadline = performance.now() + 10_000;
  while (latencies.length < samples && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  if (pacer) clearInterval(pacer);
  // The bulk stream's backlog is not part of the measurement: drop it rather than wait for it.
  sink?.reset();
  await link.close();
  return { loss, withBulk, ...summarize(latencies) };
}

export async function run(args: string[]): Promise<unknown> {
  const quick = args.includes('--quick');
  const bulkRuns = [];
  for (let i = 0; i < (quick ? 1 : 3); i++) bulkRuns.push(await bulk(quick ? 100 : 200));
  bulkRuns.sort((a, b) => a.mbPerSec - b.mbPerSec);
  const bulkMedian = bulkRuns[Math.floor(bulkRuns.length / 2)];
  console.log(`bulk, one stream, loopback: ${bulkRuns.map((r) => r.mbPerSec).join(' / ')} MB/s (median ${bulkMedian.mbPerSec}); CPU ${bulkMedian.cpuSecPer100MB} s per 100 MB (both sides)`);

  const samples = quick ? 100 : 300;
  const echoes = [];
  console.log(`\necho of 1-byte writes, one every ${ECHO_INTERVAL_MS} ms, RTT ${RTT_MS} ms (ms):`);
  console.log('loss each way | beside bulk |   n |  p50 |  p90 |  p99 |  max');
  for (const loss of [0, 2, 10]) {
    for (const withBulk of [false, true]) {
      const r = await echo(loss, withBulk, samples);
      echoes.push(r);
      console.log(`${String(loss).padStart(12)} % | ${(withBulk ? '2 MB/s' : 'no').padStart(11)} | ${String(r.n).padStart(3)} | ${[r.p50, r.p90, r.p99, r.max].map((x) => String(x).padStart(4)).join(' | ')}`);
    }
  }
  return { rttMs: RTT_MS, echoIntervalMs: ECHO_INTERVAL_MS, bulkPaceBytesPerSec: BULK_PACE_BYTES_PER_SEC, bulkRuns, bulkMedian, echoes };
}
