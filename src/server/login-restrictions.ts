/**
 * What the login that started tsshd was allowed, as far as tsshd can learn
 * it, so that tsshd never grants more (docs/SECURITY.md, "What the login
 * allowed"). The source is sshd's ExposeAuthInfo: SSH_USER_AUTH names a file
 * listing the keys the login authenticated with; tsshd finds each key's line
 * in AuthorizedKeysFile and reads its options (restrict, no-pty,
 * no-port-forwarding, permitopen=, ...), and for a certificate its
 * extensions and validity too. Without ExposeAuthInfo, if sshd_config lets
 * nothing but those keys log in, the limits every key line sets apply;
 * otherwise nothing is learned here and only sshd_config applies.
 */
import { readFileSync } from 'node:fs';
import { expandAuthorizedKeysPath, parseAuthorizedKeys, type AuthorizedKey, type KeyOption } from './authorized-keys.js';
import { isCertificateType, parseCertificate, type SshCertificate } from './ssh-certificate.js';

/** The login's limits; each reason is one line naming the option that set it, null when allowed. */
export interface LoginRestrictions {
  pty: string | null;
  forwarding: string | null;
  agent: string | null;
  x11: string | null;
  /** permitopen= entries (host:port), or null: no such limit. */
  permitOpen: string[] | null;
  /** permitlisten= entries ([host:]port), or null. */
  permitListen: string[] | null;
  /** environment= variables (sshd set them in the login's environment when PermitUserEnvironment allowed it). */
  environment: Record<string, string>;
  /** When the key or certificate stops being valid (ms since the epoch), or null; with why. */
  expiresAt: number | null;
  expiry: string | null;
  /** Where the limits came from, for the debug log. */
  source: string;
}

/** No limits learned. */
export function unrestrictedLogin(source = 'none learned'): LoginRestrictions {
  return { pty: null, forwarding: null, agent: null, x11: null, permitOpen: null, permitListen: null, environment: {}, expiresAt: null, expiry: null, source };
}

/** Why the login's authority is over now (its key or certificate expired), or null. */
export function loginExpired(r: Pick<LoginRestrictions, 'expiresAt' | 'expiry'>, now = Date.now()): string | null {
  return r.expiresAt !== null && now >= r.expiresAt ? r.expiry : null;
}

/** sshd's expiry-time: YYYYMMDD or YYYYMMDDHHMM[SS], local time unless it ends in Z. */
export function parseExpiryTime(value: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/.exec(value);
  if (m === null) return null;
  const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1, 7).map((v) => v ?? '0') as string[];
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  return m[7] === 'Z' ? Date.UTC(...parts) : new Date(...parts).getTime();
}

/** The on/off options (each also as no-<name>), the field each sets and what it governs. */
const FLAGS: Record<string, { field: 'pty' | 'forwarding' | 'agent' | 'x11'; what: string }> = {
  pty: { field: 'pty', what: 'pty allocation' },
  'port-forwarding': { field: 'forwarding', what: 'port forwarding' },
  'agent-forwarding': { field: 'agent', what: 'agent forwarding' },
  'x11-forwarding': { field: 'x11', what: 'X11 forwarding' },
};

/** Apply one authorized_keys line's options, in order, as sshd does (`restrict` then `pty` re-enables the pty). */
export function applyKeyOptions(r: LoginRestrictions, options: readonly KeyOption[], where: string): void {
  const off = (what: string, option: string): string => `${what} is disabled for this key (${option} in ${where})`;
  for (const { name, value } of options) {
    const base = name.replace(/^no-/, '');
    const flag = Object.hasOwn(FLAGS, base) ? FLAGS[base] : undefined;
    if (flag !== undefined) {
      r[flag.field] = name.startsWith('no-') ? off(flag.what, name) : null;
      continue;
    }
    switch (name) {
      case 'restrict':
        for (const { field, what } of Object.values(FLAGS)) r[field] = off(what, 'restrict');
        break;
      case 'permitopen':
        if (value !== undefined) (r.permitOpen ??= []).push(value);
        break;
      case 'permitlisten':
        if (value !== undefined) (r.permitListen ??= []).push(value);
        break;
      case 'environment': {
        const eq = value?.indexOf('=') ?? -1;
        if (value !== undefined && eq > 0) r.environment[value.slice(0, eq)] = value.slice(eq + 1);
        break;
      }
      case 'expiry-time': {
        const at = value === undefined ? null : parseExpiryTime(value);
        if (at !== null && (r.expiresAt === null || at < r.expiresAt)) {
          r.expiresAt = at;
          r.expiry = `the key expired (expiry-time in ${where})`;
        }
        break;
      }
      default:
        break; // command=, from=, principals=, tunnel=, ... are sshd's alone
    }
  }
}

/** Apply a certificate's limits: every permission it lacks is off, and it expires at valid-before. */
export function applyCertificate(r: LoginRestrictions, cert: SshCertificate): void {
  const lacks = (ext: string, what: string, current: string | null): string | null =>
    cert.extensions.has(ext) ? current : `${what} is disabled for this certificate (it lacks ${ext})`;
  r.pty = lacks('permit-pty', 'pty allocation', r.pty);
  r.forwarding = lacks('permit-port-forwarding', 'port forwarding', r.forwarding);
  r.agent = lacks('permit-agent-forwarding', 'agent forwarding', r.agent);
  r.x11 = lacks('permit-X11-forwarding', 'X11 forwarding', r.x11);
  if (cert.validBefore < 0xffff_ffff_ffff_ffffn) {
    const at = Number(cert.validBefore) * 1000;
    if (r.expiresAt === null || at < r.expiresAt) {
      r.expiresAt = at;
      r.expiry = 'the certificate expired (its valid-before time passed)';
    }
  }
}

