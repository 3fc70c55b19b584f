/**
 * tssh's side of port forwarding over one Connection, with ssh's semantics
 * (server side: src/server/forward-host.ts; wire: docs/FORWARDING.md):
 *  - -L: listen locally (TCP or Unix socket); each connection opens a
 *    Forward stream with forward-open; tsshd connects and replies;
 *  - -D: a local SOCKS4/4a/5 server doing the same for the target the SOCKS
 *    client names (names are resolved by tsshd);
 *  - -W: one forward-open stream handed to the caller;
 *  - -R: listen requests on one forward-control stream; each connection
 *    tsshd accepts arrives as a forward-incoming stream, which we connect to
 *    the local target;
 *  - UDP -L/-R: udp-forward.ts.
 * Failures are returned (listen) or logged (per connection, like ssh's
 * "channel N: open failed: ..." lines); ExitOnForwardFailure is the caller's.
 */
import { connect, type Socket } from 'node:net';
import { describeSocketError, hostPort, listenTcp, listenUnix, type StreamListener } from '../protocol/forward-listeners.js';
import {
  describeTarget,
  FAILURE_REASON_TEXT,
  parseControlReply,
  parseForwardHeader,
  parseForwardReply,
  type ControlRequest,
  type ForwardIncomingMessage,
  type ForwardReply,
  type ForwardTarget,
  type HostPort,
  type ListenBind,
} from '../protocol/forward-messages.js';
import { spliceSocket } from '../protocol/forward-splice.js';
import { encodeMessage, readFirstMessage, readMessages } from '../protocol/message-codec.js';
import { ProtocolError } from '../protocol/messages.js';
import { DEFAULT_RELAY_LIMITS, RelaySet, type RelayLimits, type RelaySlot } from '../protocol/relay-set.js';
import { StreamKind } from '../protocol/stream-kind.js';
import type { Connection, Stream } from '../transport/connection.js';
import type { DynamicForwardSpec, ForwardSpec } from './forward-spec.js';
import { clientBindPlan, remoteBindHost } from './local-bind.js';
import { readSocksRequest, socksReply, SocksError } from './socks.js';
import { UdpForwarder, type UdpForwarderStats } from './udp-forward.js';

/** Options, from ssh's command line and ssh_config. */
export interface ForwarderOptions {
  /** Where one-line notices go (ssh prints them on stderr). */
  log?: (line: string) => void;
  /** ssh -g / GatewayPorts: local listeners without an address bind every interface. */
  gatewayPorts?: boolean;
  /** StreamLocalBindMask for local Unix listeners (default 0177). */
  streamLocalBindMask?: number;
  /** StreamLocalBindUnlink: remove a stale local socket file before binding. */
  streamLocalBindUnlink?: boolean;
  /** ForwardUdpTimeout in ms (default 5 minutes). */
  udpTimeoutMs?: number;
  /** UDP associations per forward (default 1024). */
  maxUdpAssociations?: number;
  /** Forwarded connections being set up / open at once (default 128 / 4096). */
  relayLimits?: RelayLimits;
  /** How long a SOCKS client may take to send its request, in ms (default 30 s). */
  socksTimeoutMs?: number;
}

/** A forward that is in place: where it listens, and how to stop it. */
export interface ActiveForward {
  /** The port bound (locally for -L/-D, on the server for -R); undefined for a Unix socket. */
  port?: number;
  close(): void;
}

/** Counters for tests and logs. */
export interface ForwarderStats {
  /** Forward opens that tsshd refused or could not connect. */
  openFailures: number;
  open: number;
  pending: number;
  limited: number;
  udp: UdpForwarderStats;
}

interface RemoteTcpForward {
  id: number;
  bind: ListenBind;
  connect: ForwardTarget;
  settle?: { resolve: (port: number | undefined) => void; reject: (err: Error) => void };
}

/** ssh's ForwardUdpTimeout default. */
export const DEFAULT_UDP_TIMEOUT_MS = 300_000;
/** Associations per UDP forward. */
export const DEFAULT_MAX_UDP_ASSOCIATIONS = 1024;

/** The client side of forwarding for one connection. */
export class Forwarder {
  private readonly log: (line: string) => void;
  private readonly relays: RelaySet;
  private readonly udp: UdpForwarder;
  private readonly listeners = new Set<StreamListener>();
  private readonly remotes = new Map<number, RemoteTcpForward>();
  private control: Stream | null = null;
  private controlGone = false;
  private nextId = 1;
  private openFailures = 0;
  private closed = false;

