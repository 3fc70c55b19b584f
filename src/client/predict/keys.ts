/**
 * Typed bytes as the prediction engine sees them: printable text, backspace,
 * cursor left and right, and everything else ("other": Enter, Tab, control
 * keys, other escape sequences, a lone ESC), whose effect cannot be known.
 */
export type Key =
  | { kind: 'text'; text: string }
  | { kind: 'backspace' }
  | { kind: 'left' }
  | { kind: 'right' }
  | { kind: 'other' };

const ESC = 0x1b;

/** Splits a stream of typed bytes into keys; UTF-8 split across reads is joined. */
export class KeyReader {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  push(bytes: Uint8Array): Key[] {
    const s = this.decoder.decode(bytes, { stream: true });
    const keys: Key[] = [];
    let i = 0;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === ESC) {
        const end = escapeEnd(s, i);
        const seq = s.slice(i, end);
        if (seq === '\x1b[D' || seq === '\x1bOD') keys.push({ kind: 'left' });
        else if (seq === '\x1b[C' || seq === '\x1bOC') keys.push({ kind: 'right' });
        else keys.push({ kind: 'other' });
        i = end;
        continue;
      }
      if (c === 0x7f || c === 0x08) keys.push({ kind: 'backspace' });
      else if (c < 0x20 || (c >= 0x80 && c < 0xa0)) keys.push({ kind: 'other' });
      else {
        const cp = s.codePointAt(i)!;
        const text = String.fromCodePoint(cp);
        keys.push({ kind: 'text', text });
        i += text.length;
        continue;
      }
      i++;
    }
    return keys;
  }
}

/** Index just past the escape sequence at `i` (CSI, SS3, or ESC + one character); a lone ESC is one byte. */
function escapeEnd(s: string, i: number): number {
  if (i + 1 >= s.length) return i + 1;
  const next = s[i + 1]!;
  if (next === '[') {
    let j = i + 2;
    while (j < s.length) {
      const c = s.charCodeAt(j);
      j++;
      if (c >= 0x40 && c <= 0x7e) break;
    }
    return j;
  }
  if (next === 'O') return Math.min(s.length, i + 3);
  return i + 2;
}
