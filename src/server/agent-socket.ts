/**
 * The agent socket tsshd offers a session as SSH_AUTH_SOCK (-A), as sshd's
 * auth_input_request_forwarding does: a fresh private directory (0700) under
 * the temp dir holding one Unix socket (0600). Each connection to it becomes
 * an Agent stream to tssh, which joins it to the client's own agent.
 */
import { rmSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMessage } from '../protocol/message-codec.js';
import type { AgentStreamHeader } from '../protocol/agent-x11-messages.js';
import { spliceSocket } from '../protocol/forward-splice.js';
import { closeWhenIdle } from './channel-timeout.js';
import { StreamKind } from '../protocol/stream-kind.js';
import type { Connection } from '../transport/connection.js';

/** Agent connections open at once per socket; more are closed at once (an agent client retries or fails cleanly). */
export const MAX_AGENT_CONNECTIONS = 64;

/** A listening agent socket; close() removes it and its directory. */
export interface AgentSocket {
  /** The socket's path, for SSH_AUTH_SOCK. */
  readonly path: string;
  close(): void;
}

/** Directories still to remove if tsshd exits with their session open (a crash, or a session left running). */
const openDirs = new Set<string>();
const removeOpenDirs = (): void => {
  for (const dir of openDirs) rmSync(dir, { recursive: true, force: true });
};

function removeAtExit(dir: string, add: boolean): void {
  if (add) {
    if (openDirs.size === 0) process.once('exit', removeOpenDirs);
    openDirs.add(dir);
  } else if (openDirs.delete(dir) && openDirs.size === 0) {
    process.off('exit', removeOpenDirs);
  }
}

/**
 * Create the directory and socket for session `session` and start relaying its connections over `conn`;
 * a connection idle for `idleMs` (sshd's ChannelTimeout for agent connections) is closed.
 */
export async function openAgentSocket(conn: Pick<Connection, 'openStream'>, session: number, log: (line: string) => void, idleMs?: number): Promise<AgentSocket> {
  // mkdtemp creates the directory 0700; nobody else may even look up the socket.
  const dir = await mkdtemp(join(tmpdir(), 'tssh-agent-'));
  const path = join(dir, `agent.${process.pid}`);
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    if (sockets.size >= MAX_AGENT_CONNECTIONS) {
      log(`agent socket ${path}: more than ${MAX_AGENT_CONNECTIONS} connections; closing the new one`);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const stream = conn.openStream(StreamKind.Agent);
    stream.on('error', () => undefined);
    stream.write(encodeMessage({ type: 'agent', session } satisfies AgentStreamHeader));
    spliceSocket(socket, stream);
    closeWhenIdle(socket, idleMs);
    socket.resume();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o600);
  } catch (err) {
    server.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  server.on('error', (err) => log(`agent socket ${path}: ${err.message}`));
  removeAtExit(dir, true);
  let closed = false;
  return {
    path,
    close(): void {
      if (closed) return;
      closed = true;
      removeAtExit(dir, false);
      server.close();
      for (const socket of sockets) socket.destroy();
      void rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
