/**
 * tssh's side of UDP forwarding over the connection's datagram channels
 * (server side: src/server/udp-forward-host.ts; wire: docs/FORWARDING.md).
 *
 * -L udp: a local UDP socket; each source heard there is an association
 * with its own channel from the client range, announced to tsshd with
 * udp-open before its first datagram is sent, and closed (udp-close) after
 * ForwardUdpTimeout without traffic. Replies on the channel go back to the
 * source.
 *
 * -R udp: tsshd listens; each source it hears arrives as udp-incoming on a
 * server channel, for which we open a UDP socket connected to the local
 * target. tsshd expires those associations.
 *
 * Either end may be a Unix datagram socket (a local listener at a path, a
 * target path: unix-datagram.ts). A Unix sender that has no path (did not
 * bind) is forwarded, but replies to it cannot be delivered.
 *
 * Datagrams above the connection's maxDatagramSize are dropped and counted,
 * logged once per association: fragmenting would break applications that
 * rely on datagram boundaries, and UDP allows loss.
 */
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { openDatagramTarget, SocketDirectory, type DatagramTarget } from '../protocol/datagram-target.js';
import { describeSocketError, listenUdp, type DatagramListener } from '../protocol/forward-listeners.js';
import {
  CLIENT_UDP_CHANNELS,
  describeTarget,
  parseUdpServerMessage,
  SERVER_UDP_CHANNELS,
  type ForwardTarget,
  type ListenBind,
  type UdpClientMessage,
} from '../protocol/forward-messages.js';
import { encodeMessage, readMessages } from '../protocol/message-codec.js';
import { ProtocolError } from '../protocol/messages.js';
import { StreamKind } from '../protocol/stream-kind.js';
import { ChannelAllocator, EarlyDatagrams, IdleSweeper } from '../protocol/udp-channels.js';
import { bindUnixDatagram, describeUnixDatagramError, type UnixDatagramSocket } from '../protocol/unix-datagram.js';
import type { Connection, Stream } from '../transport/connection.js';
import { clientBindPlan, remoteBindHost } from './local-bind.js';

/** Options of the UDP side (from ssh_config and tssh's #!! options). */
export interface UdpForwarderOptions {
  log: (line: string) => void;
  /** ForwardUdpTimeout in ms: an association with no datagram either way for this long is closed. */
  idleMs: number;
  /** Associations one forward may carry at once. */
  maxAssociations: number;
  /** ssh -g: bind local listeners on every interface when no address is given. */
  gatewayPorts: boolean;
  /** StreamLocalBindMask for local Unix socket listeners (default 0177). */
  streamLocalBindMask?: number;
  /** StreamLocalBindUnlink: remove a stale local socket file before binding. */
  streamLocalBindUnlink?: boolean;
}

/** A bound UDP forward: where it listens (local port for -L, tsshd's port for -R; none for a Unix socket). */
export interface UdpForwardHandle {
  port?: number;
  close(): void;
}

/** Counters for tests and logs. */
export interface UdpForwarderStats {
  toServer: number;
  fromServer: number;
  oversizeDropped: number;
  dropped: number;
  associations: number;
}

interface LocalForward {
  target: ForwardTarget;
  /** A UDP port, or a socket path. */
  listener?: DatagramListener;
  unix?: UnixDatagramSocket;
  sources: Map<string, LocalAssociation>;
  sweeper: IdleSweeper<number>;
  warnedFull: boolean;
}

interface LocalAssociation {
  channel: number;
  key: string;
  forward: LocalForward;
  /** Sends a reply to the source; null for a Unix socket with no path (it cannot be answered). */
  reply: ((payload: Buffer) => void) | null;
  refused: boolean;
  warnedOversize: boolean;
  warnedNoPath: boolean;
}

interface RemoteForward {
  id: number;
  target: ForwardTarget;
  associations: number;
  settle?: { resolve: (port: number | undefined) => void; reject: (err: Error) => void };
  bind: ListenBind;
}

interface RemoteAssociation {
  channel: number;
  forward: RemoteForward;
  /** Null while resolving and connecting; datagrams wait in the early pen meanwhile. */
  socket: DatagramTarget | null;
  warnedOversize: boolean;
}

const inRange = (channel: number, range: { first: number; count: number }): boolean => channel >= range.first && channel < range.first + range.count;

