/**
 * tsshd's side of port forwarding over one Connection. It takes every
 * stream of kind Forward the client opens and, by its header:
 *  - forward-open: checks sshd_config's policy, connects to the target (TCP
 *    or Unix socket), replies forward-ok or forward-error, then relays bytes
 *    with half-close and backpressure (-L, -D, -W);
 *  - forward-control: binds -R listeners (remote-listeners.ts);
 *  - udp-control: UDP forwarding (udp-forward-host.ts).
 * Streams of other kinds are left to other listeners. Wire format and
 * semantics: docs/FORWARDING.md.
 */
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describeSocketError, listenTcp, listenUnix, type StreamListener } from '../protocol/forward-listeners.js';
import {
  describeTarget,
  parseForwardHeader,
  type ForwardFailureReason,
  type ForwardOpenMessage,
  type ForwardReply,
  type ForwardTarget,
  type HostPort,
  type ListenBind,
} from '../protocol/forward-messages.js';
import { spliceSocket } from '../protocol/forward-splice.js';
import { encodeMessage, readFirstMessage } from '../protocol/message-codec.js';
import { DEFAULT_RELAY_LIMITS, RelaySet, type RelayLimits } from '../protocol/relay-set.js';
import { StreamKind } from '../protocol/stream-kind.js';
import type { Connection, Stream } from '../transport/connection.js';
import { refuseListen, refuseOpen, serverBindPlan, type ForwardPolicy } from './forward-policy.js';
import { channelTimeoutMs, channelTimeoutsOf, closeWhenIdle } from './channel-timeout.js';
import { DEFAULT_MAX_LISTENERS, RemoteListeners } from './remote-listeners.js';
import { DEFAULT_UDP_HOST_LIMITS, UdpForwardHost, type UdpHostLimits, type UdpHostStats } from './udp-forward-host.js';

/** How a ForwardHost logs and what it allows at once. */
export interface ForwardHostOptions {
  /** One line per refusal or failure (tsshd's debug log). */
  log?: (line: string) => void;
  /** Forwarded TCP/Unix connections being set up and open at once (default 128 and 4096). */
  relayLimits?: RelayLimits;
  /** -R listeners per control stream (default 256). */
  maxListeners?: number;
  /** UDP associations and listeners (see UdpHostLimits). */
  udpLimits?: Partial<UdpHostLimits>;
}

/** Counters for tests and debug logs. */
export interface ForwardHostStats {
  /** forward-open requests accepted / refused by policy / failed to connect / refused at a limit. */
  opened: number;
  prohibited: number;
  connectFailed: number;
  limited: number;
  /** Forwarded connections open now, and being set up. */
  open: number;
  pending: number;
  udp: UdpHostStats;
}

/** The server side of forwarding for one connection. */
export class ForwardHost {
  private readonly relays: RelaySet;
  private readonly udp: UdpForwardHost;
  private readonly controls = new Set<RemoteListeners>();
  private readonly log: (line: string) => void;
  private readonly maxListeners: number;
  private readonly counters = { opened: 0, prohibited: 0, connectFailed: 0 };
  private closed = false;

  constructor(
    private readonly conn: Connection,
    private readonly policy: ForwardPolicy,
    options: ForwardHostOptions = {},
  ) {
    this.log = options.log ?? (() => undefined);
    this.relays = new RelaySet(options.relayLimits ?? DEFAULT_RELAY_LIMITS);
    this.maxListeners = options.maxListeners ?? DEFAULT_MAX_LISTENERS;
    this.udp = new UdpForwardHost(conn, policy, this.log, { ...DEFAULT_UDP_HOST_LIMITS, ...options.udpLimits });
    conn.on('stream', this.onStream);
    conn.once('close', () => this.close());
  }

  /** Forwarded connections (-L, -D, -W, -R) open now, set up or not. */
  get openConnections(): number {
    return this.relays.open;
  }

  /** Resolves once no forwarded connection is open: tsshd outlives its last session until then, as sshd does. */
  whenNoConnections(): Promise<void> {
    return this.relays.whenIdle();
  }

  stats(): ForwardHostStats {
    return { ...this.counters, limited: this.relays.refused, open: this.relays.open, pending: this.relays.pending, udp: this.udp.stats() };
  }

  /** Close every listener, socket and forwarded stream; later forward streams are reset. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.off('stream', this.onStream);
    for (const c of this.controls) c.closeAll();
    this.controls.clear();
    this.udp.close();
    this.relays.closeAll();
  }

  private readonly onStream = (stream: Stream): void => {
    if (stream.kind !== StreamKind.Forward) return;
    stream.on('error', () => undefined); // a reset forward stream is the client's business
    readFirstMessage(stream)
      .then(parseForwardHeader)
      .then(
        (header) => {
          if (this.closed) return stream.reset();
          switch (header.type) {
            case 'forward-open':
              return this.open(stream, header);
            case 'forward-control': {
              const control = new RemoteListeners(
                { conn: this.conn, policy: this.policy, relays: this.relays, log: this.log, maxListeners: this.maxListeners },
                stream,
              );
              this.controls.add(control);
              stream.once('close', () => this.controls.delete(control));
              return;
            }
            case 'udp-control':
              this.udp.attach(stream);
              return;
            case 'forward-incoming':
              this.log(`forward stream ${stream.id}: forward-incoming is sent by the server, not the client`);
              return stream.reset();
          }
        },
        (err: unknown) => {
          this.log(`forward stream ${stream.id}: ${err instanceof Error ? err.message : String(err)}`);
          stream.reset();
        },
      );
  };

  /** -L, -D, -W: connect to the target if policy allows, then relay. */
  private open(stream: Stream, request: ForwardOpenMessage): void {
    this.openFor(request.target, request.originator, stream, {
      ok: () => writeReply(stream, { type: 'forward-ok' }),
      refuse: (reason, message) => refuse(stream, reason, message),
    });
  }

