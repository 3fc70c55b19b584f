/**
 * Loss rate of our outgoing packets, learned from acknowledgements, and the
 * number of copies of a small packet it calls for.
 *
 * Each explicit ACK that newly acknowledges a segment says which transmission
 * got through first: the copy index echoed in its frg, after however many whole
 * rounds were retransmitted. So every ACK is a run of `lost` failed copies and
 * one success: an unbiased sample of per-packet loss that redundancy does not
 * hide (copies that were lost still show as a higher copy index). ACKs flagged
 * duplicate (our resend was spurious: the ack was lost, not the data) are not
 * samples. Samples decay by halving, at most once per `halfLifeMs`, so the
 * estimate follows a changing path; the time bound keeps a bulk transfer's
 * burst of in-order acks (or of repaired holes) from swinging it.
 */
export class LossEstimator {
  private lost = 0;
  private trials: number;
  private lastHalving = -Infinity;

  /**
   * @param window fewest trials kept before halving
   * @param halfLifeMs shortest time between halvings
   * @param prior trials assumed at start, so one early sample does not swing the estimate
   * @param priorLost losses assumed among them: a fresh path starts pessimistic (2 copies), because
   *   the first keystrokes matter as much as later ones and a loss costs a whole RTO before it is learned
   */
  constructor(
    private readonly window = 256,
    private readonly halfLifeMs = 2000,
    private readonly prior = 16,
    private readonly priorLost = 0.5,
  ) {
    this.trials = prior;
    this.lost = priorLost;
  }

  /** One segment acknowledged at `now` (ms) after `lost` lost transmissions (copies or rounds). */
  sample(lost: number, now: number): void {
    this.lost += lost;
    this.trials += lost + 1;
    if (this.trials > this.window && now - this.lastHalving >= this.halfLifeMs) {
      this.lastHalving = now;
      this.lost *= 0.5;
      this.trials *= 0.5;
    }
  }

  /** Estimated probability that one packet is lost. */
  get rate(): number {
    return this.lost / this.trials;
  }

  /** Smallest copy count n in 1..max with rate^n <= target. */
  copies(max: number, target: number): number {
    const p = this.rate;
    let n = 1;
    let residual = p;
    while (n < max && residual > target) {
      residual *= p;
      n++;
    }
    return n;
  }

  /** Forget what was learned (a different path). */
  reset(): void {
    this.lost = this.priorLost;
    this.trials = this.prior;
    this.lastHalving = -Infinity;
  }
}
