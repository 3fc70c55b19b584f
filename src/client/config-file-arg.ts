/**
 * `-F file` as ssh takes it: any file ssh can open and read, not only a
 * regular file. /dev/null, a directory (read as empty, as ssh's fopen+getline
 * does) and a pipe (`-F <(...)`, a FIFO) all work. A pipe can be read only
 * once while tssh, `ssh -G` and the login ssh each read the file, so its text
 * is read once here and the others are given a private copy (a 0600 file in a
 * 0700 temp dir, removed when tssh exits).
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CONFIG_FILE_BYTES } from '../protocol/config-files.js';
import { quoteValue } from '../protocol/config-syntax.js';
import type { SshArgs } from './ssh-args.js';

/** What `-F` gave: its text, and the argv to use from now on (the value replaced by a copy for a pipe). */
export interface ConfigFileArg {
  text: string;
  argv: string[];
}

/** `~` or `~/...` in -F, as ssh expands it. */
export function resolveConfigFileArg(path: string, home: string): string {
  if (path === '~' || path.startsWith('~/')) return join(home, path.slice(1));
  return path;
}

/**
 * Read the -F file once. Returns undefined when there is no -F (or `-F none`).
 * Throws one line when it cannot be opened, as ssh refuses it.
 */
export function readConfigFileArg(argv: readonly string[], parsed: SshArgs, home: string): ConfigFileArg | undefined {
  const value = parsed.configFile;
  if (value === undefined || value === 'none') return undefined;
  const path = resolveConfigFileArg(value, home);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message.split('\n')[0];
    throw new Error(`tssh: cannot open -F file ${quoteValue(value)}: ${why}; check the path`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return { text: '', argv: [...argv] };
    const text = readBounded(fd, value);
    if (st.isFile() || st.isCharacterDevice() || st.isBlockDevice()) return { text, argv: [...argv] };
    // A pipe or socket: what was read is gone for the next reader.
    return { text, argv: replaceConfigValue(argv, parsed, privateCopy(text)) };
  } finally {
    closeSync(fd);
  }
}

function readBounded(fd: number, shown: string): string {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((err as NodeJS.ErrnoException).code === 'EISDIR') return '';
      throw new Error(`tssh: cannot read -F file ${quoteValue(shown)}: ${(err as Error).message.split('\n')[0]}`);
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_CONFIG_FILE_BYTES) throw new Error(`tssh: -F file ${quoteValue(shown)} is larger than 4 MiB; is it really a config file?`);
    chunks.push(chunk.subarray(0, n));
  }
  return Buffer.concat(chunks).toString('utf8');
}

let copyDir: string | null = null;

/** Write `text` to a private file that goes away when tssh exits. */
function privateCopy(text: string): string {
  if (copyDir === null) {
    const dir = mkdtempSync(join(tmpdir(), 'tssh-config-'));
    copyDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const path = join(copyDir, `ssh_config.${process.pid}.${Date.now()}`);
  writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
  return path;
}

/** argv with the last -F's value (the one ssh uses) replaced by `path`. */
function replaceConfigValue(argv: readonly string[], parsed: SshArgs, path: string): string[] {
  const out = [...argv];
  const use = [...parsed.letters].reverse().find((l) => l.letter === 'F');
  if (use === undefined) return out;
  if (use.separateValue) out[use.argIndex + 1] = path;
  else out[use.argIndex] = out[use.argIndex]!.slice(0, use.charIndex + 1) + path;
  return out;
}
