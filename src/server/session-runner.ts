import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { constants as fsConstants, readSync } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { basename } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import * as pty from '@lydell/node-pty';
import type { ExitStatus, PtyRequest } from '../protocol/messages.js';
import { loginShellArgv0 } from './login-env.js';

/**
 * Runs one session's process the way sshd's do_exec_pty / do_exec_no_pty do:
 * a login shell ("-bash") or `$SHELL -c command`, in a pty or on pipes, in
 * its own session and process group, started in HOME. Output is pushed to the
 * given streams with backpressure (a slow client stops the child, never grows
 * tsshd's memory); the exit status or killing signal is reported.
 */

/** What to run. */
export interface SessionSpec {
  /** The user's shell (SHELL). */
  shell: string;
  /** Working directory; "/" is used if it is not a directory, as sshd does. */
  home: string;
  /** The complete environment (see login-env.ts); nothing is inherited from tsshd. */
  env: Record<string, string>;
  /** Run this with `shell -c`; absent: an interactive login shell. */
  command?: string;
  /** Run in a pseudo-terminal of this type and size; absent: on pipes. */
  pty?: PtyRequest;
}

export type { ExitStatus };

/** Where the session's bytes go. `errorOutput` is used only without a pty (a pty merges stderr). */
export interface SessionIo {
  /** Becomes the process's stdin; its end is stdin EOF (ignored with a pty, as by sshd). */
  input: Readable;
  /** Receives stdout (or all pty output); ended once the output is complete. */
  output: Writable;
  /** Receives stderr without a pty; ended once stderr is complete. */
  errorOutput?: Writable;
}

/** A started session process. */
export interface RunningSession {
  /** Process id of the shell; also its process group id. */
  readonly pid: number;
  /** True if it runs in a pty. */
  readonly terminal: boolean;
  /** Settles when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** Settles when the process has exited and every output stream has finished (or was destroyed). */
  readonly done: Promise<ExitStatus>;
  /** Connect the streams; output is held back (paused) until this is called, exactly once. */
  attach(io: SessionIo): void;
  /** Change the pty's window size; false without a pty or once it is gone. */
  resize(cols: number, rows: number): boolean;
  /** Send a signal to the whole process group (no-op once the session is done). */
  signalGroup(signal: NodeJS.Signals): void;
}

/** Perl's exec can set argv[0], which node-pty cannot; it is part of every Debian/Ubuntu (perl-base). */
const PERL_CANDIDATES = ['/usr/bin/perl', '/bin/perl'];
const PERL_EXEC_AS = 'my $f = shift; exec { $f } @ARGV; print STDERR "$f: $!\\n"; exit 127;';
let perlPath: Promise<string | undefined> | undefined;

function findPerl(): Promise<string | undefined> {
  perlPath ??= (async () => {
    for (const candidate of PERL_CANDIDATES) {
      try {
        await access(candidate, fsConstants.X_OK);
        return candidate;
      } catch {
        // try the next one
      }
    }
    return undefined;
  })();
  return perlPath;
}

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(osConstants.signals).map(([name, num]) => [num, name.replace(/^SIG/, '')]),
);

function signalName(signal: number | string): string {
  if (typeof signal === 'string') return signal.replace(/^SIG/, '');
  return SIGNAL_NAMES.get(signal) ?? String(signal);
}

async function workingDirectory(home: string): Promise<string> {
  try {
    return (await stat(home)).isDirectory() ? home : '/';
  } catch {
    return '/';
  }
}

/**
 * Start a session's process. Resolves once it runs (output held until
 * attach()); rejects if it cannot be started at all (e.g. no such shell
 * without a pty). In a pty an exec failure shows up as output and exit 1 or
 * 127, as with sshd.
 */
