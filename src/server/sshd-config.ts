/**
 * sshd_config policy for tsshd, read with OpenSSH's semantics: keywords are
 * case-insensitive, the first value wins (a few keywords accumulate), lines in
 * a matching `Match` block override the global ones, and `Include` may appear
 * anywhere. tsshd applies the forwarding, environment and subsystem rules the
 * user's sshd would, so roaming does not widen what a login may do.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { readConfigFile, readIncludedFiles, type IncludeReader } from '../protocol/config-files.js';
import { ConfigSyntaxError, matchPattern, matchPatternList, parseTimeInterval, quoteValue, splitConfigLine } from '../protocol/config-syntax.js';
import { unrestrictedLogin, type LoginRestrictions } from './login-restrictions.js';
import { runningSshdConfig } from './running-sshd.js';

/** OpenSSH's SERVCONF_MAX_DEPTH for nested Include. */
export const MAX_SSHD_INCLUDE_DEPTH = 16;
/** Total files one sshd_config may pull in. */
export const MAX_SSHD_INCLUDED_FILES = 1024;
/** The system sshd_config. */
export const SYSTEM_SSHD_CONFIG = '/etc/ssh/sshd_config';

/** A `Match` criterion; `arg` is a pattern list (absent for All). */
export interface SshdMatchCriterion {
  name: 'all' | 'user' | 'group' | 'host' | 'localaddress' | 'localport' | 'address' | 'rdomain';
  arg?: string;
}

/** A parsed line that matters. */
export type SshdConfigEntry =
  | { kind: 'option'; keyword: string; spelled: string; args: string[]; where: string }
  | { kind: 'match'; criteria: SshdMatchCriterion[]; where: string }
  | { kind: 'include'; files: SshdConfigFile[]; where: string };

/** A parsed sshd_config with its includes already read. */
export interface SshdConfigFile {
  path: string;
  entries: SshdConfigEntry[];
}

/** How to read an sshd_config. */
export interface ParseSshdConfigOptions {
  /** Path, for messages. */
  path: string;
  /** Reads included files; defaults to the file system. */
  readInclude?: IncludeReader;
}

/** AllowTcpForwarding / AllowStreamLocalForwarding ('all' is read as 'yes'). */
export type ForwardingPermission = 'yes' | 'no' | 'local' | 'remote';

/** The policy tsshd enforces for one login. */
export interface SshdPolicy {
  /** AcceptEnv patterns; tsshd's default is LANG and LC_* (OpenSSH's is none). */
  acceptEnv: string[];
  /** Subsystem name to command line. */
  subsystems: Map<string, string>;
  allowTcpForwarding: ForwardingPermission;
  allowStreamLocalForwarding: ForwardingPermission;
  /** DisableForwarding yes overrides every other forwarding permission. */
  disableForwarding: boolean;
  /** ['any'], ['none'] or host:port entries. */
  permitOpen: string[];
  /** ['any'], ['none'] or [host:]port entries. */
  permitListen: string[];
  gatewayPorts: 'no' | 'yes' | 'clientspecified';
  /** umask for unix sockets tsshd creates for forwards. */
  streamLocalBindMask: number;
  streamLocalBindUnlink: boolean;
  allowAgentForwarding: boolean;
  x11Forwarding: boolean;
  x11DisplayOffset: number;
  x11UseLocalhost: boolean;
  xauthLocation: string;
  /** PermitTTY. */
  permitTTY: boolean;
  /** AuthorizedKeysFile patterns (%h, %u, %U; relative to the home directory): where the login's key options are read. */
  authorizedKeysFiles: string[];
  /** What the login's key or certificate allowed (login-restrictions.ts); filled in by loadLoginPolicy. */
  login: LoginRestrictions;
  /**
   * Whether every login must have used a key listed in AuthorizedKeysFile
   * (AuthenticationMethods requires publickey in every list, or no other
   * method is on; and neither TrustedUserCAKeys nor AuthorizedKeysCommand is
   * set): then what all those lines forbid, the login was forbidden too.
   */
  onlyAuthorizedKeys: boolean;
  /** SetEnv names (the values come from the login's environment, imposed-env.ts). */
  setEnv: string[];
  /** PermitUserEnvironment: no, yes or a pattern list. */
  permitUserEnvironment: 'no' | 'yes' | string[];
  /** ChannelTimeout: channel type pattern -> seconds without traffic before the channel is closed. */
  channelTimeouts: Array<{ type: string; seconds: number }>;
}

