import { FifoQueue } from './stream-queue.js';
import type { MuxStream } from './stream.js';

/**
 * The Mux's queue of control frames (SYN, WINDOW_UPDATE, FIN, RST, PING,
 * PONG, GOAWAY), sent FIFO ahead of any DATA. A FIN frame remembers its
 * stream, so that the stream learns when its FIN reached the pipe. The
 * queues are FifoQueues, compacted as they drain.
 */
export class ControlQueue {
  private readonly frames = new FifoQueue<Buffer>();
  private readonly fins = new FifoQueue<MuxStream | null>();
  /** The stream whose FIN the frame last returned by shift() is, or null. */
  shiftedFin: MuxStream | null = null;

  /** Frames waiting. */
  get length(): number {
    return this.frames.size;
  }

  push(frame: Buffer, finOf: MuxStream | null): void {
    this.frames.push(frame);
    this.fins.push(finOf);
  }

  /** The next frame (the queue must not be empty); its FIN's stream is in shiftedFin. */
  shift(): Buffer {
    this.shiftedFin = this.fins.shift() ?? null;
    return this.frames.shift() as Buffer;
  }

  clear(): void {
    this.frames.clear();
    this.fins.clear();
  }
}
