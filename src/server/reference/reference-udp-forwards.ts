import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorReply, NO_ERROR } from '../../protocol/reference/messages.js';
import { encodeMessage, StreamFrameReader } from '../../protocol/reference/stream-codec.js';
import { listenUdp, type DatagramListener } from '../../protocol/forward-listeners.js';
import { refuseListen, refuseOpen, serverBindPlan, type ForwardPolicy } from '../forward-policy.js';
import { nextFrame } from './stream-opening.js';

/**
 * The reference family's UDP forwards: -L udp ("dial-udp") and -R udp
 * ("listen-udp", then "accept-udp" per peer address; datagrams held until
 * claimed, as the reference does) —
 * docs/INTEROP.md "UDP forwarding". For dial-udp the server answers {Msg, ID}, the client
 * says it is ready ({}), and from then on each datagram travels as an
 * out-of-band KCP datagram carrying the payload and the ID (u64 BE) at its
 * end, or, when too large for one, on the stream as u16 BE length + payload.
 * Policy: sshd_config's, as for our own UDP forwards (AllowTcpForwarding,
 * PermitOpen, DisableForwarding).
 */

/** The reference's size of the channel ID at the end of each datagram. */
const CHANNEL_ID_BYTES = 8;
/** Channels open at once, at most. */
const MAX_CHANNELS = 256;
const ERR_PROHIBITED = 101;

/** Sends an out-of-band datagram and says how large one may be. */
export interface DatagramSender {
  readonly maxDatagramSize: number;
  sendDatagram(payload: Uint8Array): void;
}

/** One UDP association: where the client's datagrams go, and the stream that carries the large ones. */
interface Channel {
  deliver(msg: Buffer): void;
  stream: Duplex | null;
  /** Datagrams for the client held until its accept-udp stream arrives (-R udp). */
  pending: Buffer[] | null;
  close(): void;
}

/** Datagrams held per -R udp association before the client claims it. */
const MAX_PENDING = 1024;

export class ReferenceUdpForwards {
  private nextId = 1;
  private readonly channels = new Map<number, Channel>();
  private readonly listeners = new Set<DatagramListener>();

  constructor(
    private readonly policy: ForwardPolicy,
    private readonly link: DatagramSender,
    private readonly log: (line: string) => void,
  ) {}

  /** An out-of-band datagram from the client: payload, then the channel ID. */
  datagram(datagram: Buffer): void {
    if (datagram.length < CHANNEL_ID_BYTES) return;
    const at = datagram.length - CHANNEL_ID_BYTES;
    const id = Number(datagram.readBigUInt64BE(at));
    this.channels.get(id)?.deliver(datagram.subarray(0, at));
  }

  /** Serve a "dial-udp" stream whose message was read. */
  dial(d: { net: string; addr: string }, stream: Duplex): void {
    const target = parseUdpTarget(d.net, d.addr);
    if (typeof target === 'string') return refuse(stream, target);
    const refusal = refuseOpen(this.policy, target, 'udp');
    if (refusal) {
      this.log(`refused UDP forward to ${d.addr}: ${refusal}`);
      return refuse(stream, refusal, ERR_PROHIBITED);
    }
    if (this.channels.size >= MAX_CHANNELS) return refuse(stream, `too many UDP forwards (at most ${MAX_CHANNELS})`);
    const socket = dgram.createSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
    socket.on('error', () => undefined); // ICMP unreachable and the like: the datagram is lost, as on a network
    let connected = false;
    socket.connect(target.port, target.host, () => {
      connected = true;
      if (stream.destroyed) return void socket.close();
      const id = this.nextId++;
      const channel: Channel = { deliver: (msg) => socket.send(msg), stream, pending: null, close: () => socket.close() };
      this.channels.set(id, channel);
      stream.write(encodeMessage({ ...NO_ERROR, ID: id }));
      socket.on('message', (msg: Buffer) => this.toClient(id, channel, msg));
      void this.carry(id, channel, true);
    });
    socket.once('error', (err) => {
      if (!connected) refuse(stream, `cannot reach ${d.addr}: ${err.message.split('\n')[0]}`);
    });
  }

