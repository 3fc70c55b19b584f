/**
 * What ssh itself makes of the command line and config for the destination,
 * asked with `ssh -G`: the real host name and port (after HostName, Port,
 * Match and %-expansion), and the options tssh needs to act as ssh would
 * (RequestTTY, SendEnv, SetEnv, ConnectTimeout, the forwards and their
 * options, SessionType, ForkAfterAuthentication). Asking ssh rather than
 * re-evaluating the config keeps tssh exactly in step with it.
 */
import { spawn } from 'node:child_process';
import { quoteValue } from '../protocol/config-syntax.js';
import { NO_PTY_WARNING } from './ssh-args.js';

/** The parts of `ssh -G` output tssh uses. */
export interface SshEffectiveConfig {
  hostname: string;
  port: number;
  user?: string;
  requestTty: 'auto' | 'no' | 'yes' | 'force';
  /** SendEnv patterns, in order. */
  sendEnv: string[];
  /** SetEnv values. */
  setEnv: Record<string, string>;
  /** ConnectTimeout in seconds, when set. */
  connectTimeoutSec?: number;
  /** ForwardAgent: 'no', 'yes' ($SSH_AUTH_SOCK) or a socket path / $VARIABLE, as written. */
  forwardAgent: string;
  forwardX11: boolean;
  forwardX11Trusted: boolean;
  /** ForwardX11Timeout in seconds (untrusted X11 forwarding). */
  forwardX11TimeoutSec: number;
  xauthLocation: string;
  /** LocalForward / RemoteForward (-L / -R) in -L syntax, after ClearAllForwardings; see forwardLines. */
  localForwards: string[];
  remoteForwards: string[];
  /** DynamicForward (-D), "[bind_address:]port". */
  dynamicForwards: string[];
  clearAllForwardings: boolean;
  exitOnForwardFailure: boolean;
  /** GatewayPorts (-g). */
  gatewayPorts: boolean;
  /** StreamLocalBindMask, as a number (default 0o177). */
  streamLocalBindMask: number;
  streamLocalBindUnlink: boolean;
  /** SessionType: "none" is -N from the config (tssh removes -N itself from what it asks). */
  sessionType: 'default' | 'none' | 'subsystem';
  /** ForkAfterAuthentication (-f from the config). */
  forkAfterAuthentication: boolean;
  /** ControlMaster (-M is yes, -MM ask). */
  controlMaster: 'no' | 'yes' | 'ask' | 'auto' | 'autoask';
  /** ControlPath, expanded by ssh; undefined when none. */
  controlPath?: string;
  /** ProxyJump hops, comma-separated as written; absent for none. */
  proxyJump?: string;
  /** ProxyCommand as written (tokens not expanded); absent for none. */
  proxyCommand?: string;
}

/** ssh -G prints a few hundred lines; anything past this is not ssh. */
const MAX_OUTPUT = 1024 * 1024;

