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
import { describeSocketError } from '../protocol/forward-listeners.js';
import {
  describeTarget,
  parseForwardHeader,
  type ForwardFailureReason,
  type ForwardOpenMessage,
  type ForwardReply,
} from '../protocol/forward-messages.js';
import { spliceSocket } from '../protocol/forward-splice.js';
import { encodeMessage, readFirstMessage } from '../protocol/message-codec.js';
import { DEFAULT_RELAY_LIMITS, RelaySet, type RelayLimits } from '../protocol/relay-set.js';
import { StreamKind } from '../protocol/stream-kind.js';
import type { Connection, Stream } from '../transport/connection.js';
import { refuseOpen, type ForwardPolicy } from './forward-policy.js';
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
    const { target, originator } = request;
    const what = `forward to ${describeTarget(target)}${originator ? ` from ${describeTarget(originator)}` : ''}`;
    const refusal = refuseOpen(this.policy, target, 'tcp');
    if (refusal) {
      this.counters.prohibited++;
      this.log(`refused ${what}: ${refusal}`);
      return refuse(stream, 'prohibited', refusal);
    }
    const slot = this.relays.begin();
    if (!slot) {
      this.log(`refused ${what}: too many forwarded connections`);
      return refuse(stream, 'resource-shortage', 'too many forwarded connections');
    }
    const socket: Socket = 'path' in target ? connect({ path: target.path, allowHalfOpen: true }) : connect({ host: target.host, port: target.port, allowHalfOpen: true });
    this.relays.track(socket);
    this.relays.track(stream);
    let closes = 0;
    const closedOne = (): void => {
      if (++closes === 2) slot.done();
    };
    socket.once('close', closedOne);
    stream.once('close', closedOne);
    // The client gave up (its local socket closed) before we connected.
    const abandon = (): void => void socket.destroy();
    stream.once('close', abandon);
    const onError = (err: Error): void => {
      stream.off('close', abandon);
      slot.ready();
      this.counters.connectFailed++;
      const why = `connect to ${describeTarget(target)} failed: ${describeSocketError(err)}`;
      this.log(`${what}: ${why}`);
      refuse(stream, 'connect-failed', why);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      stream.off('close', abandon);
      slot.ready();
      this.counters.opened++;
      writeReply(stream, { type: 'forward-ok' });
      closeWhenIdle(socket, channelTimeoutMs(channelTimeoutsOf(this.policy), ['path' in target ? 'direct-streamlocal@openssh.com' : 'direct-tcpip']));
      spliceSocket(socket, stream);
    });
  }
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
