/**
 * The server side of -R over one forward-control stream: binds the listeners
 * the client asks for (within sshd_config's rules), carries each accepted
 * connection to the client on a new Forward stream, and closes the
 * listeners when the client cancels them or the control stream ends.
 */
import type { Socket } from 'node:net';
import { describeSocketError, listenTcp, listenUnix, type StreamListener } from '../protocol/forward-listeners.js';
import {
  describeTarget,
  parseControlRequest,
  parseForwardReply,
  type ControlReply,
  type ForwardIncomingMessage,
  type ListenMessage,
} from '../protocol/forward-messages.js';
import { spliceSocket } from '../protocol/forward-splice.js';
import { encodeMessage, readFirstMessage, readMessages } from '../protocol/message-codec.js';
import { ProtocolError } from '../protocol/messages.js';
import type { RelaySet } from '../protocol/relay-set.js';
import { StreamKind } from '../protocol/stream-kind.js';
import type { Connection, Stream } from '../transport/connection.js';
import { refuseListen, serverBindPlan, type ForwardPolicy } from './forward-policy.js';
import { channelTimeoutMs, channelTimeoutsOf, closeWhenIdle } from './channel-timeout.js';

/** Default for the most listeners one control stream may hold. */
export const DEFAULT_MAX_LISTENERS = 256;

/** What the listeners of one control stream share with their ForwardHost. */
export interface RemoteListenerContext {
  conn: Connection;
  policy: ForwardPolicy;
  relays: RelaySet;
  log: (line: string) => void;
  maxListeners: number;
}

/** The listeners one forward-control stream asked for. */
export class RemoteListeners {
  /** Listener ids in use; `bound` is unset while the listener is being bound. */
  private readonly listeners = new Map<number, { bound?: StreamListener }>();
  private ended = false;

  constructor(
    private readonly ctx: RemoteListenerContext,
    private readonly control: Stream,
  ) {
    control.on('error', () => undefined); // a reset control stream just closes its listeners
    control.once('close', () => this.closeAll());
    control.once('end', () => this.closeAll());
    readMessages(
      control,
      (value) => this.onMessage(value),
      (err) => {
        ctx.log(`forward control stream: ${err.message}`);
        control.reset();
      },
    );
    control.resume(); // readFirstMessage left it paused
  }

  /** Close every listener and end the control stream. */
  closeAll(): void {
    if (this.ended) return;
    this.ended = true;
    for (const entry of this.listeners.values()) entry.bound?.close();
    this.listeners.clear();
    if (!this.control.destroyed) this.control.end();
  }

  private reply(message: ControlReply): void {
    if (!this.ended && !this.control.destroyed) this.control.write(encodeMessage(message));
  }

  private onMessage(value: unknown): void {
    let message;
    try {
      message = parseControlRequest(value);
    } catch (err) {
      // A bad request is answered if it carried an id; an unknown type is from a newer client.
      if (err instanceof ProtocolError && err.code !== 'unknown-type') this.ctx.log(`forward control stream: ${err.message}`);
      return;
    }
    if (message.type === 'cancel') {
      this.listeners.get(message.id)?.bound?.close();
      this.listeners.delete(message.id);
      return;
    }
    void this.listen(message);
  }

  private async listen(message: ListenMessage): Promise<void> {
    const { id, bind } = message;
    const fail = (why: string): void => this.reply({ type: 'listen-error', id, message: why });
    if (this.listeners.has(id)) return fail(`listener id ${id} is already in use`);
    if (this.listeners.size >= this.ctx.maxListeners) return fail(`too many remote forwards (at most ${this.ctx.maxListeners})`);
    const refusal = refuseListen(this.ctx.policy, bind, 'tcp');
    if (refusal) {
      this.ctx.log(`refused remote forward on ${describeTarget(bind)}: ${refusal}`);
      return fail(refusal);
    }
    const entry: { bound?: StreamListener } = {};
    this.listeners.set(id, entry);
    const accept = (socket: Socket): void => this.accept(id, socket);
    let listener: StreamListener;
    try {
      listener =
        'path' in bind
          ? await listenUnix(bind.path, accept, { mask: this.ctx.policy.streamLocalBindMask, unlink: this.ctx.policy.streamLocalBindUnlink })
          : await listenTcp(serverBindPlan(this.ctx.policy, bind), bind.port, accept);
    } catch (err) {
      if (this.listeners.get(id) === entry) this.listeners.delete(id);
      const why = `cannot listen on ${describeTarget(bind)}: ${describeSocketError(err)}`;
      this.ctx.log(`remote forward: ${why}`);
      return fail(why);
    }
    // Cancelled or hung up while binding: nobody wants it any more.
    if (this.ended || this.listeners.get(id) !== entry) {
      listener.close();
      return;
    }
    entry.bound = listener;
    const ok: ControlReply = { type: 'listen-ok', id };
    if (listener.port !== undefined) ok.port = listener.port;
    this.reply(ok);
  }

  /** A connection came in on listener `id`: carry it to the client, which connects to its own target. */
  private accept(id: number, socket: Socket): void {
    const slot = this.ctx.relays.begin();
    if (!slot) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    const stream = this.ctx.conn.openStream(StreamKind.Forward);
    stream.on('error', () => undefined);
    this.ctx.relays.track(socket);
    this.ctx.relays.track(stream);
    let closes = 0;
    const closedOne = (): void => {
      if (++closes === 2) slot.done();
    };
    socket.once('close', closedOne);
    stream.once('close', closedOne);
    const header: ForwardIncomingMessage = { type: 'forward-incoming', id };
    if (socket.remoteAddress !== undefined && socket.remotePort !== undefined) {
      header.originator = { host: socket.remoteAddress, port: socket.remotePort };
    }
    stream.write(encodeMessage(header));
    // The accepted socket stays paused (pauseOnConnect) until the client has connected its end.
    const abandon = (): void => stream.reset();
    socket.once('close', abandon);
    readFirstMessage(stream)
      .then(parseForwardReply)
      .then(
        (reply) => {
          socket.off('close', abandon);
          slot.ready();
          if (reply.type === 'forward-ok') {
            const channelType = socket.remoteAddress === undefined ? 'forwarded-streamlocal@openssh.com' : 'forwarded-tcpip';
            closeWhenIdle(socket, channelTimeoutMs(channelTimeoutsOf(this.ctx.policy), [channelType]));
            spliceSocket(socket, stream);
            return;
          }
          this.ctx.log(`remote forward ${id}: the client could not connect: ${reply.message}`);
          socket.destroy();
          stream.end();
          stream.resume();
        },
        (err: unknown) => {
          socket.off('close', abandon);
          slot.ready();
          if (err instanceof ProtocolError) this.ctx.log(`remote forward ${id}: ${err.message}`);
          socket.destroy();
          stream.reset();
        },
      );
  }
}
