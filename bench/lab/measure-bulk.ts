/**
 * Bulk: a file of random bytes (100 MB; 20 MB with --quick) sent by `cat` as
 * the session's remote command with the client's stdout a pipe, and through
 * a -L forward (a TCP server in the server namespace sends the file to each
 * connection), on each bulk link. Each transfer is bounded in time; a
 * transfer the bound cuts short reports the throughput of what arrived.
 * mosh carries screen state only (no pipe, no forwards): not measured.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { HelperProcess, NETCAT } from './helper-process.js';
import { BULK_LINKS, type BulkResult } from './lab-results.js';
import type { EmulatorStats, LinkSetting } from './link-emulator.js';
import { closeSessions, openSession, type LabContext } from './lab-context.js';
import { clientEnv, execArgv, forwardArgv, TOOLS, type ToolId } from './tools.js';

const SERVE_PORT = 7001;
const LOCAL_PORT = 7002;

function writeBlob(path: string, bytes: number): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    const chunk = 1 << 20;
    for (let left = bytes; left > 0; left -= chunk) writeSync(fd, randomBytes(Math.min(chunk, left)));
  } finally {
    closeSync(fd);
  }
}

function result(link: LinkSetting, tool: ToolId, mode: BulkResult['mode'], size: number, got: number, firstByteMs: number, transferMs: number, cutShort: boolean): BulkResult {
  const r1 = (x: number): number => Math.round(x * 10) / 10;
  return {
    link,
    tool,
    mode,
    sizeBytes: size,
    receivedBytes: got,
    firstByteMs: r1(firstByteMs),
    transferMs: r1(transferMs),
    mbPerSec: transferMs > 0 ? Math.round((got / 1000 / transferMs) * 100) / 100 : NaN,
    cutShort,
    date: new Date().toISOString(),
  };
}

function notMeasured(link: LinkSetting, tool: ToolId, mode: BulkResult['mode'], size: number, why: string): BulkResult {
  return { ...result(link, tool, mode, size, 0, NaN, NaN, false), notMeasured: why };
}

/** The emulator's CPU use between two of its stats samples, percent of one core. */
function cpuPercent(a: EmulatorStats, ta: number, b: EmulatorStats, tb: number): number {
  const us = b.cpuUserUs + b.cpuSysUs - (a.cpuUserUs + a.cpuSysUs);
  return Math.round((us / 1000 / Math.max(1, tb - ta)) * 100);
}

async function execTransfer(ctx: LabContext, link: LinkSetting, tool: ToolId, file: string, size: number, boundMs: number): Promise<BulkResult> {
  const argv = execArgv(tool, ctx.sshd, ctx.lab.clientNs, `cat ${file}`, ctx.ports.take(tool))!;
  const t0 = performance.now();
  const child = spawn(argv[0], argv[1], { stdio: ['ignore', 'pipe', 'pipe'], env: clientEnv() });
  let got = 0;
  let first = NaN;
  let last = NaN;
  let stderr = '';
  let atFirst: Promise<[EmulatorStats, number]> | null = null;
  child.stdout.on('data', (d: Buffer) => {
    const now = performance.now();
    if (got === 0) {
      first = now;
      atFirst = ctx.lab.link.stats().then((st) => [st, performance.now()]);
    }
    got += d.length;
    last = now;
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
  const exited = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), boundMs);
    child.once('close', () => (clearTimeout(timer), resolve(true)));
  });
  const atEnd: [EmulatorStats, number] = [await ctx.lab.link.stats(), performance.now()];
  if (!exited) child.kill('SIGKILL');
  await ctx.lab.endProcesses([ctx.sshd.pid]);
  if (got === 0 || atFirst === null) return notMeasured(link, tool, 'exec', size, `no data: ${stderr.trim().split('\n')[0] ?? ''}`);
  const [s0, t1] = await (atFirst as Promise<[EmulatorStats, number]>);
  return { ...result(link, tool, 'exec', size, got, first - t0, last - first, got < size), emulatorCpuPct: cpuPercent(s0, t1, ...atEnd) };
}

/** Is something listening on TCP `port` in the namespace of process `pid`? */
function listening(pid: number, port: number): boolean {
  try {
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    return readFileSync(`/proc/${pid}/net/tcp`, 'utf8')
      .split('\n')
      .some((l) => {
        const f = l.trim().split(/\s+/);
        return f[1]?.endsWith(`:${hex}`) === true && f[3] === '0A';
      });
  } catch {
    return false;
  }
}

