import type { MuxStream } from './stream.js';

/**
 * The Mux's queue of control frames (SYN, WINDOW_UPDATE, FIN, RST, PING,
 * PONG, GOAWAY), sent FIFO ahead of any DATA. A FIN frame remembers its
 * stream, so that the stream learns when its FIN reached the pipe. The
 * backing arrays are compacted as the queue drains.
 */
export class ControlQueue {
  private frames: Buffer[] = [];
  private fins: (MuxStream | null)[] = [];
  private head = 0;
  /** The stream whose FIN the frame last returned by shift() is, or null. */
  shiftedFin: MuxStream | null = null;

  /** Frames waiting. */
  get length(): number {
    return this.frames.length - this.head;
  }

  push(frame: Buffer, finOf: MuxStream | null): void {
    this.frames.push(frame);
    this.fins.push(finOf);
  }

  /** The next frame (the queue must not be empty); its FIN's stream is in shiftedFin. */
  shift(): Buffer {
    const i = this.head++;
    const frame = this.frames[i];
    this.shiftedFin = this.fins[i];
    if (this.head === this.frames.length) {
      this.clear();
    } else if (this.head >= 1024 && this.head * 2 >= this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.fins = this.fins.slice(this.head);
      this.head = 0;
    }
    return frame;
  }

  clear(): void {
    this.frames.length = 0;
    this.fins.length = 0;
    this.head = 0;
  }
}
