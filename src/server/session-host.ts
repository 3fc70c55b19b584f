import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
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
import { sessionEnv } from './login-env.js';
import type { SessionForwarding, SessionForwardingSetup } from './session-forwarding.js';
import { serveSession, StreamSession, type Handler, type SessionExit } from './session.js';
import { isStartError, shellHandler } from './shell-handler.js';
import { SessionCarrier } from './attach-carrier.js';
import type { AttachableSessions, AttachOwner } from './attach-sessions.js';

/** What the server allows, from sshd_config and the login. */
export interface SessionPolicy {
  /** AcceptEnv: may the client set this variable? */
  envAccepted(name: string): boolean;
  /** Subsystem name -> command run with `$SHELL -c` (e.g. sftp -> /usr/lib/openssh/sftp-server). */
  subsystems: ReadonlyMap<string, string>;
  /** The base environment (buildLoginEnv); its SHELL and HOME say what to run and where. */
  loginEnv: Readonly<Record<string, string>>;
  /** sshd's ChannelTimeout: for a session's channel type (session:shell, session:command, session:subsystem:NAME), how long it may go without a byte in or out before it is hung up. */
  sessionIdleTimeoutMs?: (channelType: string) => number | undefined;
  /** What sshd imposed on the login (SetEnv, PermitUserEnvironment): set after the client's variables. */
  imposedEnv?: Readonly<Record<string, string>>;
  /** Most sessions at once (sshd's MaxSessions); default DEFAULT_MAX_SESSIONS. */
  maxSessions?: number;
  /** Agent and X11 forwarding (-A, -X/-Y); absent: refused. */
  forwarding?: Pick<SessionForwarding, 'setup'>;
  /** Why a pty is not allowed (PermitTTY no, the key's no-pty), or absent: a pty request then runs without one, as sshd does. */
  ptyRefused?: string | null;
  /** Why no new session may start now (the login's key expired), or null. */
  loginRefusal?: () => string | null;
}

/** The liveness timeouts a client's hello may carry (see HelloMessage). */
export interface ClientLiveness {
  aliveTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
}

/** Why a requested agent / X11 forwarding is off (told to the client when the session is accepted). */
export interface SessionRefusals {
  agentRefused?: string;
  x11Refused?: string;
}

/**
 * How one session request travels, whatever the protocol family: the
 * streams its bytes use and how the family accepts, refuses and reports.
 * (Not to be confused with attach-carrier.ts's SessionCarrier, which an
 * attachable session reads and writes through.)
 */
export interface SessionChannel {
  /** The client's input (stdin; its end is EOF). */
  input: Readable;
  /** Output (stdout, or everything in a pty); its 'close' before finishing means the client reset the session. */
  output: Writable;
  /** Accept the session (called once, before any output); returns where stderr goes, undefined to merge it into output. */
  accept(refused: SessionRefusals): Writable | undefined;
  /** Refuse the request with a one-line reason (before accept only). */
  refuse(message: string): void;
  /** Report how the session ended on this family's wire. */
  reportExit(status: ExitStatus): void;
  /** What agent and X11 forwarding open their streams on; undefined: the family does not carry them (refused). */
  forwardingConn?: Pick<Connection, 'openStream'>;
  /**
   * Our family's session stream (input and output at once). In an attachable
   * tsshd a terminal session is joined to it through a SessionCarrier, so a
   * later client can take it over; absent (the reference family): the
   * session is an ordinary one, hung up with its client.
   */
  attachStream?: Stream;
}

/** On attach at an unchanged size: how long the program gets to answer the interim size before the real one returns. */
export const ATTACH_REPAINT_WAIT_MS = 500;

/** Default limit on concurrent sessions. */
export const DEFAULT_MAX_SESSIONS = 64;

/** How a SessionHost serves sessions. */
export interface SessionHostOptions {
  /** Runs each session; default: shellHandler() with the policy's subsystems (real shells and commands). */
  handler?: Handler;
  /** The client's current address (the path's peer), for Session.remoteAddress; default: SSH_CONNECTION's. */
  peer?: () => { address: string; port: number } | null;
  /** An attachable tsshd's sessions: terminal sessions go there and outlive this connection (attach-sessions.ts). */
  attachable?: AttachableSessions;
}

