/**
 * Bytes written but not yet cut into segments. Segments are cut only when the
 * window lets them go out, so each is filled up to mss from whatever has
 * accumulated (stream mode); a segment lying within one written chunk is a
 * view of it, not a copy.
 */
export class SendQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  /** Bytes of chunks[head] already taken. */
  private offset = 0;
  private total = 0;

  /** Bytes waiting. */
  get bytes(): number {
    return this.total;
  }

  /** Append a chunk (kept by reference). */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Remove and return the next min(max, bytes) bytes; bytes must be > 0. */
  take(max: number): Buffer {
    const want = max < this.total ? max : this.total;
    const first = this.chunks[this.head];
    const avail = first.length - this.offset;
    this.total -= want;
    if (avail >= want) {
      const view = first.subarray(this.offset, this.offset + want);
      this.offset += want;
      if (this.offset === first.length) this.advance();
      return view;
    }
    // Gather small chunks into one segment: one copy, and only for data that was written in pieces.
    const out = Buffer.allocUnsafe(want);
    let filled = 0;
    while (filled < want) {
      const c = this.chunks[this.head];
      const n = Math.min(c.length - this.offset, want - filled);
      c.copy(out, filled, this.offset, this.offset + n);
      filled += n;
      this.offset += n;
      if (this.offset === c.length) this.advance();
    }
    return out;
  }

  /** Drop everything. */
  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.offset = 0;
    this.total = 0;
  }

  private advance(): void {
    this.chunks[this.head] = undefined as unknown as Buffer;
    this.head++;
    this.offset = 0;
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      // Compact now and then so a long-lived queue does not keep a growing array of holes.
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