/** OpenSSH's defaults (except AcceptEnv, see {@link SshdPolicy.acceptEnv}). */
export function defaultSshdPolicy(): SshdPolicy {
  return {
    acceptEnv: ['LANG', 'LC_*'],
    subsystems: new Map(),
    allowTcpForwarding: 'yes',
    allowStreamLocalForwarding: 'yes',
    disableForwarding: false,
    permitOpen: ['any'],
    permitListen: ['any'],
    gatewayPorts: 'no',
    streamLocalBindMask: 0o177,
    streamLocalBindUnlink: false,
    allowAgentForwarding: true,
    x11Forwarding: false,
    x11DisplayOffset: 10,
    x11UseLocalhost: true,
    xauthLocation: '/usr/bin/xauth',
    permitTTY: true,
    authorizedKeysFiles: ['.ssh/authorized_keys', '.ssh/authorized_keys2'],
    login: unrestrictedLogin(),
    onlyAuthorizedKeys: false,
    setEnv: [],
    permitUserEnvironment: 'no',
    channelTimeouts: [],
  };
}

type Parser = (args: readonly string[], where: string, name: string) => unknown;

const single = (args: readonly string[], where: string, name: string): string => {
  if (args.length === 0 || args[0] === '') throw new Error(`${where}: ${name} is missing its value`);
  if (args.length > 1) throw new Error(`${where}: ${name} takes one value (got ${args.length}); remove the extra words`);
  return args[0]!;
};
const choice = (values: Record<string, unknown>, expected: string): Parser => (args, where, name) => {
  const v = single(args, where, name);
  const key = v.toLowerCase();
  if (!Object.hasOwn(values, key)) throw new Error(`${where}: ${name} must be ${expected} (got ${quoteValue(v)})`);
  return values[key];
};
const yesNo = choice({ yes: true, no: false }, 'yes or no');
const permission = choice({ yes: 'yes', all: 'yes', no: 'no', local: 'local', remote: 'remote' }, 'yes, no, all, local or remote');

const permitList = (listen: boolean): Parser => (args, where, name) => {
  if (args.length === 0) throw new Error(`${where}: ${name} is missing its value`);
  if (args.length === 1 && (args[0] === 'any' || args[0] === 'none')) return [args[0]];
  for (const arg of args) {
    if (!isPermitEntry(arg, listen)) {
      const form = listen ? '[host:]port' : 'host:port';
      throw new Error(`${where}: ${name} entry ${quoteValue(arg)} must be ${form} (port may be *), any or none`);
    }
  }
  return [...args];
};

function isPermitEntry(entry: string, listen: boolean): boolean {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\*|[0-9]{1,5})$/.exec(entry);
  if (m) return (m[1] ?? m[2] ?? '') !== '' && (m[3] === '*' || Number(m[3]) <= 65535);
  return listen && /^(\*|[0-9]{1,5})$/.test(entry) && (entry === '*' || Number(entry) <= 65535);
}

