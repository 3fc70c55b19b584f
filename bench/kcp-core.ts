/**
 * `npm run bench -- kcp-core [MB] [mtu]`: the KCP core alone, two instances
 * back to back in memory (no sockets, no crypto, real clock). Measures bulk
 * throughput and CPU seconds per 100 MB moved, both ends together, so the
 * cost of the ARQ itself is known apart from the path below it.
 */
import { Kcp } from '../src/transport/kcp/kcp.js';

/** What run() measures. */
export interface KcpCoreResult {
  megabytes: number;
  mtu: number;
  seconds: number;
  megabytesPerSecond: number;
  cpuSecondsPer100MB: number;
  packetsAtoB: number;
  packetsBtoA: number;
  retransmissions: number;
}

/** One direction of the in-memory "wire": packets copied, as a socket would, and delivered in the next turn. */
class Wire {
  private batch: Buffer[] = [];
  private scheduled = false;
  packets = 0;
  target: Kcp | null = null;
  private readonly flushBatch = (): void => {
    this.scheduled = false;
    const batch = this.batch;
    this.batch = [];
    for (const p of batch) this.target!.input(p);
  };

  send(packet: Buffer): void {
    this.packets++;
    this.batch.push(Buffer.from(packet));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBatch);
    }
  }
}

/** Move `args[0]` MB (default 200) from one Kcp to the other; print and return the figures. */
export async function run(args: string[] = []): Promise<KcpCoreResult> {
  const megabytes = Number(args[0] ?? 200);
  const mtu = Number(args[1] ?? 1369);
  const total = megabytes * 1024 * 1024;
  const ab = new Wire();
  const ba = new Wire();
  const a = new Kcp({ conv: 1, mtu }, (p) => ab.send(p));
  const b = new Kcp({ conv: 1, mtu }, (p) => ba.send(p));
  ab.target = b;
  ba.target = a;

  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let written = 0;
  let received = 0;
  a.drainThreshold = 1024 * 1024;
  const fill = (): void => {
    while (written < total && a.queuedBytes <= a.drainThreshold) {
      const n = Math.min(chunk.length, total - written);
      a.write(n === chunk.length ? chunk : chunk.subarray(0, n));
      written += n;
    }
  };
  a.onDrain = fill;

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    b.onData = (data) => {
      received += data.length;
      if (received === total) resolve();
    };
    fill();
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const result: KcpCoreResult = {
    megabytes,
    mtu,
    seconds: round(seconds),
    megabytesPerSecond: round(megabytes / seconds),
    cpuSecondsPer100MB: round((cpuSeconds * 100) / megabytes),
    packetsAtoB: ab.packets,
    packetsBtoA: ba.packets,
    retransmissions: a.stats().retransmissions,
  };
  a.close();
  b.close();
  console.log('kcp-core: two Kcp back to back in memory, real clock');
  console.table([result]);
  return result;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

// Run directly: node dist/bench/kcp-core.js [MB] [mtu]
if (import.meta.url === `file://${process.argv[1]}`) await run(process.argv.slice(2));