  /** Serve a "listen-udp" stream (-R udp): bind under policy, announce each new peer, hold its datagrams until claimed. */
  async listen(l: { net: string; addr: string }, stream: Duplex): Promise<void> {
    const target = parseUdpTarget(l.net, l.addr, true);
    if (typeof target === 'string') return refuse(stream, target);
    const bind = { host: target.host, port: target.port };
    const refusal = refuseListen(this.policy, bind, 'udp');
    if (refusal) {
      this.log(`refused remote UDP forward on ${l.addr}: ${refusal}`);
      return refuse(stream, refusal, ERR_PROHIBITED);
    }
    const peers = new Map<string, number>();
    let listener: DatagramListener;
    try {
      listener = await listenUdp(serverBindPlan(this.policy, bind), target.port, (socket, msg, from) => {
        const key = `${from.address}|${from.port}`;
        let id = peers.get(key);
        if (id === undefined || !this.channels.has(id)) {
          if (this.channels.size >= MAX_CHANNELS) return;
          id = this.nextId++;
          peers.set(key, id);
          const gone = id;
          this.channels.set(id, {
            deliver: (m) => socket.send(m, from.port, from.address),
            stream: null,
            pending: [],
            close: () => void peers.delete(key),
          });
          if (stream.writable) stream.write(encodeMessage({ ID: gone }));
        }
        const channel = this.channels.get(id)!;
        this.toClient(id, channel, msg);
      });
    } catch (err) {
      return refuse(stream, `cannot listen on ${l.addr}: ${(err as Error).message.split('\n')[0]}`);
    }
    this.listeners.add(listener);
    const done = (): void => {
      listener.close();
      this.listeners.delete(listener);
      for (const id of peers.values()) this.channels.get(id)?.stream?.destroy();
      for (const id of peers.values()) this.channels.delete(id);
    };
    stream.on('error', () => undefined);
    stream.once('close', done);
    stream.once('end', done);
    stream.resume();
    stream.write(encodeMessage(NO_ERROR));
  }

  /** Serve an "accept-udp" stream: the client claims association `id`; what was held goes out first. */
  accept(id: number, stream: Duplex): void {
    const channel = this.channels.get(id);
    if (channel === undefined || channel.stream !== null) return refuse(stream, `invalid accept udp id: ${id}`);
    stream.write(encodeMessage(NO_ERROR));
    channel.stream = stream;
    const held = channel.pending ?? [];
    channel.pending = null;
    for (const msg of held) this.toClient(id, channel, msg);
    void this.carry(id, channel, false);
  }

  /** Close every channel and listener. */
  close(): void {
    for (const l of this.listeners) l.close();
    this.listeners.clear();
    for (const c of this.channels.values()) {
      c.close();
      c.stream?.destroy();
    }
    this.channels.clear();
  }

  /** A datagram for the client on association `id`: out of band if it fits, else framed on the stream, held before the stream exists. */
  private toClient(id: number, channel: Channel, msg: Buffer): void {
    if (channel.pending !== null) {
      if (channel.pending.length < MAX_PENDING) channel.pending.push(Buffer.from(msg));
      return;
    }
    if (msg.length + CHANNEL_ID_BYTES <= this.link.maxDatagramSize) {
      const out = Buffer.allocUnsafe(msg.length + CHANNEL_ID_BYTES);
      msg.copy(out, 0);
      out.writeBigUInt64BE(BigInt(id), msg.length);
      this.link.sendDatagram(out);
    } else if (msg.length <= 0xffff && channel.stream?.writable) {
      const frame = Buffer.allocUnsafe(2 + msg.length);
      frame.writeUInt16BE(msg.length, 0);
      msg.copy(frame, 2);
      channel.stream.write(frame);
    }
  }

  /** Read the association's stream: (for dial-udp, the client's "ready" first) then framed datagrams for the target. */
  private async carry(id: number, channel: Channel, ready: boolean): Promise<void> {
    const stream = channel.stream!;
    const end = (): void => {
      if (!this.channels.delete(id)) return;
      channel.close();
      if (!stream.destroyed) stream.end();
    };
    stream.on('error', end);
    stream.once('close', end);
    const reader = new StreamFrameReader();
    if (ready) {
      try {
        await nextFrame(stream, reader, () => reader.readMessage());
      } catch {
        end();
        return;
      }
    }
    const drain = (): void => {
      for (;;) {
        if (reader.buffered < 2) return;
        const head = reader.takeRest();
        const len = head.readUInt16BE(0);
        if (head.length < 2 + len) {
          reader.push(head);
          return;
        }
        channel.deliver(head.subarray(2, 2 + len));
        if (head.length > 2 + len) reader.push(head.subarray(2 + len));
      }
    };
    stream.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      drain();
    });
    stream.once('end', end);
    drain();
    stream.resume();
  }
}

/** A UDP address from the reference's Net and Addr ("udp", "udp4", "udp6"; host:port, IPv6 in brackets; port 0 only to listen). */
function parseUdpTarget(net: string, addr: string, listen = false): { host: string; port: number } | string {
  if (net !== 'udp' && net !== 'udp4' && net !== 'udp6') return `network ${JSON.stringify(net.slice(0, 20))} is not forwarded over UDP here (udp, udp4 or udp6)`;
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < (listen ? 0 : 1) || port > 65535) return `address ${JSON.stringify(addr.slice(0, 80))} is not host:port`;
  return { host: m[1] ?? m[2] ?? '', port };
}

function refuse(stream: Duplex, message: string, code = 0): void {
  if (stream.writable) stream.end(encodeMessage(errorReply(message, code)));
  stream.resume();
}
