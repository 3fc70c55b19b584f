/**
 * What tssh asks tsshd for in the session request about agent and X11
 * forwarding, decided from ssh's effective config (ForwardAgent, ForwardX11,
 * ForwardX11Trusted, ForwardX11Timeout, XAuthLocation: `ssh -G` already
 * folded -A/-a/-X/-Y/-x into them) and this process's environment, as ssh
 * decides: no agent or no DISPLAY means quietly no forwarding.
 */
import { isAbsolute, join } from 'node:path';
import type { X11Request } from '../protocol/messages.js';
import type { SshEffectiveConfig } from './ssh-effective-config.js';
import { localX11Auth, parseDisplay, type DisplayTarget, type X11Auth } from './x11-auth.js';

/** The client's half of agent and X11 forwarding for one session. */
export interface AgentX11Choice {
  /** The local agent socket to forward to, when agent forwarding is on. */
  agentSocket?: string;
  x11?: { target: DisplayTarget; auth: X11Auth; request: X11Request };
  /** Lines for stderr (ssh's warnings). */
  warnings: string[];
}

/**
 * The agent socket ForwardAgent names: yes is $SSH_AUTH_SOCK, `$NAME` that
 * variable, `~/...` under HOME, an absolute path itself; undefined for no, or
 * when the variable is unset or empty.
 */
export function agentSocketPath(forwardAgent: string, env: Readonly<Record<string, string | undefined>>, home: string): string | undefined {
  if (forwardAgent === 'no' || forwardAgent === '') return undefined;
  let path: string | undefined;
  if (forwardAgent === 'yes') path = env.SSH_AUTH_SOCK;
  else if (forwardAgent.startsWith('$')) path = env[forwardAgent.slice(1)];
  else if (forwardAgent.startsWith('~/')) path = join(home, forwardAgent.slice(2));
  else path = forwardAgent;
  return path !== undefined && path !== '' && isAbsolute(path) ? path : undefined;
}

/** Decide agent and X11 forwarding for a session. Never throws. */
export async function chooseAgentX11(
  effective: Pick<SshEffectiveConfig, 'forwardAgent' | 'forwardX11' | 'forwardX11Trusted' | 'forwardX11TimeoutSec' | 'xauthLocation'>,
  env: Readonly<Record<string, string | undefined>>,
  home: string,
): Promise<AgentX11Choice> {
  const choice: AgentX11Choice = { warnings: [] };
  const agent = agentSocketPath(effective.forwardAgent, env, home);
  if (agent !== undefined) choice.agentSocket = agent;
  const display = env.DISPLAY;
  if (!effective.forwardX11 || display === undefined || display === '') return choice;
  const target = parseDisplay(display);
  if (target === null) {
    choice.warnings.push(`tssh: cannot forward X11: DISPLAY ${JSON.stringify(display)} is not of the form [host]:number[.screen]`);
    return choice;
  }
  const found = await localX11Auth({
    display,
    xauthLocation: effective.xauthLocation,
    trusted: effective.forwardX11Trusted,
    timeoutSec: effective.forwardX11TimeoutSec,
  });
  if (found.warning !== undefined) choice.warnings.push(found.warning);
  if (found.auth === null) return choice;
  choice.x11 = {
    target,
    auth: found.auth,
    request: { protocol: found.auth.protocol, cookie: found.auth.fake.toString('hex'), screen: target.screen },
  };
  return choice;
}
