/**
 * The server side of UDP forwarding over one connection's datagram channels.
 *
 * -L udp: the client announces each association (a local source it heard
 * from) with udp-open {channel, target}; we open a UDP socket connected to
 * the target, send the channel's datagrams from it and relay its replies
 * back on the same channel. The client expires idle associations.
 *
 * -R udp: the client asks for a listener; each new source heard there gets
 * a channel from our range, announced with udp-incoming, and its datagrams
 * go on that channel; replies on the channel go back to that source. We
 * expire idle associations (the client's idleMs) and say udp-close.
 *
 * Either end may be a Unix datagram socket instead (a target path, or a
 * listener bound at a path: unix-datagram.ts).
 *
 * A datagram larger than the connection's maxDatagramSize is dropped and
 * counted, with one log line per association: UDP may lose datagrams, and
 * splitting one would break applications that rely on their boundaries.
 */
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { openDatagramTarget, SocketDirectory, type DatagramTarget } from '../protocol/datagram-target.js';
import { describeSocketError, listenUdp, type DatagramListener } from '../protocol/forward-listeners.js';
import {
  CLIENT_UDP_CHANNELS,
  describeTarget,
  parseUdpClientMessage,
  SERVER_UDP_CHANNELS,
  type ForwardTarget,
  type HostPort,
  type ListenMessage,
  type UdpServerMessage,
} from '../protocol/forward-messages.js';
import { encodeMessage, readMessages } from '../protocol/message-codec.js';
import { ProtocolError } from '../protocol/messages.js';
import { ChannelAllocator, EarlyDatagrams, IdleSweeper } from '../protocol/udp-channels.js';
import { bindUnixDatagram, describeUnixDatagramError, type UnixDatagramSocket } from '../protocol/unix-datagram.js';
import type { Connection, Stream } from '../transport/connection.js';
import { refuseListen, refuseOpen, serverBindPlan, type ForwardPolicy } from './forward-policy.js';

/** Limits of the UDP side. */
export interface UdpHostLimits {
  /** Associations the client may open at once (-L udp). */
  maxOutbound: number;
  /** Sources one UDP listener may carry at once (-R udp). */
  maxPerListener: number;
  /** UDP listeners at once. */
  maxListeners: number;
}

/** Defaults: the client's per-forward limit is 1024 sources; the server allows a few forwards' worth. */
export const DEFAULT_UDP_HOST_LIMITS: UdpHostLimits = { maxOutbound: 4096, maxPerListener: 1024, maxListeners: 256 };

/** The -R idle timeout when the client gives none: ForwardUdpTimeout's default, 5 minutes. */
export const DEFAULT_UDP_IDLE_MS = 300_000;

/** Counters for tests and debug logs. */
export interface UdpHostStats {
  /** Datagrams relayed towards the client / away from it. */
  toClient: number;
  fromClient: number;
  /** Datagrams dropped because they exceed the connection's maxDatagramSize. */
  oversizeDropped: number;
  /** Datagrams dropped: no association, association refused, limit reached or holding pen full. */
  dropped: number;
  /** Associations open now (both directions). */
  associations: number;
}

/** A client-announced association (-L udp): one socket towards the target. */
interface Outbound {
  channel: number;
  target: ForwardTarget;
  /** Null while resolving and connecting; datagrams wait in the early pen meanwhile. */
  socket: DatagramTarget | null;
  warnedOversize: boolean;
}

/** A source heard on one of our UDP listeners (-R udp). */
interface Inbound {
  channel: number;
  key: string;
  listener: UdpListener;
  /** Sends a reply to the source; null for a Unix socket with no path (it cannot be answered). */
  reply: ((payload: Buffer) => void) | null;
  /** For log lines: host:port or the socket path. */
  name: string;
  /** The client refused it: drop its datagrams until it goes idle. */
  refused: boolean;
  warnedOversize: boolean;
  warnedNoPath: boolean;
}

interface UdpListener {
  id: number;
  bound?: DatagramListener;
  /** A listener at a socket path instead of a port. */
  unix?: UnixDatagramSocket;
  sources: Map<string, Inbound>;
  sweeper?: IdleSweeper<number>;
  warnedFull: boolean;
}

