/**
 * The soak: one real tssh session (KCP, through the impairment proxy at a
 * given loss each way, its client address rebound at a fixed interval) whose
 * remote command prints numbered lines at a steady rate for the whole run.
 * Every line is checked as it arrives (none lost, none out of order) and the
 * RSS of tssh and tsshd is sampled. Used by test/e2e/soak.test.ts (about a
 * minute) and scripts/soak.mjs (30 minutes and more).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { SshdFixture, TSSH_BIN } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { portOwner } from '../server/tsshd-fixture.js';
import { cleanEnv, freeUdpPort } from './harness.js';

export interface SoakOptions {
  seconds: number;
  lossPct?: number;
  rebindEveryMs?: number;
  /** Lines per second the remote prints. */
  linesPerSecond?: number;
  /** RSS sample interval. */
  sampleEveryMs?: number;
  /** Progress lines (the script prints them; the test stays quiet). */
  onProgress?: (line: string) => void;
}

export interface RssSample {
  atS: number;
  tsshKiB: number;
  tsshdKiB: number;
}

export interface SoakResult {
  exitCode: number | null;
  linesReceived: number;
  linesPrinted: number;
  /** First problem seen in the output (a gap, a repeat, a reorder or garbage), or null. */
  outputError: string | null;
  rebinds: number;
  lost: { c2s: number; s2c: number };
  samples: RssSample[];
  stderr: string;
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

/** Run one soak with its own sshd fixture; everything it starts is ended by PID before it returns. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const seconds = options.seconds;
  const rate = options.linesPerSecond ?? 2000;
  const progress = options.onProgress ?? (() => {});
  const sshd = await SshdFixture.start();
  const tsshdPort = await freeUdpPort();
  const proxy = await ImpairmentProxy.start({
    targetHost: '127.0.0.1',
    targetPort: tsshdPort,
    clientToServer: { lossPct: options.lossPct ?? 5 },
    serverToClient: { lossPct: options.lossPct ?? 5 },
    seed: 11,
  });
  // The remote printer: `rate` numbered lines a second in 10 ms batches, then "end N" and a normal exit.
  const perTick = Math.max(1, Math.round(rate / 100));
  const printer =
    `let i=0;const t=setInterval(()=>{let s='';for(let k=0;k<${perTick};k++)s+=(++i)+'\\n';process.stdout.write(s)},10);` +
    `setTimeout(()=>{clearInterval(t);process.stdout.write('end '+i+'\\n')},${seconds * 1000});`;
  const command = `'${process.execPath}' -e "${printer}"`;
  const child = spawn(process.execPath, [TSSH_BIN, ...sshd.configArgs, '--kcp', '--tsshd-port', String(tsshdPort), sshd.host, command], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv({ TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}` }),
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

  // Check lines as they come: 1, 2, 3, ... then "end N".
  let next = 1;
  let partial = '';
  let outputError: string | null = null;
  let printed = -1;
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (outputError !== null) return;
      if (line.startsWith('end ')) printed = Number(line.slice(4));
      else if (line !== String(next)) outputError = `expected line ${next}, got ${JSON.stringify(line.slice(0, 40))}`;
      else next++;
    }
  });

  const samples: RssSample[] = [];
  const started = Date.now();
  let timers: NodeJS.Timeout[] = [];
  let tsshd: number | undefined;
  try {
    tsshd = await waitFor(`tsshd on udp port ${tsshdPort}`, () => portOwner(tsshdPort, 'udp'), 60_000);
    const sample = async (): Promise<void> => {
      const s = { atS: Math.round((Date.now() - started) / 1000), tsshKiB: await rssKiB(child.pid!), tsshdKiB: await rssKiB(tsshd!) };
      samples.push(s);
      progress(`t=${s.atS}s lines=${next - 1} rss tssh=${s.tsshKiB} KiB tsshd=${s.tsshdKiB} KiB rebinds=${proxy.stats.rebinds} lost c2s=${proxy.stats.c2s.lost} s2c=${proxy.stats.s2c.lost}`);
    };
    await sample();
    timers = [
      setInterval(() => void sample(), options.sampleEveryMs ?? 10_000),
      setInterval(() => void proxy.rebind(), options.rebindEveryMs ?? 30_000),
    ];
    let bound: NodeJS.Timeout | undefined;
    const exitCode = await Promise.race([
      exited,
      new Promise<null>((resolve) => (bound = setTimeout(() => resolve(null), seconds * 1000 + 120_000))),
    ]).finally(() => clearTimeout(bound));
    for (const t of timers) clearInterval(t);
    timers = [];
    if (printed >= 0 && next - 1 !== printed && outputError === null) outputError = `received ${next - 1} lines of ${printed}`;
    if (printed < 0 && outputError === null) outputError = `the end line never arrived (received ${next - 1} lines)`;
    return {
      exitCode,
      linesReceived: next - 1,
      linesPrinted: printed,
      outputError,
      rebinds: proxy.stats.rebinds,
      lost: { c2s: proxy.stats.c2s.lost, s2c: proxy.stats.s2c.lost },
      samples,
      stderr,
    };
  } finally {
    for (const t of timers) clearInterval(t);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    proxy.close();
    await sshd.stop();
  }
}

/** Whether RSS stayed flat after warm-up: the last third's peak within 25 % + 8 MiB of the peak over the middle third. */
export function rssFlat(samples: readonly RssSample[], key: 'tsshKiB' | 'tsshdKiB'): { flat: boolean; warm: number; late: number } {
  const third = Math.max(1, Math.floor(samples.length / 3));
  const middle = samples.slice(third, 2 * third).map((s) => s[key]);
  const last = samples.slice(2 * third).map((s) => s[key]);
  const warm = Math.max(...middle);
  const late = Math.max(...last);
  return { flat: late <= warm * 1.25 + 8192, warm, late };
}
