import { VERSION } from '../version.js';

const args = process.argv.slice(2);
if (args.includes('-v') || args.includes('--version')) {
  process.stdout.write(`tsshd ${VERSION}\n`);
  process.exit(0);
}
process.stderr.write('tsshd: the server is not yet implemented (only -v/--version works so far)\n');
process.exit(255);