  constructor(
    private readonly conn: Connection,
    private readonly options: ForwarderOptions = {},
  ) {
    this.log = options.log ?? (() => undefined);
    this.relays = new RelaySet(options.relayLimits ?? DEFAULT_RELAY_LIMITS);
    this.udp = new UdpForwarder(conn, {
      log: this.log,
      idleMs: options.udpTimeoutMs ?? DEFAULT_UDP_TIMEOUT_MS,
      maxAssociations: options.maxUdpAssociations ?? DEFAULT_MAX_UDP_ASSOCIATIONS,
      gatewayPorts: options.gatewayPorts ?? false,
      streamLocalBindMask: options.streamLocalBindMask,
      streamLocalBindUnlink: options.streamLocalBindUnlink,
    });
    conn.on('stream', this.onStream);
    conn.once('close', () => void this.close());
  }

  /** Forwarded connections (-L, -D, -W, -R) open now, set up or not. */
  get openConnections(): number {
    return this.relays.open;
  }

  /** Resolves once no forwarded connection is open (at once if none is). */
  whenNoConnections(): Promise<void> {
    return this.relays.whenIdle();
  }

  stats(): ForwarderStats {
    return { openFailures: this.openFailures, open: this.relays.open, pending: this.relays.pending, limited: this.relays.refused, udp: this.udp.stats() };
  }

  /** -L: listen locally and carry each connection to `spec.connect` through tsshd. UDP specs go to udpLocalForward. */
  async localForward(spec: ForwardSpec): Promise<ActiveForward> {
    if (spec.proto === 'udp') return this.udpLocalForward(spec);
    this.checkOpen();
    const target = spec.connect;
    return this.listenLocally(spec.listen, (socket) => this.forwardLocal(socket, target));
  }

  /** -D: a SOCKS4/4a/5 server on `spec.listen`; each CONNECT is forwarded through tsshd. */
  async dynamicForward(spec: DynamicForwardSpec): Promise<ActiveForward> {
    this.checkOpen();
    return this.listenLocally(spec.listen, (socket) => void this.forwardSocks(socket));
  }

  /**
   * -W host:port: open one forward to `host:port` and return its stream
   * (the caller pipes stdin/stdout). The stream is paused, as its header was
   * just read from it: pipe() it or call resume(). Rejects with ssh's one-line message if
   * tsshd refuses or cannot connect.
   */
  async stdioForward(host: string, port: number): Promise<Stream> {
    this.checkOpen();
    const { stream, reply: pending } = this.openForward({ host, port });
    const reply = await pending;
    if (reply.type === 'forward-ok') return stream;
    throw new Error(`${this.openFailedText(stream, reply)}; stdio forwarding failed`);
  }

  /** -R: ask tsshd to listen at `spec.listen`; connections it accepts come to `spec.connect` here. Resolves with the port tsshd bound. */
  async remoteForward(spec: ForwardSpec): Promise<ActiveForward> {
    if (spec.proto === 'udp') return this.udpRemoteForward(spec);
    this.checkOpen();
    const control = this.ensureControl();
    const id = this.nextId++;
    const host = 'path' in spec.listen ? undefined : remoteBindHost(spec.listen.host);
    const bind: ListenBind = 'path' in spec.listen ? { path: spec.listen.path } : host === undefined ? { port: spec.listen.port } : { host, port: spec.listen.port };
    const forward: RemoteTcpForward = { id, bind, connect: spec.connect };
    this.remotes.set(id, forward);
    const port = await new Promise<number | undefined>((resolve, reject) => {
      forward.settle = { resolve, reject };
      this.sendControl({ type: 'listen', id, bind });
      if (this.controlGone || control.destroyed) this.failPendingRemotes('the connection closed');
    });
    const active: ActiveForward = { close: () => this.cancelRemote(forward) };
    if (port !== undefined) active.port = port;
    return active;
  }

  /** -L udp/...: listen on a local UDP port or Unix datagram socket and relay each source through tsshd to `spec.connect`. */
  async udpLocalForward(spec: ForwardSpec): Promise<ActiveForward> {
    this.checkOpen();
    return this.udp.localForward(spec.listen, spec.connect);
  }

  /** -R udp/...: ask tsshd to listen on a UDP port or Unix datagram socket and relay each source to `spec.connect` here. */
  async udpRemoteForward(spec: ForwardSpec): Promise<ActiveForward> {
    this.checkOpen();
    return this.udp.remoteForward(spec.listen, spec.connect);
  }

