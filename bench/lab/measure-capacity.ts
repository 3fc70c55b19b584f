/**
 * The emulator's own capacity: a TCP stream as fast as node can push it,
 * from the client namespace to the server namespace through the emulator
 * with no impairment, and the same over the plain veth pair; plus the
 * emulator's CPU time per forwarded packet (from its own getrusage).
 */
import type { LabContext } from './lab-context.js';
import type { CapacityResult } from './lab-results.js';
import { HelperProcess, NETCAT } from './helper-process.js';
import { SERVER_ADDR, SERVER_VETH_ADDR } from './netlab.js';

const PORT = 5001;

async function stream(ctx: LabContext, target: string, seconds: number): Promise<{ bytes: number; ms: number }> {
  const sink = new HelperProcess(ctx.lab.serverNs, [process.execPath, NETCAT, 'sink', '0.0.0.0', String(PORT)]);
  try {
    if (!(await sink.waitLines(1, 10_000))) throw new Error(`capacity sink did not start: ${sink.stderr.trim()}`);
    const source = new HelperProcess(ctx.lab.clientNs, [process.execPath, NETCAT, 'source', target, String(PORT), String(seconds)]);
    if (!(await source.waitExit(seconds * 1000 + 15_000))) source.kill();
    if (!(await sink.waitLines(2, 5000))) throw new Error(`capacity sink saw no connection: ${source.stderr.trim()}`);
    return JSON.parse(sink.lines[1]!) as { bytes: number; ms: number };
  } finally {
    sink.kill();
  }
}

export async function measureCapacity(ctx: LabContext): Promise<CapacityResult> {
  const seconds = ctx.quick ? 2 : 4;
  const emu = ctx.lab.link;
  await emu.apply({ label: 'no impairment', rttMs: 0, lossPct: 0 });
  await emu.reset();
  const s0 = await emu.stats();
  const viaEmu = await stream(ctx, SERVER_ADDR, seconds);
  const s1 = await emu.stats();
  const packets = s1.c2s.delivered + s1.s2c.delivered - (s0.c2s.delivered + s0.s2c.delivered);
  const cpuUs = s1.cpuUserUs + s1.cpuSysUs - (s0.cpuUserUs + s0.cpuSysUs);
  const veth = await stream(ctx, SERVER_VETH_ADDR, seconds);
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  const result: CapacityResult = {
    emulatorMBps: r2(viaEmu.bytes / 1000 / viaEmu.ms),
    emulatorPps: Math.round(packets / (viaEmu.ms / 1000)),
    cpuUsPerPacket: r2(cpuUs / Math.max(1, packets)),
    ppsPerCore: Math.round(packets / Math.max(1e-6, cpuUs / 1e6)),
    emulatorCpuPct: Math.round((cpuUs / 1000 / viaEmu.ms) * 100),
    vethMBps: r2(veth.bytes / 1000 / veth.ms),
    seconds,
    date: new Date().toISOString(),
  };
  ctx.log(
    `  through the emulator: ${result.emulatorMBps} MB/s, ${result.emulatorPps} packets/s (both ways), ${result.cpuUsPerPacket} µs CPU per packet (≈ ${result.ppsPerCore} packets/s per core); plain veth: ${result.vethMBps} MB/s`,
  );
  await ctx.lab.endProcesses([ctx.sshd.pid]);
  return result;
}
