/**
 * `-L udp/...` over the reference protocol (docs/INTEROP.md "Streams"): each
 * local peer (source address) gets a `dial-udp` stream; the server answers
 * with a channel id, the client says it is ready (`{}`), and from then on the
 * flow's datagrams travel out of band as `payload || channel id (u64 BE)`,
 * or, when too large for one, on the stream framed `u16 BE length || bytes`.
 * A flow idle for ForwardUdpTimeout is closed (its stream with it).
 */
import dgram from 'node:dgram';
import * as M from '../protocol/reference/messages.js';
import { encodeMessage } from '../protocol/reference/stream-codec.js';
import type { SmuxStream } from '../transport/reference/smux.js';
import type { ForwardSpec } from './forward-spec.js';
import { clientBindPlan } from './local-bind.js';
import type { ReferenceClient } from './reference-client.js';

/** Bytes of the channel id after each out-of-band datagram. */
const CHANNEL_ID_BYTES = 8;
/** Datagrams held per flow while its stream is being opened; more are dropped (UDP may lose them). */
const MAX_PENDING = 64;

interface Flow {
  id: number;
  stream: SmuxStream | null;
  pending: Buffer[];
  idle: NodeJS.Timeout | null;
}

export class ReferenceUdpForwards {
  private readonly channels = new Map<number, (data: Buffer) => void>();
  private readonly sockets: dgram.Socket[] = [];
  private readonly onDatagram = (d: Buffer): void => {
    if (d.length < CHANNEL_ID_BYTES) return;
    const at = d.length - CHANNEL_ID_BYTES;
    const id = Number(d.readBigUInt64BE(at));
    this.channels.get(id)?.(d.subarray(0, at));
  };

  constructor(
    private readonly client: ReferenceClient,
    private readonly idleMs: number,
  ) {
    client.kcp.on('datagram', this.onDatagram);
  }

  /** Listen locally for `-L udp/...`; resolves once bound. */
  listen(spec: ForwardSpec, gatewayPorts: boolean): Promise<void> {
    if ('path' in spec.listen || 'path' in spec.connect) return Promise.reject(new Error('unixgram forwarding with the Go tsshd is not supported by tssh yet'));
    const connect = spec.connect;
    const listen = spec.listen;
    const plan = clientBindPlan(listen.host, gatewayPorts);
    const host = plan.kind === 'wildcard' ? '0.0.0.0' : plan.kind === 'loopback' ? '127.0.0.1' : plan.host;
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const flows = new Map<string, Flow>();
    const addr = connect.host.includes(':') ? `[${connect.host}]:${connect.port}` : `${connect.host}:${connect.port}`;
    socket.on('message', (msg, from) => {
      const key = `${from.address}:${from.port}`;
      let flow = flows.get(key);
      if (flow === undefined) {
        flow = { id: 0, stream: null, pending: [msg], idle: null };
        flows.set(key, flow);
        void this.open(flow, addr, (data) => socket.send(data, from.port, from.address), () => flows.delete(key));
        return;
      }
      this.touch(flow, () => flows.delete(key));
      if (flow.stream === null) {
        if (flow.pending.length < MAX_PENDING) flow.pending.push(msg);
        return;
      }
      this.send(flow, msg);
    });
    socket.on('error', () => undefined);
    this.sockets.push(socket);
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(listen.port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  }

  close(): void {
    this.client.kcp.off('datagram', this.onDatagram);
    for (const s of this.sockets) s.close();
  }

  private async open(flow: Flow, addr: string, deliver: (data: Buffer) => void, forget: () => void): Promise<void> {
    let stream: SmuxStream;
    try {
      stream = await this.client.openStream(M.StreamCommand.DialUdp);
      const reply = M.parseIdReply(await this.client.request(stream, `UDP forward to ${addr} failed`, M.encodeDial({ net: 'udp', addr, timeoutMs: 10_000 })));
      stream.write(encodeMessage({}));
      flow.id = reply.id;
    } catch {
      forget();
      return;
    }
    flow.stream = stream;
    this.channels.set(flow.id, deliver);
    // Datagrams too large to go out of band come on the stream, framed.
    let buffered: Buffer = Buffer.alloc(0);
    stream.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const n = buffered.readUInt16BE(0);
        if (buffered.length < 2 + n) break;
        deliver(buffered.subarray(2, 2 + n));
        buffered = buffered.subarray(2 + n);
      }
    });
    const end = (): void => {
      this.channels.delete(flow.id);
      if (flow.idle !== null) clearTimeout(flow.idle);
      forget();
    };
    stream.once('close', end);
    stream.on('error', () => undefined);
    this.touch(flow, forget);
    for (const p of flow.pending.splice(0)) this.send(flow, p);
  }

  private send(flow: Flow, data: Buffer): void {
    const kcp = this.client.kcp;
    if (data.length + CHANNEL_ID_BYTES <= kcp.maxDatagramSize) {
      const out = Buffer.allocUnsafe(data.length + CHANNEL_ID_BYTES);
      data.copy(out);
      out.writeBigUInt64BE(BigInt(flow.id), data.length);
      kcp.sendDatagram(out);
      return;
    }
    if (data.length > 0xffff) return;
    const framed = Buffer.allocUnsafe(2 + data.length);
    framed.writeUInt16BE(data.length, 0);
    data.copy(framed, 2);
    flow.stream?.write(framed);
  }

  private touch(flow: Flow, forget: () => void): void {
    if (flow.idle !== null) clearTimeout(flow.idle);
    flow.idle = setTimeout(() => {
      forget();
      flow.stream?.destroy();
    }, this.idleMs);
    flow.idle.unref();
  }
}
