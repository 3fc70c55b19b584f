import { userInfo } from 'node:os';
import { basename } from 'node:path';

/**
 * The environment of a session's process, built the way sshd's
 * do_setup_env() builds it. It starts from an empty object, never from
 * process.env: tsshd's own environment (which may hold secrets) must not
 * reach the user's processes.
 */

/** sshd's default PATH for ordinary users (Debian's _PATH_STDPATH). */
export const DEFAULT_USER_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/games';
/** sshd's default PATH for root (SUPERUSER_PATH). */
export const DEFAULT_ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Where sshd points MAIL. */
export const MAIL_SPOOL = '/var/mail';
/** The shell used when the account names none. */
export const FALLBACK_SHELL = '/bin/sh';

/** Who is logged in and what tsshd was told about the SSH login that started it. */
export interface LoginIdentity {
  user: string;
  home: string;
  shell: string;
  /** Decides the default PATH (root gets the sbin directories). */
  uid: number;
  /** Overrides the default PATH. */
  path?: string;
  /** SSH_CONNECTION / SSH_CLIENT of the OpenSSH login that started tsshd, passed on as sshd would set them. */
  sshConnection?: string;
  sshClient?: string;
}

/** The identity of the user tsshd runs as, from the password database. */
export function currentLogin(passOn: { sshConnection?: string; sshClient?: string } = {}): LoginIdentity {
  const info = userInfo();
  const identity: LoginIdentity = {
    user: info.username,
    home: info.homedir,
    shell: info.shell && info.shell.length > 0 ? info.shell : FALLBACK_SHELL,
    uid: info.uid,
  };
  if (passOn.sshConnection !== undefined) identity.sshConnection = passOn.sshConnection;
  if (passOn.sshClient !== undefined) identity.sshClient = passOn.sshClient;
  return identity;
}

/**
 * The base environment every session of this login starts from: HOME, USER,
 * LOGNAME, SHELL, PATH, MAIL, and SSH_CONNECTION / SSH_CLIENT when given.
 */
export function buildLoginEnv(identity: LoginIdentity): Record<string, string> {
  const env: Record<string, string> = {
    USER: identity.user,
    LOGNAME: identity.user,
    HOME: identity.home,
    PATH: identity.path ?? (identity.uid === 0 ? DEFAULT_ROOT_PATH : DEFAULT_USER_PATH),
    MAIL: `${MAIL_SPOOL}/${identity.user}`,
    SHELL: identity.shell,
  };
  if (identity.sshClient !== undefined) env.SSH_CLIENT = identity.sshClient;
  if (identity.sshConnection !== undefined) env.SSH_CONNECTION = identity.sshConnection;
  return env;
}

/** Variables the client cannot set even if AcceptEnv would allow them, because tsshd sets them itself afterwards. */
const SERVER_OWNED = new Set(['SSH_CLIENT', 'SSH_CONNECTION', 'SSH_TTY', 'SSH_AUTH_SOCK', 'DISPLAY']);

/**
 * One session's environment: the login base, then the client's variables that
 * `envAccepted` lets through (as sshd applies AcceptEnv after its own
 * defaults), then what sshd imposed on the login (PermitUserEnvironment's and
 * SetEnv's variables, which beat the client's, as in sshd), then
 * SSH_CONNECTION / SSH_CLIENT again, then TERM from the pty request (always, like sshd).
 */
export function sessionEnv(
  base: Readonly<Record<string, string>>,
  clientEnv: Readonly<Record<string, string>>,
  envAccepted: (name: string) => boolean,
  term?: string,
  imposed: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const entries: [string, string][] = Object.entries(base);
  for (const [name, value] of Object.entries(clientEnv)) {
    if (!SERVER_OWNED.has(name) && envAccepted(name)) entries.push([name, value]);
  }
  for (const [name, value] of Object.entries(imposed)) if (!SERVER_OWNED.has(name)) entries.push([name, value]);
  for (const name of SERVER_OWNED) {
    const value = base[name];
    if (value !== undefined) entries.push([name, value]);
  }
  if (term !== undefined) entries.push(['TERM', term]);
  // fromEntries keeps "__proto__" and friends as plain keys; later entries win.
  return Object.fromEntries(entries);
}

/**
 * sshd's AcceptEnv matching: a name is accepted if any pattern matches it
 * whole, `*` matching any run of characters and `?` exactly one (case-sensitive).
 */
export function envAcceptedBy(patterns: readonly string[]): (name: string) => boolean {
  const compiled = patterns.map(globToRegExp);
  return (name) => compiled.some((re) => re.test(name));
}

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (const ch of pattern) {
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else source += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

/** The name a login shell runs under, as sshd gives it: "-" and the shell's basename ("-bash"). */
export function loginShellArgv0(shell: string): string {
  return `-${basename(shell)}`;
}
