import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorReply, NO_ERROR } from '../../protocol/reference/messages.js';
import { encodeMessage, StreamFrameReader } from '../../protocol/reference/stream-codec.js';
import { refuseOpen, type ForwardPolicy } from '../forward-policy.js';
import { nextFrame } from './stream-opening.js';

/**
 * The reference family's client-opened UDP forward (-L udp, "dial-udp";
 * docs/INTEROP.md "UDP forwarding"): the server answers {Msg, ID}, the client
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

interface Channel {
  socket: dgram.Socket;
  stream: Duplex;
}

export class ReferenceUdpForwards {
  private nextId = 1;
  private readonly channels = new Map<number, Channel>();

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
    this.channels.get(id)?.socket.send(datagram.subarray(0, at));
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
    socket.connect(target.port, target.host, () => {
      if (stream.destroyed) return void socket.close();
      const id = this.nextId++;
      this.channels.set(id, { socket, stream });
      stream.write(encodeMessage({ ...NO_ERROR, ID: id }));
      void this.carry(id, socket, stream);
    });
    socket.once('error', (err) => {
      if (!this.channelOf(socket)) refuse(stream, `cannot reach ${d.addr}: ${err.message.split('\n')[0]}`);
    });
  }

  /** Close every channel. */
  close(): void {
    for (const c of this.channels.values()) {
      c.socket.close();
      c.stream.destroy();
    }
    this.channels.clear();
  }

  private channelOf(socket: dgram.Socket): boolean {
    for (const c of this.channels.values()) if (c.socket === socket) return true;
    return false;
  }

  private async carry(id: number, socket: dgram.Socket, stream: Duplex): Promise<void> {
    const tag = Buffer.alloc(CHANNEL_ID_BYTES);
    tag.writeBigUInt64BE(BigInt(id));
    const end = (): void => {
      if (!this.channels.delete(id)) return;
      socket.close();
      if (!stream.destroyed) stream.end();
    };
    stream.on('error', end);
    stream.once('close', end);
    socket.on('message', (msg: Buffer) => {
      if (msg.length + CHANNEL_ID_BYTES <= this.link.maxDatagramSize) {
        this.link.sendDatagram(Buffer.concat([msg, tag]));
      } else if (msg.length <= 0xffff && stream.writable) {
        const frame = Buffer.allocUnsafe(2 + msg.length);
        frame.writeUInt16BE(msg.length, 0);
        msg.copy(frame, 2);
        stream.write(frame);
      }
    });
    // The client's "ready" message, then datagrams too large for one KCP datagram as framed packets.
    const reader = new StreamFrameReader();
    try {
      await nextFrame(stream, reader, () => reader.readMessage());
    } catch {
      end();
      return;
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
        socket.send(head.subarray(2, 2 + len));
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

/** A UDP target from the reference's Net and Addr ("udp", "udp4", "udp6"; host:port, IPv6 in brackets). */
function parseUdpTarget(net: string, addr: string): { host: string; port: number } | string {
  if (net !== 'udp' && net !== 'udp4' && net !== 'udp6') return `network ${JSON.stringify(net.slice(0, 20))} is not forwarded over UDP here (udp, udp4 or udp6)`;
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) return `address ${JSON.stringify(addr.slice(0, 80))} is not host:port`;
  return { host: m[1] ?? m[2] ?? '', port };
}

function refuse(stream: Duplex, message: string, code = 0): void {
  if (stream.writable) stream.end(encodeMessage(errorReply(message, code)));
  stream.resume();
}
