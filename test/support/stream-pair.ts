import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  DatagramTooLargeError,
  StreamResetError,
  type Connection,
  type Stream,
  type TransportStats,
} from '../../src/transport/connection.js';

/**
 * An in-memory Connection pair for testing the layers above the transport
 * without it. Streams are Duplex pairs with half-close, flow control (a
 * write completes only when the peer's reader wants more, so write() returns
 * false against a stalled reader) and reset; the peer learns of a new
 * stream asynchronously, as over a network. Ids: client odd, server even.
 */

/** One end of an in-memory stream. */
export class MemoryStream extends Duplex implements Stream {
  peer!: MemoryStream;
  /** Largest writableLength seen when a write reached the pair: how much this side ever buffered. */
  peakBuffered = 0;
  /** The peer's write callback, parked until this side's reader wants more. */
  parkedWrite: (() => void) | null = null;

  constructor(
    readonly id: number,
    readonly kind: number,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.peakBuffered = Math.max(this.peakBuffered, this.writableLength);
    if (this.peer.destroyed) {
      callback(new StreamResetError(this.id));
      return;
    }
    // Complete the write only once the peer's reader has room: that is the backpressure.
    if (this.peer.push(chunk)) callback();
    else this.peer.parkedWrite = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _read(): void {
    this.releaseParkedWrite();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    // A stream that ended cleanly both ways is just closed; anything else resets the peer.
    const clean = this.writableFinished && this.readableEnded;
    if (!clean && !this.peer.destroyed) this.peer.destroy(new StreamResetError(this.peer.id));
    this.releaseParkedWrite();
    callback(err);
  }

  private releaseParkedWrite(): void {
    const resume = this.parkedWrite;
    this.parkedWrite = null;
    resume?.();
  }

  reset(): void {
    this.destroy();
  }
}

function zeroStats(streamsOpen: number, streamsOpenedTotal: number): TransportStats {
  return {
    rttMs: NaN,
    srttMs: NaN,
    rttVarMs: NaN,
    bytesSent: 0,
    bytesReceived: 0,
    datagramsSent: 0,
    datagramsReceived: 0,
    retransmissions: 0,
    streamsOpen,
    streamsOpenedTotal,
  };
}

/** One end of an in-memory connection. */
export class MemoryConnection extends EventEmitter implements Connection {
  readonly maxDatagramSize = 1200;
  peer!: MemoryConnection;
  /** Every stream this end has had, opened or accepted, in order. */
  readonly streams: MemoryStream[] = [];
  private nextId: number;
  private closed = false;

  constructor(client: boolean) {
    super();
    this.nextId = client ? 1 : 2;
  }

  openStream(kind: number): Stream {
    if (this.closed) throw new Error('connection is closed');
    if (!Number.isInteger(kind) || kind < 0 || kind > 255) throw new RangeError(`bad stream kind ${kind}`);
    const id = this.nextId;
    this.nextId += 2;
    const local = new MemoryStream(id, kind);
    const remote = new MemoryStream(id, kind);
    local.peer = remote;
    remote.peer = local;
    this.streams.push(local);
    this.peer.streams.push(remote);
    const peer = this.peer;
    setImmediate(() => {
      if (!peer.closed) peer.emit('stream', remote);
    });
    return local;
  }

  sendDatagram(channel: number, payload: Uint8Array): void {
    if (payload.length > this.maxDatagramSize) throw new DatagramTooLargeError(payload.length, this.maxDatagramSize);
    const copy = Buffer.from(payload);
    const peer = this.peer;
    setImmediate(() => {
      if (!peer.closed) peer.emit('datagram', channel, copy);
    });
  }

  async close(): Promise<void> {
    this.shutDown();
  }

  destroy(err?: Error): void {
    for (const s of this.streams) s.destroy(err);
    this.shutDown();
  }

  stats(): TransportStats {
    return zeroStats(this.streams.filter((s) => !s.destroyed).length, this.streams.length);
  }

  private shutDown(): void {
    for (const end of [this, this.peer]) {
      if (end.closed) continue;
      end.closed = true;
      setImmediate(() => end.emit('close'));
    }
  }
}

/** A connected pair: [client end, server end]. */
export function memoryConnectionPair(): [MemoryConnection, MemoryConnection] {
  const client = new MemoryConnection(true);
  const server = new MemoryConnection(false);
  client.peer = server;
  server.peer = client;
  return [client, server];
}
