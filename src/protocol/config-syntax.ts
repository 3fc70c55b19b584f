/**
 * The OpenSSH configuration language shared by ssh_config and sshd_config:
 * splitting a line into keyword and arguments, `*`/`?` patterns, pattern lists
 * with negation, time intervals and "did you mean" suggestions. Pure functions.
 */

/** One configuration line split the way OpenSSH splits it. */
export interface ConfigWords {
  /** Keyword in lower case (keywords are case-insensitive). */
  keyword: string;
  /** The keyword as written, for messages. */
  spelled: string;
  /** Arguments after quote removal. */
  args: string[];
}

/** Thrown for a line that cannot be split; the caller adds the file and line. */
export class ConfigSyntaxError extends Error {
  override name = 'ConfigSyntaxError';
}

/**
 * Split one line into keyword and arguments, or return null for a blank or
 * comment line. The keyword ends at whitespace or one `=`; arguments honour
 * double and single quotes and a `#` that starts a word ends the line.
 */
export function splitConfigLine(line: string): ConfigWords | null {
  const text = line.replace(/[\r\n]+$/, '');
  let i = skipSpace(text, 0);
  if (i >= text.length || text[i] === '#') return null;
  const start = i;
  while (i < text.length && !isSpace(text[i]!) && text[i] !== '=') i++;
  const spelled = text.slice(start, i);
  i = skipSpace(text, i);
  if (text[i] === '=') i = skipSpace(text, i + 1);
  return { keyword: spelled.toLowerCase(), spelled, args: splitArgs(text.slice(i)) };
}

/** Split an argument string like OpenSSH's argv_split (quotes, backslashes, `#` comments). */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let i = 0;
  for (;;) {
    i = skipSpace(text, i);
    if (i >= text.length || text[i] === '#') return args;
    let word = '';
    let quote = '';
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (c === '\\') {
        const next = text[i + 1];
        if (next === '"' || next === "'" || next === '\\' || (quote === '' && next === ' ')) {
          word += next;
          i++;
        } else {
          word += c;
        }
      } else if (quote === '' && isSpace(c)) {
        break;
      } else if (quote === '' && (c === '"' || c === "'")) {
        quote = c;
      } else if (quote !== '' && c === quote) {
        quote = '';
      } else {
        word += c;
      }
    }
    if (quote !== '') throw new ConfigSyntaxError(`unterminated ${quote === '"' ? 'double' : 'single'} quote; close it or remove it`);
    args.push(word);
  }
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\f' || c === '\v' || c === '\r' || c === '\n';
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text[i]!)) i++;
  return i;
}

/**
 * OpenSSH's match_pattern: `*` matches any run, `?` one character, everything
 * else literally. Linear-time (one backtrack point), so hostile input cannot hang.
 */
export function matchPattern(value: string, pattern: string): boolean {
  let v = 0;
  let p = 0;
  let starP = -1;
  let starV = 0;
  while (v < value.length) {
    if (p < pattern.length && (pattern[p] === '?' || (pattern[p] !== '*' && pattern[p] === value[v]))) {
      v++;
      p++;
    } else if (p < pattern.length && pattern[p] === '*') {
      starP = p++;
      starV = v;
    } else if (starP >= 0) {
      p = starP + 1;
      v = ++starV;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * OpenSSH's match_pattern_list over a comma-separated list with `!` negation:
 * 1 if some positive pattern matches, -1 if a negated one matches, else 0.
 * With `lower`, both sides are compared in lower case (host names).
 */
export function matchPatternList(value: string, list: string, lower = false): -1 | 0 | 1 {
  const subject = lower ? value.toLowerCase() : value;
  let result: 0 | 1 = 0;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = lower ? raw.slice(negated ? 1 : 0).toLowerCase() : raw.slice(negated ? 1 : 0);
    if (matchPattern(subject, pattern)) {
      if (negated) return -1;
      result = 1;
    }
  }
  return result;
}

const TIME_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * OpenSSH time format (`300`, `5m`, `1h30m`, units s m h d w, case-insensitive)
 * to seconds, or null when malformed.
 */
export function parseTimeInterval(text: string): number | null {
  if (!/^(?:[0-9]+[smhdwSMHDW]?)+$/.test(text)) return null;
  let total = 0;
  for (const m of text.matchAll(/([0-9]+)([smhdwSMHDW]?)/g)) {
    total += Number(m[1]) * TIME_UNITS[m[2]!.toLowerCase()]!;
  }
  return Number.isSafeInteger(total) ? total : null;
}

/** The candidate closest to `word` by edit distance (case-insensitive), for "did you mean". */
export function closestName(word: string, candidates: readonly string[]): string {
  let best = candidates[0] ?? '';
  let bestDistance = Infinity;
  const w = word.toLowerCase().slice(0, 64);
  for (const candidate of candidates) {
    const d = editDistance(w, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

// Optimal string alignment distance: a swapped pair of letters counts as one edit.
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Quote a user-supplied value for a one-line message: JSON string syntax keeps
 * control characters and newlines visible, and long values are cut.
 */
export function quoteValue(value: string, max = 80): string {
  const cut = value.length > max ? `${value.slice(0, max)}...` : value;
  return JSON.stringify(cut).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Replace control and line-separator characters with spaces, so text fits on one line of a message. */
export function oneLine(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.codePointAt(0)!;
    out += code < 0x20 || code === 0x7f || code === 0x85 || code === 0x2028 || code === 0x2029 ? ' ' : c;
  }
  return out;
}
