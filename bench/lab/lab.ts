/**
 * `npm run bench:lab [-- --quick] [-- --only echo,bulk,...] [-- --report-only]`:
 * tssh (KCP, QUIC), OpenSSH and mosh side by side on one emulated link
 * between two network namespaces (see docs/BENCHMARKS.md for the method).
 * Needs root; without it, says so in one line and skips. Writes
 * bench/results/lab.json, docs/BENCHMARKS.md and docs/bench/*.svg.
 * Everything it creates is removed on exit, error or signal, and the whole
 * run is bounded in time.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CHECKOUT_ROOT } from '../../test/support/sshd.js';
import type { LabContext } from './lab-context.js';
import { LabSshd } from './lab-sshd.js';
import { ECHO_LINKS, type LabResults } from './lab-results.js';
import { measureBulk } from './measure-bulk.js';
import { measureCapacity } from './measure-capacity.js';
import { measureEcho } from './measure-echo.js';
import { measureIdle } from './measure-idle.js';
import { measureRoaming } from './measure-roaming.js';
import { measureStartup } from './measure-startup.js';
import { NetLab, removeStaleLabs } from './netlab.js';
import { writeReport } from './report.js';
import { compileEmulator, labBlocker } from './setup-check.js';
import { PortPlan, TOOLS } from './tools.js';

/** The whole run may not take longer than this; then it cleans up and fails. */
const HARD_BOUND_MS = 20 * 60_000;
const PHASES = ['capacity', 'startup', 'echo', 'bulk', 'roaming', 'idle'] as const;
type Phase = (typeof PHASES)[number];

const resultsFile = join(CHECKOUT_ROOT, 'bench', 'results', 'lab.json');

function parseArgs(argv: string[]): { quick: boolean; reportOnly: boolean; only: Set<Phase> } {
  const quick = argv.includes('--quick');
  const reportOnly = argv.includes('--report-only');
  let only = new Set<Phase>(PHASES);
  const i = argv.indexOf('--only');
  if (i >= 0) {
    const names = (argv[i + 1] ?? '').split(',').filter(Boolean);
    const bad = names.filter((n) => !(PHASES as readonly string[]).includes(n));
    if (names.length === 0 || bad.length > 0) {
      console.error(`bench:lab: --only takes phases from ${PHASES.join(',')} (got '${argv[i + 1] ?? ''}')`);
      process.exit(2);
    }
    only = new Set(names as Phase[]);
  }
  return { quick, reportOnly, only };
}

/** The checkout's commit, "+changes" when src/ differs from it. */
function checkoutCommit(): string {
  const git = (args: string[]): string => spawnSync('git', ['-C', CHECKOUT_ROOT, ...args], { encoding: 'utf8', timeout: 10_000 }).stdout?.trim() ?? '';
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  return git(['status', '--porcelain', '--', 'src', 'bin']) ? `${head}+changes` : head;
}

/** A partial run (--only) replaces its phases in the previous results, keeping the rest. */
function mergeIntoPrevious(fresh: LabResults, only: Set<Phase>): LabResults {
  let previous: LabResults;
  try {
    previous = JSON.parse(readFileSync(resultsFile, 'utf8')) as LabResults;
  } catch {
    return fresh;
  }
  const merged: LabResults = { ...previous, date: fresh.date, host: fresh.host, quick: fresh.quick || previous.quick };
  if (only.has('capacity')) merged.capacity = fresh.capacity;
  if (only.has('startup')) merged.startup = fresh.startup;
  if (only.has('echo')) merged.echo = fresh.echo;
  if (only.has('bulk')) merged.bulk = fresh.bulk;
  if (only.has('roaming')) merged.roaming = fresh.roaming;
  if (only.has('idle')) merged.idle = fresh.idle;
  merged.notes = [...new Set([...previous.notes, ...fresh.notes, `Partial run on ${fresh.date}: ${[...only].join(', ')}.`])];
  return merged;
}

