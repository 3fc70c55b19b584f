/**
 * A tssh that is a ControlMaster (-M, or ControlMaster in the config, with a
 * ControlPath) listens on that Unix socket and answers OpenSSH's control
 * protocol (mux-protocol.ts), so `ssh -O check|exit|stop|forward|cancel -S
 * path host` (and `tssh -O ...`, which runs ssh) control the UDP session as
 * they would an ssh master. New sessions and stdio forwards through the
 * master need the client's stdin/stdout/stderr passed as file descriptors,
 * which Node cannot receive: they are refused the way an ssh master refuses
 * one (MUX_S_PERMISSION_DENIED with a reason), after which ssh says "Master
 * refused session request: ..." and connects by itself.
 *
 * Like ssh, the socket is created with mode 0600 (umask 0177) so that only
 * its owner (and root) can connect, and removed when the master ends.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { quoteValue } from '../protocol/config-syntax.js';
import type { DynamicForwardSpec, ForwardSpec } from './forward-spec.js';
import {
  MUX_C_ALIVE_CHECK,
  MUX_C_CLOSE_FWD,
  MUX_C_NEW_SESSION,
  MUX_C_NEW_STDIO_FWD,
  MUX_C_OPEN_FWD,
  MUX_C_PROXY,
  MUX_C_STOP_LISTENING,
  MUX_C_TERMINATE,
  MUX_FWD_DYNAMIC,
  MUX_FWD_LOCAL,
  MUX_FWD_REMOTE,
  MUX_MSG_HELLO,
  MUX_PORT_STREAMLOCAL,
  MUX_S_ALIVE,
  MUX_S_FAILURE,
  MUX_S_OK,
  MUX_S_PERMISSION_DENIED,
  MUX_S_REMOTE_PORT,
  MUX_VERSION,
  MuxFramer,
  MuxReader,
  muxPacket,
  readMuxForward,
  type MuxForward,
} from './mux-protocol.js';

/** A forward a control client asks for, in tssh's own terms. */
export type MuxForwardRequest = { kind: 'L' | 'R'; spec: ForwardSpec } | { kind: 'D'; spec: DynamicForwardSpec };

/** What the master does for its control clients. */
export interface ControlMasterHooks {
  /** Set up a forward; resolves with the port a remote forward was given (port 0), rejects with the reason. */
  openForward(request: MuxForwardRequest): Promise<{ allocatedPort?: number }>;
  /** Close a forward set up before (on the command line or through the master); false when there is none such. */
  closeForward(request: MuxForwardRequest): boolean;
  /** End the session (ssh -O exit). */
  terminate(): void;
}

/** Most control connections at once: each is a short request. */
const MAX_CONTROL_CLIENTS = 64;

/** Why a session through the master is refused. */
export const SESSION_REFUSAL =
  'a tssh master carries forwards only: sessions through it need file descriptor passing, which tssh does not do; run tssh (or ssh) without -S';

/** The listening master. */
export class ControlMaster {
  private clients = new Set<Socket>();
  private listening = true;

