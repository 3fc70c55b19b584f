/**
 * Predictive echo between a session and the user's terminal. The remote
 * program's bytes go to the terminal unchanged and in order; before each
 * chunk the prediction overlay (if any is drawn) is taken off, so the
 * terminal then equals the model, and after it the overlay is drawn again
 * from the engine's verdict. Only this and tssh's own notices (local()) are
 * added to the stream. One timer, armed for the engine's next deadline.
 */
import { Writable } from 'node:stream';
import { PredictionEngine, type PredictionStats } from './engine.js';
import type { PredictMode } from './mode.js';
import { KeyReader } from './keys.js';
import { sameState, type LineState } from './line-state.js';
import { drawOverlay, undrawOverlay, type Drawn } from './render.js';
import { ScreenModel } from './screen-model.js';

export interface PredictiveEchoOptions {
  mode: PredictMode;
  cols: number;
  rows: number;
  /** Write to the user's terminal. */
  write: (data: string | Uint8Array, done?: (err?: Error | null) => void) => unknown;
  /** Smoothed RTT of the path, ms (NaN before the first sample). */
  srttMs: () => number;
  now?: () => number;
  /** Timers (tests drive a simulated clock). */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
  /** Called once by close() with the final counts. */
  onClose?: (stats: PredictionStats) => void;
}

export class PredictiveEcho {
  readonly model: ScreenModel;
  private readonly engine: PredictionEngine;
  private readonly keys = new KeyReader();
  private drawn: { bytes: Drawn; state: LineState; underline: boolean } | null = null;
  private timer: unknown = null;
  private timerAt = Infinity;
  private closed = false;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (timer: unknown) => void;
  /** Give this to the session as its stdout. */
  readonly output: Writable;

  constructor(private readonly o: PredictiveEchoOptions) {
    this.now = o.now ?? (() => performance.now());
    this.setTimer = o.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = o.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
    this.model = new ScreenModel(o.cols, o.rows);
    this.engine = new PredictionEngine(this.model, { mode: o.mode, now: this.now, srttMs: o.srttMs });
    this.output = new Writable({
      write: (chunk: Buffer, _encoding, done) => this.remote(chunk, done),
    });
  }

  get stats(): PredictionStats {
    return this.engine.stats;
  }

  /** Bytes typed by the user, just before they go to the session. */
  typed(bytes: Uint8Array): void {
    if (this.closed) return;
    this.engine.typed(this.keys.push(bytes));
    this.refresh('');
  }

  /** Bytes from the remote program, to the terminal unchanged. */
  remote(chunk: Uint8Array, done?: (err?: Error | null) => void): void {
    if (this.closed) {
      this.o.write(chunk, done);
      return;
    }
    const before = this.takeOff();
    this.model.write(chunk);
    this.engine.modelChanged();
    const after = this.drawNow();
    this.o.write(before === '' && after === '' ? chunk : Buffer.concat([Buffer.from(before), chunk, Buffer.from(after)]), done);
    this.arm();
  }

  /** tssh's own bytes for the terminal (a notice, a bell, the escape help): predictions are dropped around them. */
  local(text: string, write: (data: string) => unknown = (d) => this.o.write(d)): void {
    if (this.closed) {
      write(text);
      return;
    }
    const before = this.takeOff();
    if (before !== '') this.o.write(before);
    this.engine.reset();
    this.model.write(text);
    write(text);
  }

  /** The window changed size: predictions dropped, the model resized. */
  resize(cols: number, rows: number): void {
    if (this.closed) return;
    const before = this.takeOff();
    if (before !== '') this.o.write(before);
    this.engine.reset();
    this.model.resize(cols, rows);
  }

  /** Take any overlay off and stop; later bytes pass through. */
  close(): void {
    if (this.closed) return;
    const before = this.takeOff();
    if (before !== '') this.o.write(before);
    this.closed = true;
    this.o.onClose?.({ ...this.engine.stats });
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.model.dispose();
  }

  private takeOff(): string {
    if (this.drawn === null) return '';
    const bytes = undrawOverlay(this.model, this.drawn.bytes);
    this.drawn = null;
    return bytes;
  }

  /** Bytes drawing what the engine wants now (the overlay is off when this is called). */
  private drawNow(): string {
    const want = this.model.drawable ? this.engine.overlay() : null;
    if (want === null) return '';
    const { bytes, drawn } = drawOverlay(this.model, want.state, want.underline);
    this.drawn = { bytes: drawn, state: want.state, underline: want.underline };
    return bytes;
  }

  /** Redraw if what should be shown changed. */
  private refresh(prefix: string): void {
    const want = this.model.drawable ? this.engine.overlay() : null;
    const have = this.drawn;
    const same = want === null ? have === null : have !== null && have.underline === want.underline && sameState(have.state, want.state);
    if (!same) {
      const out = prefix + this.takeOff() + this.drawNow();
      if (out !== '') this.o.write(out);
    } else if (prefix !== '') this.o.write(prefix);
    this.arm();
  }

  private arm(): void {
    const at = this.engine.nextDeadline();
    if (at === null || at >= this.timerAt) return;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = this.setTimer(() => {
      this.timer = null;
      this.timerAt = Infinity;
      if (this.closed) return;
      this.engine.tick();
      this.refresh('');
    }, Math.max(1, at - this.now()));
  }
}
