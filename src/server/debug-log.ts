import { constants, writeSync } from 'node:fs';
import { lstat, chmod, mkdir, open, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * tsshd's --debug log. After detaching, tsshd has no terminal to write to, so
 * details go to a private file: a 0700 directory, a fresh 0600 file per run.
 * The directory is $XDG_CACHE_HOME/tsshd (default ~/.cache/tsshd) rather
 * than $XDG_RUNTIME_DIR, which logind removes at logout, the moment one
 * usually wants to read why a session ended. Callers never pass the session
 * secret to log().
 */
export class DebugLog {
  private pending: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly handle: FileHandle | null,
    /** The log file, or undefined when logging is off. */
    readonly path: string | undefined,
  ) {}

  /** A log that discards everything (no --debug). */
  static disabled(): DebugLog {
    return new DebugLog(null, undefined);
  }

  /** Create the directory (0700) and a new log file (0600) in it; throws a one-line Error naming the path. */
  static async open(env: Readonly<Record<string, string | undefined>>, pid = process.pid): Promise<DebugLog> {
    const dir = debugLogDirectory(env);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const st = await lstat(dir);
      if (!st.isDirectory()) throw new Error('it is not a directory');
      if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new Error('it belongs to another user');
      // A directory made earlier with looser permissions would expose the file names.
      if ((st.mode & 0o077) !== 0) await chmod(dir, 0o700);
    } catch (err) {
      throw new Error(`tsshd: cannot use ${dir} for the debug log (${oneLine(err)}); fix or remove it, or run without --debug`);
    }
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
    const path = join(dir, `tsshd-${stamp}-${pid}.log`);
    try {
      // O_EXCL and O_NOFOLLOW: never write through a file or link someone prepared.
      const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      await handle.chmod(0o600);
      return new DebugLog(handle, path);
    } catch (err) {
      throw new Error(`tsshd: cannot create the debug log ${path} (${oneLine(err)}); fix ${dir} or run without --debug`);
    }
  }

  /** Whether log() writes anywhere. */
  get enabled(): boolean {
    return this.handle !== null;
  }

  /** Append one timestamped line (newlines in `message` are flattened). */
  log(message: string): void {
    const handle = this.handle;
    if (handle === null || this.closed) return;
    const line = `${new Date().toISOString()} [${process.pid}] ${message.replace(/[\r\n]+/g, ' ')}\n`;
    // Chained so lines land in order; a failing disk loses log lines, never the session.
    this.pending = this.pending.then(() => handle.write(line)).catch(() => undefined);
  }

  /** Append one line synchronously: only for last words before process.exit(), when queued writes would be lost. */
  logNow(message: string): void {
    if (this.handle === null || this.closed) return;
    try {
      writeSync(this.handle.fd, `${new Date().toISOString()} [${process.pid}] ${message.replace(/[\r\n]+/g, ' ')}\n`);
    } catch {
      // Nothing more can be done on the way out.
    }
  }

  /** Write what is pending and close the file. */
  async close(): Promise<void> {
    if (this.handle === null || this.closed) return;
    this.closed = true;
    await this.pending;
    await this.handle.close().catch(() => undefined);
  }
}

/** Where debug logs go: $XDG_CACHE_HOME/tsshd if that is absolute, else ~/.cache/tsshd. */
export function debugLogDirectory(env: Readonly<Record<string, string | undefined>>): string {
  const cache = env.XDG_CACHE_HOME;
  const base = cache && isAbsolute(cache) ? cache : join(env.HOME || homedir(), '.cache');
  return join(base, 'tsshd');
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