  private constructor(
    readonly path: string,
    private readonly server: Server,
    private readonly hooks: ControlMasterHooks,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /**
   * Listen at `path`. Resolves null (after saying why through `say`) when
   * something already listens there or the path exists, as ssh then goes on
   * without multiplexing; `auto` says nothing when a master is running.
   */
  static async listen(path: string, hooks: ControlMasterHooks, options: { auto: boolean; say: (line: string) => void }): Promise<ControlMaster | null> {
    if (existsSync(path)) {
      const live = await answers(path);
      if (!live && options.auto) {
        // A socket left by a master that died: ssh's auto mode takes the path over.
        try {
          unlinkSync(path);
        } catch {
          // raced with someone else
        }
      } else {
        if (!(live && options.auto)) options.say(`ControlSocket ${path} already exists, disabling multiplexing`);
        return null;
      }
    }
    const server = createServer();
    const master = new ControlMaster(path, server, hooks);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The socket file gets 0600 from the umask at bind, which happens inside listen().
      const umask = process.umask(0o177);
      try {
        server.listen(path, () => resolve());
      } finally {
        process.umask(umask);
      }
    }).catch((err: NodeJS.ErrnoException) => {
      options.say(`tssh: cannot listen on ControlPath ${quoteValue(path)}: ${err.message.split('\n')[0]}; multiplexing disabled`);
      return null;
    });
    if (!server.listening) return null;
    server.on('error', () => undefined);
    return master;
  }

  /** Stop listening and remove the socket (ssh -O stop, or the end of the session). */
  stopListening(): void {
    if (!this.listening) return;
    this.listening = false;
    this.server.close();
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  /** Stop listening and drop every control connection. */
  close(): void {
    this.stopListening();
    for (const socket of this.clients) socket.destroy();
    this.clients.clear();
  }

  private accept(socket: Socket): void {
    if (this.clients.size >= MAX_CONTROL_CLIENTS) {
      socket.destroy();
      return;
    }
    this.clients.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.clients.delete(socket));
    // Both sides send their hello first.
    socket.write(muxPacket(MUX_MSG_HELLO, MUX_VERSION));
    const framer = new MuxFramer();
    let helloSeen = false;
    socket.on('data', (chunk: Buffer) => {
      let bodies: Buffer[];
      try {
        bodies = framer.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const body of bodies) {
        if (socket.destroyed) return;
        try {
          const r = new MuxReader(body);
          const type = r.u32();
          if (!helloSeen) {
            if (type !== MUX_MSG_HELLO || r.u32() !== MUX_VERSION) throw new Error('no hello');
            helloSeen = true;
            continue;
          }
          this.handle(socket, type, r);
        } catch {
          socket.destroy();
          return;
        }
      }
    });
  }

  private handle(socket: Socket, type: number, r: MuxReader): void {
    const id = r.u32();
    switch (type) {
      case MUX_C_ALIVE_CHECK:
        socket.write(muxPacket(MUX_S_ALIVE, id, process.pid));
        return;
      case MUX_C_TERMINATE:
        socket.end(muxPacket(MUX_S_OK, id));
        this.hooks.terminate();
        return;
      case MUX_C_STOP_LISTENING:
        this.stopListening();
        socket.write(muxPacket(MUX_S_OK, id));
        return;
      case MUX_C_OPEN_FWD:
      case MUX_C_CLOSE_FWD: {
        let request: MuxForwardRequest;
        try {
          request = forwardRequest(readMuxForward(r));
        } catch (err) {
          socket.write(muxPacket(MUX_S_FAILURE, id, (err as Error).message));
          return;
        }
        if (type === MUX_C_CLOSE_FWD) {
          const closed = this.hooks.closeForward(request);
          socket.write(closed ? muxPacket(MUX_S_OK, id) : muxPacket(MUX_S_FAILURE, id, 'port not forwarded'));
          return;
        }
        this.hooks.openForward(request).then(
          ({ allocatedPort }) => {
            if (socket.destroyed) return;
            socket.write(allocatedPort !== undefined ? muxPacket(MUX_S_REMOTE_PORT, id, allocatedPort) : muxPacket(MUX_S_OK, id));
          },
          (err: unknown) => {
            if (!socket.destroyed) socket.write(muxPacket(MUX_S_FAILURE, id, err instanceof Error ? err.message : String(err)));
          },
        );
        return;
      }
      case MUX_C_NEW_SESSION:
      case MUX_C_NEW_STDIO_FWD:
      case MUX_C_PROXY:
        // The file descriptors that follow cannot be taken: answer, then drop the connection.
        socket.end(muxPacket(MUX_S_PERMISSION_DENIED, id, SESSION_REFUSAL));
        return;
      default:
        socket.write(muxPacket(MUX_S_FAILURE, id, `unsupported request 0x${type.toString(16)}`));
    }
  }
}

/** A MUX_C_OPEN_FWD / MUX_C_CLOSE_FWD body as tssh's forward specs (a port of -2: a Unix socket path). */
export function forwardRequest(f: MuxForward): MuxForwardRequest {
  const listen = f.listenPort === MUX_PORT_STREAMLOCAL ? { path: f.listenHost } : { ...(f.listenHost !== '' ? { host: f.listenHost } : {}), port: checkPort(f.listenPort) };
  if (f.type === MUX_FWD_DYNAMIC) {
    if ('path' in listen) throw new Error('a dynamic forward listens on a port');
    return { kind: 'D', spec: { listen } };
  }
  if (f.type !== MUX_FWD_LOCAL && f.type !== MUX_FWD_REMOTE) throw new Error(`unknown forwarding type ${f.type}`);
  const connectTo = f.connectPort === MUX_PORT_STREAMLOCAL ? { path: f.connectHost } : { host: f.connectHost, port: checkPort(f.connectPort) };
  return { kind: f.type === MUX_FWD_LOCAL ? 'L' : 'R', spec: { proto: 'tcp', listen, connect: connectTo } };
}

function checkPort(port: number): number {
  if (!(port >= 0 && port <= 65535)) throw new Error(`invalid port ${port}`);
  return port;
}

/** A stable key for a forward, to find it again for MUX_C_CLOSE_FWD. */
export function forwardKey(request: MuxForwardRequest): string {
  const { listen } = request.spec;
  const where = 'path' in listen ? listen.path : `${listen.host === undefined || listen.host === '*' ? '' : listen.host}:${listen.port}`;
  if (request.kind === 'D') return `D ${where}`;
  const to = 'path' in request.spec.connect ? request.spec.connect.path : `${request.spec.connect.host}:${request.spec.connect.port}`;
  return `${request.kind} ${request.spec.proto} ${where} ${to}`;
}

/** Whether a master answers at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 2000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
