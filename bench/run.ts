/**
 * `npm run bench -- NAME [args]`: runs bench/NAME.ts, which prints a table and
 * writes bench/results/NAME.json. Each benchmark module exports `run(args)`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';

const [name, ...args] = process.argv.slice(2);
if (!name || !/^[a-z-]+$/.test(name)) {
  console.error('usage: npm run bench -- NAME [args]   (e.g. path, kcp, session, forward)');
  process.exit(2);
}
let mod: { run(args: string[]): Promise<unknown> };
try {
  mod = (await import(`./${name}.js`)) as typeof mod;
} catch (err) {
  console.error(`bench: no benchmark named '${name}' (${(err as Error).message})`);
  process.exit(2);
}
const result = await mod.run(args);
const dir = new URL('../../bench/results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const file = new URL(`${name}.json`, dir);
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, result }, null, 2) + '\n');
console.log(`\nwrote ${file.pathname}`);
