/**
 * ssh_config as OpenSSH reads it: lines, `Host` and `Match` blocks, `Include`
 * (with `~`, relative paths and globs), and which lines apply to a destination
 * (first obtained value wins). tssh's own options may hide in lines starting
 * with `#!!`, which OpenSSH sees as comments. This module knows the language,
 * not the options: udp-options.ts gives them meaning.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { readConfigFile, readIncludedFiles, type IncludeReader } from '../protocol/config-files.js';
import { ConfigSyntaxError, matchPattern, matchPatternList, quoteValue, splitConfigLine } from '../protocol/config-syntax.js';
import { resolveConfigFileArg } from './config-file-arg.js';

/** OpenSSH's READCONF_MAX_DEPTH: Include nesting deeper than this is an error (and stops loops). */
export const MAX_INCLUDE_DEPTH = 16;
/** Total files one configuration may pull in, so diamond-shaped includes cannot explode. */
export const MAX_INCLUDED_FILES = 1024;

/** A keyword line. `hidden` marks a `#!!` line. */
export interface SshConfigOption {
  kind: 'option';
  /** Lower case. */
  keyword: string;
  /** As written, for messages. */
  spelled: string;
  args: string[];
  hidden: boolean;
  /** "~/.ssh/config line 12", or "-o" for the command line. */
  where: string;
}

/** One `Match` criterion, e.g. `!host *.lan` or `exec "test -f x"`. */
export interface MatchCriterion {
  /** Lower case: all, canonical, final, exec, host, originalhost, user, localuser, tagged, or a newer one we do not evaluate. */
  name: string;
  negated: boolean;
  arg?: string;
}

/** Any parsed line that matters. */
export type SshConfigEntry =
  | SshConfigOption
  | { kind: 'host'; patterns: string[]; where: string }
  | { kind: 'match'; criteria: MatchCriterion[]; where: string }
  | { kind: 'include'; files: SshConfigFile[]; where: string };

/** A parsed file with its includes already read. */
export interface SshConfigFile {
  path: string;
  /** Name used in messages (home shown as ~). */
  display: string;
  entries: SshConfigEntry[];
}

/** How to read and name a config file. */
export interface ParseSshConfigOptions {
  /** Absolute path (used for messages and as the include base name). */
  path: string;
  /** Name for messages; defaults to `path` with the home directory shown as `~`. */
  display?: string;
  /** Home directory for `~` and relative includes. */
  home?: string;
  /** A system-wide file: relative includes are under /etc/ssh instead of ~/.ssh. */
  system?: boolean;
  /** Reads included files; defaults to the file system. */
  readInclude?: IncludeReader;
}

const MATCH_WITH_ARG = new Set(['exec', 'host', 'originalhost', 'user', 'localuser', 'tagged', 'localnetwork', 'command', 'sessiontype', 'version']);
// Newer OpenSSH criteria: accepted, never matching, reported as a warning.
const MATCH_UNEVALUATED = new Set(['localnetwork', 'command', 'sessiontype', 'version']);

interface ParseState {
  depth: number;
  files: number;
}

/** Parse ssh_config text, reading its Include files through `readInclude`. Throws one-line errors naming file and line. */
export function parseSshConfig(text: string, options: ParseSshConfigOptions): SshConfigFile {
  return parseFile(text, options, { depth: 0, files: 1 });
}

function parseFile(text: string, options: ParseSshConfigOptions, state: ParseState): SshConfigFile {
  const display = options.display ?? displayPath(options.path, options.home);
  const file: SshConfigFile = { path: options.path, display, entries: [] };
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const where = `${display} line ${n + 1}`;
    const hiddenMatch = /^\s*#!!/.exec(lines[n]!);
    const body = hiddenMatch ? lines[n]!.slice(hiddenMatch[0].length) : lines[n]!;
    let words;
    try {
      words = splitConfigLine(body);
    } catch (err) {
      if (err instanceof ConfigSyntaxError) throw new Error(`${where}: ${err.message}`);
      throw err;
    }
    if (words === null) continue;
    const { keyword, spelled, args } = words;
    if (hiddenMatch && (keyword === 'host' || keyword === 'match' || keyword === 'include')) {
      throw new Error(`${where}: ${spelled} cannot be hidden in a #!! line; write it as a normal line`);
    }
    if (keyword === 'host') {
      if (args.length === 0) throw new Error(`${where}: Host needs at least one pattern, e.g. Host *.example.com`);
      file.entries.push({ kind: 'host', patterns: args, where });
    } else if (keyword === 'match') {
      file.entries.push({ kind: 'match', criteria: parseMatch(args, where), where });
    } else if (keyword === 'include') {
      file.entries.push({ kind: 'include', files: parseInclude(args, where, options, state), where });
    } else {
      file.entries.push({ kind: 'option', keyword, spelled, args, hidden: hiddenMatch !== null, where });
    }
  }
  return file;
}

