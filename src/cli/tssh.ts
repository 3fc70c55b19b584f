import { VERSION } from '../version.js';

const args = process.argv.slice(2);
if (args.includes('-v') || args.includes('--version')) {
  process.stdout.write(`tssh ${VERSION}\n`);
  process.exit(0);
}
process.stderr.write('tssh: the client is not yet implemented (only -v/--version works so far)\n');
process.exit(255);