  /** Stop every forward: local listeners close, tsshd's listeners go with the control streams, open connections are cut. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.conn.off('stream', this.onStream);
    for (const l of this.listeners) l.close();
    this.listeners.clear();
    this.failPendingRemotes('the forwarder was closed');
    this.remotes.clear();
    if (this.control && !this.control.destroyed) this.control.end();
    this.udp.close();
    this.relays.closeAll();
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('the forwarder is closed');
  }

  // ---- local listeners (-L, -D) ----

  private async listenLocally(listen: { host?: string; port: number } | { path: string }, onConnection: (socket: Socket) => void): Promise<ActiveForward> {
    let listener: StreamListener;
    try {
      listener =
        'path' in listen
          ? await listenUnix(listen.path, onConnection, { mask: this.options.streamLocalBindMask, unlink: this.options.streamLocalBindUnlink })
          : await listenTcp(clientBindPlan(listen.host, this.options.gatewayPorts ?? false), listen.port, onConnection);
    } catch (err) {
      throw new Error(`cannot listen on ${describeTarget(listen)}: ${describeSocketError(err)}`);
    }
    if (this.closed) {
      listener.close();
      throw new Error('the forwarder is closed');
    }
    this.listeners.add(listener);
    const active: ActiveForward = {
      close: () => {
        if (this.listeners.delete(listener)) listener.close();
      },
    };
    if (listener.port !== undefined) active.port = listener.port;
    return active;
  }

  /** Claim a slot and track the socket, or drop it at a limit. */
  private admit(socket: Socket): RelaySlot | null {
    const slot = this.relays.begin();
    if (!slot) {
      socket.destroy();
      return null;
    }
    socket.on('error', () => undefined);
    this.relays.track(socket);
    return slot;
  }

  /**
   * Open a Forward stream to `target`; `reply` settles with tsshd's answer
   * (or rejects, the stream reset, on a protocol error or a lost stream).
   * Closing `local` before the answer resets the stream.
   */
  private openForward(target: ForwardTarget, local?: Socket): { stream: Stream; reply: Promise<ForwardReply> } {
    const stream = this.conn.openStream(StreamKind.Forward);
    stream.on('error', () => undefined);
    this.relays.track(stream);
    const header: { type: 'forward-open'; target: ForwardTarget; originator?: HostPort } = { type: 'forward-open', target };
    if (local?.remoteAddress !== undefined && local.remotePort !== undefined) {
      header.originator = { host: local.remoteAddress, port: local.remotePort };
    }
    stream.write(encodeMessage(header));
    const abandon = (): void => stream.reset();
    local?.once('close', abandon);
    const reply = readFirstMessage(stream)
      .then(parseForwardReply)
      .finally(() => local?.off('close', abandon))
      .catch((err: unknown) => {
        stream.reset();
        throw err;
      });
    return { stream, reply };
  }

  private openFailedText(stream: Stream, reply: Extract<ForwardReply, { type: 'forward-error' }>): string {
    this.openFailures++;
    return `channel ${stream.id}: open failed: ${FAILURE_REASON_TEXT[reply.reason]}: ${reply.message}`;
  }

  /** -L: one accepted local connection. */
  private forwardLocal(socket: Socket, target: ForwardTarget): void {
    const slot = this.admit(socket);
    if (!slot) return;
    socket.once('close', () => slot.done());
    // The local socket stays paused until tsshd has connected (as ssh waits for the channel confirmation).
    const { stream, reply } = this.openForward(target, socket);
    reply.then(
      (reply) => {
        slot.ready();
        if (reply.type === 'forward-ok') {
          spliceSocket(socket, stream);
          return;
        }
        this.log(this.openFailedText(stream, reply));
        socket.destroy();
        stream.end();
        stream.resume();
      },
      (err: unknown) => {
        slot.ready();
        // A local socket that closed first reset the stream itself: nothing to report.
        if (!socket.destroyed) this.log(`forward to ${describeTarget(target)}: ${errorText(err)}`);
        socket.destroy();
      },
    );
  }

  /** -D: read the SOCKS request, forward, answer the SOCKS client. */
  private async forwardSocks(socket: Socket): Promise<void> {
    const slot = this.admit(socket);
    if (!slot) return;
    socket.once('close', () => slot.done());
    const timeoutMs = this.options.socksTimeoutMs ?? 30_000;
    socket.setTimeout(timeoutMs, () => {
      this.log(`SOCKS client sent no request within ${timeoutMs} ms; closing it`);
      socket.destroy();
    });
    let request;
    try {
      request = await readSocksRequest(socket);
    } catch (err) {
      slot.ready();
      if (err instanceof SocksError) this.log(`dynamic forward: ${err.message}`);
      socket.destroy();
      return;
    } finally {
      socket.setTimeout(0);
    }
    if (socket.destroyed) return;
    const { stream, reply: pending } = this.openForward(request.target, socket);
    let reply;
    try {
      reply = await pending;
    } catch (err) {
      slot.ready();
      if (socket.destroyed) return;
      this.log(`dynamic forward to ${hostPort(request.target.host, request.target.port)}: ${errorText(err)}`);
      socket.end(socksReply(request.version, 'connect-failed'));
      return;
    }
    slot.ready();
    if (reply.type === 'forward-ok') {
      socket.write(socksReply(request.version, 'ok'));
      spliceSocket(socket, stream);
      return;
    }
    this.log(this.openFailedText(stream, reply));
    socket.end(socksReply(request.version, reply.reason));
    stream.end();
    stream.resume();
  }

