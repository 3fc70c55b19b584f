/**
 * One interactive client (ssh, tssh or mosh) in a pty, its output rendered
 * by a headless xterm as a person would see it. Times are taken when output
 * arrives from the pty and credited once the screen shows the change:
 *  - echo: the remote side prints `READY>` and then runs `cat`, so typed keys
 *    are echoed right after the marker; the i-th typed key counts as echoed
 *    when the screen shows the first i+1 typed keys there (mosh's local
 *    predictions count too: that is what the user sees);
 *  - ticks: a remote loop that prints `TICK n`; each new largest n on the
 *    screen is an output event.
 */
import { performance } from 'node:perf_hooks';
import pty from '@lydell/node-pty';
import xterm from '@xterm/headless';

export const READY_MARK = 'READY>';
/** Remote command for echo sessions: the marker, then `cat` in the pty, which echoes what is typed. */
export const ECHO_REMOTE = `printf '\\n\\n\\n${READY_MARK}'; exec cat`;
/** Remote command for output sessions: a counter printed every 100 ms, nobody typing. */
export const TICK_REMOTE = `printf '\\n\\n\\n${READY_MARK}\\n'; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); printf '\\rTICK %d ' $i; sleep 0.1; done`;

/** Keys typed: letters and digits only (no escape characters of any tool). */
const KEYS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export class ScreenSession {
  readonly startedAt = performance.now();
  private readonly proc: pty.IPty;
  private readonly term: xterm.Terminal;
  private exitCode: number | null = null;
  private readonly exitWaiters: Array<() => void> = [];
  private readonly renderWaiters: Array<() => void> = [];
  private text = '';
  /** Keys typed so far and when (ms, performance clock). */
  readonly typed: string[] = [];
  readonly typedAt: number[] = [];
  /** When each typed key was first seen echoed (NaN until then). */
  readonly echoedAt: number[] = [];
  private echoed = 0;
  /** Largest TICK value seen, and when each new largest value appeared. */
  readonly ticks: Array<{ t: number; value: number }> = [];
  private trackTicks = false;
  /** Raw output bytes received. */
  outputBytes = 0;
  /** While set, output is only scanned for this text, not rendered (see watchRaw). */
  private raw: { text: string; tail: string; resolve: (t: number) => void } | null = null;

  constructor(file: string, args: string[], env: Record<string, string>, cols = 220, rows = 30) {
    this.term = new xterm.Terminal({ cols, rows, allowProposedApi: true, scrollback: 0 });
    this.proc = pty.spawn(file, args, { name: 'xterm-256color', cols, rows, env });
    this.proc.onData((d) => {
      const t = performance.now();
      this.outputBytes += d.length;
      const raw = this.raw;
      if (raw) {
        const seen = raw.tail + d;
        if (seen.includes(raw.text)) {
          this.raw = null;
          raw.resolve(t);
        } else raw.tail = seen.slice(-raw.text.length);
        return;
      }
      this.term.write(d, () => this.rendered(t));
    });
    this.proc.onExit(({ exitCode }) => {
      this.exitCode = exitCode;
      for (const w of this.exitWaiters.splice(0)) w();
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  get exited(): boolean {
    return this.exitCode !== null;
  }

  /** The screen as text: rows joined, wrapped rows without a line break. */
  screen(): string {
    return this.text;
  }

  private rendered(t: number): void {
    const buf = this.term.buffer.active;
    let text = '';
    for (let y = 0; y < this.term.rows; y++) {
      const line = buf.getLine(buf.viewportY + y);
      if (!line) continue;
      if (y > 0 && !line.isWrapped) text += '\n';
      text += line.translateToString(true);
    }
    this.text = text;
    if (this.typed.length > this.echoed) this.creditEchoes(t);
    if (this.trackTicks) this.creditTicks(t);
    for (const w of this.renderWaiters.splice(0)) w();
  }

  private creditEchoes(t: number): void {
    const at = this.text.indexOf(READY_MARK);
    if (at < 0) return;
    // Row breaks are ignored: a client that redraws a long line row by row (mosh) leaves no wrap mark.
    const echo = this.text.slice(at + READY_MARK.length).replace(/\n/g, '');
    let n = 0;
    while (n < this.typed.length && echo[n] === this.typed[n]) n++;
    for (let i = this.echoed; i < n; i++) this.echoedAt[i] = t;
    if (n > this.echoed) this.echoed = n;
  }

  private creditTicks(t: number): void {
    let best = this.ticks.length > 0 ? this.ticks[this.ticks.length - 1]!.value : -1;
    let found = false;
    for (const m of this.text.matchAll(/TICK (\d+)/g)) {
      const v = Number(m[1]);
      if (v > best) {
        best = v;
        found = true;
      }
    }
    if (found) this.ticks.push({ t, value: best });
  }

  /** Record TICK values from now on. */
  watchTicks(): void {
    this.trackTicks = true;
  }

  /** Wait until the screen shows `text`; resolves with the arrival time of the output that showed it. Bounded. */
  async waitForText(text: string, timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    let shownAt = NaN;
    while (!this.text.includes(text)) {
      if (this.exited) throw new Error(`session exited (${this.exitCode}) before showing '${text}'; screen: ${JSON.stringify(this.text.trim().slice(-300))}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no '${text}' within ${timeoutMs} ms; screen: ${JSON.stringify(this.text.trim().slice(-300))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.renderWaiters.push(() => {
          clearTimeout(timer);
          shownAt = performance.now();
          resolve();
        });
      });
    }
    return Number.isNaN(shownAt) ? performance.now() : shownAt;
  }

  /**
   * Stop rendering and scan the raw output for `text`; resolves with the
   * arrival time of the output that completed it (NaN after `timeoutMs`).
   * For floods, where a headless xterm in this process would be the slowest
   * part: this times the bytes reaching the client's terminal, as a fast
   * terminal would show them. The screen is stale afterwards.
   */
  watchRaw(text: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.raw = null;
        resolve(NaN);
      }, timeoutMs);
      this.raw = { text, tail: '', resolve: (t) => (clearTimeout(timer), resolve(t)) };
    });
  }

  /** Type the next key of the cycle; returns its index. */
  typeKey(): number {
    const i = this.typed.length;
    const key = KEYS[i % KEYS.length]!;
    this.typed.push(key);
    this.typedAt.push(performance.now());
    this.echoedAt.push(NaN);
    this.proc.write(key);
    return i;
  }

  /** Echo latencies (ms) of keys [from, to); NaN for keys not echoed. */
  latencies(from = 0, to = this.typed.length): number[] {
    const out: number[] = [];
    for (let i = from; i < to; i++) out.push(this.echoedAt[i]! - this.typedAt[i]!);
    return out;
  }

  get echoedCount(): number {
    return this.echoed;
  }

  write(data: string): void {
    if (!this.exited) this.proc.write(data);
  }

  /** Wait (bounded) for the client to exit; true if it did. */
  waitExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** End an echo session politely (end of line, end of input), then by PID if it lingers. */
  async close(timeoutMs = 5000): Promise<void> {
    this.write('\r\x04');
    if (!(await this.waitExit(timeoutMs))) this.kill();
    this.term.dispose();
  }

  kill(): void {
    if (this.exited) return;
    try {
      this.proc.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
