/**
 * The lab's network: a client and a server network namespace joined by two
 * paths, both addressed from the benchmarking range 198.18.0.0/15:
 *  - the emulated link: a TUN device in each namespace, whose packets the
 *    user-space emulator (linkemu.c) carries across with delay, jitter, loss
 *    and a rate cap (this kernel has no netem): client 198.18.0.2 (moves to
 *    .3, .4, ... when roaming), server 198.18.1.2;
 *  - a plain veth pair (198.19.0.1 - 198.19.0.2), used only to show what the
 *    kernel alone carries, beside the emulator's own capacity.
 * Everything created here (namespaces, devices, the emulator, and every
 * process still running inside the namespaces) is removed by destroy(),
 * which the lab calls on every exit path.
 */
import { pidsInNamespace } from '../../test/support/netns-pids.js';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinkEmulator } from './link-emulator.js';

export const CLIENT_TUN = 'labtun-c';
export const SERVER_TUN = 'labtun-s';
export const SERVER_ADDR = '198.18.1.2';
export const CLIENT_VETH_ADDR = '198.19.0.1';
export const SERVER_VETH_ADDR = '198.19.0.2';
const CLIENT_NET = '198.18.0.0/24';
const SERVER_NET = '198.18.1.0/24';

/** Run `ip ...`; throws one line on failure. */
export function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** The argv that runs `argv` inside namespace `ns`. */
export function inNs(ns: string, argv: string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', ns, ...argv]];
}

const execFileAsync = promisify(execFile);

export class NetLab {
  readonly clientNs: string;
  readonly serverNs: string;
  private clientHost = 2;
  private created: string[] = [];
  emulator: LinkEmulator | null = null;

  constructor(tag: string) {
    this.clientNs = `tsshlab-c-${tag}`;
    this.serverNs = `tsshlab-s-${tag}`;
  }

  /** The client's current address on the emulated link. */
  get clientAddr(): string {
    return `198.18.0.${this.clientHost}`;
  }

  /** Create namespaces, the veth pair and (via the emulator) the TUN pair. */
  async create(emulatorBinary: string): Promise<void> {
    for (const ns of [this.clientNs, this.serverNs]) {
      ip(['netns', 'add', ns]);
      this.created.push(ns);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      // IPv4 only: no router solicitations or DAD traffic in the counters.
      const r = spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'], { timeout: 10_000 });
      if (r.status !== 0) throw new Error(`could not turn IPv6 off in ${ns}`);
    }
    ip(['link', 'add', 'labveth-c', 'netns', this.clientNs, 'type', 'veth', 'peer', 'name', 'labveth-s', 'netns', this.serverNs]);
    ip(['-n', this.clientNs, 'addr', 'add', `${CLIENT_VETH_ADDR}/30`, 'dev', 'labveth-c']);
    ip(['-n', this.serverNs, 'addr', 'add', `${SERVER_VETH_ADDR}/30`, 'dev', 'labveth-s']);
    ip(['-n', this.clientNs, 'link', 'set', 'labveth-c', 'up']);
    ip(['-n', this.serverNs, 'link', 'set', 'labveth-s', 'up']);

    const child = spawn(emulatorBinary, [this.clientNs, CLIENT_TUN, this.serverNs, SERVER_TUN], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
    const emulator = new LinkEmulator(child);
    this.emulator = emulator;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`linkemu did not start: ${stderr.trim()}`)), 5000);
      child.stdout.once('data', () => (clearTimeout(timer), resolve()));
      child.once('exit', () => (clearTimeout(timer), reject(new Error(`linkemu exited: ${stderr.trim()}`))));
    });
    ip(['-n', this.clientNs, 'addr', 'add', `${this.clientAddr}/32`, 'dev', CLIENT_TUN]);
    ip(['-n', this.clientNs, 'link', 'set', CLIENT_TUN, 'up']);
    ip(['-n', this.clientNs, 'route', 'add', SERVER_NET, 'dev', CLIENT_TUN]);
    ip(['-n', this.serverNs, 'addr', 'add', `${SERVER_ADDR}/32`, 'dev', SERVER_TUN]);
    ip(['-n', this.serverNs, 'link', 'set', SERVER_TUN, 'up']);
    ip(['-n', this.serverNs, 'route', 'add', CLIENT_NET, 'dev', SERVER_TUN]);
  }

  get link(): LinkEmulator {
    if (!this.emulator) throw new Error('the lab network is not up');
    return this.emulator;
  }

  /**
   * Move the client to a new address on the emulated link: delete the old
   * one, add the new one, re-point the route. Asynchronous, so the caller's
   * clock keeps stamping output meanwhile; resolves with the time (performance
   * clock) at which the old address was gone.
   */
  async moveClientAddress(now: () => number): Promise<number> {
    const old = this.clientAddr;
    this.clientHost++;
    const run = (args: string[]): Promise<unknown> => execFileAsync('ip', args, { timeout: 10_000 });
    await run(['-n', this.clientNs, 'addr', 'del', `${old}/32`, 'dev', CLIENT_TUN]);
    const goneAt = now();
    await run(['-n', this.clientNs, 'addr', 'add', `${this.clientAddr}/32`, 'dev', CLIENT_TUN]);
    await run(['-n', this.clientNs, 'route', 'replace', SERVER_NET, 'dev', CLIENT_TUN, 'src', this.clientAddr]);
    return goneAt;
  }

  /** PIDs of the processes running inside one of the lab's namespaces. */
  pidsIn(ns: string): number[] {
    return pidsInNamespace(ns);
  }

  /** End (by PID) every process in the namespaces except `keep`: SIGTERM, then SIGKILL after `graceMs`. */
  async endProcesses(keep: readonly number[] = [], graceMs = 2000): Promise<number> {
    const victims = (): number[] => [...this.pidsIn(this.clientNs), ...this.pidsIn(this.serverNs)].filter((p) => !keep.includes(p));
    const first = victims();
    for (const pid of first) signal(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (victims().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const pid of victims()) signal(pid, 'SIGKILL');
    return first.length;
  }

  /** Remove everything: processes in the namespaces, the emulator (its TUN devices go with it), the namespaces. */
  async destroy(): Promise<void> {
    await this.endProcesses([], 1500).catch(() => undefined);
    const emulator = this.emulator;
    if (emulator && emulator.pid > 0) {
      signal(emulator.pid, 'SIGKILL');
    }
    this.emulator = null;
    for (const ns of this.created.splice(0).reverse()) {
      spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
    }
  }
}

/**
 * Remove what an earlier lab run left behind when it was killed outright
 * (SIGKILL skips every cleanup): namespaces named by this lab whose run's
 * process is gone, and the processes still inside them.
 */
export async function removeStaleLabs(): Promise<string[]> {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  const removed: string[] = [];
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^(tsshlab-[cs]-(\d+))\b/.exec(line.trim());
    if (!m) continue;
    if (alive(Number(m[2]))) continue;
    const stale = new NetLab(m[2]!);
    const ns = m[1]!;
    const inside = stale.pidsIn(ns);
    for (const pid of inside) signal(pid, 'SIGKILL');
    spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
    removed.push(ns);
  }
  // The temp dirs of killed runs (tsshd-lab-PID-*).
  for (const name of readdirSync(tmpdir())) {
    const m = /^tsshd-lab-(\d+)-/.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
    removed.push(join(tmpdir(), name));
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}
