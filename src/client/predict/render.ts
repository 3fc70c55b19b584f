/**
 * The bytes that show a predicted row on the user's terminal and take it off
 * again. Drawing touches only the cursor's row, with horizontal moves (CHA)
 * and printable characters, and ends with the cursor and the pen (SGR) put
 * back where the model has them, so that once the remote program's next
 * bytes follow an undraw the terminal is exactly the model.
 */
import type { LineState } from './line-state.js';
import { BLANK, WIDE_TAIL, type Attributes, type ScreenModel } from './screen-model.js';

/** Columns [from, to) of row `y` that a draw changed. */
export interface Drawn {
  y: number;
  runs: Array<[number, number]>;
}

const CSI = '\x1b[';

/** The SGR sequence selecting `a` (from a reset), optionally underlined. */
export function sgr(a: Attributes, underline = false): string {
  const p = ['0'];
  if (a.isBold()) p.push('1');
  if (a.isDim()) p.push('2');
  if (a.isItalic()) p.push('3');
  if (underline || a.isUnderline()) p.push('4');
  if (a.isBlink()) p.push('5');
  if (a.isInverse()) p.push('7');
  if (a.isInvisible()) p.push('8');
  if (a.isStrikethrough()) p.push('9');
  color(p, a.isFgRGB(), a.isFgPalette(), a.getFgColor(), 30, 90, 38);
  color(p, a.isBgRGB(), a.isBgPalette(), a.getBgColor(), 40, 100, 48);
  return `${CSI}${p.join(';')}m`;
}

function color(p: string[], rgb: boolean, palette: boolean, c: number, base: number, bright: number, extended: number): void {
  if (rgb) p.push(`${extended};2;${(c >> 16) & 0xff};${(c >> 8) & 0xff};${c & 0xff}`);
  else if (palette) p.push(c < 8 ? String(base + c) : c < 16 ? String(bright + c - 8) : `${extended};5;${c}`);
}

const column = (x: number): string => `${CSI}${x + 1}G`;

/** Runs of columns where `target` differs from `current`, widened so no wide character is cut in two. */
function changedRuns(current: readonly string[], target: readonly string[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  const cols = current.length;
  let x = 0;
  while (x < cols) {
    if (current[x] === target[x]) {
      x++;
      continue;
    }
    let a = x;
    let b = x + 1;
    while (b < cols && current[b] !== target[b]) b++;
    while (a > 0 && (current[a] === WIDE_TAIL || target[a] === WIDE_TAIL)) a--;
    while (b < cols && (current[b] === WIDE_TAIL || target[b] === WIDE_TAIL)) b++;
    const last = runs[runs.length - 1];
    if (last !== undefined && a <= last[1]) last[1] = b;
    else runs.push([a, b]);
    x = b;
  }
  return runs;
}

/** Draw `overlay` on the cursor's row over what the model shows; returns the bytes and what to undo. */
export function drawOverlay(model: ScreenModel, overlay: LineState, underline: boolean): { bytes: string; drawn: Drawn } {
  const y = model.cursorY;
  const runs = changedRuns(model.row(y), overlay.cells);
  const pen = model.pen;
  const typed = sgr(pen, underline);
  const plain = sgr(pen);
  let out = '';
  for (const [a, b] of runs) {
    out += column(a);
    for (let x = a; x < b; x++) {
      const c = overlay.cells[x]!;
      if (c === WIDE_TAIL) continue;
      out += c === BLANK ? `${plain} ` : `${typed}${c}`;
    }
  }
  out += column(overlay.cursor) + plain;
  return { bytes: out, drawn: { y, runs } };
}

/** Put back the model's cells where a draw changed them, then its cursor column and pen. */
export function undrawOverlay(model: ScreenModel, drawn: Drawn): string {
  let out = '';
  for (const [a, b] of drawn.runs) {
    out += column(a);
    for (let x = a; x < b; x++) {
      const cell = model.cell(x, drawn.y);
      if (cell === null) continue;
      if (cell.width === 0) continue;
      // An empty cell is erased (ECH), not overwritten with a space: copy and reflow see what they would have.
      out += cell.chars === '' ? `${sgr(cell.attrs)}${CSI}X${CSI}C` : `${sgr(cell.attrs)}${cell.chars}`;
    }
  }
  return out + column(model.cursorX) + sgr(model.pen);
}
