import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type { Connection, Stream } from '../transport/connection.js';
import { StreamKind } from '../protocol/stream-kind.js';
import { encodeMessage, readFirstMessage, readMessages } from '../protocol/message-codec.js';
import {
  MAX_SESSION_ID,
  MAX_TERMINAL_DIMENSION,
  ProtocolError,
  parseBusMessage,
  parseSessionReply,
  parseSessionRequest,
  parseStderrHeader,
  type BusMessage,
  type ExitStatus,
  type HelloMessage,
  type PtyRequest,
  type X11Request,
} from '../protocol/messages.js';

/** What to run: a login shell (neither command nor subsystem), a command, or a subsystem. */
export interface SessionOptions {
  pty?: PtyRequest;
  /** Variables to pass (the server keeps those its AcceptEnv allows). */
  env?: Record<string, string>;
  command?: string;
  subsystem?: string;
  /** Ask for agent forwarding (-A); the streams are AgentForwarding's. */
  agent?: boolean;
  /** Ask for X11 forwarding (-X/-Y) with this fake cookie; the streams are X11Forwarding's. */
  x11?: X11Request;
  /** Take over the running session with this id (tssh --attach; needs `pty`, no command). */
  attach?: number;
}

/** Where the session's bytes come from and go. stdout and stderr are never ended by the session. */
export interface SessionStdio {
  stdin: Readable;
  stdout: Writable;
  /** Receives stderr of sessions without a pty. */
  stderr: Writable;
}

/** Liveness settings the client tells the server in its hello, so both ends give up alike. */
export interface SessionClientOptions {
  /** UdpAliveTimeout in ms: the server hangs up the sessions after this long without contact. */
  aliveTimeoutMs?: number;
  /** Heartbeat timeout in ms: the server reports contact lost after this long. */
  heartbeatTimeoutMs?: number;
  /** UdpSessionName, for an attachable tsshd's list. */
  sessionName?: string;
}

/** The server refused the session (session-error). */
export class SessionRefusedError extends Error {
  constructor(readonly reason: string) {
    super(`session refused: ${reason}`);
    this.name = 'SessionRefusedError';
  }
}

/** The connection or the session's stream went away before the session completed. */
export class SessionLostError extends Error {
  constructor(detail: string) {
    super(`session lost: ${detail}`);
    this.name = 'SessionLostError';
  }
}

interface ClientSession {
  readonly id: number;
  readonly terminal: boolean;
  readonly stdio: SessionStdio;
  readonly stream: Stream;
  exit?: ExitStatus;
  stdoutEnded: boolean;
  /** True from the start with a pty: the server opens no stderr stream then. */
  stderrEnded: boolean;
  stderrStream?: Stream;
  resolve(status: ExitStatus): void;
  reject(err: Error): void;
}

/**
 * The client side of the session protocol over one Connection: opens the
 * bus (first stream, with hello), opens sessions and joins their stdout,
 * stderr and exit, and sends window changes. No terminal handling here.
 *
 * Events:
 *  - 'goodbye'        (reason: string)       the server is going away
 *  - 'protocol-error' (err: ProtocolError)   the server sent something invalid (ignored)
 *  - 'forwarding-refused' (what: 'agent' | 'x11', reason: string)  the session runs without it
 */
export class SessionClient extends EventEmitter {
  private readonly bus: Stream;
  private readonly sessions = new Map<number, ClientSession>();
  private nextId = 1;
  private closed = false;

