/**
 * Shared pieces of the tsshd command tests: run the real bin/tsshd as a child
 * process, find its daemon by the port it listens on (/proc), connect a
 * client built from ClientPath + the client transport factory (KCP or QUIC, as
 * the bootstrap says) + SessionClient, and end
 * everything by PID afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { ClientPath } from '../../src/path/client-path.js';
import { decodeBootstrapSecret, type BootstrapInfo } from '../../src/protocol/bootstrap.js';
import { parseBootstrapReply } from '../../src/protocol/bootstrap-reply.js';
import { createClientTransport } from '../../src/client/transport-factory.js';
import type { Connection } from '../../src/transport/connection.js';
import { SessionClient, type SessionClientOptions } from '../../src/client/session-client.js';
import { waitFor } from '../support/wait.js';

/** The real command (dist/test/server -> checkout root). */
export const TSSHD_BIN = fileURLToPath(new URL('../../../bin/tsshd', import.meta.url));

/** Collects what is written to it. */
export class Collector extends Writable {
  private chunks: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk);
    callback();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** How a tsshd (parent) run ended. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run bin/tsshd and wait for it to exit AND for its stdout and stderr to
 * close, as ssh waits: a daemon that kept them open would hold this up.
 */
export function runTsshd(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSSHD_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`tsshd ${args.join(' ')} did not finish (with its stdout and stderr closed) within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** A private HOME-like tree: XDG_CONFIG_HOME with tsshd/sshd_config, XDG_CACHE_HOME for debug logs. */
export interface TestDirs {
  root: string;
  cacheHome: string;
  env: NodeJS.ProcessEnv;
}

/** Make the directories (removed after the test) and an environment for tsshd that uses them. */
export function testDirs(t: TestContext, sshdConfig = '', extraEnv: NodeJS.ProcessEnv = {}): TestDirs {
  const root = mkdtempSync(join(tmpdir(), 'tsshd-cmd-'));
  const configHome = join(root, 'config');
  const cacheHome = join(root, 'cache');
  mkdirSync(join(configHome, 'tsshd'), { recursive: true });
  writeFileSync(join(configHome, 'tsshd', 'sshd_config'), sshdConfig);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return { root, cacheHome, env: { ...process.env, XDG_CONFIG_HOME: configHome, XDG_CACHE_HOME: cacheHome, ...extraEnv } };
}

/** Whether a process exists (and is not a zombie). */
export async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Socket inodes bound to `port` in the kernel's tables (UDP, or listening TCP). */
async function socketInodes(port: number, proto: 'udp' | 'tcp'): Promise<Set<string>> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of [`/proc/net/${proto}`, `/proc/net/${proto}6`]) {
    let text: string;
    try {
      text = await readFile(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !f[1]!.endsWith(`:${hexPort}`)) continue;
      if (proto === 'tcp' && f[3] !== '0A') continue; // LISTEN
      inodes.add(f[9]!);
    }
  }
  return inodes;
}

/** The PID of the process that holds the socket bound to `port`, if any. */
export async function portOwner(port: number, proto: 'udp' | 'tcp'): Promise<number | undefined> {
  const inodes = await socketInodes(port, proto);
  if (inodes.size === 0) return undefined;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let fds: string[];
    try {
      fds = await readdir(`/proc/${name}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const target = await readlink(`/proc/${name}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) return Number(name);
    }
  }
  return undefined;
}

/** End a process by PID: SIGTERM, then SIGKILL if it lingers. */
export async function endProcess(pid: number): Promise<void> {
  if (!(await alive(pid))) return;
  try {
    process.kill(pid, 'SIGTERM');
    await waitFor(`pid ${pid} to end after SIGTERM`, async () => !(await alive(pid)), 15_000);
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** A daemon started by bin/tsshd. */
export interface Daemon {
  info: BootstrapInfo;
  pid: number;
  result: RunResult;
}

/** Run tsshd, check it printed a bootstrap line and exited 0, and find its daemon; the daemon is ended after the test. */
export async function startTsshd(t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Daemon> {
  const result = await runTsshd(args, env);
  if (result.code !== 0) throw new Error(`tsshd exited with ${result.code}: ${result.stderr}`);
  // tsshd's line is the reference ServerInfo with our bootstrap object inside (docs/TSSHD.md): our client reads that.
  const info = parseBootstrapReply(result.stdout).native;
  if (info === undefined) throw new Error(`tsshd printed no native bootstrap object: ${result.stdout}`);
  const proto = info.proxyMode === 'tcp' ? 'tcp' : 'udp';
  const pid = await waitFor(`the daemon holding ${proto} port ${info.port}`, () => portOwner(info.port, proto));
  t.after(() => endProcess(pid));
  return { info, pid, result };
}

/** A client of a daemon, over the real network path on 127.0.0.1. */
export interface TestClient {
  path: ClientPath;
  conn: Connection;
  client: SessionClient;
}

/** Connect to the daemon (or to `viaPort`, e.g. an impairment proxy in front of it); destroyed after the test. */
export async function connectClient(
  t: TestContext,
  info: BootstrapInfo,
  options: SessionClientOptions & { viaPort?: number } = {},
): Promise<TestClient> {
  const path = await ClientPath.create({
    host: '127.0.0.1',
    port: options.viaPort ?? info.port,
    secret: decodeBootstrapSecret(info.secret),
    mtu: info.mtu,
    proxyMode: info.proxyMode,
    interfacePollMs: 0,
    ...(options.aliveTimeoutMs !== undefined ? { aliveTimeoutMs: options.aliveTimeoutMs } : {}),
    ...(options.heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs: options.heartbeatTimeoutMs } : {}),
  });
  // The client end tssh would build for this bootstrap: KCP, or QUIC pinned to the fingerprint.
  const { conn } = createClientTransport(info, path);
  const client = new SessionClient(conn, 'tsshd-test', options);
  client.on('protocol-error', () => undefined);
  t.after(() => conn.destroy());
  return { path, conn, client };
}

/** Standard streams for a session. */
export function stdio(): { stdin: PassThrough; stdout: Collector; stderr: Collector } {
  return { stdin: new PassThrough(), stdout: new Collector(), stderr: new Collector() };
}

/** Wait until `text()` shows "pid=N" and return N (sessions print their own PID with `echo pid=$$`). */
export async function sessionPid(what: string, text: () => string): Promise<number> {
  return Number(await waitFor(`${what} to print its pid`, () => /pid=(\d+)/.exec(text())?.[1]));
}