/** What readLoginRestrictions needs besides the environment. */
export interface LoginRestrictionsContext {
  /** AuthorizedKeysFile patterns (sshd_config; default .ssh/authorized_keys .ssh/authorized_keys2). */
  authorizedKeysFiles: readonly string[];
  user: { name: string; home: string; uid: number };
  /** SshdPolicy.onlyAuthorizedKeys: without ExposeAuthInfo, what every authorized key forbids applies. */
  onlyAuthorizedKeys?: boolean;
  /** Reads a file, or undefined if it cannot be read. */
  readFile?: (path: string) => string | undefined;
}

function readQuietly(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The public keys ("publickey <type> <base64>") in an SSH_USER_AUTH file. */
export function authInfoKeys(text: string): Buffer[] {
  const keys: Buffer[] = [];
  for (const line of text.split('\n')) {
    const m = /^publickey (\S+) ([A-Za-z0-9+/]+={0,2})/.exec(line);
    if (m) keys.push(Buffer.from(m[2]!, 'base64'));
  }
  return keys;
}

/**
 * The login's restrictions from SSH_USER_AUTH (ExposeAuthInfo yes) and the
 * user's authorized_keys files. With several keys (AuthenticationMethods
 * publickey,publickey) each one's limits apply, as sshd merges them.
 */
export function readLoginRestrictions(env: Readonly<Record<string, string | undefined>>, ctx: LoginRestrictionsContext): LoginRestrictions {
  const read = ctx.readFile ?? readQuietly;
  const files: { path: string; keys: AuthorizedKey[] }[] = [];
  for (const pattern of ctx.authorizedKeysFiles) {
    if (pattern.toLowerCase() === 'none') continue;
    const path = expandAuthorizedKeysPath(pattern, ctx.user);
    const content = read(path);
    if (content !== undefined) files.push({ path, keys: parseAuthorizedKeys(content) });
  }
  const authPath = env.SSH_USER_AUTH;
  if (!authPath) {
    if (ctx.onlyAuthorizedKeys === true) return commonRestrictions(files);
    return unrestrictedLogin('none learned (sshd does not expose the login: ExposeAuthInfo no)');
  }
  const text = read(authPath);
  if (text === undefined) return unrestrictedLogin(`none learned (cannot read SSH_USER_AUTH ${authPath})`);
  const used = authInfoKeys(text);
  if (used.length === 0) return unrestrictedLogin('none (the login used no public key)');
  const r = unrestrictedLogin();
  const sources: string[] = [];
  for (const blob of used) {
    const type = blob.length > 4 ? blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('utf8') : '';
    let cert: SshCertificate | undefined;
    if (isCertificateType(type)) {
      try {
        cert = parseCertificate(blob);
      } catch {
        sources.push('an unreadable certificate');
        continue;
      }
      applyCertificate(r, cert);
      sources.push('the certificate');
    }
    // A plain key matches its own line; a certificate matches its CA's cert-authority line.
    const wanted = cert?.caKey ?? blob;
    const found = findLine(files, wanted, cert !== undefined);
    if (found !== undefined) {
      applyKeyOptions(r, found.key.options, found.path);
      sources.push(found.path);
    } else if (cert === undefined) {
      sources.push('a key not found in AuthorizedKeysFile');
    }
  }
  r.source = sources.join(' and ');
  return r;
}

/**
 * Without ExposeAuthInfo, when sshd lets nothing but an authorized key log
 * in: the limits every line of AuthorizedKeysFile sets held for the login,
 * whichever line it used (a permission is off if it is off on every line;
 * permitopen/permitlisten lists join if every line has one).
 */
function commonRestrictions(files: readonly { path: string; keys: AuthorizedKey[] }[]): LoginRestrictions {
  const each = files.flatMap((file) =>
    file.keys.map((key) => {
      const r = unrestrictedLogin();
      applyKeyOptions(r, key.options, file.path);
      return r;
    }),
  );
  const out = unrestrictedLogin('every key in AuthorizedKeysFile (ExposeAuthInfo no, but only those keys can log in)');
  if (each.length === 0) return out;
  const single = each.length === 1;
  const common = (pick: (r: LoginRestrictions) => string | null): string | null => {
    if (!each.every((r) => pick(r) !== null)) return null;
    const first = pick(each[0]!)!;
    return single ? first : first.replace(/for this key \(.*\)$/, 'for every authorized key');
  };
  out.pty = common((r) => r.pty);
  out.forwarding = common((r) => r.forwarding);
  out.agent = common((r) => r.agent);
  out.x11 = common((r) => r.x11);
  if (each.every((r) => r.permitOpen !== null)) out.permitOpen = each.flatMap((r) => r.permitOpen!);
  if (each.every((r) => r.permitListen !== null)) out.permitListen = each.flatMap((r) => r.permitListen!);
  if (each.every((r) => r.expiresAt !== null)) {
    out.expiresAt = Math.max(...each.map((r) => r.expiresAt!));
    out.expiry = single ? each[0]!.expiry : 'every authorized key expired (expiry-time)';
  }
  return out;
}

function findLine(files: readonly { path: string; keys: AuthorizedKey[] }[], key: Buffer, authority: boolean): { path: string; key: AuthorizedKey } | undefined {
  for (const file of files) {
    for (const line of file.keys) {
      const isAuthority = line.options.some((o) => o.name === 'cert-authority');
      if (isAuthority === authority && line.key.equals(key)) return { path: file.path, key: line };
    }
  }
  return undefined;
}
