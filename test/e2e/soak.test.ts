import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rssFlat, runSoak } from './soak-run.js';

// The CI version of scripts/soak.mjs: a minute instead of 30, a rebind every 10 s instead of 30.
const SECONDS = Number(process.env.TSSH_TEST_SOAK_SECONDS ?? 60);

test(`soak: ${SECONDS} s of numbered output at 5 % loss with a rebind every 10 s: no line lost or out of order`, async (t) => {
  const r = await runSoak({ seconds: SECONDS, lossPct: 5, rebindEveryMs: 10_000, linesPerSecond: 2000, sampleEveryMs: 5000 });
  t.diagnostic(`lines ${r.linesReceived}/${r.linesPrinted}, rebinds ${r.rebinds}, lost ${JSON.stringify(r.lost)}`);
  t.diagnostic(`rss tssh ${JSON.stringify(rssFlat(r.samples, 'tsshKiB'))}, tsshd ${JSON.stringify(rssFlat(r.samples, 'tsshdKiB'))}`);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.outputError, null);
  assert.ok(r.linesPrinted >= SECONDS * 2000 * 0.5, `the remote printed ${r.linesPrinted} lines`);
  assert.ok(r.rebinds >= Math.floor(SECONDS / 10) - 1, `rebinds ${r.rebinds}`);
  assert.ok(r.lost.c2s > 0 && r.lost.s2c > 0, 'the link lost packets both ways');
  assert.ok(r.samples.length >= 3 && r.samples.every((s) => s.tsshKiB > 0 && s.tsshdKiB > 0), 'RSS was sampled');
});
