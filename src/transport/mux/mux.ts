import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { StreamResetError } from '../connection.js';
import type { ReliablePipe } from '../reliable-pipe.js';
import { resolveMuxConfig, type MuxConfig, type MuxOptions } from './config.js';
import { ControlQueue } from './control-queue.js';
import type { MuxEvents, MuxStats } from './mux-api.js';
import { FrameDecoder } from './decode.js';
import { encodeEmpty, encodeSyn, encodeU32, writeHeader } from './encode.js';
import { MuxClosedError, MuxProtocolError, MuxStreamLimitError } from './errors.js';
import { Command, GoAwayCode, HEADER_SIZE, INITIAL_CONNECTION_CREDIT, INITIAL_STREAM_CREDIT, MAX_STREAM_ID, SESSION_ID, isEitherCommand, isSessionCommand } from './frame.js';
import { ReceiveWindows } from './receive-windows.js';
import { FifoQueue } from './stream-queue.js';
import { MuxStream, SendRing, type StreamHost } from './stream.js';

export type { MuxOptions, MuxConfig } from './config.js';
export type { MuxStats, MuxEvents } from './mux-api.js';
export { MuxStream } from './stream.js';
export * from './errors.js';

/**
 * Replies the peer can make us queue (PONG, RST for a refused SYN) are
 * dropped past this many queued control frames, so a peer that sends but does
 * not read cannot grow our memory.
 */
const MAX_QUEUED_REPLIES = 4096;

/** Distance between consecutive stream ids of one side in one lane. */
const ID_STEP = 4;

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

/**
 * Stream multiplexer over one ReliablePipe (KCP in production): many
 * flow-controlled Duplex streams with half-close and reset, plus PING and
 * GOAWAY. See docs/MUX.md for the wire format and the rules.
 *
 * Sending: frames are fed to the pipe only while pipe.queuedBytes is at or
 * below sendThreshold; what goes next is chosen at that moment: control
 * frames first, then streams whose pending bytes are small (keystrokes), then
 * bulk streams round-robin a frame at a time. So an urgent frame waits behind
 * at most sendThreshold plus one frame, never behind a bulk backlog.
 *
 * Receiving: an incremental decoder; bad input is counted, contained to its
 * stream where possible, and otherwise ends the Mux with MuxProtocolError.
 * Memory for received data is bounded by credit (ReceiveWindows), never by
 * pausing the pipe, so control frames always get through.
 * Nothing thrown ever escapes pipe.onData because of what the peer sent.
 *
 * The Mux owns the pipe's onData, onDrain and drainThreshold from construction
 * until it closes; close() and destroy() can be driven from outside.
 */
export class Mux extends EventEmitter<MuxEvents> {
  /** The checked options in force. */
  readonly config: MuxConfig;

  private readonly streams = new Map<number, MuxStream>();
  private readonly decoder: FrameDecoder;
  private readonly host: StreamHost;
  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onDrain = (): void => this.pump();

  private state = OPEN;
  private nextId: number;
  private lastPeerId = 0;
  private localOpen = 0;
  private remoteOpen = 0;
  /** Live streams whose FIN has not reached the pipe: close() waits for these. */
  private unfinished = 0;
  private goAwayReceived = false;

  private readonly control = new ControlQueue();
  private readonly urgent = new FifoQueue<MuxStream>();
  private readonly bulk = new FifoQueue<MuxStream>();
  private pumping = false;

  private dataTarget: MuxStream | null = null;
  /** Connection credit the peer gave us (DATA bytes on all streams together). */
  private sendCredit = INITIAL_CONNECTION_CREDIT;
  private readonly windows: ReceiveWindows;

  private pingSeq = 0;
  private readonly pings = new Map<number, { start: number; resolve: (ms: number) => void; reject: (err: Error) => void }>();
  private closeWaiter: { promise: Promise<void>; resolve: () => void } | null = null;
  /** Retired streams the peer finished whose reader has not reached 'end' yet (endByPeer() lets them drain). */
  private readonly unread = new Set<MuxStream>();

  private streamsOpenedTotal = 0;
  private streamsRejected = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private framesIn = 0;
  private framesOut = 0;
  private bufferedBytes = 0;
  private sendQueuedBytes = 0;
  private protocolErrors = 0;
  private framesDropped = 0;

