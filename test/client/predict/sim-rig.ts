/**
 * A simulated link for the predictive echo unit tests: a simulated clock,
 * keys reaching a fake line editor half an RTT after they are typed, its
 * output reaching PredictiveEcho half an RTT later, and a second headless
 * xterm standing for the user's terminal, fed every byte tssh writes.
 */
import xterm from '@xterm/headless';
import { PredictiveEcho } from '../../../src/client/predict/predictive-echo.js';
import type { PredictMode } from '../../../src/client/predict/mode.js';

type Term = InstanceType<typeof xterm.Terminal>;

function writeSync(term: Term, data: string | Uint8Array): void {
  (term as unknown as { _core: { writeSync(d: string | Uint8Array): void } })._core.writeSync(data);
}

/** Every cell's text and attributes, and the cursor: two terminals showing the same thing have equal snapshots. */
export function snapshot(term: Term): string {
  const buffer = term.buffer.active;
  const rows: string[] = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.baseY + y)!;
    let row = '';
    for (let x = 0; x < term.cols; x++) {
      const c = line.getCell(x)!;
      const chars = c.getChars() === '' ? ' ' : c.getChars();
      row += `${chars}${c.getWidth()}:${c.getFgColorMode()}/${c.getFgColor()}/${c.getBgColorMode()}/${c.getBgColor()}/${c.isBold()}${c.isUnderline()}${c.isInverse()}|`;
    }
    rows.push(row);
  }
  return `${rows.join('\n')}\ncursor ${buffer.cursorX},${buffer.cursorY} ${buffer.type}`;
}

export function screenText(term: Term): string {
  const buffer = term.buffer.active;
  const out: string[] = [];
  for (let y = 0; y < term.rows; y++) out.push(buffer.getLine(buffer.baseY + y)!.translateToString(true).trimEnd());
  return out.join('\n');
}

/** Columns of `s` for the fake editor: CJK two, combining marks none. */
function cells(s: string): number {
  let n = 0;
  for (const ch of s) n += /[\u0300-\u036f]/.test(ch) ? 0 : /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60]/.test(ch) ? 2 : 1;
  return n;
}

/** A line editor like readline: inserts at the cursor, backspace, arrows, Enter runs the line; echo can be off. */
export class FakeEditor {
  line = '';
  cursor = 0;
  echo = true;
  /** Called with the line on Enter; returns the output before the next prompt. */
  onEnter: (line: string) => string = () => '';
  /** Echo typed text as this instead (a program that prints something else). */
  mapEcho: (text: string) => string = (t) => t;
  prompt = '$ ';

  key(k: string): string {
    if (k === '\r') {
      const line = this.line;
      this.line = '';
      this.cursor = 0;
      const out = this.onEnter(line);
      return `\r\n${out}${this.prompt}`;
    }
    if (!this.echo) {
      if (k !== '\x7f') this.line += k;
      return '';
    }
    const chars = [...this.line];
    if (k === '\x7f') {
      if (this.cursor === 0) return '\x07';
      const gone = chars.splice(this.cursor - 1, 1)[0]!;
      this.cursor--;
      this.line = chars.join('');
      const rest = chars.slice(this.cursor).join('');
      const w = cells(gone);
      return `${'\b'.repeat(w)}${rest}${' '.repeat(w)}${'\b'.repeat(cells(rest) + w)}`;
    }
    if (k === '\x1b[D') {
      if (this.cursor === 0) return '';
      this.cursor--;
      return '\b'.repeat(cells(chars[this.cursor]!));
    }
    if (k === '\x1b[C') {
      if (this.cursor >= chars.length) return '';
      return chars[this.cursor++]!;
    }
    chars.splice(this.cursor, 0, k);
    this.cursor++;
    this.line = chars.join('');
    const rest = chars.slice(this.cursor).join('');
    return this.mapEcho(k) + rest + (rest.length > 0 ? `\x1b[${cells(rest)}D` : '');
  }
}

export interface RigOptions {
  mode?: PredictMode;
  cols?: number;
  rows?: number;
  rttMs?: number;
}

export class SimRig {
  now = 0;
  readonly terminal: Term;
  readonly echo: PredictiveEcho;
  readonly editor = new FakeEditor();
  /** Every byte written to the user's terminal. */
  written = '';
  private events: Array<{ at: number; seq: number; run: () => void }> = [];
  private seq = 0;
  readonly rttMs: number;

  constructor(o: RigOptions = {}) {
    const cols = o.cols ?? 40;
    const rows = o.rows ?? 8;
    this.rttMs = o.rttMs ?? 100;
    this.terminal = new xterm.Terminal({ cols, rows, scrollback: 0, allowProposedApi: true, logLevel: 'off' });
    this.echo = new PredictiveEcho({
      mode: o.mode ?? 'always',
      cols,
      rows,
      srttMs: () => this.rttMs,
      now: () => this.now,
      write: (data, done) => {
        this.written += typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
        writeSync(this.terminal, data);
        done?.();
      },
      setTimer: (fn, ms) => this.at(this.now + ms, fn),
      clearTimer: (t) => (this.events = this.events.filter((e) => e !== t)),
    });
  }

  private at(time: number, run: () => void): object {
    const event = { at: time, seq: this.seq++, run };
    this.events.push(event);
    return event;
  }

  /** Cut remote output into chunks of this many bytes (0: whole). */
  splitEvery = 0;

  /** Output from the remote program, arriving now. */
  remote(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    if (this.splitEvery <= 0) {
      this.echo.remote(bytes);
      return;
    }
    for (let i = 0; i < bytes.length; i += this.splitEvery) this.echo.remote(bytes.subarray(i, i + this.splitEvery));
  }

  /** A prediction is drawn on the terminal now. */
  get overlayDrawn(): boolean {
    return (this.echo as unknown as { drawn: unknown }).drawn !== null;
  }

  /** Type keys (one key per string) now; the editor gets them half an RTT later and answers half an RTT after that. */
  type(...keys: string[]): void {
    for (const k of keys) {
      this.echo.typed(Buffer.from(k, 'utf8'));
      this.at(this.now + this.rttMs / 2, () => {
        const out = this.editor.key(k);
        if (out !== '') this.at(this.now + this.rttMs / 2, () => this.remote(out));
      });
    }
  }

  /** Let simulated time pass, running what falls due. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      this.events.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.events[0];
      if (next === undefined || next.at > end) break;
      this.events.shift();
      this.now = Math.max(this.now, next.at);
      next.run();
    }
    this.now = end;
  }

  /** Type keys `gapMs` apart. */
  typeSlowly(gapMs: number, ...keys: string[]): void {
    for (const k of keys) {
      this.type(k);
      this.advance(gapMs);
    }
  }

  /** True when the terminal shows exactly the model (cells, attributes, cursor). */
  get identical(): boolean {
    return snapshot(this.terminal) === snapshot(this.modelTerm());
  }

  modelTerm(): Term {
    return (this.echo.model as unknown as { term: Term }).term;
  }
}
