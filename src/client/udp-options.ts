/**
 * tssh's own options (UdpMode, TsshdPort, ...) and the few ordinary ssh options
 * tssh acts on itself (EscapeChar, forwards), resolved for one destination from
 * our flags, -o and ssh_config (in that order of precedence), with every value
 * checked where it is written.
 */
import type { IncludeReader } from '../protocol/config-files.js';
import { closestName, parseTimeInterval, quoteValue } from '../protocol/config-syntax.js';
import { parsePortSpec } from '../path/port-spec.js';
import { SESSION_NAME_PATTERN } from '../protocol/messages.js';
import { parseForwardSpec, type ForwardSpec } from './forward-spec.js';
import { PREDICT_MODES, type PredictMode } from './predict/mode.js';
import {
  parseEscapeChar,
  parseOptionPair,
  sshArgsWithout,
  type EscapeChar,
  type SshArgs,
  type SshOptionPair,
  type UdpModeSetting,
} from './ssh-args.js';
import {
  commandLineConfig,
  evaluateSshConfig,
  parseSshConfig,
  type SshConfigContext,
  type SshConfigFile,
  type SshConfigValue,
} from './ssh-config.js';

/** Everything tssh decides from its options for one connection. */
export interface UdpOptions {
  /** 'no' keeps plain ssh; UdpMode yes resolves to 'kcp'. */
  udpMode: 'no' | 'kcp' | 'quic';
  tsshdPath: string;
  /** TsshdProtocol: which protocol family to speak with tsshd (auto: whichever the server's bootstrap reply shows). */
  tsshdProtocol: TsshdProtocol;
  /** Port spec for tsshd --port; undefined leaves tsshd's default. */
  tsshdPort?: string;
  /** Seconds a lost connection may stay lost before the session ends. */
  udpAliveTimeout: number;
  /** Seconds without a packet before the link is considered down. */
  udpHeartbeatTimeout: number;
  /** Seconds to keep trying to reconnect before notifying. */
  udpReconnectTimeout: number;
  showNotificationOnTop: boolean;
  showFullNotifications: boolean;
  udpProxyMode: 'udp' | 'tcp';
  /** UdpJump: the UDP path through the ProxyJump hosts (auto: whenever ProxyJump is set). */
  udpJump: 'yes' | 'no' | 'auto';
  udpMtu: number;
  /** UdpMTU was set (config or -o): it holds on every path; unset, a path over loopback uses the loopback size. */
  udpMtuSet: boolean;
  /** Seconds an idle forwarded UDP flow is kept. */
  forwardUdpTimeout: number;
  udpLocalForwards: ForwardSpec[];
  udpRemoteForwards: ForwardSpec[];
  /** EscapeChar; '~' (126) by default. */
  escapeChar: EscapeChar;
  /** UdpSessionAttach (or --attach): attach to a running session, or start an attachable one. */
  udpSessionAttach: boolean;
  /** UdpSessionName: the session to attach by name, and the name a new attachable session gets. */
  udpSessionName?: string;
  /** UdpReconnectExitKey: the byte that quits (or detaches, in attach mode) while the connection is lost; null for none. */
  udpReconnectExitKey: number | null;
  /** LocalForward values from config and -o, joined into -L syntax. */
  localForwards: string[];
  remoteForwards: string[];
  dynamicForwards: string[];
  clearAllForwardings: boolean;
  exitOnForwardFailure: boolean;
  gatewayPorts: boolean;
  /** PredictiveEcho / --predict: local echo prediction for pty sessions. */
  predictiveEcho: PredictMode;
  /** Non-fatal notes, e.g. Match criteria tssh does not evaluate. */
  warnings: string[];
}

/** TsshdProtocol values: auto follows the server; native (ours) or reference (the Go tsshd's) pin it. */
export type TsshdProtocol = 'auto' | 'native' | 'reference';