  /**
   * A client-opened forward (-L, -D, -W) to `target`, whatever protocol
   * family carries it: sshd_config's policy and the relay limits, the
   * connect, then `carrier.ok()` and the splice, or `carrier.refuse()`.
   */
  openFor(target: ForwardTarget, originator: HostPort | undefined, stream: SplicedStream, carrier: ForwardCarrier): void {
    const what = `forward to ${describeTarget(target)}${originator ? ` from ${describeTarget(originator)}` : ''}`;
    const refusal = refuseOpen(this.policy, target, 'tcp');
    if (refusal) {
      this.counters.prohibited++;
      this.log(`refused ${what}: ${refusal}`);
      return carrier.refuse('prohibited', refusal);
    }
    const slot = this.relays.begin();
    if (!slot) {
      this.log(`refused ${what}: too many forwarded connections`);
      return carrier.refuse('resource-shortage', 'too many forwarded connections');
    }
    const socket: Socket = 'path' in target ? connect({ path: target.path, allowHalfOpen: true }) : connect({ host: target.host, port: target.port, allowHalfOpen: true });
    this.relays.track(socket);
    this.relays.track(stream);
    doneWhenBothClose(socket, stream, slot);
    // The client gave up (its local socket closed) before we connected.
    const abandon = (): void => void socket.destroy();
    stream.once('close', abandon);
    const onError = (err: Error): void => {
      stream.off('close', abandon);
      slot.ready();
      this.counters.connectFailed++;
      const why = `connect to ${describeTarget(target)} failed: ${describeSocketError(err)}`;
      this.log(`${what}: ${why}`);
      carrier.refuse('connect-failed', why);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      stream.off('close', abandon);
      slot.ready();
      this.counters.opened++;
      carrier.ok();
      closeWhenIdle(socket, channelTimeoutMs(channelTimeoutsOf(this.policy), ['path' in target ? 'direct-streamlocal@openssh.com' : 'direct-tcpip']));
      spliceSocket(socket, stream);
    });
  }

  /**
   * Bind a remote forward's listener (-R) for another protocol family, under
   * sshd_config's policy. Throws an Error with a one-line reason.
   */
  async listenFor(bind: ListenBind, accept: (socket: Socket) => void): Promise<StreamListener> {
    const refusal = refuseListen(this.policy, bind, 'tcp');
    if (refusal) {
      this.counters.prohibited++;
      this.log(`refused remote forward on ${describeTarget(bind)}: ${refusal}`);
      throw new Error(refusal);
    }
    try {
      return 'path' in bind
        ? await listenUnix(bind.path, accept, { mask: this.policy.streamLocalBindMask, unlink: this.policy.streamLocalBindUnlink })
        : await listenTcp(serverBindPlan(this.policy, bind), bind.port, accept);
    } catch (err) {
      const why = `cannot listen on ${describeTarget(bind)}: ${describeSocketError(err)}`;
      this.log(`remote forward: ${why}`);
      throw new Error(why);
    }
  }

  /**
   * An accepted remote-forward connection, counted against the relay limits
   * until `stream` carries it (splice) or it is dropped; null at the limit.
   */
  incoming(socket: Socket): { splice(stream: SplicedStream): void; drop(): void } | null {
    const slot = this.relays.begin();
    if (!slot) {
      socket.destroy();
      return null;
    }
    socket.on('error', () => undefined);
    this.relays.track(socket);
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      slot.ready();
      return true;
    };
    socket.once('close', () => {
      if (settle()) slot.done();
    });
    return {
      splice: (stream) => {
        if (!settle()) return;
        this.relays.track(stream);
        doneWhenBothClose(socket, stream, slot);
        // ChannelTimeout, as for our own family's remote forwards (remote-listeners.ts).
        const channelType = socket.remoteAddress === undefined ? 'forwarded-streamlocal@openssh.com' : 'forwarded-tcpip';
        closeWhenIdle(socket, channelTimeoutMs(channelTimeoutsOf(this.policy), [channelType]));
        spliceSocket(socket, stream);
      },
      drop: () => {
        socket.destroy();
      },
    };
  }
}

/** Free the relay slot once both ends of a forwarded connection have closed. */
function doneWhenBothClose(a: Duplex, b: Duplex, slot: { done(): void }): void {
  let closes = 0;
  const closedOne = (): void => {
    if (++closes === 2) slot.done();
  };
  a.once('close', closedOne);
  b.once('close', closedOne);
}

/** What a forward's stream must offer besides bytes: an abort both ways. */
export type SplicedStream = Duplex & { reset(): void };

/** How a protocol family answers a client-opened forward. */
export interface ForwardCarrier {
  ok(): void;
  refuse(reason: ForwardFailureReason, message: string): void;
}

function writeReply(stream: Stream, reply: ForwardReply): void {
  if (!stream.destroyed && !stream.writableEnded) stream.write(encodeMessage(reply));
}

/** Say why, end our side, and discard what the client sent before it heard. */
function refuse(stream: Stream, reason: ForwardFailureReason, message: string): void {
  writeReply(stream, { type: 'forward-error', reason, message });
  if (!stream.destroyed) stream.end();
  stream.resume();
}
