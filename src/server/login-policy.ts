import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { SessionPolicy } from './session-host.js';
import { buildLoginEnv, currentLogin } from './login-env.js';
import { loginExpired, readLoginRestrictions } from './login-restrictions.js';
import { systemCommand } from './system-command.js';
import { imposedEnv } from './imposed-env.js';
import { channelTimeoutMs } from './channel-timeout.js';
import {
  effectiveConfig,
  envAccepted,
  loadSshdConfig,
  locateSshdConfig,
  type SshdConnectionInfo,
  type SshdPolicy,
  usesMatchGroup,
} from './sshd-config.js';

/**
 * The session policy of this tsshd run: the sshd_config in force for the
 * current user, their groups and the client's address (Match blocks apply
 * as sshd would apply them to the login that started tsshd), and the login
 * environment. Of tsshd's own environment only SSH_CONNECTION and
 * SSH_CLIENT (set by sshd for that login) reach the sessions.
 */

/** Where Debian, Fedora and Arch keep OpenSSH's sftp-server, for `Subsystem sftp internal-sftp`. */
const SFTP_SERVER_CANDIDATES = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/lib/ssh/sftp-server', '/usr/libexec/sftp-server'];

/** The policy and where it came from (for the debug log). */
export interface LoginPolicy {
  session: SessionPolicy;
  sshd: SshdPolicy;
  /** The sshd_config read, or undefined when none exists (defaults apply). */
  configPath: string | undefined;
}

/** The login's connection as sshd describes it: SSH_CONNECTION is "client port server port", SSH_CLIENT "client port server-port". */
export function connectionFromEnv(env: Readonly<Record<string, string | undefined>>): Pick<SshdConnectionInfo, 'address' | 'host' | 'localAddress' | 'localPort'> {
  const info: Pick<SshdConnectionInfo, 'address' | 'host' | 'localAddress' | 'localPort'> = {};
  const connection = env.SSH_CONNECTION?.trim().split(/\s+/);
  const client = env.SSH_CLIENT?.trim().split(/\s+/);
  const address = connection?.[0] || client?.[0];
  if (address) {
    info.address = address;
    // With sshd's default UseDNS no, Match Host sees the address.
    info.host = address;
  }
  if (connection?.[2]) info.localAddress = connection[2];
  const localPort = Number(connection?.[3] ?? client?.[2]);
  if (Number.isInteger(localPort) && localPort > 0 && localPort <= 65535) info.localPort = localPort;
  return info;
}

/** The current process's group names (`id -Gn`); empty if they cannot be found (Match Group then matches nothing). */
export function currentGroups(): Promise<string[]> {
  return new Promise((resolve) => {
    execFile(systemCommand('id'), ['-Gn'], { timeout: 5000 }, (err, stdout) => {
      resolve(err ? [] : stdout.trim().split(/\s+/).filter((g) => g.length > 0));
    });
  });
}

/** `internal-sftp` exists only inside sshd; run OpenSSH's sftp-server in its place, with the same arguments. */
function subsystemCommand(command: string, exists: (path: string) => boolean): string {
  const [program, ...rest] = command.split(' ');
  if (program !== 'internal-sftp') return command;
  const server = SFTP_SERVER_CANDIDATES.find(exists);
  return server === undefined ? command : [server, ...rest].join(' ');
}

/**
 * ChannelTimeout for a session channel: the first entry whose type pattern
 * matches its OpenSSH 9.2 name (session:shell, session:command,
 * session:subsystem:NAME) or the later plain "session"; 0 turns it off.
 */
function sessionIdleTimeout(sshd: SshdPolicy): { sessionIdleTimeoutMs?: (channelType: string) => number | undefined } {
  if (sshd.channelTimeouts.length === 0) return {};
  return { sessionIdleTimeoutMs: (channelType) => channelTimeoutMs(sshd.channelTimeouts, [channelType, 'session']) };
}

/**
 * Build the policy from sshd_config (locateSshdConfig) and the environment
 * tsshd was started with. Throws the config parser's one-line Error for a bad file.
 */
export async function loadLoginPolicy(
  env: Readonly<Record<string, string | undefined>>,
  exists: (path: string) => boolean = existsSync,
): Promise<LoginPolicy> {
  const identity = currentLogin({ sshConnection: env.SSH_CONNECTION, sshClient: env.SSH_CLIENT });
  const configPath = locateSshdConfig(env, exists);
  const parsed = loadSshdConfig(configPath);
  // `id -Gn` costs a process start: run it only when a Match tests Group.
  const groups = usesMatchGroup(parsed) ? await currentGroups() : [];
  const sshd = effectiveConfig(parsed, { user: identity.user, groups, ...connectionFromEnv(env) });
  sshd.login = readLoginRestrictions(env, {
    authorizedKeysFiles: sshd.authorizedKeysFiles,
    onlyAuthorizedKeys: sshd.onlyAuthorizedKeys,
    user: { name: identity.user, home: identity.home, uid: identity.uid },
  });
  const login = sshd.login;
  const subsystems = new Map<string, string>();
  for (const [name, command] of sshd.subsystems) subsystems.set(name, subsystemCommand(command, exists));
  const loginEnv = buildLoginEnv(identity);
  // environment= options reach the sessions as they reached the login: only where sshd set them (PermitUserEnvironment).
  for (const [name, value] of Object.entries(login.environment)) if (env[name] === value) loginEnv[name] = value;
  return {
    session: {
      envAccepted: (name) => envAccepted(name, sshd.acceptEnv),
      subsystems,
      loginEnv,
      imposedEnv: imposedEnv(sshd, identity, env),
      ...sessionIdleTimeout(sshd),
      ptyRefused: sshd.permitTTY ? login.pty : 'pty allocation is disabled (PermitTTY no)',
      loginRefusal: () => loginExpired(login),
    },
    sshd,
    configPath,
  };
}