/** Defaults used when nothing sets an option. */
export const UDP_OPTION_DEFAULTS: Readonly<Omit<UdpOptions, 'warnings' | 'udpLocalForwards' | 'udpRemoteForwards' | 'localForwards' | 'remoteForwards' | 'dynamicForwards'>> = {
  udpMode: 'no',
  tsshdPath: 'tsshd',
  tsshdProtocol: 'auto',
  udpAliveTimeout: 86400,
  udpHeartbeatTimeout: 3,
  udpReconnectTimeout: 15,
  udpJump: 'auto',
  showNotificationOnTop: true,
  showFullNotifications: true,
  udpProxyMode: 'udp',
  udpMtu: 1400,
  udpMtuSet: false,
  forwardUdpTimeout: 300,
  escapeChar: 126,
  udpSessionAttach: false,
  udpReconnectExitKey: 0x04,
  clearAllForwardings: false,
  exitOnForwardFailure: false,
  gatewayPorts: false,
  predictiveEcho: 'never',
};

type Check = (args: readonly string[], where: string, name: string) => unknown;

const one = (args: readonly string[], where: string, name: string, form: string): string => {
  if (args.length !== 1) throw new Error(`${where}: ${name} takes one value: ${name} ${form}`);
  return args[0]!;
};
const bad = (where: string, name: string, expected: string, got: string): Error =>
  new Error(`${where}: ${name} must be ${expected} (got ${quoteValue(got)})`);

