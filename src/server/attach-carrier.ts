import { PassThrough, Writable } from 'node:stream';
import type { Stream } from '../transport/connection.js';
import { DetachedOutput } from './attach-backlog.js';
import { SessionScreen } from './attach-screen.js';

/**
 * What an attachable terminal session reads and writes instead of its
 * client's session stream, so that the stream can change under it: the
 * client's stream is piped into `input` (its EOF is not passed on: a new
 * client may come), and `output` goes to the current stream with
 * backpressure while a client is attached and in contact (delivery stays
 * lossless then), and into a bounded DetachedOutput otherwise, so the
 * program never stalls on a client that is gone. Every output byte also
 * reaches the session's emulated screen (attach-screen.ts).
 */
export class SessionCarrier {
  /** The session's input (the client's keys). */
  readonly input = new PassThrough();
  /** The session's output (the pty). */
  readonly output: Writable;
  readonly screen: SessionScreen;
  readonly startedMs = Date.now();
  private stream: Stream | null = null;
  private inContact = true;
  private readonly backlog = new DetachedOutput();
  /** A write waiting for the stream's 'drain'; released at once if the client goes. */
  private waiting: (() => void) | null = null;
  private ended = false;
  private lastSeen = Date.now();
  /** Called on the next output (nextOutput). */
  private onOutput: (() => void) | null = null;

  constructor(cols: number, rows: number) {
    this.screen = new SessionScreen(cols, rows);
    this.output = new Writable({
      write: (chunk: Buffer, _encoding, callback) => this.write(chunk, callback),
      final: (callback) => {
        this.ended = true;
        const stream = this.stream;
        if (stream !== null && !stream.writableEnded && !stream.destroyed) stream.end();
        this.screen.close();
        callback();
      },
      // Called after 'finish' too (autoDestroy): only a failure tears the client's stream down.
      destroy: (err, callback) => {
        this.screen.close();
        if (!this.ended) this.stream?.destroy();
        callback(err);
      },
    });
  }

  /** A client is attached and in contact (one that vanished counts as detached once its path reports contact lost). */
  get attached(): boolean {
    return this.stream !== null && this.inContact;
  }

  /** When a client last had the output: now while one is attached and in contact. */
  get lastSeenMs(): number {
    return this.stream !== null && this.inContact ? Date.now() : this.lastSeen;
  }

  /** Bytes of output kept for the next client. */
  get heldBytes(): number {
    return this.backlog.size;
  }

  /** Join the session to a client's stream: what was kept while detached goes first. */
  attach(stream: Stream): void {
    this.detach();
    this.stream = stream;
    this.inContact = true;
    stream.pipe(this.input, { end: false });
    this.flushBacklog();
  }

  /** The client's stream is gone (or another client took over): output is kept from now on. */
  detach(stream?: Stream): void {
    const current = this.stream;
    if (current === null || (stream !== undefined && stream !== current)) return;
    current.unpipe(this.input);
    this.stream = null;
    this.lastSeen = Date.now();
    this.release();
  }

  /** The attached client's path lost or regained contact: keep output meanwhile, then send what was kept. */
  setInContact(inContact: boolean): void {
    if (this.inContact === inContact) return;
    this.inContact = inContact;
    if (!inContact) {
      this.lastSeen = Date.now();
      this.release();
    } else {
      this.flushBacklog();
    }
  }

  /** Resolves at the next output, or after `timeoutMs` without any. */
  nextOutput(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.onOutput = done;
    });
  }

  private write(chunk: Buffer, callback: () => void): void {
    this.screen.write(chunk);
    const onOutput = this.onOutput;
    this.onOutput = null;
    onOutput?.();
    const stream = this.stream;
    if (stream === null || !this.inContact || stream.destroyed || stream.writableEnded) {
      this.backlog.push(chunk);
      callback();
      return;
    }
    if (stream.write(chunk)) {
      callback();
      return;
    }
    const done = (): void => {
      if (this.waiting !== done) return;
      this.waiting = null;
      stream.off('drain', done);
      stream.off('close', done);
      callback();
    };
    this.waiting = done;
    stream.once('drain', done);
    stream.once('close', done);
  }

  private release(): void {
    this.waiting?.();
  }

  private flushBacklog(): void {
    const stream = this.stream;
    if (stream === null || this.backlog.isEmpty || this.ended) return;
    stream.write(this.backlog.take());
  }
}
