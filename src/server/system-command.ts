import { existsSync } from 'node:fs';

/**
 * A base system tool by absolute path (`id`, `ps`): tsshd never looks one up
 * in PATH, which the login's environment or rc files may point anywhere.
 */
export function systemCommand(name: string, exists: (path: string) => boolean = existsSync): string {
  for (const dir of ['/usr/bin', '/bin']) {
    const path = `${dir}/${name}`;
    if (exists(path)) return path;
  }
  return `/usr/bin/${name}`;
}
