/** A helper process started inside a namespace, its stdout read as lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CHECKOUT_ROOT } from '../../test/support/sshd.js';
import { inNs } from './netlab.js';

/** The compiled netcat helper. */
export const NETCAT = join(CHECKOUT_ROOT, 'dist', 'bench', 'lab', 'netcat.js');

export class HelperProcess {
  readonly lines: string[] = [];
  stderr = '';
  private exitCode: number | null | undefined = undefined;
  private readonly child: ChildProcess;
  private buffered = '';
  private readonly waiters: Array<() => void> = [];

  constructor(ns: string, argv: string[], env: NodeJS.ProcessEnv = process.env) {
    const [file, args] = inNs(ns, argv);
    this.child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (s: string) => {
      this.buffered += s;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        this.lines.push(this.buffered.slice(0, nl));
        this.buffered = this.buffered.slice(nl + 1);
      }
      this.wake();
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (s: string) => (this.stderr = (this.stderr + s).slice(-4000)));
    this.child.once('exit', (code) => {
      this.exitCode = code;
      this.wake();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get exited(): boolean {
    return this.exitCode !== undefined;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Wait (bounded) until `n` lines have been printed; false on timeout or exit first. */
  async waitLines(n: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < n) {
      if (this.exited || Date.now() > deadline) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, Math.min(200, deadline - Date.now())));
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
    return true;
  }

  /** Wait (bounded) for exit; true if it exited. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.exited && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, Math.min(200, deadline - Date.now())));
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
    return this.exited;
  }

  kill(): void {
    if (this.exited) return;
    try {
      this.child.kill('SIGKILL');
    } catch {
      // Gone.
    }
  }
}