/** Parse the words after `Match` (exported for tests). */
export function parseMatch(args: readonly string[], where: string): MatchCriterion[] {
  if (args.length === 0) throw new Error(`${where}: Match needs criteria, e.g. Match host *.lan or Match all`);
  const criteria: MatchCriterion[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    const negated = word.startsWith('!');
    const name = word.slice(negated ? 1 : 0).toLowerCase();
    if (name === 'all') {
      if (criteria.some((c) => c.name !== 'canonical' && c.name !== 'final') || i !== args.length - 1) {
        throw new Error(`${where}: Match all must appear alone or right after canonical or final`);
      }
      criteria.push({ name, negated });
    } else if (name === 'canonical' || name === 'final') {
      criteria.push({ name, negated });
    } else if (MATCH_WITH_ARG.has(name)) {
      const arg = args[i + 1];
      if (arg === undefined || arg === '') throw new Error(`${where}: Match ${name} needs an argument, e.g. Match ${name} ${name === 'exec' ? '"test -f ~/.vpn"' : 'pattern'}`);
      criteria.push({ name, negated, arg });
      i++;
    } else {
      throw new Error(
        `${where}: unknown Match criterion ${quoteValue(word)}; use all, canonical, final, exec, host, originalhost, user or localuser`,
      );
    }
  }
  return criteria;
}

function parseInclude(args: readonly string[], where: string, options: ParseSshConfigOptions, state: ParseState): SshConfigFile[] {
  if (args.length === 0) throw new Error(`${where}: Include needs a file name or pattern`);
  if (state.depth + 1 > MAX_INCLUDE_DEPTH) {
    throw new Error(`${where}: Include nested more than ${MAX_INCLUDE_DEPTH} deep; check for a file that includes itself`);
  }
  const read = options.readInclude ?? readIncludedFiles;
  const files: SshConfigFile[] = [];
  for (const arg of args) {
    const pattern = resolveIncludePath(arg, options.home, options.system === true);
    for (const found of read(pattern)) {
      if (++state.files > MAX_INCLUDED_FILES) {
        throw new Error(`${where}: more than ${MAX_INCLUDED_FILES} config files included; check for repeated Include lines`);
      }
      state.depth++;
      try {
        files.push(parseFile(found.text, { ...options, path: found.path, display: undefined }, state));
      } finally {
        state.depth--;
      }
    }
  }
  return files;
}

/** Resolve an Include argument like OpenSSH: `~` is the home directory; relative means ~/.ssh (or /etc/ssh for system files). */
export function resolveIncludePath(arg: string, home: string | undefined, system: boolean): string {
  if (arg === '~' || arg.startsWith('~/')) {
    if (home === undefined) throw new Error(`Include ${quoteValue(arg)}: no home directory to resolve ~; set HOME`);
    return join(home, arg.slice(1));
  }
  if (arg.startsWith('/')) return arg;
  if (system) return join('/etc/ssh', arg);
  if (home === undefined) throw new Error(`Include ${quoteValue(arg)}: no home directory to resolve a relative path; set HOME`);
  return join(home, '.ssh', arg);
}

function displayPath(path: string, home: string | undefined): string {
  if (home && home !== '/' && path.startsWith(`${home}/`)) return `~${path.slice(home.length)}`;
  return path;
}

