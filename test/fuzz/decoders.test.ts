import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { FUZZ_TARGETS, reach } from './targets.js';

// Fixed seed and a bounded budget: each target runs in seconds. scripts/fuzz-soak.mjs runs the same targets longer.
const SEED = 20261124;

describe('decoder fuzz (fast-check, fixed seed)', () => {
  for (const target of FUZZ_TARGETS) {
    it(target.name, () => {
      fc.assert(target.property(), { seed: SEED, numRuns: target.ciRuns, endOnFailure: true });
    });
  }

  after(() => {
    // Each decoder must have seen inputs it accepted and inputs it refused, or the generators miss its interesting part.
    const canRefuse = (name: string): boolean => name !== 'evaluateSshConfig' && name !== 'effectiveConfig';
    const thin = [...reach].filter(([name, r]) => r.accepted < 5 || (canRefuse(name) && r.refused < 5));
    assert.deepEqual(thin, [], `decoders the fuzz barely reached: ${JSON.stringify(Object.fromEntries(reach))}`);
  });

  it('reached every decoder', () => {
    // Runs last: the after hook checks the counts; this lists them in the test output.
    console.log(`fuzz reach: ${JSON.stringify(Object.fromEntries(reach))}`);
  });
});