/** UDP forwarding for one connection; one udp-control stream at a time. */
export class UdpForwardHost {
  private control: Stream | null = null;
  private readonly outbound = new Map<number, Outbound>();
  private readonly inbound = new Map<number, Inbound>();
  private readonly listeners = new Map<number, UdpListener>();
  private readonly early = new EarlyDatagrams();
  private readonly channels = new ChannelAllocator(SERVER_UDP_CHANNELS);
  private readonly sockets = new SocketDirectory('tsshd-udp-');
  private readonly counters = { toClient: 0, fromClient: 0, oversizeDropped: 0, dropped: 0 };
  private closed = false;

  constructor(
    private readonly conn: Connection,
    private readonly policy: ForwardPolicy,
    private readonly log: (line: string) => void,
    private readonly limits: UdpHostLimits = DEFAULT_UDP_HOST_LIMITS,
  ) {
    conn.on('datagram', this.onDatagram);
  }

  stats(): UdpHostStats {
    return { ...this.counters, dropped: this.counters.dropped + this.early.dropped, associations: this.outbound.size + this.inbound.size };
  }

  /** Take a udp-control stream; false (and the stream is reset) if one is already attached. */
  attach(control: Stream): boolean {
    if (this.closed || this.control) {
      control.reset();
      return false;
    }
    this.control = control;
    control.on('error', () => undefined);
    control.once('close', () => this.detach(control));
    control.once('end', () => this.detach(control));
    readMessages(
      control,
      (value) => this.onMessage(value),
      (err) => {
        this.log(`udp control stream: ${err.message}`);
        control.reset();
      },
    );
    control.resume(); // readFirstMessage left it paused
    return true;
  }

  /** Stop listening for datagrams and close every socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.off('datagram', this.onDatagram);
    if (this.control) this.detach(this.control);
    this.sockets.close();
  }

  /** The control stream is gone: every association and listener goes with it. */
  private detach(control: Stream): void {
    if (this.control !== control) return;
    this.control = null;
    for (const o of this.outbound.values()) o.socket?.close();
    this.outbound.clear();
    for (const l of this.listeners.values()) this.closeListener(l);
    this.listeners.clear();
    this.early.clear();
    if (!control.destroyed) control.end();
  }

  private send(message: UdpServerMessage): void {
    if (this.control && !this.control.destroyed) this.control.write(encodeMessage(message));
  }

  private onMessage(value: unknown): void {
    let message;
    try {
      message = parseUdpClientMessage(value);
    } catch (err) {
      if (err instanceof ProtocolError && err.code !== 'unknown-type') this.log(`udp control stream: ${err.message}`);
      return;
    }
    switch (message.type) {
      case 'udp-open':
        void this.open(message.channel, message.target);
        return;
      case 'udp-close':
        this.closeChannel(message.channel, message.message);
        return;
      case 'listen':
        void this.listen(message);
        return;
      case 'cancel': {
        const l = this.listeners.get(message.id);
        if (l) {
          this.listeners.delete(message.id);
          this.closeListener(l);
        }
        return;
      }
    }
  }

  // ---- -L udp: associations the client opens ----

  private async open(channel: number, target: ForwardTarget): Promise<void> {
    const refuse = (why: string): void => {
      this.counters.dropped += this.early.take(channel).length;
      this.send({ type: 'udp-close', channel, message: why });
    };
    if (this.outbound.has(channel)) return refuse(`channel ${channel} is already in use`);
    if (this.outbound.size >= this.limits.maxOutbound) return refuse(`too many UDP associations (at most ${this.limits.maxOutbound})`);
    const refusal = refuseOpen(this.policy, target, 'udp');
    if (refusal) {
      this.log(`refused UDP forward to ${describeTarget(target)}: ${refusal}`);
      return refuse(refusal);
    }
    const o: Outbound = { channel, target, socket: null, warnedOversize: false };
    this.outbound.set(channel, o);
    let socket: DatagramTarget;
    try {
      socket = await openDatagramTarget(target, (msg) => this.toClient(channel, msg, o), this.sockets);
    } catch (err) {
      if (this.outbound.get(channel) !== o) return;
      this.outbound.delete(channel);
      this.counters.dropped += this.early.take(channel).length;
      const why = `${describeTarget(target)}: ${(err as Error).message}`;
      if ('path' in target) this.log(`UDP forward to ${why}`);
      this.send({ type: 'udp-close', channel, message: why });
      return;
    }
    if (this.outbound.get(channel) !== o) {
      socket.close();
      return;
    }
    o.socket = socket;
    for (const payload of this.early.take(channel)) this.fromClientTo(o, payload);
  }

