/**
 * Agent and X11 forwarding for one session, under sshd_config's policy
 * (DisableForwarding, AllowAgentForwarding, X11Forwarding, X11DisplayOffset,
 * X11UseLocalhost, XAuthLocation, with Match already applied). SessionHost
 * calls setup() before the session's process starts, adds the variables to
 * its environment, tells the client what was refused, and calls release()
 * when the session is done.
 */
import type { SessionRequest } from '../protocol/messages.js';
import type { Connection } from '../transport/connection.js';

/** What agent and X11 forwarding need of a connection: a stream per forwarded connection. */
export type StreamOpener = Pick<Connection, 'openStream'>;
import { openAgentSocket, type AgentSocket } from './agent-socket.js';
import { channelTimeoutMs, channelTimeoutsOf } from './channel-timeout.js';
import { loginExpired } from './login-restrictions.js';
import type { SshdPolicy } from './sshd-config.js';
import { openX11Display, X11SetupError, xauthUsable, type X11Display } from './x11-display.js';

/** The part of SshdPolicy agent and X11 forwarding read. */
export type AgentX11Policy = Pick<
  SshdPolicy,
  'disableForwarding' | 'allowAgentForwarding' | 'x11Forwarding' | 'x11DisplayOffset' | 'x11UseLocalhost' | 'xauthLocation' | 'login'
>;

/** What setup() arranged for one session. */
export interface SessionForwardingSetup {
  /** SSH_AUTH_SOCK and/or DISPLAY. */
  env: Record<string, string>;
  /** Why a requested forwarding is off (sent to the client in session-ok). */
  agentRefused?: string;
  x11Refused?: string;
  /** Close the socket and display; idempotent. */
  release(): void;
}

/** Why agent forwarding is refused, or null: one line naming the option. */
export function refuseAgent(policy: AgentX11Policy): string | null {
  if (policy.disableForwarding) return 'agent forwarding is disabled (DisableForwarding yes)';
  if (!policy.allowAgentForwarding) return 'agent forwarding is disabled (AllowAgentForwarding no)';
  return policy.login.agent ?? loginExpired(policy.login);
}

/** Why X11 forwarding is refused by the configuration, or null. */
export function refuseX11(policy: AgentX11Policy): string | null {
  if (policy.disableForwarding) return 'X11 forwarding is disabled (DisableForwarding yes)';
  if (!policy.x11Forwarding) return 'X11 forwarding is disabled (X11Forwarding no)';
  return policy.login.x11 ?? loginExpired(policy.login);
}

/** The server's agent and X11 forwarding, one per tsshd. */
export class SessionForwarding {
  constructor(
    private readonly policy: AgentX11Policy,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Set up what `request` asks for; `env` is the session's environment (xauth runs with it). Never throws. */
  async setup(conn: StreamOpener, request: SessionRequest, env: Readonly<Record<string, string>>): Promise<SessionForwardingSetup> {
    const out: SessionForwardingSetup = { env: {}, release: () => undefined };
    let agent: AgentSocket | undefined;
    let x11: X11Display | undefined;
    out.release = () => {
      agent?.close();
      x11?.close();
    };
    if (request.agent) {
      const refused = refuseAgent(this.policy);
      if (refused === null) {
        try {
          agent = await openAgentSocket(conn, request.id, this.log, channelTimeoutMs(channelTimeoutsOf(this.policy), ['agent-connection', 'auth-agent@openssh.com']));
          out.env.SSH_AUTH_SOCK = agent.path;
        } catch (err) {
          out.agentRefused = `cannot create the agent socket: ${(err as Error).message}`;
        }
      } else {
        out.agentRefused = refused;
      }
      if (out.agentRefused !== undefined) this.log(`session ${request.id}: ${out.agentRefused}`);
    }
    if (request.x11) {
      let refused = refuseX11(this.policy);
      if (refused === null && !(await xauthUsable(this.policy.xauthLocation))) {
        refused = `no xauth program at ${this.policy.xauthLocation}; cannot forward X11 (install xauth or set XAuthLocation)`;
      }
      if (refused === null) {
        try {
          x11 = await openX11Display(
            conn,
            request.id,
            request.x11,
            { displayOffset: this.policy.x11DisplayOffset, useLocalhost: this.policy.x11UseLocalhost, xauthLocation: this.policy.xauthLocation },
            env,
            this.log,
            channelTimeoutMs(channelTimeoutsOf(this.policy), ['x11-connection', 'x11']),
          );
          out.env.DISPLAY = x11.display;
        } catch (err) {
          refused = err instanceof X11SetupError ? err.message : `cannot set up the X11 display: ${(err as Error).message}`;
        }
      }
      if (refused !== null) {
        out.x11Refused = refused;
        this.log(`session ${request.id}: ${refused}`);
      }
    }
    return out;
  }
}
