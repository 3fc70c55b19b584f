/**
 * An smux v2 session (trzsz/smux v1.6) over a reliable byte pipe: the
 * multiplexer of the reference family in KCP mode (docs/INTEROP.md "smux").
 *
 * Flow control is smux's per-stream window: a sender may have at most the
 * peer's window (262144 bytes until its first update) written and not yet
 * consumed; the receiver reports bytes consumed by its reader with UPD
 * frames, on the first read and whenever half its window has been consumed
 * since the last report. Bytes count as consumed here when the stream's
 * reader takes them (Readable._read), so a slow reader throttles its peer.
 * All streams together hold at most receiveBufferBytes; beyond it the pipe's
 * receive is paused.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { ReliablePipe } from '../reliable-pipe.js';

/** smux has no connection credit: it bounds what streams hold by pausing the pipe's receiving side (KCP's pauseReceive). */
export interface PausablePipe extends ReliablePipe {
  pauseReceive(): void;
  resumeReceive(): void;
}
import { CloseType, encodeSmuxFrame, encodeSmuxUpdate, SmuxCmd, SmuxFrameDecoder, type SmuxFrame } from './smux-frame.js';

/** The window a peer assumes before our first update (smux's initialPeerWindow). */
export const SMUX_INITIAL_WINDOW = 262144;

export interface SmuxOptions {
  role: 'client' | 'server';
  /** Our per-stream receive window (the reference: 512 KiB). */
  streamWindow?: number;
  /** Largest PSH payload we send (the reference: 48 KiB). */
  maxFrameSize?: number;
  /** Bytes all streams may hold unread before the pipe is paused (the reference: 20 MiB). */
  receiveBufferBytes?: number;
  /** Pipe queue level above which stream writes wait for the pipe to drain. */
  pipeHighWater?: number;
}

/** A stream of an SmuxSession: a Duplex with half-close (end() sends FIN of the write side). */
export class SmuxStream extends Duplex {
  /** smux streams carry no kind (the first command names it); 0 for the transport's Stream contract. */
  readonly kind = 0;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private consumed = 0;
  private sinceUpdate = 0;
  private firstRead = true;
  /** The reader asked for data (_read) and push() has not yet said "enough". */
  private wanting = false;
  private peerFinWrite = false;
  private peerClosedRead = false;
  private written = 0;
  private peerConsumed = 0;
  private peerWindow = SMUX_INITIAL_WINDOW;
  private pendingWrite: { chunk: Buffer; cb: (err?: Error | null) => void } | null = null;
  private finSent = false;
  private fullCloseSent = false;

  constructor(
    readonly id: number,
    private readonly session: SmuxSession,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * 1024, writableHighWaterMark: 64 * 1024 });
    this.once('end', () => this.maybeDone());
  }

  /** Data of a PSH frame. */
  receive(data: Buffer): void {
    if (this.peerFinWrite || this.destroyed) return;
    // The frame is a view of the decoder's buffer: keep a copy only when small parts of a big buffer would be pinned.
    this.queue.push(data);
    this.queued += data.length;
    this.session.held(data.length);
    this.pump();
  }

  /** A FIN from the peer. */
  fin(closeType: number): void {
    if (closeType === CloseType.Read) {
      this.peerClosedRead = true;
      this.releaseWrite();
      return;
    }
    // Full close or write side: no more data comes; a full close also means the peer reads no more.
    this.peerFinWrite = true;
    if (closeType === CloseType.Full) {
      this.peerClosedRead = true;
      this.releaseWrite();
    }
    this.pump();
  }

  /** A window update from the peer. */
  update(consumed: number, window: number): void {
    this.peerConsumed = consumed >>> 0;
    this.peerWindow = window >>> 0;
    this.releaseWrite();
  }

  /** Abort: tell the peer at once (full close) and drop everything. */
  reset(): void {
    this.destroy();
  }

  override _read(): void {
    this.wanting = true;
    this.pump();
  }

  private pump(): void {
    let moved = 0;
    while (this.wanting && this.queue.length > 0) {
      const chunk = this.queue.shift()!;
      this.queued -= chunk.length;
      moved += chunk.length;
      if (!this.push(chunk)) {
        this.wanting = false;
        break;
      }
    }
    if (moved > 0) {
      this.session.held(-moved);
      this.consumed = (this.consumed + moved) >>> 0;
      this.sinceUpdate += moved;
      if (this.firstRead || this.sinceUpdate >= this.session.streamWindow / 2) {
        this.firstRead = false;
        this.sinceUpdate = 0;
        if (!this.fullCloseSent) this.session.send(encodeSmuxUpdate(this.id, this.consumed, this.session.streamWindow));
      }
    }
    if (this.queue.length === 0 && this.peerFinWrite && !this.readableEnded) {
      this.wanting = false;
      this.push(null);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pendingWrite = { chunk, cb };
    this.releaseWrite();
  }

  /** Send as much of the pending write as the peer's window and the pipe allow. */
  releaseWrite(): void {
    const p = this.pendingWrite;
    if (p === null) return;
    if (this.peerClosedRead || this.fullCloseSent) {
      // The peer reads no more: what we write is dropped, as it would be by the peer.
      this.pendingWrite = null;
      p.cb();
      return;
    }
    while (p.chunk.length > 0) {
      const inflight = (this.written - this.peerConsumed) | 0;
      const win = this.peerWindow - inflight;
      if (win <= 0 || this.session.pipeFull()) {
        this.session.waitForRoom(this);
        return;
      }
      const n = Math.min(p.chunk.length, win, this.session.maxFrameSize);
      this.session.send(encodeSmuxFrame(SmuxCmd.Psh, this.id, p.chunk.subarray(0, n)));
      this.written = (this.written + n) >>> 0;
      p.chunk = p.chunk.subarray(n);
    }
    this.pendingWrite = null;
    p.cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.finSent && !this.fullCloseSent) {
      this.finSent = true;
      this.session.send(encodeSmuxFrame(SmuxCmd.Fin, this.id, undefined, CloseType.Write));
    }
    cb();
    this.maybeDone();
  }

  /** Both directions are over: release the stream on both sides. */
  maybeDone(): void {
    if (this.writableFinished && this.readableEnded) this.destroy();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (!this.fullCloseSent) {
      this.fullCloseSent = true;
      this.session.send(encodeSmuxFrame(SmuxCmd.Fin, this.id, undefined, CloseType.Full));
    }
    if (this.queued > 0) this.session.held(-this.queued);
    this.queue.length = 0;
    this.queued = 0;
    const p = this.pendingWrite;
    this.pendingWrite = null;
    this.session.forget(this.id);
    p?.cb(err);
    cb(err);
  }
}

