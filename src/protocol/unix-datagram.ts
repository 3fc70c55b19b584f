/**
 * Unix datagram sockets (AF_UNIX, SOCK_DGRAM: Go's "unixgram"), which
 * node:dgram lacks, for UDP forwards to and from Unix sockets
 * (docs/FORWARDING.md#unix-datagram-sockets). The sockets come from the
 * optional native package `unix-dgram` (built by node-gyp when installed);
 * without it, these forwards are refused with one line and nothing else
 * changes.
 *
 * Sockets are only bound and sent to with sendto(), never connect()ed: the
 * package turns a pending socket error into an exception on receive, and an
 * unconnected AF_UNIX datagram socket never has one.
 */
import { rmSync, unlinkSync } from 'node:fs';
import { lstat, mkdtemp, unlink } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireNative } from '../native-addons.js';
import { bindSocketFile } from './socket-file.js';

/** Longest socket path the kernel takes (sun_path is 108 bytes with the final NUL on Linux). */
export const MAX_UNIX_DGRAM_PATH = 107;

/** The parts of unix-dgram's socket we use. */
interface NativeSocket {
  bind(path: string): void;
  send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error) => void): void;
  close(): void;
  on(event: 'message', listener: (msg: Buffer, rinfo: { path: string | null }) => void): void;
  on(event: 'error' | 'listening', listener: (err: Error) => void): void;
  once(event: 'error' | 'listening', listener: (err?: Error) => void): void;
  removeAllListeners(event: string): void;
}

interface NativeModule {
  createSocket(type: 'unix_dgram'): NativeSocket;
}

let native: NativeModule | null | undefined;
let missing = '';

/** The package, loaded on first use; null (with the reason in `missing`) if it is not installed or did not build. */
function load(): NativeModule | null {
  if (native !== undefined) return native;
  try {
    native = requireNative('unix-dgram') as NativeModule;
  } catch (err) {
    native = null;
    missing = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  }
  return native;
}

/** Null when Unix datagram sockets are available here, else one line saying why not and what to do. */
export function unixDatagramUnavailable(): string | null {
  if (load()) return null;
  return `Unix datagram sockets need the optional package unix-dgram, which is not installed or did not build (${missing}); reinstall with a C++ compiler, make and python3 present`;
}

/** The text of a unix-dgram error (its code is a negative errno), as strerror would say it. */
export function describeUnixDatagramError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number' || typeof code === 'string') {
    // The native module reports negative errno numbers; file system calls report names.
    const name = typeof code === 'string' ? code : Object.entries(constants.errno).find(([, n]) => n === -code)?.[0];
    switch (name) {
      case 'ENOENT':
        return 'no such file or directory';
      case 'ECONNREFUSED':
        return 'connection refused (nothing is bound there)';
      case 'EACCES':
      case 'EPERM':
        return 'permission denied';
      case 'EADDRINUSE':
        return 'address already in use';
      case 'EAGAIN':
        return 'the receiver is not keeping up';
      case 'EMSGSIZE':
        return 'datagram too large';
      case 'ENOTDIR':
        return 'not a directory';
      default:
        if (name) return name;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

function checkPath(path: string): void {
  if (Buffer.byteLength(path) > MAX_UNIX_DGRAM_PATH) throw new Error(`socket path ${path} is longer than ${MAX_UNIX_DGRAM_PATH} bytes`);
}

/** Socket files we bound and have not removed: removed at exit too, so an ended tssh/tsshd leaves none behind. */
const boundPaths = new Set<string>();
/** Private directories we made for sockets. */
const privateDirs = new Set<string>();
let exitHook = false;

function removeAtExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const path of boundPaths) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
    for (const dir of privateDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** A bound Unix datagram socket. */
export interface UnixDatagramSocket {
  /** The path it is bound to. */
  readonly path: string;
  /** Send one datagram to the socket at `to`; `done` gets the error if it could not be sent (the datagram is then lost). */
  send(payload: Buffer, to: string, done: (err?: Error) => void): void;
  /** Close the socket and remove its file. */
  close(): void;
}

/** How to create a listening socket file (StreamLocalBindMask and StreamLocalBindUnlink, as for stream sockets). */
export interface UnixDatagramBindOptions {
  /** Permission bits removed from the socket file (default 0177: owner only). */
  mask?: number;
  /** Remove a stale socket file at the path first (only a socket: a regular file is reported). */
  unlink?: boolean;
}

/**
 * Bind a Unix datagram socket at `path`. `onMessage` gets each datagram and
 * the sender's socket path, or null for a sender with no path (an unbound
 * or autobound socket: it cannot be answered).
 */
export async function bindUnixDatagram(path: string, onMessage: (msg: Buffer, from: string | null) => void, options: UnixDatagramBindOptions = {}): Promise<UnixDatagramSocket> {
  const mod = load();
  if (!mod) throw new Error(unixDatagramUnavailable()!);
  checkPath(path);
  const mask = options.mask ?? 0o177;
  if (options.unlink) {
    const info = await lstat(path).catch(() => null);
    if (info?.isSocket()) await unlink(path).catch(() => undefined);
  }
  const socket = mod.createSocket('unix_dgram');
  // Created with the mode asked for from the start, without the process-wide umask (socket-file.ts).
  const file = await bindSocketFile(
    path,
    mask,
    async (at) => {
      let bindError: Error | undefined;
      socket.once('error', (err) => (bindError = err));
      socket.bind(at); // synchronous: failures are emitted before it returns
      socket.removeAllListeners('error');
      if (bindError) {
        socket.close();
        throw bindError;
      }
    },
    () => socket.close(),
    true,
  );
  boundPaths.add(path);
  removeAtExit();
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    try {
      socket.close();
    } catch {
      // close(2) failed: the descriptor is gone either way
    }
    if (boundPaths.delete(path)) file.remove();
  };
  socket.on('error', () => undefined);
  socket.on('message', (msg, rinfo) => onMessage(msg, rinfo.path));
  return {
    path,
    send(payload, to, done) {
      if (closed) return done(new Error('the socket is closed'));
      socket.send(payload, 0, payload.length, to, done);
    },
    close,
  };
}

/**
 * A directory only we can enter (0700, under $TMPDIR), for the sockets that
 * talk to a Unix datagram target: the target answers to the sender's path,
 * so each association's socket needs one, and no other user may send to it.
 * Remove it with `removePrivateDirectory`.
 */
export async function makePrivateDirectory(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  privateDirs.add(dir);
  removeAtExit();
  return dir;
}

export function removePrivateDirectory(dir: string): void {
  if (!privateDirs.delete(dir)) return;
  rmSync(dir, { recursive: true, force: true });
}