  constructor(private readonly pipe: ReliablePipe, options: MuxOptions) {
    super();
    this.config = resolveMuxConfig(options);
    // Ids are 4k + 2 * lane + parity (client odd, server even); 0 is the session id, so the server's lane 0 starts at 4.
    this.nextId = (this.config.role === 'client' ? 1 : 0) + 2 * this.config.lane || ID_STEP;
    this.decoder = new FrameDecoder({
      controlFrame: (command, streamId, source, offset) => this.onControl(command, streamId, source, offset),
      dataHeader: (streamId, length) => this.onDataHeader(streamId, length),
      dataPayload: (piece) => {
        // No target: the stream was dropped mid-frame (its reader destroyed it); the bytes' credit goes back.
        if (this.dataTarget !== null) this.dataTarget.receiveData(piece);
        else this.windows.release(piece.length);
      },
      unknownFrame: () => void this.framesDropped++,
      framingError: (err) => {
        this.protocolErrors++;
        this.destroy(err);
      },
    });
    this.host = {
      schedule: (stream, added) => this.schedule(stream, added),
      finish: (stream) => this.queueFin(stream),
      abort: (stream) => this.abort(stream),
      grant: (stream) => {
        if (!stream.retired) this.windows.grant(stream);
      },
      released: (bytes) => {
        if (this.state !== CLOSED) this.windows.release(bytes);
      },
      buffered: (delta) => void (this.bufferedBytes += delta),
      discarded: (bytes) => void (this.sendQueuedBytes -= bytes),
    };
    this.windows = new ReceiveWindows(this.config.maxBufferedBytes, this.config.streamWindow, (id, delta) =>
      this.queueControl(encodeU32(Command.WindowUpdate, id, delta)),
    );
    this.windows.start();
    pipe.drainThreshold = this.config.sendThreshold;
    pipe.onDrain = this.onDrain;
    pipe.onData = this.onData;
  }

  /**
   * Open a stream of `kind` (0..255). Synchronous: SYN is queued and the
   * stream can be written at once. Throws MuxClosedError after close(),
   * destroy() or the peer's GOAWAY, MuxStreamLimitError past maxStreams.
   */
  openStream(kind: number): MuxStream {
    if (!Number.isInteger(kind) || kind < 0 || kind > 255) throw new RangeError(`stream kind ${kind} is not in 0..255`);
    if (this.state !== OPEN) throw new MuxClosedError('closed');
    if (this.goAwayReceived) throw new MuxClosedError('goaway');
    if (this.localOpen >= this.config.maxStreams || this.nextId > MAX_STREAM_ID) {
      throw new MuxStreamLimitError(this.config.maxStreams);
    }
    const id = this.nextId;
    this.nextId += ID_STEP;
    this.localOpen++;
    const stream = this.createStream(id, kind, true);
    this.queueControl(encodeSyn(id, kind), false);
    this.windows.open(stream);
    this.pump();
    return stream;
  }

  /**
   * Graceful close: refuse new streams (GOAWAY), end() every stream's
   * writable side, and resolve once every byte written so far and every FIN
   * has been handed to the pipe (flushing the pipe itself is its owner's
   * job). Streams whose peer side is still open are then destroyed without
   * error. Never resolves while a peer withholds credit: bound it with a
   * timer and destroy() (which resolves it too).
   */
  close(): Promise<void> {
    if (this.closeWaiter !== null) return this.closeWaiter.promise;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.closeWaiter = { promise, resolve };
    if (this.state === CLOSED) {
      resolve();
      return promise;
    }
    this.state = CLOSING;
    this.queueControl(encodeU32(Command.GoAway, SESSION_ID, GoAwayCode.Normal), false);
    for (const stream of this.streams.values()) {
      if (!stream.writableEnded && !stream.destroyed) stream.end();
    }
    this.pump();
    return promise;
  }

  /**
   * Immediate close: stop reading and writing the pipe; every open stream is
   * destroyed with `err` (so errors with it, if given). A MuxProtocolError
   * is also reported to the peer with GOAWAY, best effort. Idempotent.
   */
  destroy(err?: Error): void {
    if (this.state === CLOSED) return;
    if (err instanceof MuxProtocolError) {
      this.pipe.write(encodeU32(Command.GoAway, SESSION_ID, GoAwayCode.ProtocolError));
      this.framesOut++;
    }
    this.shutdown(err);
  }

