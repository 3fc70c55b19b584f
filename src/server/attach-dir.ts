/**
 * Where an attachable tsshd puts its control socket, and how the commands
 * that talk to it (`tsshd --list`, `--view`, `--attach`) find the sockets.
 * The directory is the user's own: `$XDG_RUNTIME_DIR/tsshd`, else
 * `~/.local/run/tsshd`, else `$TMPDIR/tsshd-<uid>` (the reference tsshd's
 * order). It must be a real directory (not a symlink) owned by this user;
 * anything wider than 0700 is narrowed to 0700. Each daemon's socket is
 * `socket-<pid>`, mode 0600. Node cannot read a Unix socket peer's
 * credentials (no SO_PEERCRED), so the directory's owner and mode are what
 * keep other users out (docs/TSSHD.md, "Attach").
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** The control socket of the daemon with this pid. */
export const SOCKET_PREFIX = 'socket-';

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function uid(): number {
  return process.getuid?.() ?? -1;
}

/** The directory the reference's order picks, not yet checked or created. */
export function socketDirCandidate(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && runtime !== '' && isDirectory(runtime)) return join(runtime, 'tsshd');
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir();
  if (home !== '') {
    const run = join(home, '.local', 'run');
    if (isDirectory(run)) return join(run, 'tsshd');
    try {
      mkdirSync(run, { recursive: true, mode: 0o700 });
      return join(run, 'tsshd');
    } catch {
      // A read-only home: fall through to the temporary directory.
    }
  }
  return join(tmpdir(), `tsshd-${uid()}`);
}

/**
 * The socket directory, created 0700 if missing and checked: a directory,
 * not a symlink, owned by us, no access for group or others. Throws a
 * one-line Error naming the directory and the problem.
 */
export function socketDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const dir = socketDirCandidate(env);
  let info;
  try {
    info = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`tsshd: cannot read the socket directory ${dir}: ${(err as Error).message}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      info = lstatSync(dir);
    } catch (e) {
      throw new Error(`tsshd: cannot create the socket directory ${dir}: ${(e as Error).message}`);
    }
  }
  if (info.isSymbolicLink()) throw new Error(`tsshd: the socket directory ${dir} is a symlink; remove it`);
  if (!info.isDirectory()) throw new Error(`tsshd: the socket directory ${dir} is not a directory; remove it`);
  if (uid() >= 0 && info.uid !== uid()) {
    throw new Error(`tsshd: the socket directory ${dir} belongs to uid ${info.uid}, not to you (uid ${uid()}); sessions are only listed for their own user`);
  }
  if ((info.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return dir;
}

/** The socket path of the daemon `pid` in `dir`. */
export function socketPath(dir: string, pid: number): string {
  return join(dir, `${SOCKET_PREFIX}${pid}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // EPERM: it runs, as someone else (a reused pid); not ours to list.
    return false;
  }
}

/** The control sockets in `dir` whose daemon still runs, by pid (stale ones are skipped). */
export function listSockets(dir: string): Array<{ pid: number; path: string }> {
  const found: Array<{ pid: number; path: string }> = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith(SOCKET_PREFIX)) continue;
    const digits = name.slice(SOCKET_PREFIX.length);
    if (!/^[0-9]{1,10}$/.test(digits)) continue;
    const pid = Number(digits);
    const path = join(dir, name);
    try {
      if (!lstatSync(path).isSocket() || !alive(pid)) continue;
    } catch {
      continue;
    }
    found.push({ pid, path });
  }
  return found.sort((a, b) => a.pid - b.pid);
}
