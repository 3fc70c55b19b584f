/**
 * `npm run bench -- session [--quick]`: tssh against OpenSSH in the same run,
 * through a real sshd on 127.0.0.1 (test/support/sshd.ts).
 *  (a) start-up: `tssh --kcp host true` against `ssh host true`, median of
 *      alternating runs, and the ratio;
 *  (b) keystroke echo as the user sees it (a key typed into tssh's terminal
 *      until its echo comes back out of it; the remote side is `cat` in a pty),
 *      at 100 ms RTT with 0 % and 10 % loss each way (impairment proxy between
 *      tssh and tsshd), for tssh and, over the same emulated RTT via a TCP
 *      relay, for ssh;
 *  (c) idle cost: tsshd's resident memory and the CPU seconds tsshd and tssh
 *      use while an interactive session sits idle for a minute.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pty from '@lydell/node-pty';
import { cleanEnv, freeUdpPort, runCollect } from '../test/e2e/harness.js';
import { ImpairmentProxy } from '../test/support/impairment-proxy.js';
import { SshdFixture, TSSH_BIN, TSSHD_BIN } from '../test/support/sshd.js';
import { TcpRelay } from '../test/support/tcp-relay.js';
import { median, summarize } from './stats.js';

const TICKS_PER_SEC = 100;

/** One program in a pty; resolves each typed key's echo time. */
export class EchoProbe {
  private readonly proc: pty.IPty;
  private waiting: { key: string; t0: number; resolve: (ms: number) => void } | null = null;
  private seen = '';