/** UDP forwards of one connection. */
export class UdpForwarder {
  private control: Stream | null = null;
  private controlGone = false;
  private readonly locals = new Set<LocalForward>();
  private readonly localChannels = new Map<number, LocalAssociation>();
  private readonly remotes = new Map<number, RemoteForward>();
  private readonly remoteChannels = new Map<number, RemoteAssociation>();
  private readonly channels = new ChannelAllocator(CLIENT_UDP_CHANNELS);
  private readonly early = new EarlyDatagrams();
  private readonly sockets = new SocketDirectory('tssh-udp-');
  private readonly counters = { toServer: 0, fromServer: 0, oversizeDropped: 0, dropped: 0 };
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly conn: Connection,
    private readonly options: UdpForwarderOptions,
  ) {
    conn.on('datagram', this.onDatagram);
  }

  stats(): UdpForwarderStats {
    return { ...this.counters, dropped: this.counters.dropped + this.early.dropped, associations: this.localChannels.size + this.remoteChannels.size };
  }

  /** -L udp: listen locally (a UDP port or a Unix datagram socket), relay each source's datagrams to `target` through tsshd. */
  async localForward(listen: { host?: string; port: number } | { path: string }, target: ForwardTarget): Promise<UdpForwardHandle> {
    this.ensureControl();
    const forward: LocalForward = {
      target,
      sources: new Map(),
      sweeper: new IdleSweeper<number>(this.options.idleMs, (channel) => this.expireLocal(channel)),
      warnedFull: false,
    };
    if ('path' in listen) {
      try {
        forward.unix = await bindUnixDatagram(listen.path, (msg, from) => this.fromLocalUnix(forward, msg, from), {
          mask: this.options.streamLocalBindMask,
          unlink: this.options.streamLocalBindUnlink,
        });
      } catch (err) {
        throw new Error(`cannot listen on ${listen.path}: ${describeUnixDatagramError(err)}`);
      }
    } else {
      try {
        forward.listener = await listenUdp(clientBindPlan(listen.host, this.options.gatewayPorts), listen.port, (socket, msg, from) => this.fromLocal(forward, socket, msg, from));
      } catch (err) {
        throw new Error(`cannot listen on UDP ${describeTarget(listen)}: ${describeSocketError(err)}`);
      }
    }
    if (this.closed) {
      forward.listener?.close();
      forward.unix?.close();
      throw new Error('the forwarder is closed');
    }
    this.locals.add(forward);
    const handle: UdpForwardHandle = { close: () => this.closeLocal(forward) };
    if (forward.listener) handle.port = forward.listener.port;
    return handle;
  }

  /** -R udp: ask tsshd to listen (a UDP port or a Unix datagram socket there); each source it hears is relayed to `target` here. */
  remoteForward(bind: { host?: string; port: number } | { path: string }, target: ForwardTarget): Promise<UdpForwardHandle> {
    const control = this.ensureControl();
    const id = this.nextId++;
    const host = 'path' in bind ? undefined : remoteBindHost(bind.host);
    const wireBind: ListenBind = 'path' in bind ? { path: bind.path } : host === undefined ? { port: bind.port } : { host, port: bind.port };
    const forward: RemoteForward = { id, target, associations: 0, bind: wireBind };
    this.remotes.set(id, forward);
    return new Promise<number | undefined>((resolve, reject) => {
      forward.settle = { resolve, reject };
      this.send({ type: 'listen', id, bind: wireBind, idleMs: this.options.idleMs });
      if (this.controlGone || control.destroyed) this.failPending('the connection closed');
    }).then((port) => {
      const handle: UdpForwardHandle = { close: () => this.closeRemote(forward) };
      if (port !== undefined) handle.port = port;
      return handle;
    });
  }

  /** Close every UDP forward and the control stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.off('datagram', this.onDatagram);
    for (const forward of [...this.locals]) this.closeLocal(forward, false);
    for (const a of this.remoteChannels.values()) a.socket?.close();
    this.remoteChannels.clear();
    this.failPending('the forwarder was closed');
    this.remotes.clear();
    this.early.clear();
    this.sockets.close();
    if (this.control && !this.control.destroyed) this.control.end();
  }

  private ensureControl(): Stream {
    if (this.closed) throw new Error('the forwarder is closed');
    if (this.control) return this.control;
    const control = this.conn.openStream(StreamKind.Forward);
    this.control = control;
    control.on('error', () => undefined);
    control.write(encodeMessage({ type: 'udp-control' }));
    const gone = (): void => {
      if (this.controlGone) return;
      this.controlGone = true;
      this.failPending('tsshd closed the UDP forwarding stream');
    };
    control.once('close', gone);
    control.once('end', gone);
    readMessages(
      control,
      (value) => this.onMessage(value),
      (err) => {
        this.options.log(`udp forwarding: ${err.message}`);
        control.reset();
      },
    );
    return control;
  }

  private send(message: UdpClientMessage): void {
    if (this.control && !this.control.destroyed && !this.control.writableEnded) this.control.write(encodeMessage(message));
  }

  private failPending(why: string): void {
    for (const forward of this.remotes.values()) {
      const settle = forward.settle;
      forward.settle = undefined;
      settle?.reject(new Error(`remote UDP forwarding failed for listen ${describeTarget(forward.bind)}: ${why}`));
    }
  }

  private onMessage(value: unknown): void {
    let message;
    try {
      message = parseUdpServerMessage(value);
    } catch (err) {
      if (err instanceof ProtocolError && err.code !== 'unknown-type') this.options.log(`udp forwarding: ${err.message}`);
      return;
    }
    switch (message.type) {
      case 'listen-ok':
      case 'listen-error': {
        const forward = this.remotes.get(message.id);
        const settle = forward?.settle;
        if (!forward || !settle) return;
        forward.settle = undefined;
        if (message.type === 'listen-ok' && (message.port !== undefined || 'path' in forward.bind)) return settle.resolve(message.port);
        this.remotes.delete(message.id);
        const why = message.type === 'listen-error' ? message.message : 'tsshd did not say which port it bound';
        return settle.reject(new Error(`remote UDP forwarding failed for listen ${describeTarget(forward.bind)}: ${why}`));
      }
      case 'udp-incoming':
        void this.openRemoteAssociation(message.channel, message.id);
        return;
      case 'udp-close':
        this.onClose(message.channel, message.message);
        return;
    }
  }

  // ---- -L udp ----

  private fromLocal(forward: LocalForward, socket: UdpSocket, msg: Buffer, from: RemoteInfo): void {
    if (!forward.listener) return; // still binding
    const key = `${forward.listener.sockets.indexOf(socket)}|${from.address}|${from.port}`;
    const a = forward.sources.get(key) ?? this.newLocalSource(forward, key, (payload) => socket.send(payload, from.port, from.address, this.sent));
    if (a) this.fromKnownLocal(a, msg);
  }

  /** A datagram at a local Unix listener; `from` is the sender's socket path, null if it has none. */
  private fromLocalUnix(forward: LocalForward, msg: Buffer, from: string | null): void {
    const unix = forward.unix;
    if (!unix) return; // still binding
    const key = from ?? '';
    const a = forward.sources.get(key) ?? this.newLocalSource(forward, key, from === null ? null : (payload) => unix.send(payload, from, this.sent));
    if (a) this.fromKnownLocal(a, msg);
  }

  /** A new local source: a channel, announced with udp-open; null (the datagram dropped) at the limit. */
  private newLocalSource(forward: LocalForward, key: string, reply: LocalAssociation['reply']): LocalAssociation | null {
    const channel = forward.sources.size < this.options.maxAssociations ? this.channels.allocate() : null;
    if (channel === null) {
      this.counters.dropped++;
      if (!forward.warnedFull) {
        forward.warnedFull = true;
        this.options.log(`UDP forward to ${describeTarget(forward.target)}: too many sources (at most ${this.options.maxAssociations}); datagrams from new ones are dropped`);
      }
      return null;
    }
    const a: LocalAssociation = { channel, key, forward, reply, refused: false, warnedOversize: false, warnedNoPath: false };
    forward.sources.set(key, a);
    this.localChannels.set(channel, a);
    // Announced before the first datagram; a datagram that overtakes it waits at tsshd.
    this.send({ type: 'udp-open', channel, target: forward.target });
    return a;
  }

  private fromKnownLocal(a: LocalAssociation, msg: Buffer): void {
    a.forward.sweeper.touch(a.channel);
    if (a.refused) {
      this.counters.dropped++;
      return;
    }
    this.toServer(a.channel, msg, a, a.forward.target);
  }

  /** Completion of every send: a failed one is a lost datagram. */
  private readonly sent = (err?: Error | null): void => {
    if (err) this.counters.dropped++;
  };

  private expireLocal(channel: number): void {
    const a = this.localChannels.get(channel);
    if (!a) return;
    this.forgetLocal(a);
    this.send({ type: 'udp-close', channel });
  }

  private forgetLocal(a: LocalAssociation): void {
    a.forward.sources.delete(a.key);
    a.forward.sweeper.delete(a.channel);
    this.localChannels.delete(a.channel);
    this.channels.release(a.channel);
  }

  private closeLocal(forward: LocalForward, tell = true): void {
    if (!this.locals.delete(forward)) return;
    forward.listener?.close();
    forward.unix?.close();
    forward.sweeper.close();
    for (const a of [...forward.sources.values()]) {
      this.forgetLocal(a);
      if (tell) this.send({ type: 'udp-close', channel: a.channel });
    }
  }

  // ---- -R udp ----

  private async openRemoteAssociation(channel: number, id: number): Promise<void> {
    const refuse = (why: string): void => {
      this.counters.dropped += this.early.take(channel).length;
      this.send({ type: 'udp-close', channel, message: why });
    };
    const forward = this.remotes.get(id);
    if (!forward || forward.settle) return refuse(`no UDP remote forward ${id}`);
    if (this.remoteChannels.has(channel)) return refuse(`channel ${channel} is already in use`);
    if (forward.associations >= this.options.maxAssociations) return refuse(`too many sources (at most ${this.options.maxAssociations})`);
    const a: RemoteAssociation = { channel, forward, socket: null, warnedOversize: false };
    this.remoteChannels.set(channel, a);
    forward.associations++;
    const { target } = forward;
    let socket: DatagramTarget;
    try {
      socket = await openDatagramTarget(target, (msg) => this.toServer(channel, msg, a, target), this.sockets);
    } catch (err) {
      if (this.remoteChannels.get(channel) !== a) return;
      this.forgetRemote(a);
      const why = `${describeTarget(target)}: ${(err as Error).message}`;
      this.options.log(`UDP remote forward to ${why}`);
      return refuse(why);
    }
    if (this.remoteChannels.get(channel) !== a) {
      socket.close();
      return;
    }
    a.socket = socket;
    for (const payload of this.early.take(channel)) this.toTarget(a, payload);
  }

  private toTarget(a: RemoteAssociation, payload: Buffer): void {
    this.counters.fromServer++;
    a.socket!.send(payload, this.sent);
  }

  private forgetRemote(a: RemoteAssociation): void {
    if (this.remoteChannels.get(a.channel) !== a) return;
    this.remoteChannels.delete(a.channel);
    a.forward.associations--;
    a.socket?.close();
    this.counters.dropped += this.early.take(a.channel).length;
  }

  private closeRemote(forward: RemoteForward): void {
    if (this.remotes.get(forward.id) !== forward) return;
    this.remotes.delete(forward.id);
    this.send({ type: 'cancel', id: forward.id });
    for (const a of [...this.remoteChannels.values()]) if (a.forward === forward) this.forgetRemote(a);
  }

  // ---- both ----

  private onClose(channel: number, why: string | undefined): void {
    const local = this.localChannels.get(channel);
    if (local) {
      if (why === undefined) {
        this.forgetLocal(local);
        return;
      }
      // Refused by tsshd: keep the source, dropping its datagrams, until it goes idle (one message, not one per datagram).
      if (!local.refused) this.options.log(`UDP forward to ${describeTarget(local.forward.target)} failed: ${why}`);
      local.refused = true;
      return;
    }
    const remote = this.remoteChannels.get(channel);
    if (remote) this.forgetRemote(remote);
    else this.early.take(channel);
  }

  private readonly onDatagram = (channel: number, payload: Buffer): void => {
    const local = this.localChannels.get(channel);
    if (local) {
      if (local.refused) return;
      local.forward.sweeper.touch(channel);
      this.counters.fromServer++;
      if (local.reply) local.reply(payload);
      else this.unanswerable(local);
      return;
    }
    const remote = this.remoteChannels.get(channel);
    if (remote) {
      if (remote.socket) this.toTarget(remote, payload);
      else this.early.hold(channel, payload);
      return;
    }
    // A udp-incoming still on its way on the control stream.
    if (this.control && !this.controlGone && inRange(channel, SERVER_UDP_CHANNELS)) this.early.hold(channel, payload);
    else this.counters.dropped++;
  };

  /** A reply for a local Unix sender with no socket path: it cannot receive, so the reply is lost (logged once per source). */
  private unanswerable(a: LocalAssociation): void {
    this.counters.dropped++;
    if (a.warnedNoPath) return;
    a.warnedNoPath = true;
    this.options.log(`UDP forward to ${describeTarget(a.forward.target)}: a reply to a sender with no socket path (an unbound socket) cannot be delivered; dropped`);
  }

  private toServer(channel: number, msg: Buffer, a: { warnedOversize: boolean }, target: ForwardTarget): void {
    const max = this.conn.maxDatagramSize;
    if (msg.length > max) {
      this.counters.oversizeDropped++;
      if (!a.warnedOversize) {
        a.warnedOversize = true;
        this.options.log(`UDP forward to ${describeTarget(target)}: datagram of ${msg.length} bytes exceeds the path's limit of ${max}; dropped`);
      }
      return;
    }
    try {
      this.conn.sendDatagram(channel, msg);
      this.counters.toServer++;
    } catch {
      this.counters.dropped++; // the connection is closing
    }
  }
}
