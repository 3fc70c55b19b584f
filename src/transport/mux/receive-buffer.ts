import { FifoQueue } from './stream-queue.js';

/** Pieces at least this long are kept as they are (when they do not pin a much larger input); smaller ones are copied. */
const VIEW_MIN = 1024;
/** Sizes of the blocks small pieces are copied into: they grow with what is buffered. */
const BLOCK_MIN = 512;
const BLOCK_MAX = 16 * 1024;

/**
 * Bytes received for a stream whose reader is behind, in arrival order.
 *
 * Memory stays within a small factor of the bytes held whatever the sizes of
 * the pieces: small pieces (a peer may send one-byte DATA frames) are copied
 * into contiguous blocks instead of each keeping an object and, as a view, the
 * whole decrypted datagram it came in; a large piece is kept as it is only if
 * it fills at least half of its backing memory. The queue of pieces is
 * compacted as it is consumed. So the cost is at most about twice the bytes
 * held, plus one partly filled block and one object per kilobyte.
 */
export class ReceiveBuffer {
  private readonly pieces = new FifoQueue<Buffer>();
  /** The block small pieces are copied into; bytes [tailStart, tailEnd) of it are queued but not yet in `pieces`. */
  private block: Buffer | null = null;
  private tailStart = 0;
  private tailEnd = 0;
  private held = 0;

  /** Bytes held. */
  get bytes(): number {
    return this.held;
  }

  /** Keep `piece` (which may be a view of a larger input the caller will reuse or drop). */
  append(piece: Buffer): void {
    const n = piece.length;
    if (n === 0) return;
    this.held += n;
    if (n < VIEW_MIN) {
      this.copyIn(piece);
      return;
    }
    this.sealTail();
    this.pieces.push(piece.buffer.byteLength <= 2 * n ? piece : Buffer.from(piece));
  }

  /** The next bytes in order (a view the caller may keep), or undefined when empty. */
  shift(): Buffer | undefined {
    let out = this.pieces.shift();
    if (out === undefined && this.tailEnd > this.tailStart) {
      out = (this.block as Buffer).subarray(this.tailStart, this.tailEnd);
      // Later small pieces go on filling the same block after this view.
      this.tailStart = this.tailEnd;
    }
    if (out !== undefined) this.held -= out.length;
    return out;
  }

  /** Drop everything. */
  clear(): void {
    this.pieces.clear();
    this.block = null;
    this.tailStart = this.tailEnd = 0;
    this.held = 0;
  }

  private copyIn(piece: Buffer): void {
    let block = this.block;
    if (block === null || block.length - this.tailEnd < piece.length) {
      this.sealTail();
      let size = BLOCK_MIN;
      while (size < BLOCK_MAX && size < this.held) size *= 2;
      block = this.block = Buffer.allocUnsafeSlow(size);
      this.tailStart = this.tailEnd = 0;
    }
    piece.copy(block, this.tailEnd);
    this.tailEnd += piece.length;
  }

  /** Queue the block's pending bytes as a piece, so that whatever is appended next comes after them. */
  private sealTail(): void {
    if (this.tailEnd === this.tailStart) return;
    this.pieces.push((this.block as Buffer).subarray(this.tailStart, this.tailEnd));
    this.tailStart = this.tailEnd;
  }
}
