/**
 * End-to-end helpers: run bin/tssh against the sshd fixture either without a
 * terminal (stdout, stderr and status collected apart, bytes exact) or under
 * a real pty whose output is rendered by a headless xterm, so tests read the
 * screen as a person would. Every process started here is ended by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { connect, createServer } from 'node:net';
import pty from '@lydell/node-pty';
import xterm from '@xterm/headless';
import type { NumberedDatagramClient } from '../forward/fixtures.js';
import { PYENV_REHASH_BOUND, PYENV_REHASH_SECONDS, TSSH_BIN } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';

/** Environment for tssh runs: the caller's, minus anything that would change ssh's or tssh's behaviour. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('SSH_') || k.startsWith('TSSH_') || k === 'TERM') continue;
    env[k] = v;
  }
  return { ...env, [PYENV_REHASH_BOUND]: PYENV_REHASH_SECONDS, ...extra };
}

/** What a finished tssh (or ssh) run produced. */
export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Processes still running, ended by the test files' `after` hooks. */
const running = new Set<ChildProcess>();
const ptys = new Set<pty.IPty>();

/** Kill (by PID) whatever a failed test left running. */
export function killLeftovers(): void {
  for (const child of running) child.kill('SIGKILL');
  for (const p of ptys) p.kill('SIGKILL');
}

/** Run `program args` without a terminal (stdin: `input` or /dev/null) and collect everything. Bounded by `timeoutMs`. */
export function runCollect(
  program: string,
  args: readonly string[],
  options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: options.env ?? cleanEnv(),
    });
    running.add(child);
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => (err += s));
    if (options.input !== undefined) child.stdin!.end(options.input);
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${program} ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      running.delete(child);
      reject(e);
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ status, signal, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** Run bin/tssh without a terminal. */
export function runTssh(args: readonly string[], options: Parameters<typeof runCollect>[2] = {}): Promise<RunResult> {
  return runCollect(process.execPath, [TSSH_BIN, ...args], options);
}

/** tssh in a real pty, its output rendered on a headless xterm screen. */
export class PtyTssh {
  readonly screen: InstanceType<typeof xterm.Terminal>;
  private readonly proc: pty.IPty;
  private raw = '';
  private exit: { exitCode: number; signal?: number } | null = null;
  /** Writes still being parsed by xterm; reads wait for them. */
  private pending = 0;

