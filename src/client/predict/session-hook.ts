/**
 * Where a pty session turns predictive echo on. The engine (and the headless
 * terminal it models the screen with) is loaded only when PredictiveEcho is
 * not `never`, so sessions without it start and run exactly as before.
 */
import { writeFileSync } from 'node:fs';
import type { PredictMode } from './mode.js';
import type { PredictiveEcho } from './predictive-echo.js';

export type { PredictiveEcho };

/** Test seam: the prediction counts are written to this file as JSON when the session ends (the corpus test reads them). */
export const TEST_PREDICT_STATS_ENV = 'TSSH_TEST_PREDICT_STATS';

export async function startPredictiveEcho(
  mode: PredictMode | undefined,
  size: { cols: number; rows: number },
  srttMs: () => number,
): Promise<PredictiveEcho | null> {
  if (mode === undefined || mode === 'never') return null;
  const { PredictiveEcho } = await import('./predictive-echo.js');
  const statsFile = process.env[TEST_PREDICT_STATS_ENV];
  return new PredictiveEcho({
    mode,
    cols: size.cols,
    rows: size.rows,
    srttMs,
    write: (data, done) => process.stdout.write(data, done),
    ...(statsFile ? { onClose: (stats) => writeFileSync(statsFile, JSON.stringify(stats), { mode: 0o600 }) } : {}),
  });
}
