/**
 * The prediction engine: which typed keys are shown before the server echoes
 * them, and when a shown prediction is confirmed or taken back. After mosh's
 * overlay (epochs, confirmation by later output, SRTT thresholds, flagging),
 * without its echo acknowledgement: a key's prediction is judged by the row
 * the model shows next.
 *
 * Keys are predicted in epochs: runs of keys whose effect is known (text,
 * backspace, arrows). An epoch is shown only once the program has echoed one
 * of its keys (two in the alternate screen), so nothing typed after Enter,
 * Tab or any other key of unknown effect is drawn before the program proved
 * it echoes: a password prompt never confirms and its keys are never drawn.
 * When the model's row matches a predicted state, that state and all before
 * it are confirmed; when it matches none, every prediction is dropped (the
 * screen goes back to the model) and the keys of the open epoch are tried
 * again, unshown, on the new row. A prediction not confirmed in time is dropped.
 */
import type { Key } from './keys.js';
import { applyKey, sameState, type LineState } from './line-state.js';
import type { PredictMode } from './mode.js';
import { sgr } from './render.js';
import type { ScreenModel } from './screen-model.js';


/** Adaptive shows predictions from this smoothed RTT up, and stops below the lower one (mosh's 30/20 ms). */
const SHOW_ON_MS = 30;
const SHOW_OFF_MS = 20;
/** Predictions are underlined from this RTT up, and no longer below the lower one (mosh's 80/50 ms). */
const FLAG_ON_MS = 80;
const FLAG_OFF_MS = 50;
/** A shown prediction waiting longer than this is underlined whatever the RTT (a glitch). */
const GLITCH_MS = 250;
/** Adaptive stops showing for SHUN_MS after SHUN_WRONGS wrong predictions within SHUN_MS. */
const SHUN_WRONGS = 4;
const SHUN_MS = 30_000;
/** After a contradiction, keys typed within this many RTTs are predicted again from the new row (unshown). */
const RETRY_WITHIN_RTT = 0.75;
/** Bound on predicted keys not yet echoed. */
const MAX_PENDING = 256;

interface Pending {
  state: LineState;
  key: Key;
  at: number;
  shown: boolean;
}

interface Epoch {
  /** Viewport row of the predictions. */
  y: number;
  /** The state the first pending key applies to. */
  base: LineState;
  pending: Pending[];
  /** Keys of this epoch the program has echoed. */
  confirmed: number;
  minCol: number;
  alt: boolean;
  /** A key of unknown effect followed: no more keys join this epoch. */
  closed: boolean;
}

export interface PredictionStats {
  keys: number;
  /** Keys given a predicted state. */
  predicted: number;
  /** Predicted keys drawn on the screen. */
  shown: number;
  /** Shown predictions the program's output then matched. */
  confirmed: number;
  /** Shown predictions taken back (the output disagreed, or no echo in time). */
  wrong: number;
}

export interface EngineOptions {
  mode: PredictMode;
  now: () => number;
  /** Smoothed RTT of the path, ms (NaN before the first sample). */
  srttMs: () => number;
}

export class PredictionEngine {
  private epochs: Epoch[] = [];
  private showing = false;
  private flagging = false;
  private readonly wrongTimes: number[] = [];
  readonly stats: PredictionStats = { keys: 0, predicted: 0, shown: 0, confirmed: 0, wrong: 0 };

  constructor(
    private readonly model: ScreenModel,
    private readonly o: EngineOptions,
  ) {}

  /** Keys the user typed (on their way to the server). */
  typed(keys: readonly Key[]): void {
    for (const key of keys) {
      this.stats.keys++;
      const last = this.epochs[this.epochs.length - 1];
      if (key.kind === 'other') {
        if (last !== undefined) last.closed = true;
        continue;
      }
      const epoch = last !== undefined && !last.closed ? last : this.newEpoch(last);
      if (epoch === null) continue;
      if (this.pendingCount() >= MAX_PENDING) {
        epoch.closed = true;
        continue;
      }
      if (!this.extend(epoch, key, this.o.now())) epoch.closed = true;
    }
  }