/** Keywords tsshd reads, with their value parsers. Everything else belongs to sshd alone. */
const PARSERS: Record<string, { name: string; parse: Parser }> = {
  allowtcpforwarding: { name: 'AllowTcpForwarding', parse: permission },
  allowstreamlocalforwarding: { name: 'AllowStreamLocalForwarding', parse: permission },
  disableforwarding: { name: 'DisableForwarding', parse: yesNo },
  permitopen: { name: 'PermitOpen', parse: permitList(false) },
  permitlisten: { name: 'PermitListen', parse: permitList(true) },
  gatewayports: { name: 'GatewayPorts', parse: choice({ no: 'no', yes: 'yes', clientspecified: 'clientspecified' }, 'yes, no or clientspecified') },
  streamlocalbindmask: {
    name: 'StreamLocalBindMask',
    parse: (args, where, name) => {
      const v = single(args, where, name);
      if (!/^[0-7]{1,4}$/.test(v) || parseInt(v, 8) > 0o777) throw new Error(`${where}: ${name} must be an octal mask from 0 to 0777 (got ${quoteValue(v)})`);
      return parseInt(v, 8);
    },
  },
  streamlocalbindunlink: { name: 'StreamLocalBindUnlink', parse: yesNo },
  allowagentforwarding: { name: 'AllowAgentForwarding', parse: yesNo },
  x11forwarding: { name: 'X11Forwarding', parse: yesNo },
  x11displayoffset: {
    name: 'X11DisplayOffset',
    parse: (args, where, name) => {
      const v = single(args, where, name);
      if (!/^[0-9]{1,4}$/.test(v)) throw new Error(`${where}: ${name} must be a whole number from 0 to 9999 (got ${quoteValue(v)})`);
      return Number(v);
    },
  },
  x11uselocalhost: { name: 'X11UseLocalhost', parse: yesNo },
  permittty: { name: 'PermitTTY', parse: yesNo },
  // Read only to know whether a login can have used anything but an authorized key; any value but "no" counts as on.
  passwordauthentication: { name: 'PasswordAuthentication', parse: (args) => args[0]?.toLowerCase() !== 'no' },
  kbdinteractiveauthentication: { name: 'KbdInteractiveAuthentication', parse: (args) => args[0]?.toLowerCase() !== 'no' },
  challengeresponseauthentication: { name: 'ChallengeResponseAuthentication', parse: (args) => args[0]?.toLowerCase() !== 'no' },
  hostbasedauthentication: { name: 'HostbasedAuthentication', parse: (args) => args[0]?.toLowerCase() === 'yes' },
  gssapiauthentication: { name: 'GSSAPIAuthentication', parse: (args) => args[0]?.toLowerCase() === 'yes' },
  trustedusercakeys: { name: 'TrustedUserCAKeys', parse: (args) => args[0]?.toLowerCase() !== 'none' },
  authorizedkeyscommand: { name: 'AuthorizedKeysCommand', parse: (args) => args[0]?.toLowerCase() !== 'none' },
  authenticationmethods: { name: 'AuthenticationMethods', parse: (args) => [...args] },
  xauthlocation: { name: 'XAuthLocation', parse: (args, where, name) => single(args, where, name) },
  acceptenv: {
    name: 'AcceptEnv',
    parse: (args, where, name) => {
      if (args.length === 0) throw new Error(`${where}: ${name} is missing its value, e.g. AcceptEnv LANG LC_*`);
      for (const arg of args) {
        if (arg === '' || arg.includes('=')) throw new Error(`${where}: ${name} takes variable names or patterns, not ${quoteValue(arg)}`);
      }
      return [...args];
    },
  },
  subsystem: {
    name: 'Subsystem',
    parse: (args, where, name) => {
      if (args.length < 2) throw new Error(`${where}: ${name} needs a name and a command, e.g. Subsystem sftp internal-sftp`);
      return { name: args[0]!, command: args.slice(1).join(' ') };
    },
  },
};

const nonEmpty = (args: readonly string[], where: string, name: string): string[] => {
  if (args.length === 0) throw new Error(`${where}: ${name} is missing its value`);
  return [...args];
};