  /**
   * The pipe ended without error because the peer closed the connection: like
   * destroy(), except that streams whose peer finished sending keep their
   * Readable until the reader has taken every byte and 'end' was emitted
   * (what arrived is delivered, as with a TCP FIN). Returns those streams; the
   * caller bounds the wait and destroys them. Idempotent ([] once closed).
   */
  endByPeer(): MuxStream[] {
    if (this.state === CLOSED) return [];
    const draining: MuxStream[] = [];
    for (const stream of [...this.unread, ...this.streams.values()]) {
      if (stream.finReceived && !stream.destroyed && !stream.readableEnded) draining.push(stream);
    }
    this.shutdown(undefined, draining);
    return draining;
  }

  /**
   * Round trip through the peer's Mux (PING/PONG), in ms. Rejects with
   * MuxClosedError if the Mux ends first. There is no timeout: race it with one.
   */
  ping(): Promise<number> {
    if (this.state !== OPEN) return Promise.reject(new MuxClosedError('closed'));
    const value = (this.pingSeq = (this.pingSeq + 1) >>> 0);
    return new Promise<number>((resolve, reject) => {
      this.pings.set(value, { start: performance.now(), resolve, reject });
      this.queueControl(encodeU32(Command.Ping, SESSION_ID, value));
    });
  }

  /** A snapshot of the counters. */
  stats(): MuxStats {
    return {
      streamsOpen: this.streams.size,
      streamsOpenedTotal: this.streamsOpenedTotal,
      streamsRejected: this.streamsRejected,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      bufferedBytes: this.bufferedBytes,
      sendQueuedBytes: this.sendQueuedBytes,
      sendCredit: this.sendCredit,
      protocolErrors: this.protocolErrors,
      framesDropped: this.framesDropped,
    };
  }

  // ---------------------------------------------------------------- sending

  private createStream(id: number, kind: number, local: boolean): MuxStream {
    const stream = new MuxStream(this.host, id, kind, local, INITIAL_STREAM_CREDIT);
    this.streams.set(id, stream);
    this.unfinished++;
    this.streamsOpenedTotal++;
    return stream;
  }

  private queueControl(frame: Buffer, pump = true, finOf: MuxStream | null = null): void {
    if (this.state === CLOSED) return;
    this.control.push(frame, finOf);
    if (pump) this.pump();
  }

  private queueFin(stream: MuxStream): void {
    if (stream.retired || stream.finQueued) return;
    stream.finQueued = true;
    this.queueControl(encodeEmpty(Command.Fin, stream.id), true, stream);
  }

  private schedule(stream: MuxStream, added: number): void {
    this.sendQueuedBytes += added;
    if (stream.retired || !stream.sendable()) return;
    this.enqueue(stream);
    this.pump();
  }

  private enqueue(stream: MuxStream): void {
    if (stream.ring !== SendRing.None) return;
    if (stream.sendPending <= this.config.smallWriteBytes) {
      stream.ring = SendRing.Urgent;
      this.urgent.push(stream);
    } else {
      stream.ring = SendRing.Bulk;
      this.bulk.push(stream);
    }
  }

  /** Feed the pipe while it is shallow: control frames, then small writes, then bulk round-robin (while connection credit lasts). */
  private pump(): void {
    if (this.pumping || this.state === CLOSED) return;
    this.pumping = true;
    try {
      const pipe = this.pipe;
      const threshold = this.config.sendThreshold;
      while (pipe.queuedBytes <= threshold && this.state !== CLOSED) {
        if (this.control.length > 0) {
          this.sendControl();
          continue;
        }
        if (this.sendCredit <= 0) break;
        const stream = this.urgent.shift() ?? this.bulk.shift();
        if (stream === undefined) break;
        stream.ring = SendRing.None;
        if (stream.retired || !stream.sendable()) continue;
        this.sendData(stream);
        if (stream.sendable()) this.enqueue(stream);
      }
    } finally {
      this.pumping = false;
    }
    if (this.state === CLOSING) this.maybeFinishClose();
  }

