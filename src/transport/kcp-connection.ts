import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { DatagramPath } from '../path/datagram-path.js';
import { DatagramTooLargeError, type Connection, type Stream, type TransportStats } from './connection.js';
import { Kcp, type KcpOptions } from './kcp/kcp.js';
import { Mux, type MuxOptions } from './mux/mux.js';

/** First byte of every path payload in KCP mode: what the rest of it is. */
export const enum FrameClass {
  /** One KCP output packet (one or more segments). */
  Kcp = 0x01,
  /** An unreliable datagram: [u16 BE channel][payload]. */
  Datagram = 0x02,
}
const DATAGRAM_HEADER = 3;
/** How long close() waits for the peer to acknowledge what is still in flight. */
const CLOSE_LINGER_MS = 5000;

export interface KcpConnectionOptions {
  role: 'client' | 'server';
  /** KCP conversation id; both sides must agree (from the bootstrap). */
  conv?: number;
  kcp?: Partial<Omit<KcpOptions, 'conv' | 'mtu'>>;
  mux?: Partial<Omit<MuxOptions, 'role'>>;
}

/**
 * The KCP transport: our KCP ARQ carrying the stream multiplexer, plus
 * unreliable datagrams on numbered channels, over one DatagramPath. The path
 * hides roaming; we only ask KCP to probe at once when the path reports that
 * it renewed or regained contact, so recovery costs one RTT, not a backed-off RTO.
 */
export class KcpConnection extends EventEmitter implements Connection {
  readonly maxDatagramSize: number;
  private readonly kcp: Kcp;
  private readonly mux: Mux;
  private readonly out: Buffer;
  private datagramsSent = 0;
  private datagramsReceived = 0;
  private datagramsDropped = 0;
  private closed = false;
  private lingering: Promise<void> | null = null;

  constructor(private readonly path: DatagramPath, options: KcpConnectionOptions) {
    super();
    const budget = path.payloadBudget;
    this.maxDatagramSize = budget - DATAGRAM_HEADER;
    this.out = Buffer.allocUnsafe(budget);
    this.kcp = new Kcp({ ...options.kcp, conv: options.conv ?? 1, mtu: budget - 1 }, (packet) => this.sendKcp(packet));
    this.mux = new Mux(this.kcp, { ...options.mux, role: options.role });
    this.mux.on('stream', (stream: Stream) => this.emit('stream', stream));
    this.mux.once('close', (err?: Error) => (err ? this.finish(err) : void this.linger()));
    path.onDatagram = (payload) => this.receive(payload);
    const probe = (): void => this.kcp.probeNow();
    path.on('renewed', probe);
    path.on('contact-restored', probe);
    path.on('peer-moved', probe);
    path.once('close', () => this.finish());
  }

  openStream(kind: number): Stream {
    return this.mux.openStream(kind);
  }

  sendDatagram(channel: number, payload: Uint8Array): void {
    if (payload.length > this.maxDatagramSize) throw new DatagramTooLargeError(payload.length, this.maxDatagramSize);
    if (!Number.isInteger(channel) || channel < 0 || channel > 0xffff) throw new RangeError(`datagram channel ${channel} is not in 0..65535`);
    if (this.closed) return;
    const out = this.out;
    out[0] = FrameClass.Datagram;
    out.writeUInt16BE(channel, 1);
    out.set(payload, DATAGRAM_HEADER);
    this.datagramsSent++;
    this.path.send(out.subarray(0, DATAGRAM_HEADER + payload.length));
  }

  /** Graceful close: GOAWAY and flush the streams, wait (bounded) until KCP has everything acknowledged, then say goodbye on the path. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.mux.close();
    await this.linger();
  }

  destroy(err?: Error): void {
    this.mux.destroy(err);
    this.finish(err);
  }

  stats(): TransportStats {
    const k = this.kcp.stats();
    const m = this.mux.stats();
    return {
      rttMs: k.rttMs,
      srttMs: k.srttMs,
      rttVarMs: k.rttVarMs,
      bytesSent: k.bytesSent,
      bytesReceived: k.bytesReceived,
      datagramsSent: this.datagramsSent,
      datagramsReceived: this.datagramsReceived,
      retransmissions: k.retransmissions,
      streamsOpen: m.streamsOpen,
      streamsOpenedTotal: m.streamsOpenedTotal,
    };
  }

  /** Unreliable datagrams dropped on receipt (malformed or unknown class). */
  get droppedFrames(): number {
    return this.datagramsDropped;
  }

  /** Wait (bounded) until KCP has everything acknowledged, then finish; shared by close() and a mux that ended on its own. */
  private linger(): Promise<void> {
    this.lingering ??= (async () => {
      const deadline = performance.now() + CLOSE_LINGER_MS;
      while (!this.closed && !this.kcp.idle && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      this.finish();
    })();
    return this.lingering;
  }

  private sendKcp(packet: Buffer): void {
    if (this.closed) return;
    const out = this.out;
    out[0] = FrameClass.Kcp;
    out.set(packet, 1);
    this.path.send(out.subarray(0, 1 + packet.length));
  }

  private receive(payload: Buffer): void {
    if (payload.length === 0) return void this.datagramsDropped++;
    switch (payload[0]) {
      case FrameClass.Kcp:
        this.kcp.input(payload.subarray(1));
        return;
      case FrameClass.Datagram:
        if (payload.length < DATAGRAM_HEADER) return void this.datagramsDropped++;
        this.datagramsReceived++;
        this.emit('datagram', payload.readUInt16BE(1), payload.subarray(DATAGRAM_HEADER));
        return;
      default:
        this.datagramsDropped++;
    }
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.kcp.close();
    this.path.onDatagram = null;
    this.path.close();
    this.emit('close', err);
  }
}
