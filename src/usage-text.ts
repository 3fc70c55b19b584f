/**
 * The shape of a command's documented flags, shared by tssh's and tsshd's
 * --help (src/client/tssh-usage.ts, src/server/tsshd-args.ts) and their man
 * pages (src/cli/manual.ts), so each text is rendered from one table.
 */

/** One command-line flag. */
export interface FlagDoc {
  /** Spellings, e.g. ['-h', '--help']. */
  names: readonly string[];
  /** Placeholder for its value, when it takes one. */
  value?: string;
  text: string;
}

/** `-h, --help` or `--port SPEC`. */
export function flagTitle(f: FlagDoc): string {
  return f.names.join(', ') + (f.value !== undefined ? ` ${f.value}` : '');
}

/** Two aligned columns, one row a line. */
export function columns(rows: ReadonlyArray<readonly [string, string]>, indent = 2): string {
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `${' '.repeat(indent)}${left.padEnd(width)}${right}\n`).join('');
}

/** The rows for a flag table. */
export function flagRows(flags: readonly FlagDoc[]): Array<[string, string]> {
  return flags.map((f) => [flagTitle(f), f.text]);
}