// ssh_config flags also accept true/false.
const yesNo: Check = (args, where, name) => {
  const v = one(args, where, name, 'yes|no').toLowerCase();
  if (v !== 'yes' && v !== 'no' && v !== 'true' && v !== 'false') throw bad(where, name, 'yes or no', args[0]!);
  return v === 'yes' || v === 'true';
};
const seconds: Check = (args, where, name) => {
  const v = one(args, where, name, 'SECONDS');
  const n = /^[0-9]+(\.[0-9]+)?$/.test(v) ? Number(v) : NaN;
  if (!(n > 0 && Number.isFinite(n))) throw bad(where, name, 'a positive number of seconds', v);
  return n;
};
const forward = (kind: 'L' | 'R'): Check => (args, where, name) => {
  if (args.length < 1 || args.length > 2) throw new Error(`${where}: ${name} takes [bind_address:]port host:hostport`);
  try {
    return parseForwardSpec(args.join(':'), { kind, label: name, udp: true });
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
};

/** tssh's options: canonical spelling and value check. Keys are lower case. */
const TSSH_OPTIONS: Record<string, { name: string; check: Check }> = {
  udpmode: {
    name: 'UdpMode',
    check: (args, where, name) => {
      const v = one(args, where, name, 'yes|kcp|quic|no').toLowerCase();
      if (v !== 'yes' && v !== 'kcp' && v !== 'quic' && v !== 'no') throw bad(where, name, 'yes, kcp, quic or no', args[0]!);
      return v as UdpModeSetting;
    },
  },
  tsshdport: {
    name: 'TsshdPort',
    check: (args, where, name) => {
      const v = args.join(' ');
      try {
        parsePortSpec(v);
      } catch (err) {
        throw new Error(`${where}: ${name}: ${(err as Error).message}`);
      }
      return v;
    },
  },
  tsshdpath: { name: 'TsshdPath', check: (args, where, name) => one(args, where, name, 'PATH') },
  tsshdprotocol: {
    name: 'TsshdProtocol',
    check: (args, where, name) => {
      const v = one(args, where, name, 'auto|native|reference').toLowerCase();
      if (v !== 'auto' && v !== 'native' && v !== 'reference') throw bad(where, name, 'auto, native or reference', args[0]!);
      return v;
    },
  },
  udpalivetimeout: { name: 'UdpAliveTimeout', check: seconds },
  udpheartbeattimeout: { name: 'UdpHeartbeatTimeout', check: seconds },
  udpreconnecttimeout: { name: 'UdpReconnectTimeout', check: seconds },
  shownotificationontop: { name: 'ShowNotificationOnTop', check: yesNo },
  showfullnotifications: { name: 'ShowFullNotifications', check: yesNo },
  udpproxymode: {
    name: 'UdpProxyMode',
    check: (args, where, name) => {
      const v = one(args, where, name, 'UDP|TCP').toLowerCase();
      if (v !== 'udp' && v !== 'tcp') throw bad(where, name, 'UDP or TCP', args[0]!);
      return v;
    },
  },
  udpjump: {
    name: 'UdpJump',
    check: (args, where, name) => {
      const v = one(args, where, name, 'yes|no|auto').toLowerCase();
      if (v !== 'yes' && v !== 'no' && v !== 'auto') throw bad(where, name, 'yes, no or auto', args[0]!);
      return v;
    },
  },
  udpmtu: {
    name: 'UdpMTU',
    check: (args, where, name) => {
      const v = one(args, where, name, 'BYTES');
      const n = /^[0-9]{1,5}$/.test(v) ? Number(v) : NaN;
      if (!(n >= 576 && n <= 9000)) throw bad(where, name, 'an integer from 576 to 9000', v);
      return n;
    },
  },
  forwardudptimeout: {
    name: 'ForwardUdpTimeout',
    check: (args, where, name) => {
      const v = one(args, where, name, 'TIME');
      const n = parseTimeInterval(v);
      if (n === null || n <= 0) throw bad(where, name, 'a time like 300, 5m or 1h30m', v);
      return n;
    },
  },
  udpsessionattach: { name: 'UdpSessionAttach', check: yesNo },
  udpsessionname: {
    name: 'UdpSessionName',
    check: (args, where, name) => {
      const v = one(args, where, name, 'NAME');
      if (!SESSION_NAME_PATTERN.test(v)) throw bad(where, name, '1 to 64 of the characters A-Z a-z 0-9 . _ @ + -', v);
      return v;
    },
  },
  udpreconnectexitkey: {
    name: 'UdpReconnectExitKey',
    check: (args, where, name) => {
      const v = one(args, where, name, 'ctrl+LETTER|^LETTER|none');
      const key = parseExitKey(v);
      if (key === undefined) throw bad(where, name, 'ctrl+LETTER, ^LETTER (not A) or none', v);
      return key;
    },
  },
  predictiveecho: {
    name: 'PredictiveEcho',
    check: (args, where, name) => {
      const v = one(args, where, name, 'never|adaptive|always').toLowerCase();
      if (!(PREDICT_MODES as readonly string[]).includes(v)) throw bad(where, name, 'never, adaptive or always', args[0]!);
      return v as PredictMode;
    },
  },
  udplocalforward: { name: 'UdpLocalForward', check: forward('L') },
  udpremoteforward: { name: 'UdpRemoteForward', check: forward('R') },
};

/** UdpReconnectExitKey: a control key (ctrl+d, ^D; Ctrl+A is the notice's own key) or none (null); undefined when invalid. */
export function parseExitKey(value: string): number | null | undefined {
  const v = value.trim().toLowerCase();
  if (v === 'none') return null;
  const m = /^(?:ctrl\+|\^)([a-z])$/.exec(v);
  if (!m || m[1] === 'a') return undefined;
  return m[1]!.charCodeAt(0) - 0x60;
}

const joinForward = (min: number): Check => (args, where, name) => {
  if (args.length < min || args.length > 2) throw new Error(`${where}: ${name} takes [bind_address:]port host:hostport`);
  return args.join(':');
};

/** Ordinary ssh options that tssh reads for itself. */
const SSH_OPTIONS_READ: Record<string, { name: string; check: Check }> = {
  escapechar: {
    name: 'EscapeChar',
    check: (args, where, name) => {
      const v = one(args, where, name, 'CHAR');
      const c = parseEscapeChar(v);
      if (c === null) throw bad(where, name, 'one character, ^X or none', v);
      return c;
    },
  },
  localforward: { name: 'LocalForward', check: joinForward(2) },
  remoteforward: { name: 'RemoteForward', check: joinForward(1) },
  dynamicforward: { name: 'DynamicForward', check: (args, where, name) => one(args, where, name, '[bind_address:]port') },
  clearallforwardings: { name: 'ClearAllForwardings', check: yesNo },
  exitonforwardfailure: { name: 'ExitOnForwardFailure', check: yesNo },
  gatewayports: { name: 'GatewayPorts', check: yesNo },
};

/** The canonical names of tssh's own options. */
export const TSSH_OPTION_NAMES: readonly string[] = Object.values(TSSH_OPTIONS).map((o) => o.name);

/** True for a tssh-only option (which must not be passed to ssh with -o). */
export function isTsshOption(keyword: string): boolean {
  return Object.hasOwn(TSSH_OPTIONS, keyword.toLowerCase());
}

/** The argv for the login `ssh`: tssh's own options and any `-o` naming a tssh option removed. */
export function sshArgsWithoutTsshOptions(argv: readonly string[], parsed: SshArgs): string[] {
  return sshArgsWithout(argv, parsed, (use) => use.letter === 'o' && use.value !== undefined && isTsshOption(parseOptionPair(use.value).key));
}

/**
 * Check every line in every file (active or not, includes too): values of
 * the options we read, and unknown keywords in `#!!` lines. Throws one line.
 */
export function validateTsshConfig(files: readonly SshConfigFile[]): void {
  const visit = (file: SshConfigFile): void => {
    for (const entry of file.entries) {
      if (entry.kind === 'include') entry.files.forEach(visit);
      if (entry.kind !== 'option') continue;
      const known = knownOption(entry.keyword);
      if (known) known.check(entry.args, entry.where, known.name);
      else if (entry.hidden) {
        throw new Error(
          `${entry.where}: unknown tssh option ${quoteValue(entry.spelled)} in a #!! line; did you mean ${closestName(entry.spelled, TSSH_OPTION_NAMES)}?`,
        );
      }
    }
  };
  files.forEach(visit);
}

/** Inputs to {@link resolveUdpOptions}. */
export interface ResolveUdpOptionsInput extends Omit<SshConfigContext, 'host'> {
  /** Parsed config files, in order (user, then system). */
  configs?: readonly SshConfigFile[];
  /** Config texts to parse (convenience for tests and callers without files). */
  configTexts?: ReadonlyArray<string | { path: string; text: string }>;
  /** Reads Include files for `configTexts`; defaults to the file system. */
  readInclude?: IncludeReader;
  /** Destination host as ssh will use it (Host lines match this). */
  destinationHost: string;
  /** Command-line settings, which beat config files. */
  cliOptions?: {
    /** -o pairs, in order. */
    options?: readonly SshOptionPair[];
    udpMode?: UdpModeSetting;
    tsshdPath?: string;
    tsshdPort?: string;
    escapeChar?: EscapeChar;
    /** --attach. */
    attach?: boolean;
    predict?: PredictMode;
  };
}

/** Resolve tssh's options for one destination. Throws a one-line Error naming file and line (or -o). */
export function resolveUdpOptions(input: ResolveUdpOptionsInput): UdpOptions {
  const files: SshConfigFile[] = [commandLineConfig(input.cliOptions?.options ?? [])];
  files.push(...(input.configs ?? []));
  (input.configTexts ?? []).forEach((t, i) => {
    const source = typeof t === 'string' ? { path: `config ${i + 1}`, text: t } : t;
    files.push(parseSshConfig(source.text, { path: source.path, home: input.home, readInclude: input.readInclude }));
  });
  validateTsshConfig(files);
  const { destinationHost, configs: _configs, configTexts: _texts, cliOptions: _cli, readInclude: _read, ...context } = input;
  const effective = evaluateSshConfig(files, { ...context, host: destinationHost });

  const firstOf = <T>(keyword: string): T | undefined => {
    const v = effective.first(keyword);
    return v === undefined ? undefined : (checked(v) as T);
  };
  const allOf = <T>(keyword: string): T[] => effective.all(keyword).map((v) => checked(v) as T);

  const attach = input.cliOptions?.attach === true || (firstOf<boolean>('udpsessionattach') ?? UDP_OPTION_DEFAULTS.udpSessionAttach);
  // Attaching is over UDP: --attach and UdpSessionAttach imply UdpMode yes unless a transport is chosen.
  if (attach && input.cliOptions?.udpMode === 'no') throw new Error('tssh: --attach works over UDP and cannot be combined with --tcp');
  const configuredMode = input.cliOptions?.udpMode ?? firstOf<UdpModeSetting>('udpmode') ?? 'no';
  const mode = attach && configuredMode === 'no' ? 'yes' : configuredMode;
  const d = UDP_OPTION_DEFAULTS;
  const options: UdpOptions = {
    udpMode: mode === 'yes' ? 'kcp' : mode,
    tsshdPath: input.cliOptions?.tsshdPath ?? firstOf<string>('tsshdpath') ?? d.tsshdPath,
    tsshdProtocol: firstOf<TsshdProtocol>('tsshdprotocol') ?? d.tsshdProtocol,
    udpAliveTimeout: firstOf<number>('udpalivetimeout') ?? d.udpAliveTimeout,
    udpHeartbeatTimeout: firstOf<number>('udpheartbeattimeout') ?? d.udpHeartbeatTimeout,
    udpReconnectTimeout: firstOf<number>('udpreconnecttimeout') ?? d.udpReconnectTimeout,
    showNotificationOnTop: firstOf<boolean>('shownotificationontop') ?? d.showNotificationOnTop,
    showFullNotifications: firstOf<boolean>('showfullnotifications') ?? d.showFullNotifications,
    udpProxyMode: firstOf<'udp' | 'tcp'>('udpproxymode') ?? d.udpProxyMode,
    udpJump: firstOf<'yes' | 'no' | 'auto'>('udpjump') ?? d.udpJump,
    udpMtu: firstOf<number>('udpmtu') ?? d.udpMtu,
    udpMtuSet: effective.first('udpmtu') !== undefined,
    forwardUdpTimeout: firstOf<number>('forwardudptimeout') ?? d.forwardUdpTimeout,
    udpLocalForwards: allOf<ForwardSpec>('udplocalforward'),
    udpRemoteForwards: allOf<ForwardSpec>('udpremoteforward'),
    escapeChar: input.cliOptions?.escapeChar ?? firstOf<EscapeChar>('escapechar') ?? d.escapeChar,
    udpSessionAttach: attach,
    // `none` is null, which ?? would replace with the default.
    udpReconnectExitKey: effective.first('udpreconnectexitkey') === undefined ? d.udpReconnectExitKey : firstOf<number | null>('udpreconnectexitkey')!,
    localForwards: allOf<string>('localforward'),
    remoteForwards: allOf<string>('remoteforward'),
    dynamicForwards: allOf<string>('dynamicforward'),
    clearAllForwardings: firstOf<boolean>('clearallforwardings') ?? d.clearAllForwardings,
    exitOnForwardFailure: firstOf<boolean>('exitonforwardfailure') ?? d.exitOnForwardFailure,
    gatewayPorts: firstOf<boolean>('gatewayports') ?? d.gatewayPorts,
    predictiveEcho: input.cliOptions?.predict ?? firstOf<PredictMode>('predictiveecho') ?? d.predictiveEcho,
    warnings: effective.warnings,
  };
  const port = input.cliOptions?.tsshdPort ?? firstOf<string>('tsshdport');
  if (port !== undefined) options.tsshdPort = port;
  const sessionName = firstOf<string>('udpsessionname');
  if (sessionName !== undefined) options.udpSessionName = sessionName;
  return options;
}

/** The option a (lower-case) keyword names, own properties only: "__proto__" or "constructor" is no option. */
function knownOption(keyword: string): { name: string; check: Check } | undefined {
  if (Object.hasOwn(TSSH_OPTIONS, keyword)) return TSSH_OPTIONS[keyword];
  return Object.hasOwn(SSH_OPTIONS_READ, keyword) ? SSH_OPTIONS_READ[keyword] : undefined;
}

function checked(v: SshConfigValue): unknown {
  const known = knownOption(v.keyword)!;
  return known.check(v.args, v.where, known.name);
}