  private fromClientTo(o: Outbound, payload: Buffer): void {
    this.counters.fromClient++;
    o.socket!.send(payload, this.sent);
  }

  /** Completion of every send: a failed one is a lost datagram. */
  private readonly sent = (err?: Error | null): void => {
    if (err) this.counters.dropped++;
  };

  // ---- -R udp: listeners the client asks for ----

  private async listen(message: ListenMessage): Promise<void> {
    const { id, bind } = message;
    const fail = (why: string): void => this.send({ type: 'listen-error', id, message: why });
    if (this.listeners.has(id)) return fail(`listener id ${id} is already in use`);
    if (this.listeners.size >= this.limits.maxListeners) return fail(`too many UDP remote forwards (at most ${this.limits.maxListeners})`);
    const refusal = refuseListen(this.policy, bind, 'udp');
    if (refusal) {
      this.log(`refused UDP remote forward on ${describeTarget(bind)}: ${refusal}`);
      return fail(refusal);
    }
    const l: UdpListener = { id, sources: new Map(), warnedFull: false };
    this.listeners.set(id, l);
    if ('path' in bind) {
      let unix: UnixDatagramSocket;
      try {
        unix = await bindUnixDatagram(bind.path, (msg, from) => this.fromUnixSource(l, msg, from), {
          mask: this.policy.streamLocalBindMask,
          unlink: this.policy.streamLocalBindUnlink,
        });
      } catch (err) {
        if (this.listeners.get(id) === l) this.listeners.delete(id);
        const why = `cannot listen on ${bind.path}: ${describeUnixDatagramError(err)}`;
        this.log(`UDP remote forward: ${why}`);
        return fail(why);
      }
      if (this.listeners.get(id) !== l) {
        unix.close();
        return;
      }
      l.unix = unix;
      l.sweeper = new IdleSweeper(message.idleMs ?? DEFAULT_UDP_IDLE_MS, (channel) => this.expire(channel));
      this.send({ type: 'listen-ok', id });
      return;
    }
    let bound: DatagramListener;
    try {
      bound = await listenUdp(serverBindPlan(this.policy, bind), bind.port, (socket, msg, from) => this.fromSource(l, socket, msg, from));
    } catch (err) {
      if (this.listeners.get(id) === l) this.listeners.delete(id);
      const why = `cannot listen on ${describeTarget(bind)}: ${describeSocketError(err)}`;
      this.log(`UDP remote forward: ${why}`);
      return fail(why);
    }
    if (this.listeners.get(id) !== l) {
      bound.close();
      return;
    }
    l.bound = bound;
    l.sweeper = new IdleSweeper(message.idleMs ?? DEFAULT_UDP_IDLE_MS, (channel) => this.expire(channel));
    this.send({ type: 'listen-ok', id, port: bound.port });
  }

  private closeListener(l: UdpListener): void {
    l.bound?.close();
    l.unix?.close();
    l.sweeper?.close();
    for (const source of l.sources.values()) {
      this.inbound.delete(source.channel);
      this.channels.release(source.channel);
    }
    l.sources.clear();
  }

  private fromSource(l: UdpListener, socket: UdpSocket, msg: Buffer, from: RemoteInfo): void {
    if (!l.bound) return;
    const key = `${l.bound.sockets.indexOf(socket)}|${from.address}|${from.port}`;
    const source = l.sources.get(key) ?? this.newSource(l, key, `${from.address}:${from.port}`, { host: from.address, port: from.port }, (payload) => socket.send(payload, from.port, from.address, this.sent));
    if (source) this.fromKnownSource(source, msg);
  }

  /** A datagram at a Unix listener; `from` is the sender's socket path, null if it has none. */
  private fromUnixSource(l: UdpListener, msg: Buffer, from: string | null): void {
    const unix = l.unix;
    if (!unix) return;
    const key = from ?? '';
    const source = l.sources.get(key) ?? this.newSource(l, key, from ?? 'a socket with no path', undefined, from === null ? null : (payload) => unix.send(payload, from, this.sent));
    if (source) this.fromKnownSource(source, msg);
  }