/**
 * Events: 'stream' (stream: SmuxStream) the peer opened one; 'error' (err)
 * the peer sent what smux v2 cannot carry (the session is then closed);
 * 'close'.
 */
export class SmuxSession extends EventEmitter {
  readonly streamWindow: number;
  readonly maxFrameSize: number;
  private readonly receiveCap: number;
  private readonly pipeHighWater: number;
  private readonly streams = new Map<number, SmuxStream>();
  private readonly waiting = new Set<SmuxStream>();
  private readonly decoder: SmuxFrameDecoder;
  private nextId: number;
  private heldBytes = 0;
  private paused = false;
  private closed = false;

  constructor(
    private readonly pipe: PausablePipe,
    options: SmuxOptions,
  ) {
    super();
    this.streamWindow = options.streamWindow ?? 512 * 1024;
    this.maxFrameSize = Math.min(options.maxFrameSize ?? 48 * 1024, 65535);
    this.receiveCap = options.receiveBufferBytes ?? 20 * 1024 * 1024;
    this.pipeHighWater = options.pipeHighWater ?? 256 * 1024;
    this.nextId = options.role === 'client' ? 1 : 0;
    this.decoder = new SmuxFrameDecoder((f) => this.onFrame(f));
    pipe.onData = (chunk) => {
      if (this.closed) return;
      const problem = this.decoder.push(chunk);
      if (problem !== null) this.fail(new Error(`${problem}; the peer is not a smux v2 session`));
    };
    pipe.drainThreshold = Math.min(pipe.drainThreshold, this.pipeHighWater / 2);
    pipe.onDrain = () => this.drained();
  }

  /** Streams open. */
  get size(): number {
    return this.streams.size;
  }

  /** Open a stream (SYN goes out at once). */
  openStream(): SmuxStream {
    if (this.closed) throw new Error('smux session is closed');
    this.nextId = (this.nextId + 2) >>> 0;
    const stream = new SmuxStream(this.nextId, this);
    this.streams.set(stream.id, stream);
    this.send(encodeSmuxFrame(SmuxCmd.Syn, stream.id));
    return stream;
  }

  /** Close every stream and stop. */
  close(): void {
    if (this.closed) return;
    for (const s of [...this.streams.values()]) s.destroy();
    this.closed = true;
    this.pipe.onData = null;
    this.pipe.onDrain = null;
    this.emit('close');
  }

  // ---- for SmuxStream ----

  send(frame: Buffer): void {
    if (!this.closed) this.pipe.write(frame);
  }

  pipeFull(): boolean {
    return this.pipe.queuedBytes > this.pipeHighWater;
  }

  waitForRoom(stream: SmuxStream): void {
    this.waiting.add(stream);
  }

  forget(id: number): void {
    const s = this.streams.get(id);
    if (s !== undefined) {
      this.streams.delete(id);
      this.waiting.delete(s);
    }
  }

  /** Bytes held unread by streams changed by `delta`. */
  held(delta: number): void {
    this.heldBytes += delta;
    if (!this.paused && this.heldBytes > this.receiveCap) {
      this.paused = true;
      this.pipe.pauseReceive();
    } else if (this.paused && this.heldBytes <= this.receiveCap / 2) {
      this.paused = false;
      this.pipe.resumeReceive();
    }
  }

  private drained(): void {
    if (this.waiting.size === 0) return;
    const list = [...this.waiting];
    this.waiting.clear();
    for (const s of list) s.releaseWrite();
  }

  private onFrame(f: SmuxFrame): void {
    switch (f.cmd) {
      case SmuxCmd.Syn: {
        if (this.streams.has(f.sid)) return;
        const stream = new SmuxStream(f.sid, this);
        this.streams.set(f.sid, stream);
        this.emit('stream', stream);
        return;
      }
      case SmuxCmd.Fin:
        this.streams.get(f.sid)?.fin(f.closeType);
        return;
      case SmuxCmd.Psh:
        if (f.data.length > 0) this.streams.get(f.sid)?.receive(f.data);
        return;
      case SmuxCmd.Upd: {
        const s = this.streams.get(f.sid);
        if (s !== undefined) {
          s.update(f.data.readUInt32LE(0), f.data.readUInt32LE(4));
          if (this.waiting.has(s)) {
            this.waiting.delete(s);
            s.releaseWrite();
          }
        }
        return;
      }
      default:
        return;
    }
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.close();
    this.emit('error', err);
  }
}