  /** Opens the bus and says hello (with `options`' timeouts); throws RangeError for a timeout out of range. */
  constructor(
    private readonly conn: Connection,
    clientVersion: string,
    options: SessionClientOptions = {},
  ) {
    super();
    const hello: HelloMessage = { type: 'hello', clientVersion };
    if (options.aliveTimeoutMs !== undefined) hello.aliveTimeoutMs = options.aliveTimeoutMs;
    if (options.heartbeatTimeoutMs !== undefined) hello.heartbeatTimeoutMs = options.heartbeatTimeoutMs;
    if (options.sessionName !== undefined) hello.sessionName = options.sessionName;
    let frame: Buffer;
    try {
      // Checked locally first, so an out-of-range timeout fails here rather than at the server.
      frame = encodeMessage(parseBusMessage(hello));
    } catch (err) {
      throw new RangeError(`hello not sent: ${(err as Error).message}`);
    }
    this.bus = conn.openStream(StreamKind.Bus);
    this.bus.on('error', () => undefined);
    this.bus.write(frame);
    readMessages(
      this.bus,
      (value) => this.onBusMessage(value),
      (err) => {
        this.emit('protocol-error', err);
        this.bus.reset();
      },
    );
    conn.on('stream', this.onStream);
    conn.once('close', () => {
      this.closed = true;
      for (const s of [...this.sessions.values()]) this.fail(s, new SessionLostError('connection closed'));
    });
  }

  /**
   * Run a session. stdin is piped to it (its end is stdin EOF); stdout and
   * stderr receive its output. Resolves with the exit status once the exit
   * was reported and all output was handed to stdout/stderr; rejects with
   * SessionRefusedError, SessionLostError or ProtocolError.
   */
  openSession(options: SessionOptions, stdio: SessionStdio): Promise<ExitStatus> {
    return new Promise<ExitStatus>((resolve, reject) => {
      if (this.closed) throw new SessionLostError('connection closed');
      const id = options.attach ?? this.allocateId();
      if (this.sessions.has(id)) throw new RangeError(`session id ${id} is in use`);
      const request = { type: 'session', id, env: options.env ?? {}, ...pick(options), ...(options.attach !== undefined ? { attach: true } : {}) };
      // Check and frame locally first, so a bad request fails here rather than at the server.
      const frame = encodeMessage(parseSessionRequest(request));
      const stream = this.conn.openStream(StreamKind.Session);
      const session: ClientSession = {
        id,
        terminal: options.pty !== undefined,
        stdio,
        stream,
        stdoutEnded: false,
        stderrEnded: options.pty !== undefined,
        resolve,
        reject,
      };
      this.sessions.set(id, session);
      stream.on('error', () => undefined);
      stream.once('close', () => {
        if (!session.stdoutEnded) this.fail(session, new SessionLostError('session stream closed'));
      });
      stream.write(frame);
      void this.awaitReply(session);
    });
  }

  /** Tell the server that every pty session's window is now cols x rows. */
  resize(cols: number, rows: number): void {
    for (const value of [cols, rows]) {
      if (!Number.isInteger(value) || value < 1 || value > MAX_TERMINAL_DIMENSION) {
        throw new RangeError(`window size ${cols}x${rows} out of range`);
      }
    }
    for (const s of this.sessions.values()) {
      if (s.terminal) this.sendBus({ type: 'resize', session: s.id, cols, rows });
    }
  }

  /** Ask the server to make every pty session's foreground program repaint its screen (after an outage). */
  redraw(): void {
    for (const s of this.sessions.values()) {
      if (s.terminal) this.sendBus({ type: 'redraw', session: s.id });
    }
  }

  /** Tell the server this client leaves on purpose and its sessions stay for a later attach (~d). */
  detach(): void {
    this.sendBus({ type: 'detach' });
  }

  /** Tell the server this client is leaving (it hangs up the sessions). */
  goodbye(reason: string): void {
    this.sendBus({ type: 'goodbye', reason });
  }