/** Parse the text `ssh -G` printed. Throws a one-line Error when hostname or port is missing. */
export function parseSshG(text: string): SshEffectiveConfig {
  const out: SshEffectiveConfig = {
    hostname: '',
    port: 0,
    requestTty: 'auto',
    sendEnv: [],
    setEnv: {},
    forwardAgent: 'no',
    forwardX11: false,
    forwardX11Trusted: false,
    forwardX11TimeoutSec: 1200,
    xauthLocation: '/usr/bin/xauth',
    localForwards: [],
    remoteForwards: [],
    dynamicForwards: [],
    clearAllForwardings: false,
    exitOnForwardFailure: false,
    gatewayPorts: false,
    streamLocalBindMask: 0o177,
    streamLocalBindUnlink: false,
    sessionType: 'default',
    forkAfterAuthentication: false,
    controlMaster: 'no',
  };
  const dynamic: string[] = [];
  const localToPath = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (.*)$/.exec(line.trimEnd());
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!;
    switch (key) {
      case 'hostname':
        out.hostname = value;
        break;
      case 'port':
        out.port = Number(value);
        break;
      case 'user':
        out.user = value;
        break;
      case 'proxyjump':
        if (value !== 'none') out.proxyJump = value;
        break;
      case 'proxycommand':
        if (value !== 'none') out.proxyCommand = value;
        break;
      case 'requesttty':
        out.requestTty = value === 'true' || value === 'yes' ? 'yes' : value === 'false' || value === 'no' ? 'no' : value === 'force' ? 'force' : 'auto';
        break;
      case 'sendenv':
        out.sendEnv.push(value);
        break;
      case 'setenv': {
        const eq = value.indexOf('=');
        if (eq > 0) out.setEnv[value.slice(0, eq)] = value.slice(eq + 1);
        break;
      }
      case 'forwardagent':
        out.forwardAgent = value;
        break;
      case 'forwardx11':
        out.forwardX11 = value === 'yes';
        break;
      case 'forwardx11trusted':
        out.forwardX11Trusted = value === 'yes';
        break;
      case 'forwardx11timeout': {
        const n = Number(value);
        if (Number.isInteger(n) && n >= 0) out.forwardX11TimeoutSec = n;
        break;
      }
      case 'xauthlocation':
        out.xauthLocation = value;
        break;
      case 'connecttimeout': {
        const n = Number(value);
        if (Number.isFinite(n) && n > 0) out.connectTimeoutSec = n;
        break;
      }
      case 'localforward':
      case 'remoteforward': {
        const sp = value.indexOf(' ');
        if (sp <= 0) break;
        const listen = value.slice(0, sp);
        const target = value.slice(sp + 1);
        (key === 'localforward' ? out.localForwards : out.remoteForwards).push(`${listen}:${target}`);
        if (key === 'localforward' && !target.startsWith('[')) localToPath.add(listen);
        break;
      }
      case 'dynamicforward':
        dynamic.push(value);
        break;
      case 'clearallforwardings':
        out.clearAllForwardings = yes(value);
        break;
      case 'exitonforwardfailure':
        out.exitOnForwardFailure = yes(value);
        break;
      case 'gatewayports':
        out.gatewayPorts = yes(value);
        break;
      case 'streamlocalbindmask': {
        const n = /^[0-7]{1,4}$/.test(value) ? parseInt(value, 8) : NaN;
        if (Number.isInteger(n)) out.streamLocalBindMask = n;
        break;
      }
      case 'streamlocalbindunlink':
        out.streamLocalBindUnlink = yes(value);
        break;
      case 'sessiontype':
        out.sessionType = value === 'none' ? 'none' : value === 'subsystem' ? 'subsystem' : 'default';
        break;
      case 'forkafterauthentication':
        out.forkAfterAuthentication = yes(value);
        break;
      case 'controlmaster':
        out.controlMaster = value === 'true' || value === 'yes' ? 'yes' : value === 'ask' || value === 'auto' || value === 'autoask' ? value : 'no';
        break;
      case 'controlpath':
        if (value !== 'none' && value !== '') out.controlPath = value;
        break;
    }
  }
  // ssh -G (OpenSSH 9.x) also lists every LocalForward to a Unix socket as a "dynamicforward" of its listen address.
  out.dynamicForwards = dynamic.filter((d) => !localToPath.has(d));
  if (out.hostname === '' || !(Number.isInteger(out.port) && out.port >= 1 && out.port <= 65535)) {
    throw new Error(`tssh: ssh -G printed no usable hostname and port (got ${quoteValue(out.hostname)}:${out.port}); check your ssh version`);
  }
  return out;
}

function yes(value: string): boolean {
  return value === 'yes' || value === 'true';
}

/**
 * Run `ssh -G args` (args: the login's ssh arguments without a remote command)
 * and parse what it prints. ssh's messages are kept, not shown: the login ssh
 * reads the same config and says the same things (once is enough). When -G
 * fails, the Error carries them, then one line of ours.
 */
export function sshEffectiveConfig(program: string, args: readonly string[]): Promise<SshEffectiveConfig> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['-G', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += s;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += s;
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ENOENT' ? 'install OpenSSH (the openssh-client package)' : 'check that it is executable';
      reject(new Error(`tssh: cannot run ${program}: ${err.message}; ${hint}`));
    });
    child.once('close', (code) => {
      if (code !== 0) {
        // The pty warning that -G prints when stdin is not a terminal is no explanation.
        const said = stderr
          .split('\n')
          .filter((line) => line.trim() !== '' && line.trim() !== NO_PTY_WARNING)
          .map((line) => `${line}\n`)
          .join('');
        reject(new Error(`${said}tssh: ${program} -G could not read the configuration for this destination (exit status ${code ?? 'signal'})`));
        return;
      }
      try {
        resolve(parseSshG(stdout));
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}
