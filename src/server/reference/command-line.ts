import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The reference tssh splits a remote command into words (shlex) and sends
 * the program and its arguments; the reference tsshd runs the program
 * directly when it is found on PATH, and otherwise (a shell builtin such as
 * `cd` or `exit`, or an argument starting with `~/`) joins the words for
 * `sh -c`, quoting only those with white space. Our sessions run a command
 * line with `$SHELL -c`; this builds the line that behaves as the reference
 * would: every word quoted when the reference runs it directly (so `$`, `;`
 * and `*` stay literal, as exec keeps them), the reference's own joining otherwise.
 */
export function referenceCommandLine(name: string, args: readonly string[], pathEnv: string): string {
  const viaShell = name === 'cd' || args.some((a) => a.startsWith('~/')) || !onPath(name, pathEnv);
  if (viaShell) return [name, ...args.map((a) => (/\s/.test(a) ? quoteWord(a) : a))].join(' ');
  return [name, ...args].map(quoteWord).join(' ');
}

/** Quote a word for a POSIX shell; plain words stay as they are. */
function quoteWord(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_./:=,+@%-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Whether `name` is an executable file by itself (a path) or in a PATH directory. */
function onPath(name: string, pathEnv: string): boolean {
  if (name === '') return false;
  const candidates = name.includes('/') ? [name] : pathEnv.split(delimiter).filter((d) => d !== '').map((d) => join(d, name));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}
