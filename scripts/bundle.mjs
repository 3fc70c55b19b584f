#!/usr/bin/env node
// Bundles the compiled commands (dist/src/cli/tssh.js, tsshd.js) into one
// file each, dist/bin/tssh.mjs and dist/bin/tsshd.mjs, which bin/tssh and
// bin/tsshd run. One file loads in about half the time of the ~70 modules it
// replaces, and tsshd starts twice per login (the process ssh runs and its
// daemon), so this is measured start-up time (docs/TSSHD.md). The library
// (`import ... from 'tsshd'`) stays the modules in dist/src.
// Native addons stay outside the bundle and load from node_modules.
//
// Also dist/sea/tsshd.cjs: tsshd with its JavaScript dependencies inside
// (node-pty's and unix-dgram's too), CommonJS so that Node can make a single
// executable of it, for `tssh --install-tsshd` (src/client/install-payload.ts).
// Its native addons load through scripts/bundled-native.cjs, and its version
// is written in, since there is no package.json beside it.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const commands = ['tssh', 'tsshd'];

/** The substitutions that make tsshd self-contained. */
async function selfContained() {
  const { VERSION, PROTOCOL_VERSION } = await import(join(root, 'dist/src/version.js'));
  const native = join(root, 'scripts/bundled-native.cjs');
  return {
    name: 'self-contained',
    setup(b) {
      b.onLoad({ filter: /[\\/]dist[\\/]src[\\/]version\.js$/ }, () => ({
        contents: `export const VERSION = ${JSON.stringify(VERSION)};\nexport const PROTOCOL_VERSION = ${JSON.stringify(PROTOCOL_VERSION)};\n`,
        loader: 'js',
      }));
      b.onLoad({ filter: /[\\/]dist[\\/]src[\\/]native-addons\.js$/ }, () => ({
        contents: `export { requireNative, singleExecutable } from ${JSON.stringify(native)};\n`,
        loader: 'js',
        resolveDir: root,
      }));
      // node-pty finds its prebuilt addon by package name; unix-dgram with `bindings`, which walks the stack.
      b.onLoad({ filter: /[\\/]@lydell[\\/]node-pty[\\/]requireBinary\.js$/ }, () => ({
        contents: `const { requireNative } = require(${JSON.stringify(native)});\nexports.requireBinary = (file) => requireNative('@lydell/node-pty-' + process.platform + '-' + process.arch + '/' + file);\n`,
        loader: 'js',
      }));
      b.onResolve({ filter: /^bindings$/ }, () => ({ path: 'bindings', namespace: 'bindings-shim' }));
      b.onLoad({ filter: /.*/, namespace: 'bindings-shim' }, () => ({
        contents: `module.exports = (name) => require(${JSON.stringify(native)}).requireNative(name);\n`,
        loader: 'js',
        resolveDir: root,
      }));
    },
  };
}

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
    external: ['@lydell/node-pty', '@matrixai/*', 'unix-dgram', 'postject'],
    // Maps are for the checkout; the package leaves them out (package.json "files").
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  await build({
    entryPoints: { tsshd: 'dist/src/cli/tsshd.js' },
    outdir: 'dist/sea',
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    plugins: [await selfContained()],
    legalComments: 'inline',
    logLevel: 'error',
  });
} catch (err) {
  console.error(`bundle: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  process.exit(1);
}
