/**
 * The thin file-reading side of config parsing: glob(7) expansion for `Include`
 * and reading files. Synchronous on purpose: it runs once at start-up, before
 * any connection exists. Everything that interprets the text lives elsewhere.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A configuration file's path and text. */
export interface ConfigText {
  path: string;
  text: string;
}

/** Reads the files an `Include` pattern (already absolute) names, in lexical order. */
export type IncludeReader = (absolutePattern: string) => ConfigText[];

/** Files bigger than this are refused: configs are small, and this bounds memory. */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;

/** Read a config file, or undefined if it does not exist; other failures throw one line. */
export function readConfigFile(path: string): string | undefined {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) return undefined;
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new Error(`cannot read ${path}: ${(err as Error).message.split('\n')[0]}; check its permissions`);
  }
  if (size > MAX_CONFIG_FILE_BYTES) throw new Error(`${path} is larger than 4 MiB; is it really a config file?`);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message.split('\n')[0]}; check its permissions`);
  }
}

/** The default include reader: glob expansion, then each existing regular file. */
export const readIncludedFiles: IncludeReader = (absolutePattern) => {
  const out: ConfigText[] = [];
  for (const path of globFiles(absolutePattern)) {
    const text = readConfigFile(path);
    if (text !== undefined) out.push({ path, text });
  }
  return out;
};

/**
 * Expand an absolute glob(7) pattern (`*`, `?`, `[...]` per path segment) to the
 * existing paths it names, sorted; a wildcard does not match a leading dot.
 */
export function globFiles(pattern: string): string[] {
  const segments = pattern.split('/');
  let found = [segments[0] === '' ? '/' : segments[0]!];
  for (const segment of segments.slice(1)) {
    if (segment === '') continue;
    const next: string[] = [];
    for (const dir of found) {
      if (!/[*?[]/.test(segment)) {
        next.push(join(dir, segment));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      const matcher = globSegmentRegExp(segment);
      for (const name of names.sort()) {
        if (name.startsWith('.') && !segment.startsWith('.')) continue;
        if (matcher.test(name)) next.push(join(dir, name));
      }
    }
    found = next;
  }
  return found.filter((path) => {
    try {
      statSync(path);
      return true;
    } catch {
      return false;
    }
  });
}

/** One glob segment as an anchored regular expression (exported for tests). */
export function globSegmentRegExp(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) {
        source += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      source += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else source += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  try {
    return new RegExp(`^${source}$`, 'u');
  } catch {
    // A malformed class such as [z-a]: treat the whole segment literally.
    return new RegExp(`^${segment.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'u');
  }
}