/** Keywords about a session's environment and channels (imposed-env.ts, channel timeouts). */
const SESSION_PARSERS: Record<string, { name: string; parse: Parser }> = {
  setenv: { name: 'SetEnv', parse: (args, where, name) => nonEmpty(args, where, name).map((a) => a.split('=')[0]!).filter((n) => n !== '') },
  permituserenvironment: {
    name: 'PermitUserEnvironment',
    parse: (args, where, name) => {
      const v = single(args, where, name);
      const lower = v.toLowerCase();
      return lower === 'yes' || lower === 'no' ? lower : v.split(',').filter((p) => p !== '');
    },
  },
  authorizedkeysfile: {
    name: 'AuthorizedKeysFile',
    parse: (args, where, name) => (args.length === 1 && args[0]!.toLowerCase() === 'none' ? [] : nonEmpty(args, where, name)),
  },
  channeltimeout: {
    name: 'ChannelTimeout',
    parse: (args, where, name) => {
      if (args.length === 1 && args[0]!.toLowerCase() === 'none') return [];
      return nonEmpty(args, where, name).map((arg) => {
        const eq = arg.indexOf('=');
        const seconds = eq > 0 ? parseTimeInterval(arg.slice(eq + 1)) : null;
        if (seconds === null) throw new Error(`${where}: ${name} entries are type=interval, e.g. session=30m (got ${quoteValue(arg)})`);
        return { type: arg.slice(0, eq), seconds };
      });
    },
  },
};
Object.assign(PARSERS, SESSION_PARSERS);

const CRITERIA = new Set(['all', 'user', 'group', 'host', 'localaddress', 'localport', 'address', 'rdomain']);

interface ParseState {
  depth: number;
  files: number;
}

/** Parse sshd_config text (reading Include files through `readInclude`). Throws one-line errors naming file and line. */
export function parseSshdConfig(text: string, options: ParseSshdConfigOptions): SshdConfigFile {
  return parseFile(text, options, { depth: 0, files: 1 });
}

function parseFile(text: string, options: ParseSshdConfigOptions, state: ParseState): SshdConfigFile {
  const file: SshdConfigFile = { path: options.path, entries: [] };
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const where = `${options.path} line ${n + 1}`;
    let words;
    try {
      words = splitConfigLine(lines[n]!);
    } catch (err) {
      if (err instanceof ConfigSyntaxError) throw new Error(`${where}: ${err.message}`);
      throw err;
    }
    if (words === null) continue;
    const { keyword, spelled, args } = words;
    if (keyword === 'match') {
      file.entries.push({ kind: 'match', criteria: parseSshdMatch(args, where), where });
    } else if (keyword === 'include') {
      file.entries.push({ kind: 'include', files: parseInclude(args, where, options, state), where });
    } else {
      const parser = Object.hasOwn(PARSERS, keyword) ? PARSERS[keyword] : undefined;
      if (parser) parser.parse(args, where, parser.name);
      file.entries.push({ kind: 'option', keyword, spelled, args, where });
    }
  }
  return file;
}

/** Parse the words after `Match` (exported for tests). */
export function parseSshdMatch(args: readonly string[], where: string): SshdMatchCriterion[] {
  if (args.length === 0) throw new Error(`${where}: Match needs criteria, e.g. Match User alice or Match All`);
  const criteria: SshdMatchCriterion[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i]!.toLowerCase();
    if (!CRITERIA.has(name)) {
      throw new Error(`${where}: unsupported Match criterion ${quoteValue(args[i]!)}; use User, Group, Host, LocalAddress, LocalPort, Address, RDomain or All`);
    }
    if (name === 'all') {
      if (args.length !== 1) throw new Error(`${where}: Match All must appear alone`);
      criteria.push({ name: 'all' });
      continue;
    }
    const arg = args[++i];
    if (arg === undefined || arg === '') throw new Error(`${where}: Match ${args[i - 1]} needs an argument, e.g. Match ${args[i - 1]} pattern`);
    if ((name === 'address' || name === 'localaddress') && !isAddressList(arg)) {
      throw new Error(`${where}: Match ${args[i - 1]} has a bad address list ${quoteValue(arg)}; use addresses, wildcards or CIDR like 10.0.0.0/8`);
    }
    if (name === 'localport' && !/^[0-9]{1,5}$/.test(arg)) {
      throw new Error(`${where}: Match ${args[i - 1]} must be a port number (got ${quoteValue(arg)})`);
    }
    criteria.push({ name: name as SshdMatchCriterion['name'], arg });
  }
  return criteria;
}