async function main(): Promise<void> {
  const { quick, reportOnly, only } = parseArgs(process.argv.slice(2));
  if (reportOnly) {
    const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as LabResults;
    writeReport(results);
    console.log('bench:lab: wrote docs/BENCHMARKS.md and docs/bench/*.svg from bench/results/lab.json');
    return;
  }
  const blocker = labBlocker();
  if (blocker) {
    console.log(blocker);
    return;
  }
  const stale = await removeStaleLabs();
  if (stale.length > 0) console.log(`bench:lab: removed namespaces left by a killed run: ${stale.join(' ')}`);
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), `tsshd-lab-${process.pid}-`));
  const lab = new NetLab(String(process.pid));
  let cleaned: Promise<void> | null = null;
  const cleanup = (): Promise<void> =>
    (cleaned ??= lab.destroy().finally(() => rmSync(dir, { recursive: true, force: true })));
  const bail = (why: string, code: number): void => {
    console.error(`bench:lab: ${why}; cleaning up`);
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => bail('interrupted', 130));
  process.once('SIGTERM', () => bail('terminated', 143));
  process.once('uncaughtException', (err) => bail(`uncaught ${err.stack ?? err.message}`, 1));
  process.once('unhandledRejection', (err) => bail(`unhandled ${(err as Error)?.stack ?? String(err)}`, 1));
  setTimeout(() => bail(`over the ${HARD_BOUND_MS / 60_000} min bound`, 1), HARD_BOUND_MS).unref();

  const log = (line: string): void => console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`);
  const results: LabResults = {
    date: new Date().toISOString(),
    quick,
    host: { loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100), node: process.version, commit: checkoutCommit() },
    tools: TOOLS.map((t) => ({ id: t.id, label: t.label })),
    capacity: null,
    startup: [],
    echo: [],
    bulk: [],
    roaming: [],
    idle: null,
    notes: [],
    durationSec: 0,
  };
  try {
    log(`compiling the link emulator; namespaces ${lab.clientNs} / ${lab.serverNs}`);
    const emulator = compileEmulator(dir);
    await lab.create(emulator);
    const sshd = await LabSshd.start(lab.serverNs, dir);
    const ctx: LabContext = { lab, sshd, ports: new PortPlan(), quick, log };
    const ids = TOOLS.filter((t) => t.echoOnly !== true).map((t) => t.id);

    if (only.has('capacity')) {
      log('emulator capacity');
      results.capacity = await measureCapacity(ctx);
    }
    if (only.has('startup')) {
      log('start-up to a prompt');
      results.startup = await measureStartup(ctx, ids, quick ? 1 : 5);
    }
    if (only.has('echo')) {
      for (const link of quick ? ECHO_LINKS.filter((l) => l.lossPct !== 2) : ECHO_LINKS) {
        log(`echo: ${link.label}`);
        const r = await measureEcho(ctx, link, TOOLS.map((t) => t.id), quick ? 30 : 100);
        for (const e of r) log(`  ${e.tool.padEnd(10)} n=${e.latencies.length}/${e.typed} p50 ${e.summary.p50} p90 ${e.summary.p90} p99 ${e.summary.p99} max ${e.summary.max}`);
        results.echo.push(...r);
      }
    }
    if (only.has('bulk')) {
      results.bulk = await measureBulk(ctx, dir, quick);
    }
    if (only.has('roaming')) {
      for (const variant of ['address', 'nat'] as const) {
        log(`roaming: ${variant}`);
        results.roaming.push(await measureRoaming(ctx, ids, variant));
      }
    }
    if (only.has('idle')) {
      log('idle cost');
      results.idle = await measureIdle(ctx, ids, quick ? 10 : 60);
    }
  } finally {
    await cleanup();
  }
  results.durationSec = Math.round((performance.now() - t0) / 1000);
  results.host.loadavgAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  const merged = only.size < PHASES.length ? mergeIntoPrevious(results, only) : results;
  mkdirSync(join(CHECKOUT_ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(resultsFile, JSON.stringify(merged, null, 1) + '\n');
  writeReport(merged);
  log(`done in ${results.durationSec} s: bench/results/lab.json, docs/BENCHMARKS.md, docs/bench/*.svg`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`bench:lab: ${err.message}`);
    process.exit(1);
  },
);