  /** The model took the remote program's output: confirm what it shows, drop what it contradicts. */
  modelChanged(): void {
    if (this.epochs.length === 0) return;
    const y = this.model.cursorY;
    const now: LineState | null = this.model.cursorX < this.model.cols ? { cells: this.model.row(y), cursor: this.model.cursorX } : null;
    if (now !== null) {
      // Oldest first: two keys can lead to the same state ("x", then "y" and backspace); the earlier is the safer verdict.
      for (let e = 0; e < this.epochs.length; e++) {
        const epoch = this.epochs[e]!;
        if (epoch.y !== y) continue;
        for (let p = 0; p < epoch.pending.length; p++) {
          if (sameState(epoch.pending[p]!.state, now)) {
            this.confirm(e, p);
            return;
          }
        }
      }
      const first = this.epochs[0]!;
      if (first.y === y && sameState(first.base, now)) return;
    }
    this.dropAll(true);
  }

  /** Drop predictions older than the echo timeout; call at nextDeadline(). */
  tick(): void {
    const deadline = this.nextDeadline();
    if (deadline !== null && this.o.now() >= deadline) this.dropAll(false);
  }

  /** When tick() has something to do: the oldest prediction's timeout (or its glitch time, for flagging). */
  nextDeadline(): number | null {
    const oldest = this.epochs.find((e) => e.pending.length > 0)?.pending[0];
    if (oldest === undefined) return null;
    const glitch = oldest.at + GLITCH_MS;
    return this.o.now() < glitch && oldest.shown ? glitch : oldest.at + this.timeoutMs();
  }

  /** Forget every prediction (window resized, tssh wrote a notice of its own). */
  reset(): void {
    this.dropAll(false);
  }

  /** What to draw now: the row state, its row, and whether to underline; null for nothing. */
  overlay(): { y: number; state: LineState; underline: boolean } | null {
    if (!this.shouldShow()) return null;
    let show: Epoch | null = null;
    for (const epoch of this.epochs) {
      if (epoch.confirmed < (epoch.alt ? 2 : 1)) break;
      if (epoch.pending.length > 0) show = epoch;
    }
    if (show === null || show.y !== this.model.cursorY) return null;
    const now = this.o.now();
    let glitch = false;
    for (const epoch of this.epochs) {
      for (const p of epoch.pending) {
        if (!p.shown) this.stats.shown++;
        p.shown = true;
        if (now - p.at >= GLITCH_MS) glitch = true;
      }
      if (epoch === show) break;
    }
    return { y: show.y, state: show.pending[show.pending.length - 1]!.state, underline: this.flag() || glitch };
  }

  private newEpoch(after: Epoch | undefined): Epoch | null {
    if (after !== undefined) {
      // Built on the last predicted state: the key of unknown effect is assumed to change nothing until output says otherwise.
      const base = after.pending[after.pending.length - 1]?.state ?? after.base;
      const epoch: Epoch = { y: after.y, base, pending: [], confirmed: 0, minCol: after.minCol, alt: after.alt, closed: false };
      this.epochs.push(epoch);
      return epoch;
    }
    const m = this.model;
    if (m.cursorX >= m.cols - 1) return null;
    const base = { cells: m.row(m.cursorY), cursor: m.cursorX };
    const epoch: Epoch = { y: m.cursorY, base, pending: [], confirmed: 0, minCol: m.cursorX, alt: m.altScreen, closed: false };
    this.epochs.push(epoch);
    return epoch;
  }

  /** Predict `key` on top of the epoch; `count` false for keys predicted again after a contradiction. */
  private extend(epoch: Epoch, key: Key, at: number, count = true): boolean {
    if (key.kind === 'text' && this.suggestionAtCursor()) return false;
    const from = epoch.pending[epoch.pending.length - 1]?.state ?? epoch.base;
    const state = applyKey(from, key, { width: (t) => this.model.width(t), minCol: epoch.minCol, alt: epoch.alt });
    if (state === null) return false;
    epoch.pending.push({ state, key, at, shown: false });
    if (count) this.stats.predicted++;
    return true;
  }