export async function startSession(spec: SessionSpec): Promise<RunningSession> {
  const cwd = await workingDirectory(spec.home);
  if (spec.pty) {
    let file = spec.shell;
    let args: string[];
    if (spec.command !== undefined) {
      args = ['-c', spec.command];
    } else {
      const perl = await findPerl();
      if (perl) {
        file = perl;
        args = ['-e', PERL_EXEC_AS, '--', spec.shell, loginShellArgv0(spec.shell)];
      } else {
        args = ['-l'];
      }
    }
    return new PtySession(pty.spawn(file, args, { name: spec.pty.term, cols: spec.pty.cols, rows: spec.pty.rows, cwd, env: spec.env, encoding: null }));
  }
  const command = spec.command;
  const child = spawnChild(spec.shell, command === undefined ? [] : ['-c', command], {
    argv0: command === undefined ? loginShellArgv0(spec.shell) : basename(spec.shell),
    cwd,
    env: spec.env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return new PipeSession(child);
}

/** Common bookkeeping: exit status, completion, group signals. */
abstract class SessionProcess implements RunningSession {
  abstract readonly pid: number;
  abstract readonly terminal: boolean;
  readonly exited: Promise<ExitStatus>;
  readonly done: Promise<ExitStatus>;
  protected settleExit!: (status: ExitStatus) => void;
  private settleAttach!: (outputs: Writable[]) => void;
  private isDone = false;
  private attached = false;

  constructor() {
    const exited = new Promise<ExitStatus>((resolve) => (this.settleExit = resolve));
    const outputs = new Promise<Writable[]>((resolve) => (this.settleAttach = resolve));
    this.exited = exited;
    this.done = (async () => {
      const streams = await outputs;
      const status = await exited;
      // A destroyed output counts as finished: nothing more can be written to it.
      await Promise.all(streams.map((s) => finished(s, { readable: false }).catch(() => undefined)));
      this.isDone = true;
      return status;
    })();
  }

  attach(io: SessionIo): void {
    if (this.attached) throw new Error('session streams are already attached');
    this.attached = true;
    this.settleAttach(this.connect(io));
  }

  /** Wire the streams; returns the outputs that must finish before the session is done. */
  protected abstract connect(io: SessionIo): Writable[];

  abstract resize(cols: number, rows: number): boolean;

  signalGroup(signal: NodeJS.Signals): void {
    // After done the group id may belong to someone else.
    if (this.isDone) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is already empty
    }
  }
}

/** A process in a pseudo-terminal (node-pty forks it as a session leader with the pty as controlling terminal). */
class PtySession extends SessionProcess {
  readonly terminal = true;
  readonly pid: number;
  private waitingForDrain = false;
  private gone = false;

  /** What was still in the pty when node-pty gave up on it (see keepPtyTail). */
  private readonly tail: Buffer[] = [];

  constructor(private readonly term: pty.IPty) {
    super();
    this.pid = term.pid;
    keepPtyTail(term, (chunk) => this.tail.push(chunk));
    // Hold output until attach(); node-pty starts reading at once.
    term.pause();
    term.onExit(({ exitCode, signal }) => {
      this.gone = true;
      this.settleExit(signal ? { signal: signalName(signal) } : { code: exitCode });
    });
  }

  protected connect(io: SessionIo): Writable[] {
    const { term } = this;
    const { input, output } = io;
    // node-pty's typings say string, but with encoding null it writes bytes as given.
    const writeToPty = term.write.bind(term) as (data: string | Buffer) => void;
    const onInput = (chunk: Buffer | string): void => {
      if (!this.gone) writeToPty(chunk);
    };
    // resume(): readFirstMessage left the stream explicitly paused, and a 'data' listener alone does not undo that.
    input.on('data', onInput).resume();
    term.onData((chunk: string | Buffer) => {
      if (output.write(chunk) || this.waitingForDrain || output.destroyed) return;
      // Flow control: stop reading the pty (the child blocks on write) until the stream drains.
      this.waitingForDrain = true;
      term.pause();
      output.once('drain', () => {
        this.waitingForDrain = false;
        term.resume();
      });
    });
    void this.exited.then(() => {
      input.off('data', onInput);
      // Keep consuming input so the client's writes never stall; there is nowhere to put it.
      input.resume();
      // node-pty reports exit only after the pty's output was read to the end, or was cut off (kept in tail).
      for (const chunk of this.tail.splice(0)) if (!output.destroyed) output.write(chunk);
      output.end();
    });
    term.resume();
    return [output];
  }

  resize(cols: number, rows: number): boolean {
    if (this.gone) return false;
    try {
      this.term.resize(cols, rows);
      return true;
    } catch {
      return false; // the pty closed between exit and its report
    }
  }
}

/** Most a pty can hold unread (the kernel's buffer is far smaller): bounds the drain below. */
const MAX_PTY_TAIL = 1024 * 1024;

/**
 * node-pty reports a process's exit once the pty's reader closes, but it also
 * destroys the reader 200 ms after the exit whatever is still unread: while
 * output is held (before attach, or paused for flow control) or the event
 * loop is late (a loaded machine), the last output (a shell's "logout" line)
 * was lost. Before that destroy, take what the reader buffered and what the
 * pty still holds (the master is non-blocking: EAGAIN or EIO when empty).
 */
function keepPtyTail(term: pty.IPty, keep: (chunk: Buffer) => void): void {
  const inner = term as unknown as { _socket?: Readable; _fd?: number };
  const socket = inner._socket;
  const fd = inner._fd;
  if (socket === undefined || typeof fd !== 'number') return;
  const destroy = socket.destroy.bind(socket);
  socket.destroy = ((err?: Error) => {
    if (!socket.destroyed) {
      let kept = 0;
      // read() would also emit 'data' to node-pty (and so to a session already attached): take it quietly.
      const listeners = socket.listeners('data') as Array<(chunk: unknown) => void>;
      socket.removeAllListeners('data');
      for (let chunk = socket.read() as Buffer | string | null; chunk !== null; chunk = socket.read() as Buffer | string | null) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        kept += bytes.length;
        keep(bytes);
      }
      for (const listener of listeners) socket.on('data', listener);
      const buffer = Buffer.allocUnsafe(64 * 1024);
      while (kept < MAX_PTY_TAIL) {
        let n: number;
        try {
          n = readSync(fd, buffer, 0, buffer.length, null);
        } catch {
          break; // EAGAIN (nothing more now) or EIO (the other side is closed)
        }
        if (n <= 0) break;
        kept += n;
        keep(Buffer.from(buffer.subarray(0, n)));
      }
    }
    return destroy(err);
  }) as typeof socket.destroy;
}

