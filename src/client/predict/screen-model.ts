/**
 * The model of the user's screen for predictive echo: a headless xterm fed,
 * synchronously, exactly the bytes the remote side sent (and tssh's own
 * notices), so it always holds what the real terminal shows once our
 * prediction overlay is taken off. Only this file touches xterm's internals
 * (parser state, current attributes, charset, cell width), each read guarded.
 */
import xterm from '@xterm/headless';

/** A cell of a row as the prediction engine compares it. */
export const BLANK = ' ';
/** The right half of a wide (CJK) character. */
export const WIDE_TAIL = '\0';

/** The parts of an xterm attribute set (a cell, or the current pen) that map to SGR. */
export interface Attributes {
  isBold(): number;
  isDim(): number;
  isItalic(): number;
  isUnderline(): number;
  isBlink(): number;
  isInverse(): number;
  isInvisible(): number;
  isStrikethrough(): number;
  isFgRGB(): boolean;
  isFgPalette(): boolean;
  isBgRGB(): boolean;
  isBgPalette(): boolean;
  getFgColor(): number;
  getBgColor(): number;
}

/** What the model needs of xterm's core beyond the public API (v6). */
interface XtermCore {
  writeSync(data: string | Uint8Array): void;
  _inputHandler: {
    getAttrData(): Attributes;
    _parser: { currentState: number };
    _utf8Decoder: { interim: Uint8Array };
  };
  _charsetService: { charset: unknown };
  unicodeService: { getStringCellWidth(s: string): number };
}

/** The parser's ground state: between escape sequences and strings. */
const PARSER_GROUND = 0;

export class ScreenModel {
  private readonly term: InstanceType<typeof xterm.Terminal>;
  private readonly core: XtermCore;

  constructor(cols: number, rows: number) {
    this.term = new xterm.Terminal({ cols, rows, scrollback: 0, allowProposedApi: true, logLevel: 'off' });
    this.core = (this.term as unknown as { _core: XtermCore })._core;
  }

  get cols(): number {
    return this.term.cols;
  }

  get rows(): number {
    return this.term.rows;
  }

  /** Feed bytes the user's terminal received; parsed before this returns. */
  write(data: string | Uint8Array): void {
    this.core.writeSync(data);
  }

  resize(cols: number, rows: number): void {
    this.term.resize(Math.max(2, cols), Math.max(1, rows));
  }

  /** Cursor column (0-based; equal to cols while a wrap is pending) and viewport row. */
  get cursorX(): number {
    return this.term.buffer.active.cursorX;
  }

  get cursorY(): number {
    return this.term.buffer.active.cursorY;
  }

  get altScreen(): boolean {
    return this.term.buffer.active.type === 'alternate';
  }

  /** Row `y` of the viewport as comparable cells: BLANK for empty or space, WIDE_TAIL for a wide character's right half. */
  row(y: number): string[] {
    const buffer = this.term.buffer.active;
    const line = buffer.getLine(buffer.baseY + y);
    const out: string[] = new Array<string>(this.cols).fill(BLANK);
    if (line === undefined) return out;
    for (let x = 0; x < this.cols; x++) {
      const cell = line.getCell(x);
      if (cell === undefined) continue;
      if (cell.getWidth() === 0) out[x] = WIDE_TAIL;
      else {
        const chars = cell.getChars();
        out[x] = chars === '' ? BLANK : chars;
      }
    }
    return out;
  }

  /** The cell at (x, y) of the viewport, for restoring it on the real terminal. */
  cell(x: number, y: number): { chars: string; width: number; attrs: Attributes } | null {
    const buffer = this.term.buffer.active;
    const cell = buffer.getLine(buffer.baseY + y)?.getCell(x);
    if (cell === undefined) return null;
    return { chars: cell.getChars(), width: cell.getWidth(), attrs: cell as unknown as Attributes };
  }

  /** The pen: the attributes the next printed character gets. */
  get pen(): Attributes {
    return this.core._inputHandler.getAttrData();
  }

  /** Columns `text` takes, by the model's width table. */
  width(text: string): number {
    return this.core.unicodeService.getStringCellWidth(text);
  }

  /**
   * True when bytes of our own can go to the terminal now without changing
   * what the remote program's bytes mean: the parser between sequences (not
   * inside an escape, OSC, DCS such as tmux -CC, or a UTF-8 character), no
   * insert mode, the default character set, and no wrap pending.
   */
  get drawable(): boolean {
    const handler = this.core._inputHandler;
    if (handler._parser.currentState !== PARSER_GROUND || handler._utf8Decoder.interim[0] !== 0) return false;
    if (this.core._charsetService.charset !== undefined) return false;
    const modes = this.term.modes;
    if (modes.insertMode) return false;
    return this.cursorX < this.cols;
  }

  /** Arrow keys are sent as ESC O x in application cursor mode. */
  get applicationCursor(): boolean {
    return this.term.modes.applicationCursorKeysMode;
  }

  dispose(): void {
    this.term.dispose();
  }
}
