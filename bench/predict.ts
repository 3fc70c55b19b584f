/**
 * `npm run bench -- predict [--quick]`: predictive echo as the user sees it.
 *  (a) keystroke echo latency through a real tssh in a pty, the remote side
 *      `cat` in a pty, at 100 ms RTT with 0 % and 10 % loss each way (the
 *      impairment proxy between tssh and tsshd), with --predict=never, always
 *      and adaptive: the time from a key written to tssh's terminal until tssh
 *      writes that character back (its prediction or the echo), and the
 *      prediction counts tssh kept;
 *  (b) the cost of the screen model on output: MB/s of terminal output through
 *      PredictiveEcho (no typing) into a writer that drops it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pty from '@lydell/node-pty';
import { PredictiveEcho } from '../src/client/predict/predictive-echo.js';
import { cleanEnv, freeUdpPort } from '../test/e2e/harness.js';
import { ImpairmentProxy } from '../test/support/impairment-proxy.js';
import { SshdFixture, TSSH_BIN } from '../test/support/sshd.js';
import { summarize } from './stats.js';

type Mode = 'never' | 'always' | 'adaptive';

async function echoRun(sshd: SshdFixture, mode: Mode, lossPct: number, keys: number, dir: string): Promise<{ latency: ReturnType<typeof summarize>; stats: unknown }> {
  const tsshdPort = await freeUdpPort();
  const link = { delayMs: 50, lossPct };
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: tsshdPort, clientToServer: link, serverToClient: link, seed: 11 });
  const statsFile = join(dir, `${mode}-${lossPct}.json`);
  const env = cleanEnv({ TERM: 'xterm-256color', TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}`, TSSH_TEST_PREDICT_STATS: statsFile });
  const args = [TSSH_BIN, ...sshd.configArgs, '--kcp', `--predict=${mode}`, '-tt', '--tsshd-port', String(tsshdPort), sshd.host, 'echo READY; exec cat'];
  const proc = pty.spawn(process.execPath, args, { name: 'xterm-256color', cols: 200, rows: 30, env });
  let seen = '';
  let waiting: { key: string; resolve: () => void } | null = null;
  proc.onData((d) => {
    seen = (seen + d).slice(-4096);
    if (waiting !== null && d.includes(waiting.key)) {
      const w = waiting;
      waiting = null;
      w.resolve();
    }
  });
  const until = (key: string, ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => ((waiting = null), resolve()), ms);
      waiting = { key, resolve: () => (clearTimeout(timer), resolve()) };
    });
  try {
    const deadline = performance.now() + 30_000;
    while (!seen.includes('READY') && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const out: number[] = [];
    for (let i = 0; i < keys; i++) {
      // A new line every 60 keys: the line stays clear of the right margin.
      if (i > 0 && i % 60 === 0) {
        proc.write('\r');
        await new Promise((r) => setTimeout(r, 400));
      }
      const key = String.fromCharCode(97 + (i % 26));
      const t0 = performance.now();
      const shown = until(key, 5000);
      proc.write(key);
      await shown;
      const ms = performance.now() - t0;
      if (ms < 5000) out.push(Math.round(ms * 10) / 10);
      await new Promise((r) => setTimeout(r, 50 + ((i * 37) % 100)));
    }
    proc.write('\r\x04');
    let stats: unknown = null;
    for (let i = 0; i < 100 && stats === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        stats = JSON.parse(readFileSync(statsFile, 'utf8'));
      } catch {
        // Not written yet: tssh writes the counts when the session ends.
      }
    }
    return { latency: summarize(out), stats };
  } finally {
    proc.kill();
    proxy.close();
  }
}

/** MB/s of output through PredictiveEcho (model, no prediction) and of a plain copy. */
function throughput(mb: number): { predictMBps: number } {
  const line = Buffer.from('0123456789 abcdefghijklmnopqrstuvwxyz \x1b[1;32mgreen\x1b[0m ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n');
  const chunk = Buffer.concat(new Array<Buffer>(Math.ceil(16384 / line.length)).fill(line));
  const echo = new PredictiveEcho({ mode: 'always', cols: 120, rows: 40, srttMs: () => 100, write: (_d, done) => done?.() });
  const total = mb * 1024 * 1024;
  const t0 = performance.now();
  for (let sent = 0; sent < total; sent += chunk.length) echo.remote(chunk);
  const ms = performance.now() - t0;
  echo.close();
  return { predictMBps: Math.round((total / 1024 / 1024 / (ms / 1000)) * 10) / 10 };
}

export async function run(args: string[]): Promise<unknown> {
  const quick = args.includes('--quick');
  const tp = throughput(quick ? 8 : 32);
  console.log(`terminal output through the screen model: ${tp.predictMBps} MB/s (one core)`);
  const sshd = await SshdFixture.start();
  const dir = mkdtempSync(join(tmpdir(), 'tssh-bench-predict-'));
  const keys = quick ? 40 : 150;
  const rows: Array<{ mode: Mode; lossPct: number; latency: ReturnType<typeof summarize>; stats: unknown }> = [];
  try {
    for (const lossPct of [0, 10]) {
      for (const mode of ['never', 'always', 'adaptive'] as const) rows.push({ mode, lossPct, ...(await echoRun(sshd, mode, lossPct, keys, dir)) });
    }
  } finally {
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\nkeystroke to screen, tssh --kcp, RTT 100 ms (ms):');
  console.log('predict  | loss each way |   n |  p50 |  p90 |  p99 |  max | counts');
  for (const r of rows) {
    const l = r.latency;
    console.log(`${r.mode.padEnd(8)} | ${String(r.lossPct).padStart(11)} % | ${String(l.n).padStart(3)} | ${[l.p50, l.p90, l.p99, l.max].map((x) => String(x).padStart(5)).join(' | ')} | ${JSON.stringify(r.stats)}`);
  }
  return { throughput: tp, echo: rows };
}
