import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VERSION } from '../../src/version.js';
import { pathWithout } from '../support/path-without.js';
import { CHECKOUT_ROOT } from '../support/sshd.js';

// The package as a user gets it: `npm pack`, then `npm install -g` of the
// tarball into a fresh prefix on a PATH without any compiler or make, so
// nothing may need building (the Unix-datagram addon is optional).

let dir = '';
let tarball = '';
let files: string[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsshd-pack-'));
  // --ignore-scripts: `npm test` built dist already, and a rebuild would race the other test files.
  const r = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: CHECKOUT_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [info] = JSON.parse(r.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(dir, info!.filename);
  files = info!.files.map((f) => f.path);
});

after(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

test('the tarball holds the built commands, man pages, LICENSE and docs, and no source maps or tests', () => {
  for (const f of ['LICENSE', 'README.md', 'bin/tssh', 'bin/tsshd', 'dist/bin/tssh.mjs', 'dist/bin/tsshd.mjs', 'dist/sea/tsshd.cjs', 'dist/man/tssh.1', 'dist/man/tsshd.1', 'docs/GUIDE.md']) {
    assert.ok(files.includes(f), `${f} missing from the package`);
  }
  assert.deepEqual(files.filter((f) => f.endsWith('.map')), []);
  assert.deepEqual(files.filter((f) => /^(dist\/)?(test|bench)\//.test(f)), []);
  assert.match(readFileSync(join(CHECKOUT_ROOT, 'LICENSE'), 'utf8'), /^MIT License/);
});

test('npm install -g of the tarball into a fresh prefix, without a compiler: tssh -V, tsshd -V and the man pages work', { timeout: 300_000 }, () => {
  const path = pathWithout(join(dir, 'bin-without-compilers'), /^(cc|gcc.*|g\+\+.*|c\+\+|clang.*|make|gmake|python3?(\.[0-9]+)?|x86_64-linux-gnu-.*)$/);
  const prefix = join(dir, 'prefix');
  const env = { PATH: path, HOME: join(dir, 'home'), npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? '/root', '.npm') };
  const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], { env, encoding: 'utf8', timeout: 280_000 });
  assert.equal(install.status, 0, `${install.stdout}\n${install.stderr}`);
  const tssh = spawnSync(join(prefix, 'bin', 'tssh'), ['-V'], { env, encoding: 'utf8' });
  assert.equal(tssh.status, 0, tssh.stderr);
  // tssh's version, then ssh's (as with ssh -V, on stderr).
  assert.match(tssh.stderr, new RegExp(`^tssh ${VERSION.replace(/\./g, '\\.')}\nOpenSSH_`));
  const tsshd = spawnSync(join(prefix, 'bin', 'tsshd'), ['-v'], { env, encoding: 'utf8' });
  assert.equal(tsshd.stdout, `tsshd ${VERSION}\n`, tsshd.stderr);
  for (const page of ['tssh.1', 'tsshd.1']) assert.ok(existsSync(join(prefix, 'share', 'man', 'man1', page)), `${page} not installed`);
  // Nothing was built: the package's dist came from the tarball, and postject (for --install-tsshd) came with it.
  assert.ok(existsSync(join(prefix, 'lib', 'node_modules', 'tsshd', 'node_modules', 'postject', 'package.json')));
});