/** A process on pipes, in its own process group (detached) so a hang-up reaches its children. */
class PipeSession extends SessionProcess {
  readonly terminal = false;
  readonly pid: number;

  constructor(private readonly child: ChildProcess) {
    super();
    if (child.pid === undefined) throw new Error('spawned child has no pid');
    this.pid = child.pid;
    child.once('exit', (code, signal) => {
      this.settleExit(signal ? { signal: signalName(signal) } : { code: code ?? 0 });
    });
    // EPIPE when the child exits without reading all of stdin: harmless.
    child.stdin?.on('error', () => undefined);
  }

  protected connect(io: SessionIo): Writable[] {
    const { child } = this;
    const { input, output, errorOutput } = io;
    const stdin = child.stdin;
    if (stdin) {
      input.pipe(stdin);
      void this.exited.then(() => {
        input.unpipe(stdin);
        input.resume();
      });
    }
    const outputs: Writable[] = [];
    if (child.stdout) outputs.push(forward(child.stdout, output));
    else output.end();
    if (child.stderr) {
      if (errorOutput) outputs.push(forward(child.stderr, errorOutput));
      else child.stderr.resume();
    } else {
      errorOutput?.end();
    }
    return outputs;
  }

  resize(): boolean {
    return false;
  }
}

/**
 * pipe() with backpressure, ending `to` when `from` ends; if `to` goes away
 * first, `from` is destroyed so the child gets EPIPE instead of blocking forever.
 */
function forward(from: Readable, to: Writable): Writable {
  from.pipe(to);
  to.once('close', () => {
    if (!to.writableFinished) from.destroy();
  });
  from.once('error', () => to.end());
  return to;
}