  /** `options.script`: run this node script instead of bin/tssh (e.g. the demo); `options.program`: run this executable (e.g. the reference Go tssh). */
  constructor(args: readonly string[], options: { cols?: number; rows?: number; env?: Record<string, string>; script?: string; program?: string } = {}) {
    const cols = options.cols ?? 100;
    const rows = options.rows ?? 30;
    this.screen = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 1000 });
    const [file, argv] = options.program !== undefined ? [options.program, [...args]] : [process.execPath, [options.script ?? TSSH_BIN, ...args]];
    this.proc = pty.spawn(file, argv, {
      name: 'xterm-256color',
      cols,
      rows,
      env: options.env ?? cleanEnv({ TERM: 'xterm-256color' }),
    });
    ptys.add(this.proc);
    this.proc.onData((d) => {
      this.raw += d;
      this.pending++;
      this.screen.write(d, () => this.pending--);
    });
    this.proc.onExit((e) => {
      this.exit = e;
      ptys.delete(this.proc);
    });
  }

  /** Process id of the program in the pty. */
  get pid(): number {
    return this.proc.pid;
  }

  /** Everything tssh wrote, as received (for failure messages). */
  get output(): string {
    return this.raw;
  }

  /** The visible screen, one string per row, trailing spaces trimmed. */
  lines(): string[] {
    const buffer = this.screen.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < this.screen.rows; i++) out.push(buffer.getLine(buffer.viewportY + i)?.translateToString(true) ?? '');
    return out;
  }

  /** The visible screen as one string. */
  text(): string {
    return this.lines().join('\n');
  }

  /** Type into tssh's terminal. */
  type(text: string): void {
    this.proc.write(text);
  }

  /** Change the window size (tssh gets SIGWINCH). */
  resize(cols: number, rows: number): void {
    this.screen.resize(cols, rows);
    this.proc.resize(cols, rows);
  }

  /** Wait until the screen shows something matching `pattern`; returns the match. */
  async waitForScreen(what: string, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
    try {
      return await waitFor(what, () => (this.pending === 0 ? pattern.exec(this.text()) : null), timeoutMs, 25);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nscreen:\n${this.text()}\nraw tail: ${JSON.stringify(this.raw.slice(-1500))}`);
    }
  }

  /**
   * Type `text` and wait for `pattern`, typing it again (up to `attempts` times, `eachMs` apart) while it does not
   * show: for things that race the typed line, such as a window change (bus stream) against a command (session stream).
   */
  async typeUntilScreen(what: string, text: string, pattern: RegExp, attempts = 10, eachMs = 3000): Promise<RegExpExecArray> {
    for (let attempt = 1; ; attempt++) {
      this.type(text);
      try {
        return await this.waitForScreen(what, pattern, eachMs);
      } catch (err) {
        if (attempt >= attempts) throw err;
      }
    }
  }

  /** Wait for tssh to exit; returns its exit status. */
  async waitForExit(timeoutMs = 30_000): Promise<number> {
    try {
      const e = await waitFor('tssh to exit', () => this.exit, timeoutMs, 25);
      await waitFor('the screen to catch up', () => this.pending === 0, 5000, 10);
      return e.exitCode;
    } catch (err) {
      throw new Error(`${(err as Error).message}\nscreen:\n${this.text()}`);
    }
  }

  /** End tssh (by PID) if it still runs, and free the screen. */
  close(): void {
    if (this.exit === null) this.proc.kill('SIGKILL');
    this.screen.dispose();
  }
}

/** A UDP port that was free a moment ago on 127.0.0.1 (for a fixed TsshdPort behind a proxy). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** A tssh that keeps running (-N, -L ...) until the test ends it by PID. */
export interface LiveTssh {
  readonly child: ChildProcess;
  /** stderr so far. */
  stderr(): string;
  /** stdout so far. */
  stdout(): Buffer;
  /** Exit status once it exited (null for a signal), undefined while it runs. */
  exitStatus(): number | null | undefined;
  /** Wait for the exit (bounded); returns the status. */
  waitForExit(timeoutMs?: number): Promise<number | null>;
  /** SIGTERM by PID (as a user's kill), then wait for the exit. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** Start bin/tssh (or `options.program`, e.g. the reference Go tssh) without a terminal and leave it running (stdin: a pipe the test may write, or /dev/null). */
export function startTssh(args: readonly string[], options: { env?: Record<string, string>; stdin?: 'pipe' | 'ignore'; program?: string } = {}): LiveTssh {
  const [file, argv] = options.program !== undefined ? [options.program, [...args]] : [process.execPath, [TSSH_BIN, ...args]];
  const child = spawn(file, argv, { stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'], env: options.env ?? cleanEnv() });
  running.add(child);
  const out: Buffer[] = [];
  let err = '';
  let status: number | null | undefined;
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => (err += s));
  child.once('exit', (code) => {
    status = code;
    running.delete(child);
  });
  const waitForExit = async (timeoutMs = 30_000): Promise<number | null> => {
    await waitFor('tssh to exit', () => status !== undefined, timeoutMs, 20).catch((e: Error) => {
      throw new Error(`${e.message}; stderr: ${err}`);
    });
    return status ?? null;
  };
  return {
    child,
    stderr: () => err,
    stdout: () => Buffer.concat(out),
    exitStatus: () => status,
    waitForExit,
    stop: async (timeoutMs = 30_000) => {
      if (status === undefined) child.kill('SIGTERM');
      return waitForExit(timeoutMs);
    },
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Numbers the datagram-forward probe uses, above any a test sends itself. */
const PROBE_SEQ = 0xf0000000;

/** Probe a datagram forward through `client` until one probe comes back (the forward is up), or `tssh` exits. */
export async function untilDatagramForwardUp(tssh: LiveTssh, client: NumberedDatagramClient, what: string): Promise<void> {
  let seq = PROBE_SEQ;
  await waitFor(
    `a reply through ${what}`,
    () => {
      if (tssh.exitStatus() !== undefined) throw new Error(`tssh exited with ${tssh.exitStatus()}: ${tssh.stderr()}`);
      for (const k of client.replies.keys()) if (k >= PROBE_SEQ) return true;
      client.send(seq++, 16);
      return false;
    },
    40_000,
    200,
  );
}

/** Wait until `where` accepts a connection (the forward is up), or `tssh` exits. */
export async function untilListening(tssh: LiveTssh, where: number | string, timeoutMs = 40_000): Promise<void> {
  await waitFor(
    `a listener at ${where}`,
    async () => {
      if (tssh.exitStatus() !== undefined) throw new Error(`tssh exited with ${tssh.exitStatus()}: ${tssh.stderr()}`);
      try {
        return await new Promise<boolean>((resolve) => {
          const socket = typeof where === 'number' ? connect({ port: where, host: '127.0.0.1' }) : connect({ path: where });
          socket.once('connect', () => {
            socket.destroy();
            resolve(true);
          });
          socket.once('error', () => resolve(false));
        });
      } catch {
        return false;
      }
    },
    timeoutMs,
    50,
  );
}
