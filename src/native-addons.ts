/**
 * The one place that loads packages with native parts (the QUIC engine,
 * unix-dgram). Here they load from node_modules beside the package. The
 * self-contained tsshd that `tssh --install-tsshd` uploads is built from a
 * bundle in which this module is replaced by scripts/bundled-native.cjs,
 * which loads the same names from files beside the bundle or from a
 * single executable's assets (scripts/bundle.mjs).
 */
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

/** Load a package (or package file) with native parts; throws as require() does (code MODULE_NOT_FOUND when absent). */
export function requireNative(id: string): unknown {
  return requireHere(id);
}

/** True in a single executable, where process.argv[1] is not a script to hand to process.execPath. */
export const singleExecutable = false;