function parseInclude(args: readonly string[], where: string, options: ParseSshdConfigOptions, state: ParseState): SshdConfigFile[] {
  if (args.length === 0) throw new Error(`${where}: Include needs a file name or pattern`);
  if (state.depth + 1 > MAX_SSHD_INCLUDE_DEPTH) {
    throw new Error(`${where}: Include nested more than ${MAX_SSHD_INCLUDE_DEPTH} deep; check for a file that includes itself`);
  }
  const read = options.readInclude ?? readIncludedFiles;
  const files: SshdConfigFile[] = [];
  for (const arg of args) {
    // sshd resolves relative Include paths under /etc/ssh.
    const pattern = arg.startsWith('/') ? arg : join('/etc/ssh', arg);
    for (const found of read(pattern)) {
      if (++state.files > MAX_SSHD_INCLUDED_FILES) {
        throw new Error(`${where}: more than ${MAX_SSHD_INCLUDED_FILES} config files included; check for repeated Include lines`);
      }
      state.depth++;
      try {
        files.push(parseFile(found.text, { ...options, path: found.path }, state));
      } finally {
        state.depth--;
      }
    }
  }
  return files;
}

/** The connection a policy is computed for. Missing fields never match a Match criterion. */
export interface SshdConnectionInfo {
  user?: string;
  /** The user's groups (primary and supplementary). */
  groups?: readonly string[];
  /** Client host name (if known) for Match Host. */
  host?: string;
  /** Client address. */
  address?: string;
  localAddress?: string;
  localPort?: number;
  rdomain?: string;
}

/**
 * The policy for one connection: global lines (first wins), overridden by
 * lines from matching Match blocks (first wins among those), then defaults.
 */
export function effectiveConfig(parsed: SshdConfigFile | undefined, connection: SshdConnectionInfo): SshdPolicy {
  const global = new Map<string, unknown[]>();
  const matched = new Map<string, unknown[]>();

  const walk = (file: SshdConfigFile, state: { inMatch: boolean; active: boolean }, neverMatch: boolean): void => {
    for (const entry of file.entries) {
      if (entry.kind === 'match') {
        state.inMatch = true;
        state.active = !neverMatch && matchesConnection(entry.criteria, connection);
      } else if (entry.kind === 'include') {
        const saved = { ...state };
        for (const included of entry.files) {
          Object.assign(state, saved);
          walk(included, state, neverMatch || !saved.active);
        }
        Object.assign(state, saved);
      } else if (state.active) {
        const parser = Object.hasOwn(PARSERS, entry.keyword) ? PARSERS[entry.keyword] : undefined;
        if (!parser) continue;
        const store = state.inMatch ? matched : global;
        const list = store.get(entry.keyword) ?? [];
        list.push(parser.parse(entry.args, entry.where, parser.name));
        store.set(entry.keyword, list);
      }
    }
  };
  if (parsed) walk(parsed, { inMatch: false, active: true }, false);

  const policy = defaultSshdPolicy();
  const pick = <T>(keyword: string): T | undefined => (matched.get(keyword)?.[0] ?? global.get(keyword)?.[0]) as T | undefined;
  policy.allowTcpForwarding = pick('allowtcpforwarding') ?? policy.allowTcpForwarding;
  policy.allowStreamLocalForwarding = pick('allowstreamlocalforwarding') ?? policy.allowStreamLocalForwarding;
  policy.disableForwarding = pick('disableforwarding') ?? policy.disableForwarding;
  policy.permitOpen = pick('permitopen') ?? policy.permitOpen;
  policy.permitListen = pick('permitlisten') ?? policy.permitListen;
  policy.gatewayPorts = pick('gatewayports') ?? policy.gatewayPorts;
  policy.streamLocalBindMask = pick('streamlocalbindmask') ?? policy.streamLocalBindMask;
  policy.streamLocalBindUnlink = pick('streamlocalbindunlink') ?? policy.streamLocalBindUnlink;
  policy.allowAgentForwarding = pick('allowagentforwarding') ?? policy.allowAgentForwarding;
  policy.x11Forwarding = pick('x11forwarding') ?? policy.x11Forwarding;
  policy.x11DisplayOffset = pick('x11displayoffset') ?? policy.x11DisplayOffset;
  policy.x11UseLocalhost = pick('x11uselocalhost') ?? policy.x11UseLocalhost;
  policy.xauthLocation = pick('xauthlocation') ?? policy.xauthLocation;
  policy.permitTTY = pick('permittty') ?? policy.permitTTY;
  policy.authorizedKeysFiles = pick('authorizedkeysfile') ?? policy.authorizedKeysFiles;
  const methods = pick<string[]>('authenticationmethods');
  const publickeyRequired = methods !== undefined && methods[0] !== 'any' && methods.every((list) => list.split(',').includes('publickey'));
  const otherMethods =
    (pick<boolean>('passwordauthentication') ?? true) ||
    (pick<boolean>('kbdinteractiveauthentication') ?? pick<boolean>('challengeresponseauthentication') ?? true) ||
    (pick<boolean>('hostbasedauthentication') ?? false) ||
    (pick<boolean>('gssapiauthentication') ?? false);
  policy.onlyAuthorizedKeys = (publickeyRequired || !otherMethods) && !(pick<boolean>('trustedusercakeys') ?? false) && !(pick<boolean>('authorizedkeyscommand') ?? false);
  policy.setEnv = pick('setenv') ?? policy.setEnv;
  policy.permitUserEnvironment = pick('permituserenvironment') ?? policy.permitUserEnvironment;
  policy.channelTimeouts = pick('channeltimeout') ?? policy.channelTimeouts;
  // AcceptEnv accumulates over lines; a matching Match block's list replaces the global one.
  const env = (matched.get('acceptenv') ?? global.get('acceptenv')) as string[][] | undefined;
  if (env) policy.acceptEnv = env.flat();
  // Subsystems: the first definition of each name wins, Match blocks first.
  for (const source of [matched, global]) {
    for (const s of (source.get('subsystem') ?? []) as Array<{ name: string; command: string }>) {
      if (!policy.subsystems.has(s.name)) policy.subsystems.set(s.name, s.command);
    }
  }
  return policy;
}

