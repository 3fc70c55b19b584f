/**
 * The X11 display tsshd offers a session (-X/-Y), as sshd's
 * x11_create_display_inet and do_xauth do: the first display number from
 * X11DisplayOffset whose TCP port 6000+N can be bound (loopback only with
 * X11UseLocalhost yes, every interface otherwise), DISPLAY set to
 * localhost:N.S (or hostname:N.S), and the client's fake cookie registered
 * with `xauth` in the session's XAUTHORITY (default ~/.Xauthority). Each X
 * connection becomes an X11 stream to tssh, which swaps in the real cookie.
 */
import { spawn } from 'node:child_process';
import { access, constants as fsConstants } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { encodeMessage } from '../protocol/message-codec.js';
import type { X11StreamHeader } from '../protocol/agent-x11-messages.js';
import { spliceSocket } from '../protocol/forward-splice.js';
import { closeWhenIdle } from './channel-timeout.js';
import type { X11Request } from '../protocol/messages.js';
import { StreamKind } from '../protocol/stream-kind.js';
import type { Connection } from '../transport/connection.js';

/** X11 TCP ports start here (display N listens on 6000 + N). */
export const X11_BASE_PORT = 6000;
/** Display numbers tried from X11DisplayOffset upward (sshd's MAX_DISPLAYS). */
export const MAX_DISPLAYS = 1000;
/** X connections open at once per display; more are closed at once. */
export const MAX_X11_CONNECTIONS = 256;
/** xauth gets this long before it is ended and the display given up. */
const XAUTH_TIMEOUT_MS = 10_000;

/** What the sshd_config says about X11. */
export interface X11Settings {
  displayOffset: number;
  useLocalhost: boolean;
  xauthLocation: string;
}

/** A display that is listening and registered; close() stops listening. */
export interface X11Display {
  /** For DISPLAY. */
  readonly display: string;
  readonly number: number;
  close(): void;
}

/** Why no display could be set up, for the client (one line). */
export class X11SetupError extends Error {}

/** Is XAuthLocation an executable file? sshd refuses X11 forwarding without it. */
export function xauthUsable(path: string): Promise<boolean> {
  return new Promise((resolve) => access(path, fsConstants.X_OK, (err) => resolve(err === null)));
}

/**
 * Allocate a display for session `session`, register `request`'s cookie with
 * xauth (run with `env`, the session's environment) and start relaying X
 * connections over `conn`. Throws X11SetupError.
 */
export async function openX11Display(
  conn: Pick<Connection, 'openStream'>,
  session: number,
  request: X11Request,
  settings: X11Settings,
  env: Readonly<Record<string, string>>,
  log: (line: string) => void,
  /** sshd's ChannelTimeout for X11 connections: one idle this long is closed. */
  idleMs?: number,
): Promise<X11Display> {
  const sockets = new Set<Socket>();
  const onConnection = (socket: Socket): void => {
    if (sockets.size >= MAX_X11_CONNECTIONS) {
      log(`X11 display: more than ${MAX_X11_CONNECTIONS} connections; closing the new one`);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const header: X11StreamHeader = { type: 'x11', session };
    if (socket.remoteAddress !== undefined && socket.remotePort !== undefined) {
      header.originator = { host: socket.remoteAddress, port: socket.remotePort };
    }
    const stream = conn.openStream(StreamKind.X11);
    stream.on('error', () => undefined);
    stream.write(encodeMessage(header));
    spliceSocket(socket, stream);
    closeWhenIdle(socket, idleMs);
    socket.resume();
  };
  const { number, servers } = await bindDisplay(settings, onConnection);
  const close = (): void => {
    for (const server of servers) server.close();
    for (const socket of sockets) socket.destroy();
  };
  for (const server of servers) server.on('error', (err) => log(`X11 display ${number}: ${err.message}`));
  const screen = request.screen;
  // What xauth and DISPLAY name, as sshd names them.
  const authDisplay = settings.useLocalhost ? `unix:${number}.${screen}` : `${hostname()}/unix:${number}.${screen}`;
  const display = settings.useLocalhost ? `localhost:${number}.${screen}` : `${hostname()}:${number}.${screen}`;
  try {
    await runXauth(settings.xauthLocation, `remove ${authDisplay}\nadd ${authDisplay} ${request.protocol} ${request.cookie}\n`, env);
  } catch (err) {
    close();
    throw err;
  }
  return { display, number, close };
}

const NO_SUCH_ADDRESS = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EPROTONOSUPPORT', 'EINVAL']);

/**
 * Bind 6000+N for the first free N from the offset. X11UseLocalhost yes:
 * 127.0.0.1, and ::1 too where the machine has IPv6. No: every interface
 * (dual-stack ::, or 0.0.0.0 without IPv6). A port in use anywhere skips N.
 */
async function bindDisplay(settings: X11Settings, onConnection: (socket: Socket) => void): Promise<{ number: number; servers: Server[] }> {
  const last = Math.min(settings.displayOffset + MAX_DISPLAYS, 65535 - X11_BASE_PORT);
  const attempt = async (host: string, port: number): Promise<Server | NodeJS.ErrnoException> => {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection);
    const err = await listen(server, port, host);
    return err ?? server;
  };
  for (let number = settings.displayOffset; number < last; number++) {
    const port = X11_BASE_PORT + number;
    const [first, second] = settings.useLocalhost ? ['127.0.0.1', '::1'] : ['::', '0.0.0.0'];
    const a = await attempt(first!, port);
    if (a instanceof Error) {
      if (settings.useLocalhost || !NO_SUCH_ADDRESS.has(a.code ?? '')) continue;
      // No IPv6 here: every IPv4 interface.
      const b = await attempt(second!, port);
      if (b instanceof Error) continue;
      return { number, servers: [b] };
    }
    if (!settings.useLocalhost) return { number, servers: [a] };
    const b = await attempt(second!, port);
    if (b instanceof Error) {
      if (NO_SUCH_ADDRESS.has(b.code ?? '')) return { number, servers: [a] };
      a.close();
      continue;
    }
    return { number, servers: [a, b] };
  }
  throw new X11SetupError(
    `no free X11 display from ${settings.displayOffset} to ${last - 1} (TCP ports ${X11_BASE_PORT + settings.displayOffset}-${X11_BASE_PORT + last - 1} in use); change X11DisplayOffset`,
  );
}

function listen(server: Server, port: number, host: string): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => resolve(err);
    server.once('error', onError);
    server.listen({ port, host }, () => {
      server.off('error', onError);
      resolve(null);
    });
  });
}

/** Run `xauth -q -` with `commands` on stdin; rejects with X11SetupError naming xauth's complaint. */
function runXauth(xauth: string, commands: string, env: Readonly<Record<string, string>>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(xauth, ['-q', '-'], { env, stdio: ['pipe', 'ignore', 'pipe'], cwd: env.HOME ?? '/' });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), XAUTH_TIMEOUT_MS);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    child.stdin.on('error', () => undefined);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new X11SetupError(`cannot run ${xauth} (${err.message}); install xauth or set XAuthLocation`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new X11SetupError(`${xauth} failed (${signal ?? `exit status ${code}`}): ${stderr.trim().split('\n')[0] ?? ''}`));
    });
    child.stdin.end(commands);
  });
}
