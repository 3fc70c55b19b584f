import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A directory of links to every program in /usr/bin and /bin except those
 * whose name matches `leaveOut`: a PATH for a machine without them (no node,
 * no compiler) on this one. Returns the directory.
 */
export function pathWithout(dir: string, leaveOut: RegExp): string {
  mkdirSync(dir, { mode: 0o755, recursive: true });
  for (const from of ['/usr/bin', '/bin']) {
    for (const name of readdirSync(from)) {
      if (leaveOut.test(name) || existsSync(join(dir, name))) continue;
      symlinkSync(join(from, name), join(dir, name));
    }
  }
  return dir;
}
