#!/usr/bin/env node
// `npm start` builds only when something the build reads is newer than what
// it wrote last (dist/man/tsshd.1, the build's final output), so a current
// build starts the demo at once. A missing output means build.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const LAST_OUTPUT = 'dist/man/tsshd.1';
const INPUTS = ['src', 'test', 'bench', 'examples', 'scripts', 'tsconfig.json', 'package.json', 'package-lock.json'];

/** The newest modification time under `path` (files and directories: a deleted file changes its directory). */
function newest(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let latest = st.mtimeMs;
  for (const name of readdirSync(path)) latest = Math.max(latest, newest(join(path, name)));
  return latest;
}

function builtAt(top) {
  try {
    return statSync(join(top, LAST_OUTPUT)).mtimeMs;
  } catch {
    return 0;
  }
}

/** True when the checkout at `top` has no build or an input newer than it. */
export function isStale(top = root) {
  const built = builtAt(top);
  return built === 0 || INPUTS.some((p) => newest(join(top, p)) > built);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (isStale(root)) {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = spawnSync(npm, ['run', 'build'], { cwd: root, stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
}
