import { EventEmitter } from 'node:events';
import type { Connection, Stream } from '../transport/connection.js';
import { StreamKind } from '../protocol/stream-kind.js';
import { encodeMessage, readFirstMessage, readMessages } from '../protocol/message-codec.js';
import {
  ProtocolError,
  parseBusMessage,
  parseSessionRequest,
  type BusMessage,
  type ExitStatus,
  type SessionReply,
  type SessionRequest,
} from '../protocol/messages.js';
import { FALLBACK_SHELL, sessionEnv } from './login-env.js';
import { foregroundProcessGroup, signalWindowChange } from './redraw.js';
import type { SessionForwarding, SessionForwardingSetup } from './session-forwarding.js';
import { startSession, type RunningSession } from './session-runner.js';

/** What the server allows, from sshd_config and the login. */
export interface SessionPolicy {
  /** AcceptEnv: may the client set this variable? */
  envAccepted(name: string): boolean;
  /** Subsystem name -> command run with `$SHELL -c` (e.g. sftp -> /usr/lib/openssh/sftp-server). */
  subsystems: ReadonlyMap<string, string>;
  /** The base environment (buildLoginEnv); its SHELL and HOME say what to run and where. */
  loginEnv: Readonly<Record<string, string>>;
  /** Most sessions at once (sshd's MaxSessions); default DEFAULT_MAX_SESSIONS. */
  maxSessions?: number;
  /** Agent and X11 forwarding (-A, -X/-Y); absent: refused. */
  forwarding?: Pick<SessionForwarding, 'setup'>;
}

/** The liveness timeouts a client's hello may carry (see HelloMessage). */
export interface ClientLiveness {
  aliveTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
}

/** Default limit on concurrent sessions. */
export const DEFAULT_MAX_SESSIONS = 64;

interface HostedSession {
  readonly id: number;
  /** Undefined while the process is being started. */
  running?: RunningSession;
  /** The process has exited (its output may still be on its way). */
  exited?: boolean;
}

/**
 * The server side of the session protocol over one Connection: takes the
 * bus and session streams the client opens, runs each session (session-runner),
 * forwards window changes, reports exits on the bus, and hangs up.
 * Streams of other kinds are left to other listeners.
 *
 * Events:
 *  - 'hello'          (clientVersion: string, liveness: ClientLiveness)  the client's timeouts, for the path
 *  - 'session'        (id: number, pid: number, request: SessionRequest)  a session's process started
 *  - 'resize'         (id: number, cols: number, rows: number)            a window change was applied
 *  - 'redraw'         (id: number)  SIGWINCH went to the session's foreground process group
 *  - 'exit'           (id: number, status: ExitStatus)                     a session's process ended
 *  - 'idle'           ()  the last session ended and its output was flushed (tsshd may exit)
 *  - 'goodbye'        (reason: string)  the client said goodbye (its sessions are hung up)
 *  - 'protocol-error' (err: ProtocolError)  the client sent something invalid (it was ignored or refused)
 */
export class SessionHost extends EventEmitter {
  private bus: Stream | null = null;
  /** Bus messages waiting for the client's bus stream (at most one exit per session and a goodbye). */
  private pendingBus: Buffer[] = [];
  private readonly sessions = new Map<number, HostedSession>();
  private hungUp = false;
  private readonly maxSessions: number;

  constructor(
    private readonly conn: Connection,
    private readonly policy: SessionPolicy,
  ) {
    super();
    this.maxSessions = policy.maxSessions ?? DEFAULT_MAX_SESSIONS;
    conn.on('stream', this.onStream);
    conn.once('close', () => this.hangup());
  }

  /** Sessions started or starting and not yet done. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * SIGHUP every session's process group, as sshd does when the connection
   * is lost; sessions requested afterwards are refused.
   */
  hangup(): void {
    this.hungUp = true;
    for (const s of this.sessions.values()) s.running?.signalGroup('SIGHUP');
  }

  /** Tell the client the server is going away. */
  goodbye(reason: string): void {
    this.sendBus({ type: 'goodbye', reason });
  }

  private readonly onStream = (stream: Stream): void => {
    if (stream.kind === StreamKind.Bus) this.acceptBus(stream);
    else if (stream.kind === StreamKind.Session) void this.acceptSession(stream);
  };

  private acceptBus(stream: Stream): void {
    if (this.bus) {
      stream.reset();
      return;
    }
    this.bus = stream;
    stream.on('error', () => undefined); // a reset bus just stops carrying messages
    for (const frame of this.pendingBus) stream.write(frame);
    this.pendingBus = [];
    readMessages(
      stream,
      (value) => this.onBusMessage(value),
      (err) => {
        // The frame boundary is lost: nothing more can be read from this bus.
        this.emit('protocol-error', err);
        stream.reset();
      },
    );
    stream.once('end', () => stream.end());
  }

  private onBusMessage(value: unknown): void {
    let message: BusMessage;
    try {
      message = parseBusMessage(value);
    } catch (err) {
      // Unknown types are from a newer client: ignore them quietly.
      if (err instanceof ProtocolError && err.code !== 'unknown-type') this.emit('protocol-error', err);
      return;
    }
    switch (message.type) {
      case 'hello': {
        const liveness: ClientLiveness = {};
        if (message.aliveTimeoutMs !== undefined) liveness.aliveTimeoutMs = message.aliveTimeoutMs;
        if (message.heartbeatTimeoutMs !== undefined) liveness.heartbeatTimeoutMs = message.heartbeatTimeoutMs;
        this.emit('hello', message.clientVersion, liveness);
        break;
      }
      case 'resize': {
        const running = this.sessions.get(message.session)?.running;
        if (running?.resize(message.cols, message.rows)) this.emit('resize', message.session, message.cols, message.rows);
        break;
      }
      case 'goodbye':
        this.emit('goodbye', message.reason);
        this.hangup();
        break;
      case 'redraw':
        void this.redraw(message.session);
        break;
      default:
        break; // exit is server->client
    }
  }

