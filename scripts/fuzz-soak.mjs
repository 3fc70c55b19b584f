#!/usr/bin/env node
// Long fuzz run: the decoder properties of test/fuzz/targets.ts (compiled; run
// `npm run build` first) with a random seed and a time budget instead of CI's
// fixed seed and small run count. Usage:
//   node scripts/fuzz-soak.mjs [minutes=5] [seed]
// Prints the seed first, so a failure can be replayed with the same seed.
import fc from 'fast-check';

const { FUZZ_TARGETS, reach } = await import('../dist/test/fuzz/targets.js');

const minutes = Number(process.argv[2] ?? 5);
if (!(minutes > 0)) {
  console.error('fuzz-soak: the first argument is the budget in minutes, e.g. node scripts/fuzz-soak.mjs 5');
  process.exit(2);
}
const seed = process.argv[3] === undefined ? Math.floor(Math.random() * 0x7fff_ffff) : Number(process.argv[3]);
const perTargetMs = Math.floor((minutes * 60_000) / FUZZ_TARGETS.length);
console.log(`fuzz-soak: seed ${seed}, ${minutes} min, ${FUZZ_TARGETS.length} targets, ${(perTargetMs / 1000).toFixed(0)} s each`);

let failed = 0;
let totalRuns = 0;
for (const target of FUZZ_TARGETS) {
  const started = Date.now();
  const result = await fc.check(target.property(), {
    seed,
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: perTargetMs,
    markInterruptAsFailure: false,
    endOnFailure: true,
  });
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  totalRuns += result.numRuns;
  if (result.failed) {
    failed++;
    console.log(`FAIL ${target.name}: after ${result.numRuns} runs (${secs} s)`);
    console.log(fc.defaultReportMessage(result));
  } else {
    console.log(`ok   ${target.name}: ${result.numRuns} runs in ${secs} s`);
  }
}
console.log(`fuzz-soak: ${totalRuns} runs, ${failed} failing target(s), seed ${seed}`);
console.log(`reach: ${JSON.stringify(Object.fromEntries(reach))}`);
process.exit(failed === 0 ? 0 : 1);
