/**
 * `npm run bench -- kcp-bottleneck [--quick]`: KCP bulk through a simulated
 * bottleneck (rate cap with a tail-drop queue, delay, random loss each way),
 * with and without rate control (docs/KCP.md, "Rate control"). Deterministic
 * (the fake clock and seeded link of test/transport/kcp/sim.ts), so it needs
 * no quiet machine: MB/s is simulated time, not CPU.
 */
import { pair, type LinkOptions } from '../test/transport/kcp/sim.js';

const MTU = 1369;
/** Sealing, frame class and IPv4/UDP bytes per datagram, as the lab's link sees them. */
const OVERHEAD = 59;

interface Case {
  name: string;
  rttMs: number;
  loss: number;
  /** Bottleneck rate, bytes per ms. */
  rate: number;
  queueBytes: number;
  mib: number;
}

interface Row extends Case {
  rateControl: boolean;
  mbPerSec: number;
  segments: number;
  resends: number;
  queueDrops: number;
}

function runCase(c: Case, rateControl: boolean): Row {
  const link = (seed: number): LinkOptions => ({ loss: c.loss, delayMs: c.rttMs / 2, rateBytesPerMs: c.rate, queueBytes: c.queueBytes, overheadBytes: OVERHEAD, seed });
  const p = pair({ mtu: MTU, rateControl }, link(5), link(6));
  const size = c.mib * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let written = 0;
  let got = 0;
  p.b.onData = (d) => void (got += d.length);
  p.a.drainThreshold = 256 * 1024;
  const more = (): void => {
    while (written < size && p.a.queuedBytes <= p.a.drainThreshold) {
      p.a.write(chunk);
      written += chunk.length;
    }
  };
  p.a.onDrain = more;
  more();
  const t0 = p.clock.nowMs;
  p.clock.runUntil(() => got >= size, t0 + 600_000);
  const s = p.a.stats();
  const row: Row = { ...c, rateControl, mbPerSec: got / 1e3 / (p.clock.nowMs - t0), segments: s.segmentsSent, resends: s.retransmissions, queueDrops: p.ab.queueDropped };
  p.a.close();
  p.b.close();
  return row;
}

export async function run(args: string[]): Promise<Row[]> {
  const quick = args.includes('--quick');
  const mib = quick ? 20 : 100;
  const cases: Case[] = [
    { name: 'lab lossy: 50 ms, 1 %, 100 Mbit/s, 256 KiB queue', rttMs: 50, loss: 0.01, rate: 12_500, queueBytes: 256 * 1024, mib },
    { name: '50 ms, no loss, 100 Mbit/s, 256 KiB queue', rttMs: 50, loss: 0, rate: 12_500, queueBytes: 256 * 1024, mib },
    { name: '50 ms, 5 %, 100 Mbit/s, 256 KiB queue', rttMs: 50, loss: 0.05, rate: 12_500, queueBytes: 256 * 1024, mib: mib / 2 },
    { name: '50 ms, 1 %, 100 Mbit/s, 30 KB queue', rttMs: 50, loss: 0.01, rate: 12_500, queueBytes: 30_000, mib: mib / 2 },
    { name: '200 ms, 1 %, 20 Mbit/s, 256 KiB queue', rttMs: 200, loss: 0.01, rate: 2_500, queueBytes: 256 * 1024, mib: mib / 10 },
    { name: '2 ms, no loss, 800 Mbit/s, 256 KiB queue', rttMs: 2, loss: 0, rate: 100_000, queueBytes: 256 * 1024, mib },
  ];
  const rows: Row[] = [];
  console.log('KCP bulk a -> b through a simulated bottleneck (simulated time; MB = 10^6 bytes)');
  console.log('link                                              | rate control | MB/s  | resends / segments | queue drops');
  for (const c of cases) {
    for (const rc of [false, true]) {
      const r = runCase(c, rc);
      rows.push(r);
      console.log(`${c.name.padEnd(49)} | ${(rc ? 'on' : 'off').padEnd(12)} | ${r.mbPerSec.toFixed(2).padStart(5)} | ${`${r.resends} / ${r.segments}`.padStart(18)} | ${r.queueDrops}`);
    }
  }
  return rows;
}
