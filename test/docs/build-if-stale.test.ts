import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECKOUT_ROOT } from '../support/sshd.js';

// `npm start` runs scripts/build-if-stale.mjs first: a current build must not be rebuilt.
const script = join(CHECKOUT_ROOT, 'scripts', 'build-if-stale.mjs');

test('a build is stale when it is missing or an input is newer, and current otherwise', async () => {
  const { isStale } = (await import(script)) as { isStale: (root: string) => boolean };
  const root = mkdtempSync(join(tmpdir(), 'tsshd-stale-'));
  try {
    mkdirSync(join(root, 'src', 'client'), { recursive: true });
    writeFileSync(join(root, 'src', 'client', 'a.ts'), '');
    writeFileSync(join(root, 'package.json'), '{}');
    assert.equal(isStale(root), true, 'no build');
    mkdirSync(join(root, 'dist', 'man'), { recursive: true });
    writeFileSync(join(root, 'dist', 'man', 'tsshd.1'), '');
    const past = new Date(Date.now() - 60_000);
    for (const p of ['src/client/a.ts', 'src/client', 'src', 'package.json']) utimesSync(join(root, p), past, past);
    assert.equal(isStale(root), false, 'built after every input');
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'src', 'client', 'a.ts'), later, later);
    assert.equal(isStale(root), true, 'a source changed after the build');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('with the checkout built (npm test builds first), npm start\'s build step does nothing', () => {
  const r = spawnSync(process.execPath, [script], { cwd: CHECKOUT_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '', 'it ran a build');
});
