/**
 * tssh's side of agent forwarding (-A, ForwardAgent): each Agent stream tsshd
 * opens (a program in the session connected to its SSH_AUTH_SOCK) is joined
 * to the local agent's socket. If the local agent cannot be reached the
 * stream is reset, so the remote program sees its connection closed, as
 * with ssh.
 */
import { createConnection } from 'node:net';
import { parseAgentStreamHeader } from '../protocol/agent-x11-messages.js';
import { spliceSocket } from '../protocol/forward-splice.js';
import { readFirstMessage } from '../protocol/message-codec.js';
import { StreamKind } from '../protocol/stream-kind.js';
import type { Connection, Stream } from '../transport/connection.js';

/** Agent connections relayed at once; more are refused (reset). */
export const MAX_CLIENT_AGENT_CONNECTIONS = 64;

export interface AgentForwardingOptions {
  /** The local agent's socket ($SSH_AUTH_SOCK or ForwardAgent's path). */
  socketPath: string;
  /** One line per distinct failure. */
  log: (line: string) => void;
}

/** Relays Agent streams to the local agent for as long as the connection lasts. */
export class AgentForwarding {
  private open = 0;
  private lastError = '';
  private closed = false;

  constructor(
    private readonly conn: Connection,
    private readonly options: AgentForwardingOptions,
  ) {
    conn.on('stream', this.onStream);
  }

  /** Stop taking Agent streams (they are reset). */
  close(): void {
    this.closed = true;
    this.conn.off('stream', this.onStream);
  }

  private readonly onStream = (stream: Stream): void => {
    if (stream.kind !== StreamKind.Agent) return;
    stream.on('error', () => undefined);
    if (this.closed || this.open >= MAX_CLIENT_AGENT_CONNECTIONS) {
      stream.reset();
      return;
    }
    this.open++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.open--;
    };
    stream.once('close', release);
    readFirstMessage(stream)
      .then(parseAgentStreamHeader)
      .then(
        () => this.connect(stream),
        () => stream.reset(),
      );
  };

  private connect(stream: Stream): void {
    const socket = createConnection({ path: this.options.socketPath, allowHalfOpen: true });
    const onError = (err: NodeJS.ErrnoException): void => {
      const line = `tssh: cannot reach the local agent at ${this.options.socketPath} (${err.code ?? err.message}); is ssh-agent running?`;
      if (line !== this.lastError) this.options.log(line);
      this.lastError = line;
      stream.reset();
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      spliceSocket(socket, stream);
    });
  }
}