/** Whether any `Match` (in the file or its includes) tests `Group`: only then are the user's groups worth looking up. */
export function usesMatchGroup(parsed: SshdConfigFile | undefined): boolean {
  if (parsed === undefined) return false;
  return parsed.entries.some((entry) =>
    entry.kind === 'match' ? entry.criteria.some((c) => c.name === 'group') : entry.kind === 'include' && entry.files.some(usesMatchGroup),
  );
}

function matchesConnection(criteria: readonly SshdMatchCriterion[], c: SshdConnectionInfo): boolean {
  for (const criterion of criteria) {
    const arg = criterion.arg ?? '';
    let ok: boolean;
    switch (criterion.name) {
      case 'all':
        ok = true;
        break;
      case 'user':
        ok = c.user !== undefined && matchPatternList(c.user, arg) === 1;
        break;
      case 'group':
        ok = c.groups !== undefined && groupsMatch(c.groups, arg);
        break;
      case 'host':
        ok = c.host !== undefined && matchPatternList(c.host, arg, true) === 1;
        break;
      case 'address':
        ok = c.address !== undefined && addressMatchList(c.address, arg) === 1;
        break;
      case 'localaddress':
        ok = c.localAddress !== undefined && addressMatchList(c.localAddress, arg) === 1;
        break;
      case 'localport':
        ok = c.localPort !== undefined && c.localPort === Number(arg);
        break;
      case 'rdomain':
        ok = c.rdomain !== undefined && matchPatternList(c.rdomain, arg) === 1;
        break;
    }
    if (!ok) return false;
  }
  return true;
}

// sshd's ga_match_pattern_list: a group hitting a negated pattern fails the whole criterion.
function groupsMatch(groups: readonly string[], list: string): boolean {
  let found = false;
  for (const group of groups) {
    const r = matchPatternList(group, list);
    if (r === -1) return false;
    if (r === 1) found = true;
  }
  return found;
}

/**
 * OpenSSH's addr_match_list: comma-separated entries, each an address
 * wildcard pattern or a CIDR block, optionally negated with `!`. Returns 1 on a
 * match, -1 on a negated match, 0 otherwise.
 */
