import { tsshdMain } from '../server/tsshd-main.js';

// Explicit exit: a daemon may still hold handles (e.g. a session that ignored its hang-up) it must not wait for.
process.exit(await tsshdMain(process.argv.slice(2)));
