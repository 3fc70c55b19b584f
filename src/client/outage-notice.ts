/**
 * The connection-lost notice: its text (pure) and the escape sequences that put
 * it on screen, refreshed once a second while shown.
 *
 * On top (ShowNotificationOnTop yes): saved cursor, the notice in reverse video
 * on row 1 (and row 2 in full mode), cursor restored; nothing else on screen is
 * touched. What was under those rows cannot be known, so hiding clears them and
 * reports `needsRedraw` for the caller to ask the remote application to repaint.
 * At the cursor (ShowNotificationOnTop no): the notice is written on lines of
 * its own below the cursor, rewritten in place, and a closing line says when
 * the connection is back.
 */
import { describeEscapeChar } from './escape-keys.js';

const ESC = '\x1b';
const SAVE_CURSOR = `${ESC}7`;
const RESTORE_CURSOR = `${ESC}8`;
const REVERSE = `${ESC}[0;7m`;
const PLAIN = `${ESC}[0m`;
const ERASE_LINE = `${ESC}[2K`;
const ERASE_TO_EOL = `${ESC}[K`;

/** Refresh period of the shown notice: the elapsed time it displays has a one-second resolution. */
export const NOTICE_REFRESH_MS = 1000;

/** Facts about the outage, supplied by the connection when it shows the notice. */
export interface OutageState {
  /** Clock time of the last datagram heard from the server. */
  lostSinceMs: number;
  /** tssh gives up at lostSinceMs + this (UdpAliveTimeout); 0 or Infinity for never. */
  aliveTimeoutMs: number;
  /** Server address as `host:port`. */
  serverAddress: string;
  /** What is being tried now, e.g. `new UDP path from 192.0.2.7:50123`. */
  trying: string;
}

/** Everything renderNotice needs. */
export interface NoticeInput extends OutageState {
  nowMs: number;
  /** ShowFullNotifications: two lines of detail instead of one short line. */
  full: boolean;
  /** The escape character, for the quit hint; null when escapes are disabled. */
  escapeChar: number | null;
  /** UdpReconnectExitKey (default Ctrl+D), or null for none; in attach mode it detaches. */
  exitKey?: { key: number | null; detach: boolean };
}

/** `m:ss` below an hour, `h:mm:ss` from an hour up; negative durations show as 0:00. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** How to quit (or detach), naming the escape only when escapes are enabled. */
function quitHint(escapeChar: number | null, exitKey: { key: number | null; detach: boolean } = { key: 0x04, detach: false }): string {
  const key = exitKey.key === null ? null : `Ctrl+${String.fromCharCode(0x40 + exitKey.key)}`;
  const escape = escapeChar === null ? null : `${describeEscapeChar(escapeChar)}.`;
  if (exitKey.detach) return [key === null ? null : `${key} to detach`, escape === null ? null : `${escape} to quit`].filter((p) => p !== null).join(', ') || 'waiting';
  const keys = [key, escape].filter((p) => p !== null);
  return keys.length === 0 ? 'waiting' : `${keys.join(' or ')} to quit`;
}

/** Text from the network may hold control bytes; they must not reach the terminal. */
function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    out += c < 0x20 || (c >= 0x7f && c <= 0x9f) ? '?' : ch;
  }
  return out;
}

/** The notice's lines, without escape sequences: one line, or two in full mode. */
export function renderNotice(input: NoticeInput): string[] {
  const lost = formatDuration(input.nowMs - input.lostSinceMs);
  const quit = quitHint(input.escapeChar, input.exitKey);
  if (!input.full) return [`tssh: connection lost ${lost}, reconnecting... (${quit})`];
  const limited = input.aliveTimeoutMs > 0 && Number.isFinite(input.aliveTimeoutMs);
  const left = input.lostSinceMs + input.aliveTimeoutMs - input.nowMs;
  const giveUp = !limited ? '' : left > 0 ? ` Giving up in ${formatDuration(left + 999)}.` : ' Giving up now.';
  return [
    `tssh: no reply from ${printable(input.serverAddress)} for ${lost}; trying ${printable(input.trying)}`,
    `tssh: ${quit}; keys typed now are discarded.${giveUp}`,
  ];
}

/** Cut or pad a line to exactly `cols` characters. */
function fit(line: string, cols: number): string {
  return line.length >= cols ? line.slice(0, cols) : line.padEnd(cols);
}

/** Bytes that draw `lines` in reverse video over the top rows and put the cursor and attributes back. */
export function topNoticeBytes(lines: readonly string[], cols: number): string {
  let s = SAVE_CURSOR;
  lines.forEach((line, i) => {
    s += `${ESC}[${i + 1};1H${REVERSE}${fit(line, cols)}${PLAIN}`;
  });
  return s + RESTORE_CURSOR;
}

/** Bytes that blank the top `rows` rows and put the cursor and attributes back. */
export function clearTopBytes(rows: number): string {
  let s = SAVE_CURSOR + PLAIN;
  for (let i = 0; i < rows; i++) s += `${ESC}[${i + 1};1H${ERASE_LINE}`;
  return s + RESTORE_CURSOR;
}

