/**
 * Unix socket files created with exactly the mode asked for, without
 * switching the process-wide umask (libuv's threads create files meanwhile,
 * and worker threads cannot change it at all).
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { chmod, link, lstat, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107;

/** An error as bind(2) at `path` would report it (the temporary path is ours, not the user's to see). */
function bindError(code: string, what: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`bind ${code}: ${what} ${path}`);
  err.code = code;
  err.syscall = 'bind';
  return err;
}

function inUse(path: string): NodeJS.ErrnoException {
  return bindError('EADDRINUSE', 'address already in use', path);
}

/** The socket file at `path`, as created by bindSocketFile: remove() takes it away only if it is still ours. */
export interface SocketFile {
  remove(): void;
}

/**
 * Bind a socket at `path` whose file has mode 0777 & ~mask from the moment
 * anyone can reach it: `bind` binds at a path inside a fresh 0700 directory
 * beside `path`, the file is chmodded there and then hard-linked into place,
 * which (unlike rename) fails if anything is at `path` already, as bind(2)
 * would. `unbind` closes the socket when that fails. A socket whose name
 * must be `path` (`inPlace`: datagram sockets, whose name is the address
 * replies go to), or whose temporary path would be too long, is bound at
 * `path` and chmodded at once: the same result, except for a moment in which
 * the file has the mode the process umask gives (0755 under the usual 022,
 * which lets no one else connect or send).
 */
export async function bindSocketFile(
  path: string,
  mask: number,
  bind: (at: string) => Promise<void>,
  unbind: () => void,
  /** The socket's bound name is its address (a datagram socket's replies go there): bind at `path` itself. */
  inPlace = false,
): Promise<SocketFile> {
  const mode = 0o777 & ~mask;
  if (await lstat(path).then(() => true, () => false)) throw inUse(path);
  const dir = inPlace ? null : await mkdtemp(join(dirname(path), '.tssh-')).catch((err: NodeJS.ErrnoException) => {
    throw bindError(err.code ?? 'EACCES', err.code === 'ENOENT' ? 'no such file or directory' : 'cannot create the socket in the directory of', path);
  });
  const at = dir === null ? path : join(dir, 's');
  const direct = at === path || Buffer.byteLength(at) > MAX_SOCKET_PATH;
  try {
    await bind(direct ? path : at);
    try {
      await chmod(direct ? path : at, mode);
      if (!direct) {
        await link(at, path).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EEXIST' ? inUse(path) : err;
        });
      }
    } catch (err) {
      unbind();
      throw err;
    }
  } finally {
    if (dir !== null) await rm(dir, { recursive: true, force: true });
  }
  const ino = (await lstat(path)).ino;
  return {
    remove(): void {
      try {
        // Another socket may have taken the path since (a stale-socket unlink): leave that one alone.
        if (lstatSync(path).ino === ino) unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}