  private async redraw(id: number): Promise<void> {
    const session = this.sessions.get(id);
    const running = session?.running;
    if (!session || !running?.terminal || session.exited) return;
    const group = await foregroundProcessGroup(running.pid);
    // Signal only while the process still runs: after it exits the group id may be someone else's.
    if (group === undefined || session.exited || this.sessions.get(id) !== session) return;
    if (signalWindowChange(group)) this.emit('redraw', id);
  }

  private sendBus(message: BusMessage): void {
    const frame = encodeMessage(message);
    if (!this.bus) this.pendingBus.push(frame);
    else if (this.bus.writable) this.bus.write(frame);
  }

  private async acceptSession(stream: Stream): Promise<void> {
    stream.on('error', () => undefined); // resets show up as 'close' below
    let request: SessionRequest;
    try {
      request = parseSessionRequest(await readFirstMessage(stream));
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.emit('protocol-error', err);
        refuse(stream, `invalid session request: ${err.message}`);
      } else {
        stream.destroy();
      }
      return;
    }
    const refusal = this.checkRequest(request);
    if (refusal) {
      refuse(stream, refusal);
      return;
    }
    const session: HostedSession = { id: request.id };
    this.sessions.set(request.id, session);
    const { loginEnv, envAccepted } = this.policy;
    const env = sessionEnv(loginEnv, request.env, (name) => envAccepted(name), request.pty?.term);
    const forwarding = await this.setupForwarding(request, env);
    Object.assign(env, forwarding.env);
    let running: RunningSession;
    try {
      running = await startSession({
        shell: loginEnv.SHELL ?? FALLBACK_SHELL,
        home: loginEnv.HOME ?? '/',
        env,
        command: request.subsystem !== undefined ? this.policy.subsystems.get(request.subsystem) : request.command,
        pty: request.pty,
      });
    } catch (err) {
      forwarding.release();
      this.sessions.delete(request.id);
      refuse(stream, `cannot start session: ${err instanceof Error ? err.message : String(err)}`);
      this.emitIdleIfIdle();
      return;
    }
    session.running = running;
    let stderr: Stream | undefined;
    if (!running.terminal) {
      stderr = this.conn.openStream(StreamKind.Stderr);
      stderr.on('error', () => undefined);
      stderr.write(encodeMessage({ type: 'stderr', session: request.id }));
    }
    const ok: SessionReply = { type: 'session-ok' };
    if (forwarding.agentRefused !== undefined) ok.agentRefused = forwarding.agentRefused;
    if (forwarding.x11Refused !== undefined) ok.x11Refused = forwarding.x11Refused;
    stream.write(encodeMessage(ok));
    running.attach({ input: stream, output: stream, errorOutput: stderr });
    this.emit('session', request.id, running.pid, request);
    // The client vanished from under this session (stream reset): hang it up, as sshd does on channel close.
    stream.once('close', () => {
      if (!stream.writableFinished) running.signalGroup('SIGHUP');
    });
    if (this.hungUp || stream.destroyed) running.signalGroup('SIGHUP');

    void running.exited.then((status: ExitStatus) => {
      session.exited = true;
      this.sendBus({ type: 'exit', session: request.id, ...status });
      this.emit('exit', request.id, status);
    });
    void running.done.then(() => {
      forwarding.release();
      this.sessions.delete(request.id);
      // Whatever stdin still arrives has nowhere to go.
      stream.resume();
      this.emitIdleIfIdle();
    });
  }

  /** Agent socket and X11 display for the session, when asked for and allowed. */
  private async setupForwarding(request: SessionRequest, env: Readonly<Record<string, string>>): Promise<SessionForwardingSetup> {
    const none: SessionForwardingSetup = { env: {}, release: () => undefined };
    if (!request.agent && !request.x11) return none;
    if (this.policy.forwarding) return this.policy.forwarding.setup(this.conn, request, env);
    if (request.agent) none.agentRefused = 'agent forwarding is not offered by this server';
    if (request.x11) none.x11Refused = 'X11 forwarding is not offered by this server';
    return none;
  }

  /** Why the request cannot be served, or undefined if it can. */
  private checkRequest(request: SessionRequest): string | undefined {
    if (this.hungUp) return 'the server is hanging up';
    if (this.sessions.has(request.id)) return `session id ${request.id} is in use`;
    if (this.sessions.size >= this.maxSessions) return `too many sessions (limit ${this.maxSessions})`;
    if (request.subsystem !== undefined && !this.policy.subsystems.has(request.subsystem)) {
      return `subsystem ${JSON.stringify(request.subsystem)} is not configured`;
    }
    return undefined;
  }

  private emitIdleIfIdle(): void {
    if (this.sessions.size === 0) this.emit('idle');
  }
}

function refuse(stream: Stream, message: string): void {
  if (!stream.writable) {
    stream.destroy();
    return;
  }
  stream.end(encodeMessage({ type: 'session-error', message: message.slice(0, 1000) } satisfies SessionReply));
  // Drop anything the client already sent after its request.
  stream.resume();
}