/** Bytes that write `lines` on new lines below the cursor; the cursor ends on the last one. */
export function atCursorShowBytes(lines: readonly string[], cols: number): string {
  return '\r\n' + lines.map((l) => fit(l, cols).trimEnd() + ERASE_TO_EOL).join('\r\n');
}

/** Bytes that rewrite, in place, lines written by atCursorShowBytes with the cursor on the last one. */
export function atCursorUpdateBytes(lines: readonly string[], cols: number): string {
  const up = lines.length > 1 ? `${ESC}[${lines.length - 1}A` : '';
  return '\r' + up + lines.map((l) => fit(l, cols).trimEnd() + ERASE_TO_EOL).join('\r\n');
}

/** Timer functions, injectable so tests drive the refresh by hand. */
export interface NoticeTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** How the notice is shown and where its bytes go. */
export interface OutageNoticeOptions {
  /** Writes to the local terminal (stdout). */
  write: (text: string) => void;
  now?: () => number;
  /** ShowFullNotifications (default true). */
  full?: boolean;
  /** ShowNotificationOnTop (default true). */
  onTop?: boolean;
  /** Escape character for the quit hint; null when disabled. Default `~`. */
  escapeChar?: number | null;
  /** Terminal width at the time of drawing (default 80). */
  columns?: () => number;
  timers?: NoticeTimers;
  /** UdpReconnectExitKey and whether it detaches (default Ctrl+D, quits). */
  exitKey?: { key: number | null; detach: boolean };
}

/** What the caller must do after hiding the notice. */
export interface HideResult {
  /** The top rows were blanked: ask the remote application to repaint (e.g. send a window-change). */
  needsRedraw: boolean;
}

const DEFAULT_TIMERS: NoticeTimers = {
  setInterval: (fn, ms) => {
    const t = setInterval(fn, ms);
    // The notice alone must not keep tssh alive.
    t.unref();
    return t;
  },
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
};

/**
 * The connection-lost notice on the local terminal. show() draws it and starts
 * the once-a-second refresh (one timer, only while shown); show() again while
 * shown takes new facts; hide() removes it.
 */
export class OutageNotice {
  private readonly write: (text: string) => void;
  private readonly now: () => number;
  private readonly full: boolean;
  private readonly onTop: boolean;
  private readonly escapeChar: number | null;
  private readonly columns: () => number;
  private readonly timers: NoticeTimers;
  private readonly exitKey: { key: number | null; detach: boolean } | undefined;
  private state: OutageState | null = null;
  private timer: unknown = null;
  /** Number of lines currently drawn. */
  private drawn = 0;

  constructor(options: OutageNoticeOptions) {
    this.write = options.write;
    this.now = options.now ?? Date.now;
    this.full = options.full ?? true;
    this.onTop = options.onTop ?? true;
    this.escapeChar = options.escapeChar === undefined ? 0x7e : options.escapeChar;
    this.columns = options.columns ?? (() => 80);
    this.timers = options.timers ?? DEFAULT_TIMERS;
    this.exitKey = options.exitKey;
  }

  /** True while the notice is on screen. */
  get visible(): boolean {
    return this.state !== null;
  }

  /** Show the notice, or refresh it with new facts when already shown. */
  show(state: OutageState): void {
    const wasShown = this.state !== null;
    this.state = { ...state };
    if (wasShown) {
      this.update();
      return;
    }
    const lines = this.lines(this.now());
    this.write(this.onTop ? topNoticeBytes(lines, this.cols()) : atCursorShowBytes(lines, this.cols()));
    this.drawn = lines.length;
    this.timer = this.timers.setInterval(() => this.update(), NOTICE_REFRESH_MS);
  }

  /** Redraw with the time as of `nowMs` (default: the clock). No-op when hidden. */
  update(nowMs: number = this.now()): void {
    if (this.state === null) return;
    const lines = this.lines(nowMs);
    this.write(this.onTop ? topNoticeBytes(lines, this.cols()) : atCursorUpdateBytes(lines, this.cols()));
  }

  /** Remove the notice and stop the refresh. Idempotent. */
  hide(): HideResult {
    const state = this.state;
    if (state === null) return { needsRedraw: false };
    this.state = null;
    this.timers.clearInterval(this.timer);
    this.timer = null;
    if (this.onTop) {
      this.write(clearTopBytes(this.drawn));
      return { needsRedraw: true };
    }
    this.write(`\r\ntssh: connection is back after ${formatDuration(this.now() - state.lostSinceMs)}\r\n`);
    return { needsRedraw: false };
  }

  private lines(nowMs: number): string[] {
    // Shown state is non-null here: callers check first.
    const state = this.state as OutageState;
    return renderNotice({ ...state, nowMs, full: this.full, escapeChar: this.escapeChar, ...(this.exitKey !== undefined ? { exitKey: this.exitKey } : {}) });
  }

  private cols(): number {
    const c = this.columns();
    return Number.isFinite(c) && c >= 1 ? Math.floor(c) : 80;
  }
}
