import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { StreamListener } from '../../protocol/forward-listeners.js';
import type { ForwardTarget, ListenBind } from '../../protocol/forward-messages.js';
import { errorReply, NO_ERROR, parseAccept, parseDial, parseListen, StreamCommand } from '../../protocol/reference/messages.js';
import { encodeMessage } from '../../protocol/reference/stream-codec.js';
import type { ForwardHost, SplicedStream } from '../forward-host.js';

/**
 * The reference family's TCP and Unix forwarding streams (docs/INTEROP.md
 * "Forwarding"), served by our one ForwardHost (policy, relay limits,
 * connect, listen):
 *  - "dial" {Net, Addr}: -L / -D / -W; answered {Msg, RemoteAddr} then bytes;
 *  - "listen" {Net, Addr}: -R; answered, then one {ID} message per
 *    connection that arrives, which the client claims with an
 *    "accept" {ID} stream (unclaimed ones are closed after the connect timeout);
 *    the listener closes when the listen stream ends.
 */

/** A connection waiting for the client's accept stream. */
export interface ParkedConnection {
  splice(stream: SplicedStream): void;
  drop(): void;
}

/** The reference's error code for what sshd_config prohibits. */
const ERR_PROHIBITED = 101;

export class ReferenceForwards {
  private nextId = 0;
  private readonly parked = new Map<number, ParkedConnection>();
  private readonly listeners = new Set<StreamListener>();

  constructor(
    private readonly forwards: ForwardHost,
    /** How long an accepted -R connection waits for the client's accept stream. */
    private readonly claimTimeoutMs: number,
  ) {}

  /** Serve a forward stream whose opening (command and message) was read. */
  serve(command: string, message: Record<string, unknown>, stream: Duplex & SplicedStream): void {
    if (command === StreamCommand.Dial) this.dial(parseDial(message), stream);
    else if (command === StreamCommand.Listen) void this.listen(parseListen(message), stream);
    else if (command === StreamCommand.Accept) this.accept(parseAccept(message), stream);
    else refuse(stream, `${command} is not offered by this tsshd (remote UDP forwarding over the reference protocol)`);
  }

  /** Close every listener and parked connection. */
  close(): void {
    for (const l of this.listeners) l.close();
    this.listeners.clear();
    for (const p of this.parked.values()) p.drop();
    this.parked.clear();
  }

  private dial(d: { net: string; addr: string }, stream: SplicedStream): void {
    const target = parseTarget(d.net, d.addr);
    if (typeof target === 'string') return refuse(stream, target);
    this.forwards.openFor(target, undefined, stream, {
      ok: () => {
        const reply: Record<string, unknown> = { ...NO_ERROR };
        if (!('path' in target)) reply.RemoteAddr = { IP: target.host, Port: target.port, Zone: '' };
        if (stream.writable) stream.write(encodeMessage(reply));
      },
      refuse: (reason, message) => refuse(stream, message, reason === 'prohibited' ? ERR_PROHIBITED : 0),
    });
  }

  private async listen(l: { net: string; addr: string }, stream: Duplex): Promise<void> {
    const target = parseTarget(l.net, l.addr);
    if (typeof target === 'string') return refuse(stream, target);
    const bind: ListenBind = 'path' in target ? target : { host: target.host, port: target.port };
    let listener: StreamListener;
    try {
      listener = await this.forwards.listenFor(bind, (socket) => this.incoming(socket, stream));
    } catch (err) {
      const why = (err as Error).message;
      return refuse(stream, why, /\((AllowTcpForwarding|AllowStreamLocalForwarding|DisableForwarding|PermitListen|GatewayPorts)\b/.test(why) ? ERR_PROHIBITED : 0);
    }
    this.listeners.add(listener);
    const done = (): void => {
      listener.close();
      this.listeners.delete(listener);
    };
    stream.once('close', done);
    stream.once('end', done);
    stream.on('error', () => undefined);
    stream.resume();
    stream.write(encodeMessage(NO_ERROR));
  }

  /**
   * Park a connection for the client to claim with an "accept" stream (-R,
   * and agent / X11 channels, which share the reference's ID space); it is
   * dropped if not claimed within the connect timeout.
   */
  park(entry: ParkedConnection): number {
    const id = this.nextId++;
    const timer = setTimeout(() => {
      if (this.parked.delete(id)) entry.drop();
    }, this.claimTimeoutMs);
    timer.unref();
    this.parked.set(id, {
      splice: (stream) => {
        clearTimeout(timer);
        entry.splice(stream);
      },
      drop: () => {
        clearTimeout(timer);
        entry.drop();
      },
    });
    return id;
  }

  private incoming(socket: Socket, listenStream: Duplex): void {
    const entry = this.forwards.incoming(socket);
    if (entry === null) return;
    const id = this.park(entry);
    socket.once('close', () => this.parked.delete(id));
    if (listenStream.writable) listenStream.write(encodeMessage({ ID: id }));
    else this.parked.get(id)?.drop();
  }

  private accept(id: number, stream: SplicedStream): void {
    const entry = this.parked.get(id);
    if (entry === undefined) return refuse(stream, `invalid accept id: ${id}`);
    this.parked.delete(id);
    stream.write(encodeMessage(NO_ERROR));
    entry.splice(stream);
  }
}

/** The reference's Net and Addr as a target: a Unix path, or host and port (IPv6 in brackets); a string is why not. */
export function parseTarget(net: string, addr: string): ForwardTarget | string {
  if (net === 'unix') return addr.length > 0 ? { path: addr } : 'an empty Unix socket path';
  if (net !== 'tcp' && net !== 'tcp4' && net !== 'tcp6') return `network ${JSON.stringify(net.slice(0, 20))} is not forwarded (tcp, tcp4, tcp6 or unix)`;
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) return `address ${JSON.stringify(addr.slice(0, 80))} is not host:port`;
  return { host: m[1] ?? m[2] ?? '', port };
}

function refuse(stream: Duplex, message: string, code = 0): void {
  if (stream.writable) stream.end(encodeMessage(errorReply(message, code)));
  stream.resume();
}
