/** The `tssh` command: ssh's command line, optionally continuing over UDP (src/client/tssh-main.ts). */
import { tsshMain } from '../client/tssh-main.js';

// Exit explicitly: a finished session may leave stdin being read.
tsshMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`tssh: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(255);
  },
);