/**
 * The server side of the session protocol over one Connection: takes the
 * bus and session streams the client opens, hands each session to the
 * handler as a Session (session.ts; the default handler runs real shells and
 * commands, shell-handler.ts), passes window changes and redraws on, reports
 * exits on the bus, and hangs up. Session-ok (and the stderr stream) is sent
 * when the handler first uses the session, so a handler that fails before
 * that (the shell handler's "cannot start") refuses it with session-error;
 * a handler's error after that ends the session with the message and 255.
 * Streams of other kinds are left to other listeners.
 *
 * Events:
 *  - 'hello'          (clientVersion: string, liveness: ClientLiveness)  the client's timeouts, for the path
 *  - 'session'        (id: number, request: SessionRequest)  a session was accepted (session-ok sent)
 *  - 'resize'         (id: number, cols: number, rows: number)            a window change was passed to the session
 *  - 'redraw'         (id: number)  a redraw was passed to a pty session
 *  - 'exit'           (id: number, status: ExitStatus)                     a session exited
 *  - 'process'        (id: number, pid: number)  the shell handler started the session's process
 *  - 'handler-error'  (id: number, err: unknown)  a handler threw (the session ended with 255 or was refused)
 *  - 'idle'           ()  the last session ended and its output was flushed (tsshd may exit)
 *  - 'goodbye'        (reason: string)  the client said goodbye (its sessions are hung up)
 *  - 'detach'         ()  the client left on purpose (~d): attachable sessions are parked, the others hung up
 *  - 'attached'       (id: number)  this client took over attachable session `id`
 *  - 'protocol-error' (err: ProtocolError)  the client sent something invalid (it was ignored or refused)
 */
export class SessionHost extends EventEmitter implements AttachOwner {
  private bus: Stream | null = null;
  /** Bus messages waiting for the client's bus stream (at most one exit per session and a goodbye). */
  private pendingBus: Buffer[] = [];
  /** Sessions by id; undefined while the request is being checked. */
  private readonly sessions = new Map<number, StreamSession | undefined>();
  /** Sessions accepted whose agent socket / X11 display is still being set up. */
  private readonly starting = new Set<number>();
  private hungUp = false;
  private readonly maxSessions: number;
  private readonly handler: Handler;
  private readonly peer: () => { address: string; port: number } | null;
  private readonly attachable: AttachableSessions | undefined;
  /** Carriers of the attachable sessions this host owns. */
  private readonly carriers = new Map<number, SessionCarrier>();

  constructor(
    private readonly conn: Connection,
    private readonly policy: SessionPolicy,
    options: SessionHostOptions = {},
  ) {
    super();
    this.maxSessions = policy.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.handler = options.handler ?? shellHandler({ subsystems: policy.subsystems, loginEnv: policy.loginEnv });
    this.peer = options.peer ?? (() => null);
    this.attachable = options.attachable;
    conn.on('stream', this.onStream);
    conn.once('close', () => this.hangup());
  }

  /** Sessions started or starting and not yet done. */
  get sessionCount(): number {
    return this.sessions.size + this.starting.size;
  }

