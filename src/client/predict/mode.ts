/** PredictiveEcho / --predict: when typed keys are shown before the server echoes them (docs/CLIENT.md). */
export type PredictMode = 'never' | 'adaptive' | 'always';

export const PREDICT_MODES: readonly PredictMode[] = ['never', 'adaptive', 'always'];