  private sendControl(): void {
    const frame = this.control.shift();
    const finOf = this.control.shiftedFin;
    this.pipe.write(frame);
    this.framesOut++;
    if (finOf !== null) {
      finOf.markFinSent();
      if (!finOf.retired) {
        this.unfinished--;
        if (finOf.finReceived) this.retire(finOf);
      }
    }
  }

  private sendData(stream: MuxStream): void {
    const n = Math.min(stream.sendPending, stream.sendCredit, this.config.maxFramePayload, this.sendCredit);
    this.sendCredit -= n;
    const frame = Buffer.allocUnsafe(HEADER_SIZE + n);
    writeHeader(frame, 0, Command.Data, stream.id, n);
    stream.takeInto(frame, HEADER_SIZE, n);
    this.sendQueuedBytes -= n;
    this.bytesOut += n;
    this.framesOut++;
    this.pipe.write(frame);
  }

  /** Local destroy()/reset(): RST unless the stream already finished. */
  private abort(stream: MuxStream): void {
    if (stream.retired) return;
    this.retire(stream);
    this.queueControl(encodeEmpty(Command.Rst, stream.id));
  }

  /** Forget a stream: no frames go out or come in for it any more (one the peer finished stays in `unread` until read). */
  private retire(stream: MuxStream): void {
    if (stream.retired) return;
    stream.retired = true;
    if (stream.finReceived && !stream.destroyed && !stream.readableEnded) {
      this.unread.add(stream);
      const read = (): void => {
        stream.off('end', read);
        stream.off('close', read);
        this.unread.delete(stream);
      };
      stream.once('end', read);
      stream.once('close', read);
    }
    if (!stream.finSent) this.unfinished--;
    this.windows.close(stream);
    this.streams.delete(stream.id);
    if (stream.local) this.localOpen--;
    else this.remoteOpen--;
    if (this.dataTarget === stream) this.dataTarget = null;
  }

  private maybeFinishClose(): void {
    if (this.unfinished > 0 || this.control.length > 0) return;
    this.shutdown(undefined);
  }

  /** Enter CLOSED: detach from the pipe and end every stream still open, except those in `draining` (retired only). */
  private shutdown(err: Error | undefined, draining: readonly MuxStream[] = []): void {
    this.state = CLOSED;
    this.decoder.stop();
    if (this.pipe.onData === this.onData) this.pipe.onData = null;
    if (this.pipe.onDrain === this.onDrain) this.pipe.onDrain = null;
    this.control.clear();
    this.urgent.clear();
    this.bulk.clear();
    const open = [...this.streams.values()];
    for (const stream of open) this.retire(stream);
    const keep = new Set(draining);
    for (const stream of open) if (!keep.has(stream)) stream.destroy(err);
    const closed = new MuxClosedError('closed');
    for (const ping of this.pings.values()) ping.reject(closed);
    this.pings.clear();
    this.closeWaiter?.resolve();
    this.emit('close', err);
  }

  // -------------------------------------------------------------- receiving

  private receive(chunk: Buffer): void {
    if (this.state === CLOSED) return;
    this.decoder.push(chunk);
  }

  private onControl(command: number, streamId: number, source: Buffer, offset: number): void {
    this.framesIn++;
    if (!isEitherCommand(command) && isSessionCommand(command) !== (streamId === SESSION_ID)) {
      this.protocolErrors++;
      this.framesDropped++;
      return;
    }
    switch (command) {
      case Command.Syn:
        return this.onSyn(streamId, source[offset]);
      case Command.Fin: {
        const stream = this.lookup(streamId);
        if (stream === undefined) return;
        stream.receiveFin();
        if (stream.finSent) this.retire(stream);
        return;
      }
      case Command.Rst: {
        const stream = this.lookup(streamId);
        if (stream === undefined) return;
        this.retire(stream);
        stream.destroy(new StreamResetError(streamId));
        if (this.state === CLOSING) this.pump();
        return;
      }
      case Command.WindowUpdate: {
        if (streamId === SESSION_ID) {
          // Streams held back by connection credit stayed in their rings: just feed the pipe again.
          this.sendCredit += source.readUInt32BE(offset);
          this.pump();
          return;
        }
        const stream = this.lookup(streamId);
        if (stream === undefined) return;
        stream.sendCredit += source.readUInt32BE(offset);
        if (stream.sendable()) {
          this.enqueue(stream);
          this.pump();
        }
        return;
      }
      case Command.Ping:
        if (this.repliesFull()) return;
        this.queueControl(encodeU32(Command.Pong, SESSION_ID, source.readUInt32BE(offset)));
        return;
      case Command.Pong: {
        const value = source.readUInt32BE(offset);
        const ping = this.pings.get(value);
        if (ping === undefined) return void this.framesDropped++;
        this.pings.delete(value);
        ping.resolve(performance.now() - ping.start);
        return;
      }
      case Command.GoAway:
        if (!this.goAwayReceived) {
          this.goAwayReceived = true;
          this.emit('goaway', source.readUInt32BE(offset));
        }
        return;
    }
  }

