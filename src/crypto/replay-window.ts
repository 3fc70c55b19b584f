/** How many packet numbers below the highest one seen are still remembered. */
export const REPLAY_WINDOW_SIZE = 2048;

const WORDS = REPLAY_WINDOW_SIZE / 32;
const INDEX_MASK = REPLAY_WINDOW_SIZE - 1;

/** What the window says about a packet number. */
export const ReplayVerdict = {
  /** Never seen and inside or above the window: may be accepted. */
  Fresh: 0,
  /** Already accepted once. */
  Duplicate: 1,
  /** Below the window: can no longer be told apart from a replay. */
  TooOld: 2,
} as const;
export type ReplayVerdict = (typeof ReplayVerdict)[keyof typeof ReplayVerdict];

/**
 * Sliding anti-replay window over packet numbers (RFC 4303 style): a ring
 * bitmap of the last REPLAY_WINDOW_SIZE numbers up to the highest accepted.
 * Reordering within the window is tolerated; duplicates and numbers that fell
 * below it are refused. check() is side-effect free so a datagram can be
 * screened before its (costly) authentication and accept()ed only after.
 * Packet numbers are positive safe integers; 0 is never valid.
 */
export class ReplayWindow {
  private readonly seen = new Uint32Array(WORDS);
  private top = 0;

  /** The highest accepted packet number, 0 before the first. */
  get highest(): number {
    return this.top;
  }

  /** Whether `pn` may be accepted. */
  check(pn: number): ReplayVerdict {
    if (pn > this.top) return ReplayVerdict.Fresh;
    if (this.top - pn >= REPLAY_WINDOW_SIZE || pn <= 0) return ReplayVerdict.TooOld;
    const index = pn & INDEX_MASK;
    return (this.seen[index >>> 5] & (1 << (index & 31))) !== 0 ? ReplayVerdict.Duplicate : ReplayVerdict.Fresh;
  }

  /**
   * Record `pn` (which check() called Fresh, and which authenticated).
   * Returns true when it is the new highest packet number.
   */
  accept(pn: number): boolean {
    const newest = pn > this.top;
    if (newest) {
      const advance = pn - this.top;
      if (advance >= REPLAY_WINDOW_SIZE) {
        this.seen.fill(0);
      } else {
        // Forget the slots the window slides over (they now stand for numbers not yet seen).
        for (let n = this.top + 1; n < pn; n++) {
          const index = n & INDEX_MASK;
          this.seen[index >>> 5] &= ~(1 << (index & 31));
        }
      }
      this.top = pn;
    }
    const index = pn & INDEX_MASK;
    this.seen[index >>> 5] |= 1 << (index & 31);
    return newest;
  }
}