/** Who is connecting where: the inputs Host and Match lines are tested against. */
export interface SshConfigContext {
  /** Destination host (what Host lines match), e.g. "example.com". */
  host: string;
  /** Host as typed on the command line (Match originalhost); defaults to `host`. */
  originalHost?: string;
  /** Remote user from -l or user@host, if given. */
  user?: string;
  /** Name of the local user. */
  localUser: string;
  /** Port from the command line, for %p in Match exec. */
  port?: number;
  /** Home directory, for %d in Match exec. */
  home?: string;
  /** Tag from -P, for Match tagged. */
  tag?: string;
  /** Runs a Match exec command; true if it exits 0. Defaults to {@link runMatchExec}. */
  exec?: (command: string) => boolean;
}

/** One option line that applies, in the order OpenSSH would see it. */
export interface SshConfigValue {
  keyword: string;
  spelled: string;
  args: string[];
  hidden: boolean;
  where: string;
}

/** The lines that apply to one destination. */
export interface EffectiveSshConfig {
  /** All applicable option lines, in order. */
  values: SshConfigValue[];
  /** Things we could not evaluate (newer Match criteria). */
  warnings: string[];
  /** The first applicable line for a keyword (first obtained value wins). */
  first(keyword: string): SshConfigValue | undefined;
  /** Every applicable line for a keyword (for options that accumulate, such as LocalForward). */
  all(keyword: string): SshConfigValue[];
}

/**
 * Decide which lines apply to `context`, walking files in order (the -o
 * pseudo-file first, then user, then system), as OpenSSH's readconf does.
 */
export function evaluateSshConfig(files: readonly SshConfigFile[], context: SshConfigContext): EffectiveSshConfig {
  const values: SshConfigValue[] = [];
  const warnings: string[] = [];
  const first = (keyword: string): SshConfigValue | undefined => values.find((v) => v.keyword === keyword);
  const host = context.host.toLowerCase();
  const originalHost = (context.originalHost ?? context.host).toLowerCase();

  // Match host sees HostName as obtained so far; Match user sees the user so far.
  const currentHostName = (): string => {
    const v = first('hostname');
    if (v === undefined || v.args[0] === undefined) return host;
    return v.args[0].replace(/%(%|h)/g, (_, c: string) => (c === '%' ? '%' : host)).toLowerCase();
  };
  const currentUser = (): string => context.user ?? first('user')?.args[0] ?? context.localUser;

  const hostMatches = (patterns: readonly string[]): boolean => {
    let result = false;
    for (const word of patterns) {
      for (const raw of word.split(',')) {
        const negated = raw.startsWith('!');
        if (matchPattern(host, raw.slice(negated ? 1 : 0).toLowerCase())) {
          if (negated) return false;
          result = true;
        }
      }
    }
    return result;
  };

  const matchMatches = (criteria: readonly MatchCriterion[], where: string, neverMatch: boolean): boolean => {
    let result = true;
    for (const c of criteria) {
      let r: boolean;
      switch (c.name) {
        case 'all':
        case 'canonical':
        case 'final':
          r = true;
          break;
        case 'host':
          r = matchPatternList(currentHostName(), c.arg!, true) === 1;
          break;
        case 'originalhost':
          r = matchPatternList(originalHost, c.arg!, true) === 1;
          break;
        case 'user':
          r = matchPatternList(currentUser(), c.arg!) === 1;
          break;
        case 'localuser':
          r = matchPatternList(context.localUser, c.arg!) === 1;
          break;
        case 'tagged':
          r = matchPatternList(context.tag ?? first('tag')?.args[0] ?? '', c.arg!) === 1;
          break;
        case 'exec':
          // Like OpenSSH, skip the command once the line cannot match anyway.
          if (!result || neverMatch) continue;
          r = (context.exec ?? runMatchExec)(expandExecTokens(c.arg!, context, currentHostName(), originalHost, currentUser()));
          break;
        default:
          if (MATCH_UNEVALUATED.has(c.name)) warnings.push(`${where}: Match ${c.name} is not supported by tssh; treated as not matching`);
          r = false;
      }
      if (c.negated) r = !r;
      if (!r) result = false;
    }
    return result && !neverMatch;
  };

  const walk = (file: SshConfigFile, state: { active: boolean }, neverMatch: boolean): void => {
    for (const entry of file.entries) {
      switch (entry.kind) {
        case 'host':
          state.active = !neverMatch && hostMatches(entry.patterns);
          break;
        case 'match':
          state.active = matchMatches(entry.criteria, entry.where, neverMatch);
          break;
        case 'include': {
          const outer = state.active;
          for (const included of entry.files) {
            state.active = outer;
            walk(included, state, neverMatch || !outer);
          }
          state.active = outer;
          break;
        }
        case 'option':
          if (state.active) {
            values.push({ keyword: entry.keyword, spelled: entry.spelled, args: entry.args, hidden: entry.hidden, where: entry.where });
          }
          break;
      }
    }
  };

  for (const file of files) walk(file, { active: true }, false);
  return { values, warnings, first, all: (keyword) => values.filter((v) => v.keyword === keyword) };
}