  constructor(program: string, args: string[], env: Record<string, string>) {
    this.proc = pty.spawn(program, args, { name: 'xterm-256color', cols: 100, rows: 30, env });
    this.proc.onData((d) => {
      this.seen = (this.seen + d).slice(-4096);
      const w = this.waiting;
      if (w && d.includes(w.key)) {
        this.waiting = null;
        w.resolve(performance.now() - w.t0);
      }
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Wait until the output so far contains `text`, bounded. */
  async ready(text: string, timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.seen.includes(text)) {
      if (performance.now() > deadline) throw new Error(`no '${text}' from the session; got ${JSON.stringify(this.seen.slice(-300))}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  type(text: string): void {
    this.proc.write(text);
  }

  /** Type one key and resolve with the ms until it is echoed (or NaN after 5 s). */
  key(key: string): Promise<number> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        resolve(NaN);
      }, 5000);
      this.waiting = { key, t0: performance.now(), resolve: (ms) => (clearTimeout(timer), resolve(ms)) };
      this.proc.write(key);
    });
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }
}

/** Echo latencies of `count` keys typed one at a time, 50-150 ms apart (keys cycle through letters so each echo is recognisable). */
export async function typeKeys(probe: EchoProbe, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const ms = await probe.key(String.fromCharCode(97 + (i % 26)));
    if (!Number.isNaN(ms)) out.push(ms);
    await new Promise((resolve) => setTimeout(resolve, 50 + ((i * 37) % 100)));
  }
  return out;
}

/** CPU seconds (user+system) and RSS in MB of a process, from /proc. */
function procUsage(pid: number): { cpuSec: number; rssMB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSec = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSec, rssMB: rss ? Number(rss[1]) / 1024 : NaN };
}

/** PIDs of running tsshd daemons started from this checkout. */
function tsshdPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(TSSHD_BIN)) pids.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

async function startup(sshd: SshdFixture, runs: number): Promise<{ sshMs: number; tsshMs: number; ratio: number; overheadMs: number; samples: { ssh: number[]; tssh: number[] } }> {
  const ssh: number[] = [];
  const tssh: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    const a = await runCollect('ssh', [...sshd.configArgs, sshd.host, 'true']);
    ssh.push(performance.now() - t0);
    t0 = performance.now();
    const b = await runCollect(process.execPath, [TSSH_BIN, ...sshd.configArgs, '--kcp', sshd.host, 'true']);
    tssh.push(performance.now() - t0);
    if (a.status !== 0 || b.status !== 0) throw new Error(`start-up run failed: ssh ${a.status}, tssh ${b.status}: ${b.stderr}`);
  }
  const s = median(ssh);
  const t = median(tssh);
  const r = (x: number): number => Math.round(x);
  return { sshMs: r(s), tsshMs: r(t), ratio: Math.round((t / s) * 100) / 100, overheadMs: r(t - s), samples: { ssh: ssh.map(r), tssh: tssh.map(r) } };
}

async function tsshEcho(sshd: SshdFixture, lossPct: number, keys: number): Promise<ReturnType<typeof summarize>> {
  const tsshdPort = await freeUdpPort();
  const link = { delayMs: 50, lossPct };
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: tsshdPort, clientToServer: link, serverToClient: link, seed: 11 });
  const probe = new EchoProbe(process.execPath, [TSSH_BIN, ...sshd.configArgs, '--kcp', '-tt', '--tsshd-port', String(tsshdPort), sshd.host, 'echo READY; exec cat'], cleanEnv({ TERM: 'xterm-256color', TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}` }));
  try {
    await probe.ready('READY');
    return summarize(await typeKeys(probe, keys));
  } finally {
    probe.type('\x04');
    probe.kill();
    proxy.close();
  }
}

async function sshEcho(sshd: SshdFixture, keys: number): Promise<ReturnType<typeof summarize>> {
  // The same 100 ms RTT for OpenSSH, via a delaying TCP relay (no loss: TCP over loopback cannot be made lossy here).
  const relay = await TcpRelay.start({ targetHost: '127.0.0.1', targetPort: sshd.port, delayMs: 50 });
  const probe = new EchoProbe('ssh', [...sshd.configArgs, '-tt', '-p', String(relay.port), sshd.host, 'echo READY; exec cat'], cleanEnv({ TERM: 'xterm-256color' }));
  try {
    await probe.ready('READY');
    return summarize(await typeKeys(probe, keys));
  } finally {
    probe.kill();
    await relay.close();
  }
}

async function idle(sshd: SshdFixture, seconds: number): Promise<{ seconds: number; tsshdRssMB: number; tsshdCpuSec: number; tsshCpuSec: number }> {
  const before = new Set(tsshdPids());
  const probe = new EchoProbe(process.execPath, [TSSH_BIN, ...sshd.configArgs, '--kcp', sshd.host], cleanEnv({ TERM: 'xterm-256color', PS1: '$ ' }));
  try {
    probe.type('echo READY-$((6*7))\r');
    await probe.ready('READY-42');
    const daemon = tsshdPids().find((pid) => !before.has(pid));
    if (daemon === undefined) throw new Error('no tsshd daemon found for the idle session');
    const d0 = procUsage(daemon);
    const c0 = procUsage(probe.pid);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const d1 = procUsage(daemon);
    const c1 = procUsage(probe.pid);
    const r = (x: number): number => Math.round(x * 100) / 100;
    return { seconds, tsshdRssMB: r(d1.rssMB), tsshdCpuSec: r(d1.cpuSec - d0.cpuSec), tsshCpuSec: r(c1.cpuSec - c0.cpuSec) };
  } finally {
    probe.type('exit\r');
    probe.kill();
  }
}

export async function run(args: string[]): Promise<unknown> {
  const quick = args.includes('--quick');
  const sshd = await SshdFixture.start();
  try {
    const start = await startup(sshd, quick ? 3 : 9);
    console.log(`start-up to \`true\`: ssh ${start.sshMs} ms, tssh --kcp ${start.tsshMs} ms (median of ${start.samples.ssh.length}); ratio ${start.ratio}, overhead ${start.overheadMs} ms`);
    const keys = quick ? 40 : 150;
    const echo = {
      ssh0: await sshEcho(sshd, keys),
      tssh0: await tsshEcho(sshd, 0, keys),
      tssh10: await tsshEcho(sshd, 10, keys),
    };
    console.log('\nkeystroke echo seen in the local terminal, RTT 100 ms (ms):');
    console.log('client            | loss each way |   n |  p50 |  p90 |  p99 |  max');
    for (const [name, loss, r] of [['ssh', 0, echo.ssh0], ['tssh --kcp', 0, echo.tssh0], ['tssh --kcp', 10, echo.tssh10]] as const) {
      console.log(`${name.padEnd(17)} | ${String(loss).padStart(11)} % | ${String(r.n).padStart(3)} | ${[r.p50, r.p90, r.p99, r.max].map((x) => String(x).padStart(5)).join(' | ')}`);
    }
    const idleCost = await idle(sshd, quick ? 10 : 60);
    console.log(`\nidle interactive session for ${idleCost.seconds} s: tsshd RSS ${idleCost.tsshdRssMB} MB, CPU tsshd ${idleCost.tsshdCpuSec} s, tssh ${idleCost.tsshCpuSec} s`);
    return { startup: start, echo, idle: idleCost };
  } finally {
    await sshd.stop();
  }
}