  // ---- remote forwards (-R) ----

  private ensureControl(): Stream {
    if (this.control) return this.control;
    const control = this.conn.openStream(StreamKind.Forward);
    this.control = control;
    control.on('error', () => undefined);
    control.write(encodeMessage({ type: 'forward-control' }));
    const gone = (): void => {
      if (this.controlGone) return;
      this.controlGone = true;
      this.failPendingRemotes('tsshd closed the forwarding control stream');
    };
    control.once('close', gone);
    control.once('end', gone);
    readMessages(
      control,
      (value) => this.onControlReply(value),
      (err) => {
        this.log(`remote forwarding: ${err.message}`);
        control.reset();
      },
    );
    return control;
  }

  private sendControl(message: ControlRequest): void {
    if (this.control && !this.control.destroyed && !this.control.writableEnded) this.control.write(encodeMessage(message));
  }

  private failPendingRemotes(why: string): void {
    for (const forward of this.remotes.values()) {
      const settle = forward.settle;
      forward.settle = undefined;
      settle?.reject(new Error(`remote port forwarding failed for listen ${describeTarget(forward.bind)}: ${why}`));
    }
  }

  private onControlReply(value: unknown): void {
    let reply;
    try {
      reply = parseControlReply(value);
    } catch (err) {
      if (err instanceof ProtocolError && err.code !== 'unknown-type') this.log(`remote forwarding: ${err.message}`);
      return;
    }
    const forward = this.remotes.get(reply.id);
    const settle = forward?.settle;
    if (!forward || !settle) return;
    forward.settle = undefined;
    if (reply.type === 'listen-ok') return settle.resolve(reply.port);
    this.remotes.delete(reply.id);
    settle.reject(new Error(`remote port forwarding failed for listen ${describeTarget(forward.bind)}: ${reply.message}`));
  }

  private cancelRemote(forward: RemoteTcpForward): void {
    if (this.remotes.get(forward.id) !== forward) return;
    this.remotes.delete(forward.id);
    this.sendControl({ type: 'cancel', id: forward.id });
  }

  private readonly onStream = (stream: Stream): void => {
    if (stream.kind !== StreamKind.Forward) return;
    stream.on('error', () => undefined);
    readFirstMessage(stream)
      .then(parseForwardHeader)
      .then(
        (header) => {
          if (header.type === 'forward-incoming') return this.acceptIncoming(stream, header);
          this.log(`forward stream ${stream.id}: unexpected ${header.type} from tsshd`);
          stream.reset();
        },
        (err: unknown) => {
          this.log(`forward stream ${stream.id}: ${errorText(err)}`);
          stream.reset();
        },
      );
  };

  /** -R: tsshd accepted a connection; connect to our local target and relay. */
  private acceptIncoming(stream: Stream, header: ForwardIncomingMessage): void {
    const refuse = (reason: 'prohibited' | 'connect-failed' | 'resource-shortage', message: string): void => {
      if (!stream.destroyed) stream.end(encodeMessage({ type: 'forward-error', reason, message }));
      stream.resume();
    };
    const forward = this.remotes.get(header.id);
    if (!forward || forward.settle || this.closed) return refuse('prohibited', `no remote forward ${header.id}`);
    const slot = this.relays.begin();
    if (!slot) return refuse('resource-shortage', 'too many forwarded connections');
    this.relays.track(stream);
    const target = forward.connect;
    const socket = 'path' in target ? connect({ path: target.path, allowHalfOpen: true }) : connect({ host: target.host, port: target.port, allowHalfOpen: true });
    this.relays.track(socket);
    let closes = 0;
    const closedOne = (): void => {
      if (++closes === 2) slot.done();
    };
    socket.once('close', closedOne);
    stream.once('close', closedOne);
    const abandon = (): void => void socket.destroy();
    stream.once('close', abandon);
    const onError = (err: Error): void => {
      stream.off('close', abandon);
      slot.ready();
      const why = `connect to ${describeTarget(target)} failed: ${describeSocketError(err)}`;
      this.log(`remote forward ${describeTarget(forward.bind)}: ${why}`);
      refuse('connect-failed', why);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      socket.on('error', () => undefined);
      stream.off('close', abandon);
      slot.ready();
      if (stream.destroyed) return void socket.destroy();
      stream.write(encodeMessage({ type: 'forward-ok' }));
      spliceSocket(socket, stream);
    });
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