function expandExecTokens(command: string, context: SshConfigContext, hostName: string, originalHost: string, user: string): string {
  return command.replace(/%([%hnprud])/g, (whole, c: string) => {
    switch (c) {
      case '%':
        return '%';
      case 'h':
        return hostName;
      case 'n':
        return originalHost;
      case 'p':
        return String(context.port ?? 22);
      case 'r':
        return user;
      case 'u':
        return context.localUser;
      default:
        return context.home ?? whole;
    }
  });
}

/** Run a Match exec command with the user's shell; true if it exits 0 (ssh does the same). */
export function runMatchExec(command: string): boolean {
  const shell = process.env.SHELL || '/bin/sh';
  const result = spawnSync(shell, ['-c', command], { stdio: ['ignore', 2, 2] });
  return result.status === 0;
}

/** Turn `-o` pairs into a pseudo-file evaluated before any config file (so -o wins). */
export function commandLineConfig(pairs: ReadonlyArray<{ key: string; value: string }>): SshConfigFile {
  const entries: SshConfigEntry[] = [];
  for (const pair of pairs) {
    const where = `-o ${pair.key}`;
    if (pair.key === 'host' || pair.key === 'match' || pair.key === 'include') {
      throw new Error(`${where}: ${pair.key} cannot be given with -o; put it in a config file`);
    }
    let words;
    try {
      words = splitConfigLine(`${pair.key} ${pair.value}`);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
    if (words === null) continue;
    entries.push({ kind: 'option', keyword: pair.key.toLowerCase(), spelled: pair.key, args: words.args, hidden: false, where });
  }
  return { path: '-o', display: '-o', entries };
}

function emptyIfSpecial(path: string): string | undefined {
  try {
    const st = statSync(path);
    return st.isDirectory() || st.isCharacterDevice() ? '' : undefined;
  } catch {
    return undefined;
  }
}

/** Where to find the config files. */
export interface LoadSshConfigOptions {
  home: string;
  /** -F file; `none` means no files at all. Replaces both the user and system files. */
  configFile?: string;
  /** The -F file's text when the caller already read it (it may be a pipe, readable once). */
  configFileText?: string;
  /** System file; defaults to /etc/ssh/ssh_config. */
  systemConfig?: string;
  readFile?: (path: string) => string | undefined;
  readInclude?: IncludeReader;
}

/** Read and parse the user's config (or -F file) and the system config, in OpenSSH's order. */
export function loadSshConfigFiles(options: LoadSshConfigOptions): SshConfigFile[] {
  const readFile = options.readFile ?? readConfigFile;
  const common = { home: options.home, readInclude: options.readInclude };
  if (options.configFile !== undefined) {
    if (options.configFile === 'none') return [];
    const path = resolveConfigFileArg(options.configFile, options.home);
    // /dev/null or a directory: ssh reads them as empty (a pipe was read once by config-file-arg.ts and copied).
    const text = options.configFileText ?? readFile(path) ?? (options.readFile === undefined ? emptyIfSpecial(path) : undefined);
    if (text === undefined) throw new Error(`tssh: cannot open -F file ${quoteValue(options.configFile)}: no such file; check the path`);
    return [parseSshConfig(text, { ...common, path })];
  }
  const files: SshConfigFile[] = [];
  const userPath = join(options.home, '.ssh', 'config');
  const userText = readFile(userPath);
  if (userText !== undefined) files.push(parseSshConfig(userText, { ...common, path: userPath }));
  const systemPath = options.systemConfig ?? '/etc/ssh/ssh_config';
  const systemText = readFile(systemPath);
  if (systemText !== undefined) files.push(parseSshConfig(systemText, { ...common, path: systemPath, system: true }));
  return files;
}

