/**
 * The variables sshd imposes on every session of a login, beyond its defaults:
 * sshd_config's `SetEnv`, and with `PermitUserEnvironment` the user's
 * `~/.ssh/environment` and the `environment="NAME=value"` options of
 * authorized_keys. sshd set them in the environment of the login that started
 * tsshd, after its own checks (which key was used, PermitUserEnvironment's
 * pattern list), so tsshd takes their values from its own environment: it
 * gives the sessions exactly what the login had, never more. The files only
 * say which names to look for.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { matchPattern } from '../protocol/config-syntax.js';

/** What sshd_config says about these variables. */
export interface ImposedEnvPolicy {
  /** SetEnv names, in order. */
  setEnv: readonly string[];
  /** PermitUserEnvironment: no, yes, or a pattern list of names. */
  permitUserEnvironment: 'no' | 'yes' | readonly string[];
  /** AuthorizedKeysFile entries as written (%h, %u, %% and relative paths are expanded here). */
  authorizedKeysFiles: readonly string[];
}

/** Bound on what is read from the user's files: they only name variables. */
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * The imposed variables and their values from `loginEnv` (tsshd's own
 * environment, as sshd built it for the login). `read` reads a file or
 * returns undefined (tests pass their own).
 */
export function imposedEnv(
  policy: ImposedEnvPolicy,
  login: { user: string; home: string },
  loginEnv: Readonly<Record<string, string | undefined>>,
  read: (path: string) => string | undefined = readSmallFile,
): Record<string, string> {
  const names = new Set<string>();
  const allowed = policy.permitUserEnvironment;
  if (allowed !== 'no') {
    const userNames: string[] = [];
    const envFile = read(join(login.home, '.ssh', 'environment'));
    if (envFile !== undefined) userNames.push(...environmentFileNames(envFile));
    for (const entry of policy.authorizedKeysFiles) {
      const text = read(expandKeysFile(entry, login));
      if (text !== undefined) userNames.push(...authorizedKeysEnvNames(text));
    }
    for (const name of userNames) if (allowed === 'yes' || allowed.some((p) => matchPattern(name, p))) names.add(name);
  }
  for (const name of policy.setEnv) names.add(name);
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = loginEnv[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Names set by a `~/.ssh/environment` file: `NAME=value` lines, `#` comments and blank lines skipped (as sshd reads it). */
export function environmentFileNames(text: string): string[] {
  const names: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) names.push(line.slice(0, eq));
  }
  return names;
}

/** Names set by `environment="NAME=value"` options anywhere in an authorized_keys file. */
export function authorizedKeysEnvNames(text: string): string[] {
  const names: string[] = [];
  const re = /(?:^|,|\s)environment="([^"=\\]+)=/gi;
  for (const line of text.split('\n')) {
    if (line.trimStart().startsWith('#')) continue;
    for (const m of line.matchAll(re)) names.push(m[1]!);
  }
  return names;
}

/** An AuthorizedKeysFile entry as sshd expands it: %h home, %u user, %% a percent; relative to home. */
export function expandKeysFile(entry: string, login: { user: string; home: string }): string {
  const path = entry.replace(/%([%hu])/g, (_m, c: string) => (c === 'h' ? login.home : c === 'u' ? login.user : '%'));
  return isAbsolute(path) ? path : join(login.home, path);
}

function readSmallFile(path: string): string | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    return text.length > MAX_FILE_BYTES ? text.slice(0, MAX_FILE_BYTES) : text;
  } catch {
    return undefined;
  }
}