export function addressMatchList(address: string, list: string): -1 | 0 | 1 {
  const addr = normaliseAddress(address);
  const bytes = addressBytes(addr);
  let result: 0 | 1 = 0;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const entry = raw.slice(negated ? 1 : 0);
    const hit = entry.includes('/') ? bytes !== null && cidrContains(entry, bytes) : matchPattern(addr.toLowerCase(), entry.toLowerCase());
    if (hit) {
      if (negated) return -1;
      result = 1;
    }
  }
  return result;
}

function isAddressList(list: string): boolean {
  return list.split(',').every((raw) => {
    const entry = raw.slice(raw.startsWith('!') ? 1 : 0);
    if (entry === '') return false;
    if (!entry.includes('/')) return /^[0-9a-fA-F.:*?]+$/.test(entry);
    return parseCidr(entry) !== null;
  });
}

function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

function parseCidr(entry: string): { bytes: number[]; bits: number } | null {
  const slash = entry.indexOf('/');
  const bytes = addressBytes(entry.slice(0, slash));
  const bitsText = entry.slice(slash + 1);
  if (bytes === null || !/^[0-9]{1,3}$/.test(bitsText)) return null;
  const bits = Number(bitsText);
  if (bits > bytes.length * 8) return null;
  return { bytes, bits };
}

function cidrContains(entry: string, address: number[]): boolean {
  const cidr = parseCidr(entry);
  if (cidr === null || cidr.bytes.length !== address.length) return false;
  for (let bit = 0; bit < cidr.bits; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((cidr.bytes[bit >> 3]! & mask) !== (address[bit >> 3]! & mask)) return false;
  }
  return true;
}

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address as bytes, or null (exported for tests). */
export function addressBytes(text: string): number[] | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    return parts.every((p) => p <= 255) ? parts : null;
  }
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length > 45) return null;
  let head = text;
  let tail4: number[] = [];
  const dotted = /:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(text);
  if (dotted) {
    const b = addressBytes(dotted[1]!);
    if (b === null) return null;
    tail4 = b;
    head = `${text.slice(0, dotted.index)}:0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): string[] | null => (s === '' ? [] : s.split(':'));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if (left === null || right === null) return null;
  const total = left.length + right.length;
  if ((halves.length === 1 && total !== 8) || (halves.length === 2 && total > 7)) return null;
  const all = [...left, ...Array<string>(8 - total).fill('0'), ...right];
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const bytes = all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
  if (tail4.length) bytes.splice(12, 4, ...tail4);
  return bytes;
}

/** Whether an environment variable name is accepted by AcceptEnv patterns (`*` and `?` wildcards). */
export function envAccepted(name: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => matchPattern(name, pattern));
}

/**
 * Which sshd_config tsshd reads: `$XDG_CONFIG_HOME/tsshd/sshd_config` (default
 * `~/.config/tsshd/sshd_config`) if it exists, even if empty; else the file
 * the running sshd that let this login in was started with (`sshd -f FILE`,
 * found by running-sshd.ts) if it exists; else the system file if it exists;
 * else none (defaults apply).
 */
export function locateSshdConfig(
  env: Readonly<Record<string, string | undefined>>,
  exists: (path: string) => boolean = existsSync,
  running: () => string | undefined = () => runningSshdConfig(SYSTEM_SSHD_CONFIG),
): string | undefined {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  const ours = join(base, 'tsshd', 'sshd_config');
  if (exists(ours)) return ours;
  const sshds = running();
  if (sshds !== undefined && exists(sshds)) return sshds;
  if (exists(SYSTEM_SSHD_CONFIG)) return SYSTEM_SSHD_CONFIG;
  return undefined;
}

/** Read and parse the sshd_config at `path` (from {@link locateSshdConfig}); undefined path means none. */
export function loadSshdConfig(
  path: string | undefined,
  io: { readFile?: (path: string) => string | undefined; readInclude?: IncludeReader } = {},
): SshdConfigFile | undefined {
  if (path === undefined) return undefined;
  const text = (io.readFile ?? readConfigFile)(path);
  if (text === undefined) return undefined;
  return parseSshdConfig(text, { path, readInclude: io.readInclude });
}
