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
 * Datagrams above the connection's maxDatagramSize are dropped and counted,
 * logged once per association: fragmenting would break applications that
 * rely on datagram boundaries, and UDP allows loss.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { describeSocketError, hostPort, listenUdp, type DatagramListener } from '../protocol/forward-listeners.js';
import {
  CLIENT_UDP_CHANNELS,
  describeTarget,
  parseUdpServerMessage,
  SERVER_UDP_CHANNELS,
  type HostPort,
  type ListenBind,
  type UdpClientMessage,
} from '../protocol/forward-messages.js';
import { encodeMessage, readMessages } from '../protocol/message-codec.js';
import { ProtocolError } from '../protocol/messages.js';
import { StreamKind } from '../protocol/stream-kind.js';
import { ChannelAllocator, EarlyDatagrams, IdleSweeper } from '../protocol/udp-channels.js';
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
}

/** A bound UDP forward: where it listens (local port for -L, tsshd's port for -R). */
export interface UdpForwardHandle {
  port: number;
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
  target: HostPort;
  listener: DatagramListener;
  sources: Map<string, LocalAssociation>;
  sweeper: IdleSweeper<number>;
  warnedFull: boolean;
}

interface LocalAssociation {
  channel: number;
  key: string;
  forward: LocalForward;
  socket: UdpSocket;
  address: string;
  port: number;
  refused: boolean;
  warnedOversize: boolean;
}

interface RemoteForward {
  id: number;
  target: HostPort;
  associations: number;
  settle?: { resolve: (port: number) => void; reject: (err: Error) => void };
  bind: ListenBind;
}

interface RemoteAssociation {
  channel: number;
  forward: RemoteForward;
  /** Null while resolving and connecting; datagrams wait in the early pen meanwhile. */
  socket: UdpSocket | null;
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

  /** -L udp: listen locally, relay each source's datagrams to `target` through tsshd. */
  async localForward(listen: { host?: string; port: number }, target: HostPort): Promise<UdpForwardHandle> {
    this.ensureControl();
    const forward = {} as LocalForward;
    let listener: DatagramListener;
    try {
      listener = await listenUdp(clientBindPlan(listen.host, this.options.gatewayPorts), listen.port, (socket, msg, from) => this.fromLocal(forward, socket, msg, from));
    } catch (err) {
      throw new Error(`cannot listen on UDP ${describeTarget(listen)}: ${describeSocketError(err)}`);
    }
    Object.assign(forward, {
      target,
      listener,
      sources: new Map(),
      sweeper: new IdleSweeper<number>(this.options.idleMs, (channel) => this.expireLocal(channel)),
      warnedFull: false,
    } satisfies LocalForward);
    if (this.closed) {
      listener.close();
      throw new Error('the forwarder is closed');
    }
    this.locals.add(forward);
    return { port: listener.port, close: () => this.closeLocal(forward) };
  }

  /** -R udp: ask tsshd to listen; each source it hears is relayed to `target` here. */
  remoteForward(bind: { host?: string; port: number }, target: HostPort): Promise<UdpForwardHandle> {
    const control = this.ensureControl();
    const id = this.nextId++;
    const host = remoteBindHost(bind.host);
    const wireBind: ListenBind = host === undefined ? { port: bind.port } : { host, port: bind.port };
    const forward: RemoteForward = { id, target, associations: 0, bind: wireBind };
    this.remotes.set(id, forward);
    return new Promise<number>((resolve, reject) => {
      forward.settle = { resolve, reject };
      this.send({ type: 'listen', id, bind: wireBind, idleMs: this.options.idleMs });
      if (this.controlGone || control.destroyed) this.failPending('the connection closed');
    }).then((port) => ({ port, close: () => this.closeRemote(forward) }));
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
        if (message.type === 'listen-ok' && message.port !== undefined) return settle.resolve(message.port);
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
    if (!forward.sweeper) return; // still binding
    const key = `${forward.listener.sockets.indexOf(socket)}|${from.address}|${from.port}`;
    let a = forward.sources.get(key);
    if (!a) {
      const channel = forward.sources.size < this.options.maxAssociations ? this.channels.allocate() : null;
      if (channel === null) {
        this.counters.dropped++;
        if (!forward.warnedFull) {
          forward.warnedFull = true;
          this.options.log(`UDP forward to ${describeTarget(forward.target)}: too many sources (at most ${this.options.maxAssociations}); datagrams from new ones are dropped`);
        }
        return;
      }
      a = { channel, key, forward, socket, address: from.address, port: from.port, refused: false, warnedOversize: false };
      forward.sources.set(key, a);
      this.localChannels.set(channel, a);
      // Announced before the first datagram; a datagram that overtakes it waits at tsshd.
      this.send({ type: 'udp-open', channel, target: forward.target });
    }
    forward.sweeper.touch(a.channel);
    if (a.refused) {
      this.counters.dropped++;
      return;
    }
    this.toServer(a.channel, msg, a, forward.target);
  }

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
    forward.listener.close();
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
    let socket: UdpSocket | null = null;
    try {
      const address = isIP(target.host) ? target.host : (await lookup(target.host)).address;
      if (this.remoteChannels.get(channel) !== a) return;
      socket = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4' });
      const s = socket;
      s.on('message', (msg) => this.toServer(channel, msg, a, target));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.connect(target.port, address, () => {
          s.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      socket?.close();
      if (this.remoteChannels.get(channel) !== a) return;
      this.forgetRemote(a);
      const why = `${hostPort(target.host, target.port)}: ${describeSocketError(err)}`;
      this.options.log(`UDP remote forward to ${why}`);
      return refuse(why);
    }
    if (this.remoteChannels.get(channel) !== a) {
      socket.close();
      return;
    }
    socket.on('error', () => undefined); // ICMP port unreachable and the like: UDP carries on
    a.socket = socket;
    for (const payload of this.early.take(channel)) this.toTarget(a, payload);
  }

  private toTarget(a: RemoteAssociation, payload: Buffer): void {
    this.counters.fromServer++;
    a.socket!.send(payload, (err) => {
      if (err) this.counters.dropped++;
    });
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
      local.socket.send(payload, local.port, local.address, (err) => {
        if (err) this.counters.dropped++;
      });
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

  private toServer(channel: number, msg: Buffer, a: { warnedOversize: boolean }, target: HostPort): void {
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