  /**
   * Fire every session's abort signal (the shell handler sends SIGHUP to the
   * process group, as sshd does when the connection is lost); sessions
   * requested afterwards are refused.
   */
  hangup(): void {
    this.hungUp = true;
    for (const s of this.sessions.values()) s?.hangup('the server is hanging up');
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
        if (message.sessionName !== undefined) this.attachable?.setName(message.sessionName);
        const liveness: ClientLiveness = {};
        if (message.aliveTimeoutMs !== undefined) liveness.aliveTimeoutMs = message.aliveTimeoutMs;
        if (message.heartbeatTimeoutMs !== undefined) liveness.heartbeatTimeoutMs = message.heartbeatTimeoutMs;
        this.emit('hello', message.clientVersion, liveness);
        break;
      }
      case 'resize':
        this.resize(message.session, message.cols, message.rows);
        break;
      case 'goodbye':
        this.emit('goodbye', message.reason);
        this.hangup();
        break;
      case 'detach':
        this.attachable?.park(this);
        this.emit('detach');
        this.hangup();
        break;
      case 'redraw':
        this.redraw(message.session);
        break;
      default:
        break; // exit is server->client
    }
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
    if (request.attach) {
      const refusal = this.checkRequest(request);
      if (refusal) refuse(stream, refusal);
      else this.acceptAttach(stream, request);
      return;
    }
    const { id } = request;
    await this.serve(request, {
      input: stream,
      output: stream,
      attachStream: stream,
      accept: (refused) => {
        let stderr: Stream | undefined;
        // A client that asked for a pty reads one output stream (also when the login may not have one): merge stderr into it.
        if (!request.pty) {
          stderr = this.conn.openStream(StreamKind.Stderr);
          stderr.on('error', () => undefined);
          stderr.write(encodeMessage({ type: 'stderr', session: id }));
        }
        stream.write(encodeMessage({ type: 'session-ok', ...refused } satisfies SessionReply));
        return stderr;
      },
      refuse: (message) => refuse(stream, message),
      reportExit: (status) => this.sendBus({ type: 'exit', session: id, ...status }),
      forwardingConn: this.conn,
    });
  }

  /**
   * Serve one session request that arrived over any protocol family: check it
   * against the policy (limits, the login's pty refusal), set up the
   * environment (with what sshd imposed) and agent / X11 forwarding, run the
   * handler over the channel's streams (through an attach carrier for an
   * attachable tsshd's terminal sessions), hang it up after ChannelTimeout
   * without traffic, and report the exit through the channel. The native
   * session stream and the reference adapter (reference/) both come here, so
   * sessions, policy and lifetime exist once.
   */
  async serve(request: SessionRequest, channel: SessionChannel): Promise<void> {
    const refusal = this.checkRequest(request);
    if (refusal) {
      channel.refuse(refusal);
      return;
    }
    // A pty the login may not have: refused if the user insisted on one (ssh -t gives up then), else the session runs without.
    const ptyRefused = request.pty !== undefined ? this.policy.ptyRefused : undefined;
    if (typeof ptyRefused === 'string' && request.pty?.required === true) {
      channel.refuse(`PTY allocation request failed: ${ptyRefused}`);
      return;
    }
    if (typeof ptyRefused === 'string') request = { ...request, pty: undefined };
    const { id } = request;
    const environ = sessionEnv(this.policy.loginEnv, request.env, (name) => this.policy.envAccepted(name), request.pty?.term, this.policy.imposedEnv);
    // Held while the agent socket / X11 display are set up, so the id stays taken and tsshd does not go idle meanwhile.
    this.starting.add(id);
    const forwarding = await this.setupForwarding(request, environ, channel.forwardingConn).finally(() => this.starting.delete(id));
    Object.assign(environ, forwarding.env);
    // An attachable tsshd's terminal sessions read and write through a carrier, which a later client can take over.
    const stream = channel.attachStream;
    const carrier = this.attachable !== undefined && request.pty !== undefined && stream !== undefined ? new SessionCarrier(request.pty.cols, request.pty.rows) : undefined;
    if (carrier !== undefined) carrier.attach(stream!);
    const { input, output } = channel;
    const session = new StreamSession({
      input: carrier?.input ?? input,
      output: carrier?.output ?? output,
      environ,
      command: request.command,
      subsystem: request.subsystem,
      pty: request.pty,
      remote: () => this.remote(),
      open: () => {
        const refused: SessionRefusals = {};
        if (forwarding.agentRefused !== undefined) refused.agentRefused = forwarding.agentRefused;
        if (forwarding.x11Refused !== undefined) refused.x11Refused = forwarding.x11Refused;
        const stderr = channel.accept(refused);
        this.emit('session', id, request);
        return stderr;
      },
      reportExit: (exit: SessionExit) => {
        const status: ExitStatus = typeof exit === 'number' ? { code: exit } : { signal: exit.signal };
        // An attachable session's exit goes to whichever client owns it by then.
        if (carrier !== undefined) {
          this.attachable!.reportExit(id, status);
          return;
        }
        channel.reportExit(status);
        this.emit('exit', id, status);
      },
    });
    this.sessions.set(id, session);
    if (carrier !== undefined) {
      this.carriers.set(id, carrier);
      session.on('window-change', (size: { cols: number; rows: number }) => carrier.screen.resize(size.cols, size.rows));
      this.attachable!.add({ id, session, carrier, owner: this });
    }
    session.once('process', (pid: number) => this.emit('process', id, pid));
    // The client vanished from under this session (stream reset): hang it up, as sshd does on channel close.
    // An attachable session only loses its client: it waits for the next one.
    output.once('close', () => {
      if (carrier !== undefined) carrier.detach(stream);
      else if (!output.writableFinished) session.hangup('the client reset the session');
    });
    if (this.hungUp || (output.destroyed && carrier === undefined)) session.hangup('the server is hanging up');
    const channelType = request.subsystem !== undefined ? `session:subsystem:${request.subsystem}` : request.command !== undefined ? 'session:command' : 'session:shell';
    const stopIdleTimer = hangUpWhenIdle(session, this.policy.sessionIdleTimeoutMs?.(channelType));
    void session.done.then(() => {
      stopIdleTimer();
      forwarding.release();
      // Whatever stdin still arrives has nowhere to go.
      input.resume();
      // An attachable session's owner (maybe another host by now) is told by the registry.
      if (carrier === undefined) this.ended(id);
    });
    await serveSession(this.handler, session, (err) => {
      this.emit('handler-error', id, err);
      if (session.isOpen || !isStartError(err)) return false;
      // Nothing was sent yet: refuse, so the client reports why (as for any refusal).
      forwarding.release();
      this.sessions.delete(id);
      if (carrier !== undefined) {
        this.carriers.delete(id);
        this.attachable!.remove(id);
        carrier.detach();
      }
      channel.refuse(err instanceof Error ? err.message : String(err));
      this.emitIdleIfIdle();
      return true;
    });
  }

  /** Pass a window change to session `id`; false if it has no pty or is gone. */
  resize(id: number, cols: number, rows: number): boolean {
    const done = this.sessions.get(id)?.windowChange(cols, rows) ?? false;
    if (done) this.emit('resize', id, cols, rows);
    return done;
  }

  /** Ask session `id` to repaint (after an outage); false without a pty. */
  redraw(id: number): boolean {
    const done = this.sessions.get(id)?.redraw() ?? false;
    if (done) this.emit('redraw', id);
    return done;
  }

  /** Hang up session `id` (the client closed it); false if there is none. */
  hangupSession(id: number, reason: string): boolean {
    const session = this.sessions.get(id);
    session?.hangup(reason);
    return session !== undefined;
  }

  /** Whether session `id` is running. */
  hasSession(id: number): boolean {
    return this.sessions.get(id) !== undefined;
  }

  /** Take over an attachable session for this client: its stream, its size, a repaint, and what was kept while detached. */
  private acceptAttach(stream: Stream, request: SessionRequest): void {
    const { id } = request;
    if (this.attachable === undefined) {
      refuse(stream, 'this tsshd was not started with --attachable; start sessions with tssh --attach (UdpSessionAttach yes) to attach to them later');
      return;
    }
    const taken = this.attachable.take(id, this);
    if (typeof taken === 'string') {
      refuse(stream, taken);
      return;
    }
    const { session, carrier } = taken;
    this.sessions.set(id, session);
    this.carriers.set(id, carrier);
    stream.write(encodeMessage({ type: 'session-ok', attached: true } satisfies SessionReply));
    carrier.attach(stream);
    stream.once('close', () => carrier.detach(stream));
    if (this.hungUp) session.hangup('the server is hanging up');
    // The new client's size. At an unchanged size the pty passes through one row less first, and back once the
    // program answered (or ATTACH_REPAINT_WAIT_MS passed): readline (bash's prompt) repaints only on a real change,
    // and two quick changes would reach it as one signal at the old size.
    const pty = request.pty!;
    const resize = (): void => {
      if (session.windowChange(pty.cols, pty.rows)) this.emit('resize', id, pty.cols, pty.rows);
    };
    if (session.pty?.cols === pty.cols && session.pty?.rows === pty.rows) {
      const answered = carrier.nextOutput(ATTACH_REPAINT_WAIT_MS);
      session.windowChange(pty.cols, pty.rows > 1 ? pty.rows - 1 : pty.rows + 1);
      void answered.then(resize);
    } else {
      resize();
    }
    this.emit('attached', id);
  }

  /** AttachOwner: report an exit on this connection's bus. */
  sendExit(id: number, status: ExitStatus): void {
    this.sendBus({ type: 'exit', session: id, ...status });
    this.emit('exit', id, status);
  }

  /** AttachOwner: forget a session that moved to another client or was parked, without hanging it up. */
  release(id: number): void {
    this.sessions.delete(id);
    this.carriers.delete(id);
  }

  /** AttachOwner: a session ended. */
  ended(id: number): void {
    if (!this.sessions.has(id)) return;
    this.sessions.delete(id);
    this.carriers.delete(id);
    this.emitIdleIfIdle();
  }

  /** The client's path lost or regained contact: attachable sessions keep their output meanwhile. */
  setInContact(inContact: boolean): void {
    for (const carrier of this.carriers.values()) carrier.setInContact(inContact);
  }

  /** The client's address now: the path's peer, else the login's (SSH_CONNECTION). */
  private remote(): { address: string; port: number } {
    const peer = this.peer();
    // The dual-stack socket names IPv4 clients as IPv4-mapped IPv6 addresses.
    if (peer) return { address: peer.address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, ''), port: peer.port };
    const words = (this.policy.loginEnv.SSH_CONNECTION ?? '').split(' ');
    return { address: words[0] ?? '', port: Number(words[1]) || 0 };
  }

  /** Agent socket and X11 display for the session, when asked for and allowed. */
  private async setupForwarding(request: SessionRequest, env: Readonly<Record<string, string>>, conn: Pick<Connection, 'openStream'> | undefined): Promise<SessionForwardingSetup> {
    const none: SessionForwardingSetup = { env: {}, release: () => undefined };
    if (!request.agent && !request.x11) return none;
    if (this.policy.forwarding && conn) return this.policy.forwarding.setup(conn, request, env);
    if (request.agent) none.agentRefused = 'agent forwarding is not offered by this server';
    if (request.x11) none.x11Refused = 'X11 forwarding is not offered by this server';
    return none;
  }

  /** Why the request cannot be served, or undefined if it can. */
  private checkRequest(request: SessionRequest): string | undefined {
    if (this.hungUp) return 'the server is hanging up';
    if (this.sessions.has(request.id) || this.starting.has(request.id)) return `session id ${request.id} is in use`;
    if (this.sessions.size + this.starting.size >= this.maxSessions) return `too many sessions (limit ${this.maxSessions})`;
    return this.policy.loginRefusal?.() ?? undefined;
  }

  private emitIdleIfIdle(): void {
    if (this.sessions.size === 0 && this.starting.size === 0) this.emit('idle');
  }
}

/**
 * sshd's ChannelTimeout for sessions: hang the session up once it has seen no
 * byte either way for `timeoutMs`. One timer, re-armed for what is left when
 * it finds newer traffic (never one per chunk). Returns the stop function.
 */
function hangUpWhenIdle(session: StreamSession, timeoutMs: number | undefined): () => void {
  if (timeoutMs === undefined || !(timeoutMs > 0)) return () => undefined;
  let timer: NodeJS.Timeout;
  const check = (): void => {
    const idle = performance.now() - session.lastActivity;
    if (idle >= timeoutMs) session.hangup('ChannelTimeout');
    else timer = setTimeout(check, timeoutMs - idle);
  };
  timer = setTimeout(check, timeoutMs);
  return () => clearTimeout(timer);
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