async function forwardTransfer(ctx: LabContext, link: LinkSetting, tool: ToolId, size: number, boundMs: number): Promise<BulkResult> {
  const argv = forwardArgv(tool, ctx.sshd, ctx.lab.clientNs, `127.0.0.1:${LOCAL_PORT}:127.0.0.1:${SERVE_PORT}`, ctx.ports.take(tool))!;
  const fwd = spawn(argv[0], argv[1], { stdio: ['ignore', 'ignore', 'pipe'], env: clientEnv() });
  let stderr = '';
  fwd.stderr.setEncoding('utf8');
  fwd.stderr.on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
  try {
    const deadline = performance.now() + 20_000;
    while (!listening(fwd.pid ?? 0, LOCAL_PORT)) {
      if (fwd.exitCode !== null || performance.now() > deadline || /not available/.test(stderr)) {
        return notMeasured(link, tool, 'forward', size, stderr.trim().split('\n')[0] || 'the -L forward did not open');
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const s0 = await ctx.lab.link.stats();
    const t1 = performance.now();
    const fetch = new HelperProcess(ctx.lab.clientNs, [process.execPath, NETCAT, 'fetch', '127.0.0.1', String(LOCAL_PORT), String(boundMs)]);
    if (!(await fetch.waitLines(1, boundMs + 10_000))) {
      fetch.kill();
      return notMeasured(link, tool, 'forward', size, `fetch failed: ${fetch.stderr.trim()}`);
    }
    const emulatorCpuPct = cpuPercent(s0, t1, await ctx.lab.link.stats(), performance.now());
    const r = JSON.parse(fetch.lines[0]!) as { bytes: number; firstByteMs: number; transferMs: number };
    if (r.bytes === 0) return notMeasured(link, tool, 'forward', size, `no data through the forward ${fetch.stderr.trim()}`);
    return { ...result(link, tool, 'forward', size, r.bytes, r.firstByteMs, r.transferMs, r.bytes < size), emulatorCpuPct };
  } finally {
    fwd.kill('SIGKILL');
    await ctx.lab.endProcesses([ctx.sshd.pid]);
  }
}

/** Bytes `seq 1 n` prints. */
export function seqBytes(n: number): number {
  let bytes = 0;
  for (let digits = 1, lo = 1; lo <= n; digits++, lo *= 10) bytes += (Math.min(n, lo * 10 - 1) - lo + 1) * (digits + 1);
  return bytes;
}

/**
 * A flood of text into the terminal (what `cat` of a big log does): the
 * remote shell waits for Enter, prints `seq 1 n`, then a marker; timed from
 * Enter until the marker comes out of the client into its terminal (raw
 * output, not rendered here: a headless xterm would be the slowest part).
 * Every client can do this; mosh skips intermediate screens by design, the
 * others deliver every byte.
 */
async function terminalTransfer(ctx: LabContext, link: LinkSetting, tool: ToolId, n: number, boundMs: number): Promise<BulkResult> {
  const size = seqBytes(n);
  const remote = `printf '\\n\\n\\nREADY>'; read x; seq 1 ${n}; echo FLOOD-DONE; exec cat`;
  let s: Awaited<ReturnType<typeof openSession>> | null = null;
  try {
    s = await openSession(ctx, tool, remote, 60_000);
    const done = s.session.watchRaw('FLOOD-DONE', boundMs);
    const t0 = performance.now();
    s.session.write('\r');
    const doneAt = await done;
    if (Number.isNaN(doneAt)) return { ...notMeasured(link, tool, 'terminal', size, `no end marker within ${boundMs / 1000} s`), cutShort: true };
    return result(link, tool, 'terminal', size, size, 0, doneAt - t0, false);
  } catch (err) {
    return notMeasured(link, tool, 'terminal', size, (err as Error).message.split('\n')[0]!);
  } finally {
    await closeSessions(ctx, s ? [s] : []);
  }
}

export async function measureBulk(ctx: LabContext, dir: string, quick: boolean): Promise<BulkResult[]> {
  const size = (quick ? 20 : 100) * 1_000_000;
  const file = join(dir, 'blob');
  writeBlob(file, size);
  const out: BulkResult[] = [];
  const floodLines = quick ? 300_000 : 1_400_000;
  for (const link of BULK_LINKS) {
    const boundMs = link.lossPct > 0 ? (quick ? 10_000 : 30_000) : 60_000;
    for (const tool of TOOLS) {
      await ctx.lab.link.apply(link);
      ctx.log(`bulk terminal: ${link.label}: ${tool.id}`);
      const r = await terminalTransfer(ctx, link, tool.id, floodLines, boundMs);
      ctx.log(r.notMeasured ? `  not measured: ${r.notMeasured}` : `  ${r.mbPerSec} MB/s (${(r.sizeBytes / 1e6).toFixed(1)} MB of text on screen after ${(r.transferMs / 1000).toFixed(2)} s)`);
      out.push(r);
    }
    for (const tool of TOOLS) {
      for (const mode of ['exec', 'forward'] as const) {
        await ctx.lab.link.apply(link);
        ctx.log(`bulk ${mode}: ${link.label}: ${tool.id}`);
        let r: BulkResult;
        if (!tool.rawBytes) r = notMeasured(link, tool.id, mode, size, 'mosh carries screen state only (no byte stream, no forwards)');
        else if (mode === 'exec') r = await execTransfer(ctx, link, tool.id, file, size, boundMs);
        else {
          const server = new HelperProcess(ctx.lab.serverNs, [process.execPath, NETCAT, 'serve', '127.0.0.1', String(SERVE_PORT), file]);
          try {
            if (!(await server.waitLines(1, 10_000))) throw new Error(`file server did not start: ${server.stderr.trim()}`);
            r = await forwardTransfer(ctx, link, tool.id, size, boundMs);
          } finally {
            server.kill();
          }
        }
        ctx.log(r.notMeasured ? `  not measured: ${r.notMeasured}` : `  ${r.mbPerSec} MB/s (${(r.receivedBytes / 1e6).toFixed(1)} MB in ${(r.transferMs / 1000).toFixed(1)} s${r.cutShort ? ', cut short by the bound' : ''}; first byte after ${r.firstByteMs} ms; emulator CPU ${r.emulatorCpuPct} %)`);
        out.push(r);
      }
    }
  }
  await ctx.lab.link.apply({ label: 'clean', rttMs: 0, lossPct: 0 });
  return out;
}
