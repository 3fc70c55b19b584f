/**
 * The local terminal during a pty session: raw mode while the session runs,
 * and the original mode put back on every way out (restore(), process exit,
 * uncaught exception, SIGINT/SIGTERM/SIGHUP/SIGQUIT sent to tssh). Raw mode is
 * ssh's: no echo, no line editing, no signals from keys, no CR/LF translation
 * in either direction, so ^C, ^Z and ^\ reach the remote side as bytes and only
 * signals sent from outside stop tssh. Everything is a no-op when stdin is not
 * a terminal.
 */
import { spawnSync } from 'node:child_process';

/** Exit status after a fatal signal, as ssh does ("Killed by signal N", status 255). */
export const SIGNAL_EXIT_STATUS = 255;

/** Signals that end tssh while the terminal is raw; each restores the terminal first. */
export const FATAL_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** The parts of a tty.ReadStream this class uses. */
export interface TerminalInput {
  isTTY?: boolean;
  fd?: number;
  setRawMode?(mode: boolean): unknown;
}

/** The parts of a tty.WriteStream this class uses (window size and SIGWINCH). */
export interface TerminalOutput {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  on(event: 'resize', listener: () => void): unknown;
  off(event: 'resize', listener: () => void): unknown;
}

/** Terminal size in character cells. */
export interface TerminalSize {
  cols: number;
  rows: number;
}

/** Where the terminal is and what to do on a fatal signal. */
export interface TerminalOptions {
  /** Default process.stdin. */
  input?: TerminalInput;
  /** Source of the window size: default process.stdout if a terminal, else process.stderr. */
  output?: TerminalOutput;
  /**
   * Called after the terminal is restored when a fatal signal arrives, for an
   * orderly shutdown; the handlers are gone by then, so a second signal kills.
   * Default: exit with SIGNAL_EXIT_STATUS.
   */
  onSignal?: (signal: NodeJS.Signals) => void;
  /** Also turn off output processing (OPOST), as ssh does (default true). */
  rawOutput?: boolean;
}

/** Size reported when there is no terminal to ask: the classic VT100 screen. */
const FALLBACK_SIZE: TerminalSize = { cols: 80, rows: 24 };

/** The local terminal: raw mode, its guaranteed restoration, and window size. */
export class Terminal {
  private readonly input: TerminalInput;
  private readonly output: TerminalOutput | null;
  private readonly onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  private readonly rawOutput: boolean;
  private raw = false;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  /** Node emits 'exit' before it prints an uncaught exception, so this also keeps that error readable. */
  private readonly exitHook = (): void => this.restore();

  constructor(options: TerminalOptions = {}) {
    this.input = options.input ?? process.stdin;
    this.output = options.output ?? pickOutput();
    this.onSignal = options.onSignal;
    this.rawOutput = options.rawOutput ?? true;
  }

  /** True when the input is a terminal that can be put in raw mode. */
  get isTTY(): boolean {
    return this.input.isTTY === true && typeof this.input.setRawMode === 'function';
  }

  /** True while raw mode is on. */
  get isRaw(): boolean {
    return this.raw;
  }

  /** Put the terminal in raw mode and arm the restore hooks. Idempotent; no-op without a terminal. */
  enterRaw(): void {
    if (this.raw || !this.isTTY) return;
    this.input.setRawMode?.(true);
    this.raw = true;
    // libuv keeps OPOST on; ssh turns it off. setRawMode(false) puts back the whole saved mode, OPOST included.
    if (this.rawOutput) runStty(this.input.fd ?? 0, ['-opost']);
    process.on('exit', this.exitHook);
    for (const signal of FATAL_SIGNALS) {
      const handler = (): void => this.fatalSignal(signal);
      this.signalHandlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  /** Put back the mode the terminal had before enterRaw() and disarm the hooks. Idempotent. */
  restore(): void {
    if (!this.raw) return;
    this.raw = false;
    try {
      this.input.setRawMode?.(false);
    } catch {
      // The terminal is gone (hangup): nothing left to restore.
    }
    process.off('exit', this.exitHook);
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
    this.signalHandlers.clear();
  }

  /** Call `listener(cols, rows)` on every window-size change (SIGWINCH). Returns the unsubscribe function. */
  onResize(listener: (cols: number, rows: number) => void): () => void {
    const output = this.output;
    if (output === null) return () => {};
    const handler = (): void => {
      const { cols, rows } = this.size();
      listener(cols, rows);
    };
    output.on('resize', handler);
    return () => output.off('resize', handler);
  }

  /** The current window size; 80x24 when there is no terminal to ask. */
  size(): TerminalSize {
    const cols = this.output?.columns;
    const rows = this.output?.rows;
    if (!cols || !rows) return { ...FALLBACK_SIZE };
    return { cols, rows };
  }

  /**
   * Suspend tssh as ssh's `~^Z` does: restore the terminal, stop with SIGTSTP,
   * and once continued go raw again and call `onResume` (the window may have
   * changed meanwhile). Returns only after the process was continued. No-op
   * unless raw.
   */
  suspend(onResume?: () => void): void {
    if (!this.raw) return;
    this.restore();
    // A signal sent to oneself is taken before kill() returns, so the stop happens inside this call.
    // In an orphaned process group (no job control) the kernel discards SIGTSTP and this returns at once.
    process.kill(process.pid, 'SIGTSTP');
    this.enterRaw();
    onResume?.();
  }

  private fatalSignal(signal: NodeJS.Signals): void {
    this.restore();
    if (this.onSignal) this.onSignal(signal);
    else process.exit(SIGNAL_EXIT_STATUS);
  }
}

/** The window size comes from whichever of stdout and stderr is a terminal. */
function pickOutput(): TerminalOutput | null {
  if (process.stdout.isTTY) return process.stdout;
  if (process.stderr.isTTY) return process.stderr;
  return null;
}

/** Run stty on the terminal at `fd`; a missing stty only leaves output processing on. */
function runStty(fd: number, args: string[]): void {
  // Synchronous on purpose: it runs once when the session starts, before any output is written.
  spawnSync('stty', args, { stdio: [fd, 'ignore', 'ignore'], timeout: 5000 });
}
