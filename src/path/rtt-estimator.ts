/**
 * Round-trip time smoothing per RFC 6298 section 2: the first sample sets
 * srtt = R and rttvar = R/2; later ones update rttvar with beta = 1/4, then
 * srtt with alpha = 1/8. Values are in ms and NaN before the first sample.
 */
export class RttEstimator {
  latestMs = NaN;
  srttMs = NaN;
  rttVarMs = NaN;
  samples = 0;

  /** Fold in one RTT sample `r` (ms, >= 0). */
  addSample(r: number): void {
    this.latestMs = r;
    if (this.samples++ === 0) {
      this.srttMs = r;
      this.rttVarMs = r / 2;
      return;
    }
    this.rttVarMs = 0.75 * this.rttVarMs + 0.25 * Math.abs(this.srttMs - r);
    this.srttMs = 0.875 * this.srttMs + 0.125 * r;
  }
}
