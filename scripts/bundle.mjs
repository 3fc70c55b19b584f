#!/usr/bin/env node
// Bundles the compiled commands (dist/src/cli/tssh.js, tsshd.js) into one
// file each, dist/bin/tssh.mjs and dist/bin/tsshd.mjs, which bin/tssh and
// bin/tsshd run. One file loads in about half the time of the ~70 modules it
// replaces, and tsshd starts twice per login (the process ssh runs and its
// daemon), so this is measured start-up time (docs/TSSHD.md). The library
// (`import ... from 'tsshd'`) stays the modules in dist/src.
// Native addons stay outside the bundle and load from node_modules.
import { build } from 'esbuild';

const commands = ['tssh', 'tsshd'];
try {
  await build({
    entryPoints: Object.fromEntries(commands.map((c) => [c, `dist/src/cli/${c}.js`])),
    outdir: 'dist/bin',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Both at dist/bin/: src/version.ts finds package.json two levels up from there too.
    external: ['@lydell/node-pty', '@matrixai/*', 'unix-dgram'],
    sourcemap: 'linked',
    logLevel: 'warning',
  });
} catch (err) {
  console.error(`bundle: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  process.exit(1);
}
