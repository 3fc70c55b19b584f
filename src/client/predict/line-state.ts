/**
 * One row of the screen and the cursor on it, and what a typed key is
 * predicted to do to them when the program echoes like a line editor
 * (readline, zle, fish, the tty's own echo, vim's insert mode): text is
 * inserted at the cursor, backspace deletes the character before it, the
 * arrows move over the text. A key with no safe prediction yields null.
 */
import type { Key } from './keys.js';
import { BLANK, WIDE_TAIL } from './screen-model.js';

export interface LineState {
  /** Every column of the row: a character, BLANK, or WIDE_TAIL. */
  readonly cells: readonly string[];
  /** Cursor column, always < cols - 1 for a predicted state. */
  readonly cursor: number;
}

export interface KeyContext {
  /** Columns a text takes on the screen. */
  width(text: string): number;
  /** Backspace and left never go left of this column (where typing started on this row). */
  minCol: number;
  /** In the alternate screen only text typed at the end of the line is predicted. */
  alt: boolean;
}

export function sameState(a: LineState, b: LineState): boolean {
  if (a.cursor !== b.cursor || a.cells.length !== b.cells.length) return false;
  for (let i = 0; i < a.cells.length; i++) if (a.cells[i] !== b.cells[i]) return false;
  return true;
}

/** Index of the last non-blank cell at or after `from`, or -1. */
function lastUsed(cells: readonly string[], from: number): number {
  for (let i = cells.length - 1; i >= from; i--) if (cells[i] !== BLANK) return i;
  return -1;
}

/**
 * True when the text right of the cursor is one run the editor will shift
 * (no two blanks in a row from the cursor to `used`): not, say,
 * zsh's right prompt, which stays where it is.
 */
function textFromCursor(cells: readonly string[], cursor: number, used: number): boolean {
  for (let i = cursor; i < used; i++) if (cells[i] === BLANK && cells[i + 1] === BLANK) return false;
  return true;
}

/** The state after `key`, or null when the key's effect is not predicted. */
export function applyKey(state: LineState, key: Key, ctx: KeyContext): LineState | null {
  const { cells, cursor } = state;
  const cols = cells.length;
  if (cells[cursor] === WIDE_TAIL) return null;
  switch (key.kind) {
    case 'text': {
      const w = ctx.width(key.text);
      if (w < 1 || w > 2) return null;
      const used = lastUsed(cells, cursor);
      if (used >= 0 && (ctx.alt || !textFromCursor(cells, cursor, used))) return null;
      // Never reach the last column: a wrap there is the program's business (and the terminal's pending-wrap state).
      const end = Math.max(cursor, used + 1) + w;
      if (end > cols - 1) return null;
      const next = cells.slice(0, cursor);
      next.push(key.text);
      if (w === 2) next.push(WIDE_TAIL);
      next.push(...cells.slice(cursor, cols - w));
      return { cells: next, cursor: cursor + w };
    }
    case 'backspace': {
      if (ctx.alt || cursor <= ctx.minCol) return null;
      const from = cells[cursor - 1] === WIDE_TAIL ? cursor - 2 : cursor - 1;
      if (from < ctx.minCol) return null;
      const next = cells.slice(0, from).concat(cells.slice(cursor));
      while (next.length < cols) next.push(BLANK);
      return { cells: next, cursor: from };
    }
    case 'left': {
      if (ctx.alt || cursor <= ctx.minCol) return null;
      const to = cells[cursor - 1] === WIDE_TAIL ? cursor - 2 : cursor - 1;
      return to < ctx.minCol ? null : { cells, cursor: to };
    }
    case 'right': {
      if (ctx.alt || cells[cursor] === BLANK) return null;
      const to = cells[cursor + 1] === WIDE_TAIL ? cursor + 2 : cursor + 1;
      return to > cols - 2 ? null : { cells, cursor: to };
    }
    case 'other':
      return null;
  }
}
