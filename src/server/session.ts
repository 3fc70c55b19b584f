import { performance } from 'node:perf_hooks';
import { Duplex, Writable, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

/**
 * The public face of one session (a shell, a command or a subsystem) as a
 * handler sees it, whatever carries it: tsshd's UDP session streams or, in
 * the integrated example, an ssh2 channel. `StreamSession` is the one
 * implementation, over any input, output and stderr streams.
 */

/** The terminal a client asked for. */
export interface PtyInfo {
  /** Terminal type, e.g. `xterm-256color` (the TERM the client runs in). */
  term: string;
  /** Columns. */
  cols: number;
  /** Rows. */
  rows: number;
}

/** A window size, as reported by a window change. */
export interface WindowSize {
  /** Columns. */
  cols: number;
  /** Rows. */
  rows: number;
}

/** How a session ended: an exit code, or the name of the signal that killed it (without `SIG`, e.g. `TERM`). */
export type SessionExit = number | { signal: string };

/**
 * One session. Read it for the client's input (stdin; its end is the
 * client's EOF), write it for output (stdout, or everything in a pty).
 *
 * Events besides the stream ones: `'window-change'` (size: WindowSize) when a
 * pty client's window changed (`pty` is updated first); `'redraw'` () when the
 * client asks for a repaint after an outage; `'process'` (pid) when the
 * shell handler started the session's process (for logs).
 *
 * A session never emits `'error'` at its handler: writes after the client is
 * gone or after `exit()` are dropped.
 */
export interface Session extends Duplex {
  /** The client's stderr. In a pty it writes into the output, as a pty merges them. */
  readonly stderr: Writable;
  /**
   * The environment a program run for this session should get: the login
   * environment (USER, HOME, PATH, SHELL, ...), the client's variables that
   * AcceptEnv allows, SSH_CONNECTION / SSH_CLIENT, and TERM in a pty.
   */
  readonly environ: Readonly<Record<string, string>>;
  /** The command the client asked to run; empty for a shell or a subsystem. */
  readonly command: string;
  /** The subsystem asked for (e.g. `sftp`), or undefined. */
  readonly subsystem: string | undefined;
  /** The pty request with the current window size, or undefined without a pty. */
  readonly pty: PtyInfo | undefined;
  /** Fires when the client has gone for good (goodbye, lost, hung up) or the server is hanging up. */
  readonly signal: AbortSignal;
  /** The client's address now (it changes when a UDP client roams). */
  readonly remoteAddress: string;
  /** The client's port now. */
  readonly remotePort: number;
  /**
   * End the session: report `status` to the client (an exit code, or
   * `{ signal }`), then end stdout and stderr once what was written is sent.
   * Only the first call counts.
   */
  exit(status: SessionExit): void;
}

/** Handles a session. The session ends when the returned promise settles (exit 0 unless `exit()` was called); a throw ends it with a message and status 255. */
export type Handler = (session: Session) => void | Promise<void>;

/** Wraps a handler, e.g. to log, check or greet before passing the session on with `next(session)`. */
export type Middleware = (next: Handler) => Handler;

/**
 * Build one handler from middleware and a final handler. The first
 * middleware in the list is the outermost: it sees each session first and
 * calls the next one, like Express or Koa. `compose([a, b], h)` is `a(b(h))`.
 */
export function compose(middleware: readonly Middleware[], handler: Handler): Handler {
  return middleware.reduceRight<Handler>((next, wrap) => wrap(next), handler);
}

/**
 * Run `handler` on `session` and end the session when it is done: exit 0 if
 * the handler returned without calling `exit()`; if it threw, the message
 * goes to the client (stderr, or the terminal in a pty) and the status is 255.
 * `refuse(err)` may claim an error first (the carrier refuses the session
 * instead; return true). Never rejects: a handler's error never reaches the server.
 */
export async function serveSession(handler: Handler, session: StreamSession, refuse?: (err: unknown) => boolean): Promise<void> {
  try {
    await handler(session);
    session.exit(0);
  } catch (err) {
    if (refuse?.(err)) return;
    if (!session.hasExited) {
      const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      const line = `tsshd: the session's handler failed: ${message}`;
      if (session.pty) session.write(`\r\n${line}\r\n`);
      else session.stderr.write(`${line}\n`);
    }
    session.exit(255);
  }
}

/** What a {@link StreamSession} carries and reports to. */
export interface StreamSessionOptions {
  /** The client's input; its end is stdin EOF. Read only once the session is opened. */
  input: Readable;
  /** Where output goes; ended after `exit()` reported the status, once what was written is handed over. */
  output: Writable;
  /**
   * Called once, before the first byte is read or written, `exit()` or the
   * handler's end: the carrier accepts the session here. Returns where
   * stderr goes, or undefined to merge it into `output` (a pty).
   */
  open(): Writable | undefined;
  /** Report the exit status to the client (called once, by `exit()`). */
  reportExit(status: SessionExit): void;
  /** Session.environ. */
  environ: Readonly<Record<string, string>>;
  /** Session.command; default ''. */
  command?: string;
  /** Session.subsystem. */
  subsystem?: string;
  /** Session.pty at the start. */
  pty?: PtyInfo;
  /** The client's current address and port. */
  remote(): { address: string; port: number };
}

/**
 * A Session over given streams, with backpressure both ways: a slow client
 * makes writes wait (`write()` returns false), a slow handler stops reading
 * the client's input. Carriers call `windowChange()`, `redraw()` and
 * `hangup()`; `done` settles once the session exited and its output was handed over.
 */
export class StreamSession extends Duplex implements Session {
  /** See Session.stderr. */
  readonly stderr: Writable;
  /** See Session.environ. */
  readonly environ: Readonly<Record<string, string>>;
  /** See Session.command. */
  readonly command: string;
  /** See Session.subsystem. */
  readonly subsystem: string | undefined;
  /** Settles once `exit()` was called and output and stderr are finished (or gone). */
  readonly done: Promise<void>;
  private readonly controller = new AbortController();
  private readonly options: StreamSessionOptions;
  private currentPty: PtyInfo | undefined;
  private opened = false;
  private errorOutput: Writable | undefined;
  private inputWired = false;
  /** performance.now() of the last byte in or out (sshd's ChannelTimeout counts traffic either way). */
  lastActivity = performance.now();
  private readonly onInput = (chunk: Buffer): void => {
    this.lastActivity = performance.now();
    if (!this.push(chunk)) this.options.input.pause();
  };
  private exited = false;
  /** The handler ended stdout / stderr: the carrier's ends wait for exit(), so the status goes before them (SSH channels close at EOF). */
  private outputFinal = false;
  private stderrFinal = false;
  private settleExited!: () => void;

  constructor(options: StreamSessionOptions) {
    // autoDestroy off: a write after exit() must not tear down the output that is still being delivered.
    super({ allowHalfOpen: true, autoDestroy: false });
    this.options = options;
    this.environ = options.environ;
    this.command = options.command ?? '';
    this.subsystem = options.subsystem;
    this.currentPty = options.pty === undefined ? undefined : { ...options.pty };
    // A handler's late write must never become an unhandled 'error' that ends the server.
    this.on('error', () => undefined);
    this.stderr = new Writable({
      autoDestroy: false,
      write: (chunk: Buffer, _encoding, callback) => {
        this.open();
        this.lastActivity = performance.now();
        if (this.errorOutput === undefined) {
          if (this.writable) this.write(chunk);
          callback();
        } else {
          writeWithBackpressure(this.errorOutput, chunk, callback);
        }
      },
      final: (callback) => {
        this.open();
        this.stderrFinal = true;
        if (this.exited) this.errorOutput?.end();
        callback();
      },
    });
    this.stderr.on('error', () => undefined);
    const exitedPromise = new Promise<void>((resolve) => (this.settleExited = resolve));
    this.done = (async () => {
      await exitedPromise;
      const outputs = [options.output, ...(this.errorOutput ? [this.errorOutput] : [])];
      // A destroyed output counts as finished: nothing more can be written to it.
      await Promise.all(outputs.map((s) => finished(s, { readable: false }).catch(() => undefined)));
    })();
  }

  /** Fires when the client has gone for good or the server hangs up (see hangup()). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The pty request with the current window size, or undefined. */
  get pty(): PtyInfo | undefined {
    return this.currentPty;
  }

  /** The client's address now. */
  get remoteAddress(): string {
    return this.options.remote().address;
  }

  /** The client's port now. */
  get remotePort(): number {
    return this.options.remote().port;
  }

  /** Whether the carrier has accepted the session (see StreamSessionOptions.open). */
  get isOpen(): boolean {
    return this.opened;
  }

  /** Whether `exit()` was called. */
  get hasExited(): boolean {
    return this.exited;
  }

  /** Accept the session with the carrier now (it happens by itself on first use). */
  open(): void {
    if (this.opened) return;
    this.opened = true;
    this.errorOutput = this.options.open();
  }

  /** Report the status to the client, then end stdout and stderr once written data is handed over; only the first call counts. */
  exit(status: SessionExit): void {
    if (this.exited) return;
    this.exited = true;
    this.open();
    this.options.reportExit(status);
    if (this.outputFinal) this.options.output.end();
    else this.end();
    if (this.stderrFinal) this.errorOutput?.end();
    else this.stderr.end();
    this.settleExited();
  }

  /** The client's window changed: update `pty` and emit 'window-change'. False without a pty. */
  windowChange(cols: number, rows: number): boolean {
    if (!this.currentPty) return false;
    this.currentPty = { ...this.currentPty, cols, rows };
    this.emit('window-change', { cols, rows } satisfies WindowSize);
    return true;
  }

  /** The client asked for a repaint: emit 'redraw'. False without a pty or after exit. */
  redraw(): boolean {
    if (!this.currentPty || this.exited) return false;
    this.emit('redraw');
    return true;
  }

  /** The client is gone or the server is leaving: fire `signal` (once). */
  hangup(reason = 'hang-up'): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  override _read(): void {
    this.open();
    const { input } = this.options;
    if (!this.inputWired) {
      this.inputWired = true;
      input.on('data', this.onInput);
      const eof = (): void => {
        if (!this.readableEnded) this.push(null);
      };
      input.once('end', eof);
      input.once('close', eof);
      input.once('error', eof);
    }
    input.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.open();
    this.lastActivity = performance.now();
    writeWithBackpressure(this.options.output, chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.open();
    this.outputFinal = true;
    if (this.exited) this.options.output.end();
    callback();
  }

  /**
   * Without an error, only stop reading: `for await (const chunk of session)`
   * calls this when the loop ends, and the session must still be writable.
   * With an error, the session is torn down (the client sees it lost).
   */
  override destroy(error?: Error | null): this {
    if (error) return super.destroy(error);
    this.stopReading();
    return this;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.options.output.destroy();
    callback(error);
  }

  private stopReading(): void {
    const { input } = this.options;
    this.inputWired = true;
    input.off('data', this.onInput);
    // Keep consuming, so the client's writes never stall; the bytes have nowhere to go.
    input.resume();
    if (!this.readableEnded) this.push(null);
  }
}

/** Write and call back once the stream takes more (or is gone, when the bytes are dropped). */
function writeWithBackpressure(stream: Writable, chunk: Buffer, callback: () => void): void {
  if (stream.destroyed || stream.writableEnded) {
    callback();
    return;
  }
  if (stream.write(chunk)) {
    callback();
    return;
  }
  let called = false;
  const once = (): void => {
    if (called) return;
    called = true;
    stream.off('drain', once);
    stream.off('close', once);
    callback();
  };
  stream.once('drain', once);
  stream.once('close', once);
}
