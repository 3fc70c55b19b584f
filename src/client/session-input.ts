/**
 * The keyboard (or piped stdin) side of a session, shared by both protocol
 * families' session runners: stdin read into `input` with backpressure,
 * escapes recognised first (so `~.` works during an outage), then, with a
 * pty, the outage gate (keys discarded, Ctrl+D quits, a bell at most once a
 * second). stdin EOF ends `input` (the session's half-close). Also the
 * outage notice as both runners show it.
 */
import { PassThrough } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { EscapeFilter, type EscapeKind } from './escape-keys.js';
import { InputGate } from './input-gate.js';
import { OutageNotice } from './outage-notice.js';
import type { EscapeChar } from './ssh-args.js';
import type { Terminal } from './terminal.js';

export interface SessionInputOptions {
  pty: boolean;
  escapeChar: EscapeChar;
  /** -n: stdin is not read. */
  stdinNull: boolean;
  onEscape: (kind: EscapeKind) => void;
  /** Ctrl+D during an outage. */
  onQuitDuringOutage: () => void;
  /** True once the session is ending: input is ignored. */
  finishing: () => boolean;
}

export class SessionInput {
  /** What the session reads: typed (or piped) bytes after escapes and the gate. */
  readonly input = new PassThrough();
  readonly gate = new InputGate();
  readonly filter: EscapeFilter | null;

  constructor(private readonly o: SessionInputOptions) {
    this.filter = o.pty && o.escapeChar !== 'none' ? new EscapeFilter(o.escapeChar) : null;
  }

  /** Start reading stdin; returns the cleanup. */
  readStdin(): () => void {
    if (this.o.stdinNull) {
      this.input.end();
      return () => undefined;
    }
    const stdin = process.stdin;
    const onData = (chunk: Buffer): void => this.onInput(chunk);
    const onEnd = (): void => {
      if (!this.input.writableEnded) this.input.end();
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.on('error', onEnd);
    return () => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onEnd);
      stdin.pause();
    };
  }

  /** End the session's input (idempotent). */
  end(): void {
    if (!this.input.writableEnded) this.input.end();
  }

  private onInput(chunk: Buffer): void {
    if (this.o.finishing()) return;
    if (this.filter === null) return this.deliver(chunk);
    const { data, actions } = this.filter.push(chunk);
    let at = 0;
    for (const action of actions) {
      this.deliver(data.subarray(at, action.at));
      at = action.at;
      this.o.onEscape(action.kind);
      if (this.o.finishing()) return;
    }
    this.deliver(data.subarray(at));
  }

  private deliver(data: Buffer): void {
    if (data.length === 0 || this.o.finishing()) return;
    let forward: Buffer | null = data;
    if (this.o.pty) {
      const gated = this.gate.push(data);
      if (gated.quit) return this.o.onQuitDuringOutage();
      if (gated.bell) process.stdout.write('\x07');
      forward = gated.forward;
    }
    if (forward === null || this.input.writableEnded) return;
    // Backpressure: stop reading the keyboard (or pipe) until the session takes more.
    if (!this.input.write(forward)) {
      process.stdin.pause();
      this.input.once('drain', () => {
        if (!this.o.finishing()) process.stdin.resume();
      });
    }
  }
}

/**
 * The outage notice: on the terminal with a pty (on top, or at the cursor),
 * on stderr without one when a person watches it, else none. The caller's
 * once-a-second tick redraws it.
 */
export function makeOutageNotice(
  o: { pty: boolean; escapeChar: number | null; full: boolean; onTop: boolean },
  terminal: Terminal,
): OutageNotice | null {
  const timers = { setInterval: () => null, clearInterval: () => undefined };
  const common = { now: () => performance.now(), full: o.full, escapeChar: o.escapeChar, timers, columns: () => terminal.size().cols };
  if (o.pty) return new OutageNotice({ ...common, onTop: o.onTop, write: (s) => process.stdout.write(s) });
  if (process.stderr.isTTY) return new OutageNotice({ ...common, onTop: false, write: (s) => process.stderr.write(s) });
  return null;
}
