/**
 * Where a pty session turns predictive echo on. The engine (and the headless
 * terminal it models the screen with) is loaded only when PredictiveEcho is
 * not `never`, so sessions without it start and run exactly as before.
 */
import type { PredictMode } from './mode.js';
import type { PredictiveEcho } from './predictive-echo.js';

export type { PredictiveEcho };

export async function startPredictiveEcho(
  mode: PredictMode | undefined,
  size: { cols: number; rows: number },
  srttMs: () => number,
): Promise<PredictiveEcho | null> {
  if (mode === undefined || mode === 'never') return null;
  const { PredictiveEcho } = await import('./predictive-echo.js');
  return new PredictiveEcho({
    mode,
    cols: size.cols,
    rows: size.rows,
    srttMs,
    write: (data, done) => process.stdout.write(data, done),
  });
}
