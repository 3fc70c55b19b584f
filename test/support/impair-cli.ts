/**
 * Manual trials of an impaired UDP link:
 *   node dist/test/support/impair-cli.js --listen 127.0.0.1:PORT --target 127.0.0.1:PORT
 *     [--loss PCT] [--delay MS] [--jitter MS] [--reorder PCT] [--dup PCT]
 *     [--rate BYTES_PER_SEC] [--queue BYTES] [--burst ENTER,EXIT] [--seed N]
 *     [--rebind-every S] [--stats-every S]
 * The same impairment applies to both directions. Prints "listening on HOST:PORT"
 * once ready, then a stats line every --stats-every seconds (default 5).
 */
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ImpairmentOptions } from './impairment.js';
import { ImpairmentProxy } from './impairment-proxy.js';

/** Parsed command line of impair-cli. */
export interface ImpairCliArgs {
  listenHost: string;
  listenPort: number;
  targetHost: string;
  targetPort: number;
  impairment: ImpairmentOptions;
  seed: number;
  rebindEverySec: number;
  statsEverySec: number;
}

/** A bad command line; the message is one line meant for the user. */
export class UsageError extends Error {}

const USAGE =
  'usage: impair-cli --listen HOST:PORT --target HOST:PORT [--loss PCT] [--delay MS] [--jitter MS] [--reorder PCT] ' +
  '[--dup PCT] [--rate BYTES_PER_SEC] [--queue BYTES] [--burst ENTER,EXIT] [--seed N] [--rebind-every S] [--stats-every S]';

function hostPort(flag: string, value: string, allowZero: boolean): [string, number] {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !isIP(m[1]!) || !Number.isInteger(port) || port > 65535 || port < (allowZero ? 0 : 1)) {
    throw new UsageError(`${flag} expects IP:PORT (e.g. 127.0.0.1:6000), got "${value}"`);
  }
  return [m[1]!, port];
}

function num(flag: string, value: string, max = Infinity): number {
  const n = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n) || n < 0 || n > max) {
    throw new UsageError(`${flag} expects a number${max === 100 ? ' between 0 and 100' : ' >= 0'}, got "${value}"`);
  }
  return n;
}

/** Parse argv (without node and script); throws UsageError with a one-line message. */
export function parseImpairCliArgs(argv: readonly string[]): ImpairCliArgs {
  let listen: [string, number] | null = null;
  let target: [string, number] | null = null;
  const impairment: ImpairmentOptions = {};
  let seed = 1;
  let rebindEverySec = 0;
  let statsEverySec = 5;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--help' || flag === '-h') throw new UsageError(USAGE);
    if (!flag.startsWith('--')) throw new UsageError(`unexpected argument "${flag}" (flags start with --)`);
    const value = argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    switch (flag) {
      case '--listen':
        listen = hostPort(flag, value, true);
        break;
      case '--target':
        target = hostPort(flag, value, false);
        break;
      case '--loss':
        impairment.lossPct = num(flag, value, 100);
        break;
      case '--delay':
        impairment.delayMs = num(flag, value);
        break;
      case '--jitter':
        impairment.jitterMs = num(flag, value);
        break;
      case '--reorder':
        impairment.reorderPct = num(flag, value, 100);
        break;
      case '--dup':
        impairment.duplicatePct = num(flag, value, 100);
        break;
      case '--rate':
        impairment.rateBytesPerSec = num(flag, value);
        break;
      case '--queue':
        impairment.queueBytes = num(flag, value);
        break;
      case '--burst': {
        const parts = value.split(',');
        if (parts.length !== 2) throw new UsageError(`--burst expects ENTER,EXIT percentages (e.g. 1,25), got "${value}"`);
        impairment.burstLoss = { enterPct: num('--burst ENTER', parts[0]!, 100), exitPct: num('--burst EXIT', parts[1]!, 100) };
        break;
      }
      case '--seed':
        seed = num(flag, value);
        if (!Number.isInteger(seed)) throw new UsageError(`--seed expects an integer, got "${value}"`);
        break;
      case '--rebind-every':
        rebindEverySec = num(flag, value);
        break;
      case '--stats-every':
        statsEverySec = num(flag, value);
        break;
      default:
        throw new UsageError(`unknown flag ${flag} (try --help)`);
    }
  }
  if (!listen) throw new UsageError('--listen HOST:PORT is required');
  if (!target) throw new UsageError('--target HOST:PORT is required');
  return {
    listenHost: listen[0],
    listenPort: listen[1],
    targetHost: target[0],
    targetPort: target[1],
    impairment,
    seed,
    rebindEverySec,
    statsEverySec,
  };
}

function statsLine(proxy: ImpairmentProxy): string {
  const s = proxy.stats;
  const dir = (name: string, d: typeof s.c2s): string =>
    `${name} in=${d.offered} out=${d.delivered} lost=${d.lost} dup=${d.duplicated} reord=${d.reordered} qdrop=${d.queueDropped} outage=${d.outageDropped}`;
  return `${dir('c2s', s.c2s)} | ${dir('s2c', s.s2c)} | rebinds=${s.rebinds} port=${proxy.outboundPort}`;
}

async function main(): Promise<void> {
  let args: ImpairCliArgs;
  try {
    args = parseImpairCliArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`impair-cli: ${err.message}`);
    process.exit(2);
  }
  let proxy: ImpairmentProxy;
  try {
    const dir = { ...args.impairment };
    proxy = await ImpairmentProxy.start({
      listenHost: args.listenHost,
      listenPort: args.listenPort,
      targetHost: args.targetHost,
      targetPort: args.targetPort,
      clientToServer: dir,
      serverToClient: dir,
      seed: args.seed,
    });
  } catch (err) {
    console.error(`impair-cli: ${(err as Error).message}`);
    process.exit(1);
  }
  console.log(`listening on ${args.listenHost}:${proxy.port} -> ${args.targetHost}:${args.targetPort}`);
  const timers: NodeJS.Timeout[] = [];
  if (args.statsEverySec > 0) timers.push(setInterval(() => console.log(statsLine(proxy)), args.statsEverySec * 1000));
  if (args.rebindEverySec > 0) {
    timers.push(
      setInterval(() => {
        proxy.rebind().then(
          () => console.log(`rebound: server now sees port ${proxy.outboundPort}`),
          (err: Error) => console.error(`impair-cli: rebind failed: ${err.message}`),
        );
      }, args.rebindEverySec * 1000),
    );
  }
  const stop = (): void => {
    for (const t of timers) clearInterval(t);
    console.log(statsLine(proxy));
    proxy.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

// Run only as a program, so tests can import the parser.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