  /** A new source on listener `l`: a channel and a udp-incoming, or null (and the datagram dropped) at the limit. */
  private newSource(l: UdpListener, key: string, name: string, originator: HostPort | undefined, reply: Inbound['reply']): Inbound | null {
    const channel = l.sources.size < this.limits.maxPerListener ? this.channels.allocate() : null;
    if (channel === null) {
      this.counters.dropped++;
      if (!l.warnedFull) {
        l.warnedFull = true;
        this.log(`UDP remote forward ${l.id}: too many sources (at most ${this.limits.maxPerListener}); datagrams from new ones are dropped`);
      }
      return null;
    }
    const source: Inbound = { channel, key, listener: l, reply, name, refused: false, warnedOversize: false, warnedNoPath: false };
    l.sources.set(key, source);
    this.inbound.set(channel, source);
    this.send(originator ? { type: 'udp-incoming', channel, id: l.id, originator } : { type: 'udp-incoming', channel, id: l.id });
    return source;
  }

  private fromKnownSource(source: Inbound, msg: Buffer): void {
    source.listener.sweeper?.touch(source.channel);
    if (source.refused) {
      this.counters.dropped++;
      return;
    }
    this.toClient(source.channel, msg, source);
  }

  private expire(channel: number): void {
    const source = this.inbound.get(channel);
    if (!source) return;
    this.forgetInbound(source);
    this.send({ type: 'udp-close', channel });
  }

  private forgetInbound(source: Inbound): void {
    source.listener.sources.delete(source.key);
    source.listener.sweeper?.delete(source.channel);
    this.inbound.delete(source.channel);
    this.channels.release(source.channel);
  }

  // ---- both directions ----

  private closeChannel(channel: number, why: string | undefined): void {
    const o = this.outbound.get(channel);
    if (o) {
      this.outbound.delete(channel);
      o.socket?.close();
      this.counters.dropped += this.early.take(channel).length;
      return;
    }
    const source = this.inbound.get(channel);
    if (!source) return;
    if (why === undefined) {
      this.forgetInbound(source);
      return;
    }
    // Refused by the client: keep the source, silently dropping, until it goes idle.
    if (!source.refused) this.log(`UDP remote forward ${source.listener.id}: the client refused ${source.name}: ${why}`);
    source.refused = true;
  }

  private readonly onDatagram = (channel: number, payload: Buffer): void => {
    const o = this.outbound.get(channel);
    if (o) {
      if (o.socket) this.fromClientTo(o, payload);
      else this.early.hold(channel, payload);
      return;
    }
    const source = this.inbound.get(channel);
    if (source) {
      if (source.refused) return;
      source.listener.sweeper?.touch(channel);
      this.counters.fromClient++;
      if (source.reply) source.reply(payload);
      else this.unanswerable(source);
      return;
    }
    // An association whose announcement (or even control stream) the datagram overtook.
    if (channel >= CLIENT_UDP_CHANNELS.first && channel < CLIENT_UDP_CHANNELS.first + CLIENT_UDP_CHANNELS.count) {
      this.early.hold(channel, payload);
    } else {
      this.counters.dropped++;
    }
  };

  /** A reply for a Unix sender with no socket path: it cannot receive, so the reply is lost (logged once per source). */
  private unanswerable(source: Inbound): void {
    this.counters.dropped++;
    if (source.warnedNoPath) return;
    source.warnedNoPath = true;
    this.log(`UDP remote forward ${source.listener.id}: a reply to a sender with no socket path (an unbound socket) cannot be delivered; dropped`);
  }

  private toClient(channel: number, msg: Buffer, assoc: { warnedOversize: boolean }): void {
    const max = this.conn.maxDatagramSize;
    if (msg.length > max) {
      this.counters.oversizeDropped++;
      if (!assoc.warnedOversize) {
        assoc.warnedOversize = true;
        this.log(`UDP forward channel ${channel}: datagram of ${msg.length} bytes exceeds the path's limit of ${max}; dropped`);
      }
      return;
    }
    try {
      this.conn.sendDatagram(channel, msg);
      this.counters.toClient++;
    } catch {
      this.counters.dropped++; // the connection is closing
    }
  }
}
