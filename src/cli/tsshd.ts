import { tsshdMain } from '../server/tsshd-main.js';

// Explicit exit: a daemon may still hold handles (e.g. a session that ignored its hang-up) it must not wait for.
// No top-level await: the same entry is bundled as CommonJS for the single executable (scripts/bundle.mjs).
void tsshdMain(process.argv.slice(2)).then((code) => process.exit(code));