  private onSyn(id: number, kind: number): void {
    const peerParity = this.config.role === 'client' ? 0 : 1;
    if ((id & 1) !== peerParity || ((id >>> 1) & 1) !== this.config.lane || id <= this.lastPeerId) {
      // Wrong parity or lane, or a reused id: not a stream we can tell apart from ours or an old one.
      this.protocolErrors++;
      this.framesDropped++;
      return;
    }
    this.lastPeerId = id;
    if (this.state !== OPEN || this.remoteOpen >= this.config.maxStreams || this.listenerCount('stream') === 0) {
      this.streamsRejected++;
      if (!this.repliesFull()) this.queueControl(encodeEmpty(Command.Rst, id));
      return;
    }
    this.remoteOpen++;
    const stream = this.createStream(id, kind, false);
    this.windows.open(stream);
    this.pump();
    this.emit('stream', stream);
  }

  private onDataHeader(streamId: number, length: number): boolean {
    this.framesIn++;
    this.dataTarget = null;
    if (!this.windows.charge(length)) {
      this.protocolErrors++;
      this.destroy(new MuxProtocolError('connection-window-exceeded', `${length} bytes on stream ${streamId} beyond the connection's credit`, streamId));
      return false;
    }
    const stream = this.lookup(streamId);
    if (stream === undefined) return this.dropData(length);
    if (stream.finReceived) {
      this.violate(stream, new MuxProtocolError('data-after-fin', `DATA after FIN on stream ${streamId}`, streamId));
      return this.dropData(length);
    }
    if (length > stream.recvRemaining) {
      const detail = `${length} bytes on stream ${streamId} with ${stream.recvRemaining} of credit`;
      this.violate(stream, new MuxProtocolError('window-exceeded', detail, streamId));
      return this.dropData(length);
    }
    stream.recvRemaining -= length;
    this.bytesIn += length;
    this.dataTarget = stream;
    return true;
  }

  /** A DATA frame is skipped: its connection credit goes back. Returns false (skip it). */
  private dropData(length: number): false {
    this.windows.release(length);
    return false;
  }

  /** The peer broke flow control on one stream: reset that stream only. */
  private violate(stream: MuxStream, err: MuxProtocolError): void {
    this.protocolErrors++;
    this.abort(stream);
    stream.destroy(err);
  }

  /** True (and the reply counted as dropped) when the control queue is too long for another peer-triggered reply. */
  private repliesFull(): boolean {
    if (this.control.length < MAX_QUEUED_REPLIES) return false;
    this.framesDropped++;
    return true;
  }

  /** The live stream `id`, or undefined (counted) if it is closed or was never opened. */
  private lookup(id: number): MuxStream | undefined {
    const stream = this.streams.get(id);
    if (stream !== undefined) return stream;
    this.framesDropped++;
    const ours = (id & 1) === (this.config.role === 'client' ? 1 : 0);
    // Frames for streams that existed are normal after a reset; for ids never opened they are not.
    if (id === SESSION_ID || (ours ? id >= this.nextId : id > this.lastPeerId)) this.protocolErrors++;
    return undefined;
  }
}

/** Create a Mux over `pipe`; the same as `new Mux(pipe, options)`. */
export function createMux(pipe: ReliablePipe, options: MuxOptions): Mux {
  return new Mux(pipe, options);
}