  /** Pending state `p` of epoch `e` is on the screen: it and everything before it is confirmed. */
  private confirm(e: number, p: number): void {
    for (const done of this.epochs.splice(0, e)) this.countConfirmed(done.pending);
    const epoch = this.epochs[0]!;
    const confirmed = epoch.pending.splice(0, p + 1);
    this.countConfirmed(confirmed);
    epoch.confirmed += confirmed.length;
    epoch.base = confirmed[confirmed.length - 1]!.state;
    if (epoch.closed && epoch.pending.length === 0 && this.epochs.length > 1) this.epochs.shift();
  }

  private countConfirmed(pending: readonly Pending[]): void {
    for (const p of pending) if (p.shown) this.stats.confirmed++;
  }

  /** Take every prediction back; `retry` predicts the open epoch's keys again, unshown, from the model's row. */
  private dropAll(retry: boolean): void {
    const now = this.o.now();
    let wrong = 0;
    for (const epoch of this.epochs) for (const p of epoch.pending) if (p.shown) wrong++;
    if (wrong > 0) {
      this.stats.wrong += wrong;
      this.wrongTimes.push(now);
      while (this.wrongTimes.length > SHUN_WRONGS) this.wrongTimes.shift();
    }
    const last = this.epochs[this.epochs.length - 1];
    this.epochs = [];
    if (!retry || last === undefined || last.closed || last.pending.length === 0) return;
    // Keys typed long enough ago for their echo to be in this output are not tried again.
    const recent = last.pending.filter((p) => now - p.at < RETRY_WITHIN_RTT * this.srtt());
    if (recent.length === 0) return;
    const epoch = this.newEpoch(undefined);
    if (epoch === null) return;
    for (const p of recent) {
      if (!this.extend(epoch, p.key, p.at, false)) {
        epoch.closed = true;
        break;
      }
    }
    if (epoch.pending.length === 0 && !epoch.closed) this.epochs = [];
  }

  /**
   * True when the text right of the model's cursor is drawn differently from
   * what typing would print (fish's and zsh-autosuggestions' grey suggestion,
   * which typing consumes rather than shifts: mosh issue 932).
   */
  private suggestionAtCursor(): boolean {
    const m = this.model;
    const cell = m.cursorX < m.cols ? m.cell(m.cursorX, m.cursorY) : null;
    if (cell === null || cell.chars === '' || cell.chars === ' ') return false;
    return sgr(cell.attrs) !== sgr(m.pen);
  }

  private pendingCount(): number {
    let n = 0;
    for (const epoch of this.epochs) n += epoch.pending.length;
    return n;
  }

  private srtt(): number {
    const srtt = this.o.srttMs();
    return Number.isFinite(srtt) ? srtt : 250;
  }

  private timeoutMs(): number {
    return Math.min(5000, Math.max(1000, 4 * this.srtt()));
  }

  private shouldShow(): boolean {
    if (this.o.mode === 'never') return false;
    if (this.o.mode === 'always') return true;
    const now = this.o.now();
    if (this.wrongTimes.length >= SHUN_WRONGS && now - this.wrongTimes[0]! < SHUN_MS) return false;
    const srtt = this.o.srttMs();
    if (!Number.isFinite(srtt)) return false;
    if (srtt >= SHOW_ON_MS) this.showing = true;
    else if (srtt < SHOW_OFF_MS) this.showing = false;
    return this.showing;
  }

  private flag(): boolean {
    const srtt = this.o.srttMs();
    if (!Number.isFinite(srtt)) return this.flagging;
    if (srtt >= FLAG_ON_MS) this.flagging = true;
    else if (srtt < FLAG_OFF_MS) this.flagging = false;
    return this.flagging;
  }
}