  private allocateId(): number {
    // Ids are reused only after 2^32 sessions, and never while one is open.
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= MAX_SESSION_ID ? 1 : id + 1;
      if (!this.sessions.has(id)) return id;
    }
  }

  private async awaitReply(session: ClientSession): Promise<void> {
    const { stream, stdio } = session;
    try {
      const reply = parseSessionReply(await readFirstMessage(stream));
      if (reply.type === 'session-error') {
        this.fail(session, new SessionRefusedError(reply.message));
        return;
      }
      if (reply.agentRefused !== undefined) this.emit('forwarding-refused', 'agent', reply.agentRefused);
      if (reply.x11Refused !== undefined) this.emit('forwarding-refused', 'x11', reply.x11Refused);
    } catch (err) {
      if (err instanceof ProtocolError) this.emit('protocol-error', err);
      this.fail(session, err instanceof Error ? err : new SessionLostError(String(err)));
      return;
    }
    if (this.sessions.get(session.id) !== session) return;
    stream.pipe(stdio.stdout, { end: false });
    const ended = (): void => {
      session.stdoutEnded = true;
      this.settleIfComplete(session);
    };
    // The end may have come with the reply, and its event before this await resumed.
    if (stream.readableEnded) ended();
    else stream.once('end', ended);
    stdio.stdin.pipe(stream);
  }

  private readonly onStream = (stream: Stream): void => {
    if (stream.kind !== StreamKind.Stderr) return;
    stream.on('error', () => undefined);
    void this.acceptStderr(stream);
  };

  private async acceptStderr(stream: Stream): Promise<void> {
    let session: ClientSession | undefined;
    try {
      session = this.sessions.get(parseStderrHeader(await readFirstMessage(stream)).session);
    } catch (err) {
      if (err instanceof ProtocolError) this.emit('protocol-error', err);
      stream.reset();
      return;
    }
    if (!session || session.terminal || session.stderrStream) {
      stream.reset();
      return;
    }
    const owner = session;
    owner.stderrStream = stream;
    stream.pipe(owner.stdio.stderr, { end: false });
    // A lost stderr stream must not lose the exit status: count it as ended either way.
    stream.once('close', () => {
      owner.stderrEnded = true;
      this.settleIfComplete(owner);
    });
    stream.once('end', () => {
      owner.stderrEnded = true;
      this.settleIfComplete(owner);
    });
    // The end may have come with the header, and its events before this await resumed.
    if (stream.readableEnded || stream.destroyed) {
      owner.stderrEnded = true;
      this.settleIfComplete(owner);
    }
  }

  private onBusMessage(value: unknown): void {
    let message: BusMessage;
    try {
      message = parseBusMessage(value);
    } catch (err) {
      if (err instanceof ProtocolError && err.code !== 'unknown-type') this.emit('protocol-error', err);
      return;
    }
    if (message.type === 'exit') {
      const session = this.sessions.get(message.session);
      if (!session || session.exit) return;
      const { type: _type, session: _session, ...status } = message;
      session.exit = status;
      this.settleIfComplete(session);
    } else if (message.type === 'goodbye') {
      this.emit('goodbye', message.reason);
    }
  }

  private settleIfComplete(session: ClientSession): void {
    if (!session.exit || !session.stdoutEnded || !session.stderrEnded) return;
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.release(session);
    session.resolve(session.exit);
  }

  private fail(session: ClientSession, err: Error): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.release(session);
    session.stream.destroy();
    session.stderrStream?.destroy();
    session.reject(err);
  }

  /** Stop feeding stdin to a finished session and finish our half of its stream. */
  private release(session: ClientSession): void {
    session.stdio.stdin.unpipe(session.stream);
    if (!session.stream.writableEnded && !session.stream.destroyed) session.stream.end();
  }

  private sendBus(message: BusMessage): void {
    if (this.bus.writable) this.bus.write(encodeMessage(message));
  }
}

/** The optional request fields that are set, so undefined never reaches the wire. */
function pick(options: SessionOptions): Partial<SessionOptions> {
  const out: Partial<SessionOptions> = {};
  if (options.pty !== undefined) out.pty = options.pty;
  if (options.command !== undefined) out.command = options.command;
  if (options.subsystem !== undefined) out.subsystem = options.subsystem;
  if (options.agent) out.agent = true;
  if (options.x11 !== undefined) out.x11 = options.x11;
  return out;
}
