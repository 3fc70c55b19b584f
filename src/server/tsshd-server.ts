import { generateSessionSecret } from '../crypto/session-secret.js';
import { NoFreePortError } from '../path/port-binding.js';
import { ServerPath } from '../path/server-path.js';
import { bootstrapObject, encodeBootstrapSecret } from '../protocol/bootstrap.js';
import { encodeServerInfoLine } from '../protocol/reference/server-info.js';
import { drawReferenceSecrets, referenceServerInfo, serveReferenceFamily } from './reference/reference-server.js';
import { PROTOCOL_VERSION, VERSION } from '../version.js';
import type { DebugLog } from './debug-log.js';
import { ForwardHost } from './forward-host.js';
import { ServerLifetime, type Ending } from './lifetime.js';
import { loadLoginPolicy, type LoginPolicy } from './login-policy.js';
import type { AttachableSessions } from './attach-sessions.js';
import type { Connection } from '../transport/connection.js';
import { compose, type Handler, type Middleware } from './session.js';
import { SessionForwarding } from './session-forwarding.js';
import { SessionHost } from './session-host.js';
import { shellHandler } from './shell-handler.js';
import type { TsshdOptions } from './tsshd-args.js';
import { createServerTransport } from './transport-factory.js';

/**
 * One tsshd run, put together: the session policy, a fresh secret, the
 * roaming path on a port from --port, the KCP or QUIC connection over it
 * (transport-factory.ts), the
 * session host, the forward host and the lifetime that ends it all. What the client needs to
 * connect is the bootstrap line; everything else stays in this process.
 */

/** A server that is listening and waiting for its client. */
export interface StartedServer {
  /** BEL + JSON + newline, for the SSH login's stdout. Holds the secret: print it there and nowhere else. */
  readonly bootstrapLine: string;
  readonly port: number;
  /** Hangs up every session (last words of a crashing daemon). */
  readonly host: { hangup(): void };
  /** When the daemon ends; abort() ends it now. */
  readonly lifetime: { readonly ended: Promise<Ending>; abort(reason: string): void };
}

/** One client's connection: its path, transport, sessions, forwards and lifetime. */
export interface ServerLink extends StartedServer {
  readonly path: ServerPath;
  readonly conn: Connection;
  readonly host: SessionHost;
  /** Port forwarding (-L -R -D -W, UDP) under the sshd_config policy. */
  readonly forwards: ForwardHost;
  readonly lifetime: ServerLifetime;
}

/** What serves the sessions (from runMain's options). */
export interface ServeOptions {
  /** The final handler; default: shellHandler() with sshd_config's subsystems. */
  handler?: Handler;
  /** Wrapped around the handler, the first outermost (compose()). */
  middleware?: readonly Middleware[];
  /** Whether the client may ask for port, agent and X11 forwarding (default true); false acts as sshd's `DisableForwarding yes`. */
  forwarding?: boolean;
}

/** Dual-stack first (clients may come over IPv6), IPv4 where the machine has no IPv6. */
const BIND_HOSTS = { any: ['::', '0.0.0.0'], ipv4: ['0.0.0.0'], ipv6: ['::'] } as const;
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EINVAL', 'EPROTONOSUPPORT']);

async function listen(options: TsshdOptions, secret: Buffer): Promise<ServerPath> {
  const what = options.proxyMode === 'tcp' ? 'TCP' : 'UDP';
  const hosts = BIND_HOSTS[options.family];
  for (const [i, host] of hosts.entries()) {
    try {
      return await ServerPath.create({ portSpec: options.port, secret, mtu: options.mtu, largeOnLoopback: options.largeOnLoopback, proxyMode: options.proxyMode, host });
    } catch (err) {
      if (err instanceof NoFreePortError) throw new Error(`tsshd: ${err.message}`);
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (i + 1 < hosts.length && NO_IPV6.has(code)) continue;
      const reason = (err as Error).message.split('\n')[0];
      throw new Error(`tsshd: cannot listen on a ${what} port from ${options.port} (${reason}); check --port (TsshdPort)`);
    }
  }
  throw new Error('tsshd: no address to listen on');
}

/**
 * The port the reference ServerInfo names: ours, unless the test seam
 * TSSHD_TEST_REFERENCE_PORT names another (the reference tssh has no way to
 * be sent elsewhere, so interop tests put an impairment proxy on that port).
 */
function referencePort(env: Readonly<Record<string, string | undefined>>, port: number): number {
  const seam = Number(env.TSSHD_TEST_REFERENCE_PORT);
  return Number.isInteger(seam) && seam >= 1 && seam <= 65535 ? seam : port;
}

/** sshd_config's policy for this login, or a one-line Error starting with "tsshd:". */
export async function loadPolicy(env: Readonly<Record<string, string | undefined>>, log: DebugLog): Promise<LoginPolicy> {
  let policy;
  try {
    policy = await loadLoginPolicy(env);
  } catch (err) {
    throw new Error(`tsshd: ${(err as Error).message.split('\n')[0]}`);
  }
  log.log(`sshd_config: ${policy.configPath ?? 'none (defaults)'}; AcceptEnv ${policy.sshd.acceptEnv.join(' ')}; subsystems ${[...policy.session.subsystems.keys()].join(' ') || 'none'}`);
  const login = policy.sshd.login;
  const limits = [login.pty, login.forwarding, login.agent, login.x11].filter((v) => v !== null);
  if (login.permitOpen !== null) limits.push(`permitopen ${login.permitOpen.join(' ')}`);
  if (login.permitListen !== null) limits.push(`permitlisten ${login.permitListen.join(' ')}`);
  if (login.expiresAt !== null) limits.push(`valid until ${new Date(login.expiresAt).toISOString()}`);
  log.log(`login restrictions from ${login.source}: ${limits.join('; ') || 'none'}`);
  return policy;
}

/**
 * Start serving: read the policy, bind the port, wire connection, sessions
 * and lifetime. Throws a one-line Error starting with "tsshd:" for anything
 * that stops it (a bad sshd_config, no free port, a bind error). With
 * --attachable the sessions outlive their client (attach-server.ts).
 */
export async function startServer(
  options: TsshdOptions,
  env: Readonly<Record<string, string | undefined>>,
  log: DebugLog,
  serve: ServeOptions = {},
): Promise<StartedServer> {
  const policy = await loadPolicy(env, log);
  if (options.attachable) {
    const { startAttachableServer } = await import('./attach-server.js');
    return startAttachableServer(options, policy, log, serve);
  }
  return openLink(options, policy, log, serve, undefined, env);
}

/** One client's connection with a fresh secret on a port from --port; `attachable` gives its terminal sessions to that registry. */
export async function openLink(
  options: TsshdOptions,
  policy: LoginPolicy,
  log: DebugLog,
  serve: ServeOptions,
  attachable?: AttachableSessions,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<ServerLink> {
  const secret = generateSessionSecret();
  const path = await listen(options, secret);
  let transport;
  try {
    transport = createServerTransport(options.mode, path);
  } catch (err) {
    path.close('start-up failed');
    throw err;
  }
  const conn = transport.conn;
  // A library server that turns forwarding off gets sshd's DisableForwarding (port, agent and X11 forwarding alike).
  const sshd = serve.forwarding === false ? { ...policy.sshd, disableForwarding: true } : policy.sshd;
  const handler = compose(serve.middleware ?? [], serve.handler ?? shellHandler({ subsystems: policy.session.subsystems, loginEnv: policy.session.loginEnv }));
  const host = new SessionHost(conn, { ...policy.session, forwarding: new SessionForwarding(sshd, (line) => log.log(line)) }, {
    handler,
    peer: () => path.stats().peer,
    ...(attachable !== undefined ? { attachable } : {}),
  });
  const forwards = new ForwardHost(conn, sshd, { log: (line) => log.log(line) });
  const lifetime = new ServerLifetime(path, conn, host, log, options.connectTimeout * 1000, forwards);
  void lifetime.ended.then(() => forwards.close());
  const native = bootstrapObject({
    serverVersion: VERSION,
    protocolVersion: PROTOCOL_VERSION,
    port: path.port,
    secret: encodeBootstrapSecret(secret),
    proxyMode: options.proxyMode,
    mtu: options.mtu,
    ...transport.bootstrap,
  });
  // The same port serves the reference tssh: the first datagram that authenticates decides which family it is.
  const reference = drawReferenceSecrets();
  serveReferenceFamily(path, reference, host, forwards, lifetime, log, {
    mtu: options.largeOnLoopback ? undefined : options.mtu,
    loginPath: policy.session.loginEnv.PATH ?? '/usr/bin:/bin',
    connectTimeoutMs: options.connectTimeout * 1000,
    forwardPolicy: sshd,
  });
  // The reference's ServerInfo line, which the reference tssh reads, with ours inside it for our tssh (docs/INTEROP.md "Bootstrap").
  const bootstrapLine = encodeServerInfoLine({
    ...referenceServerInfo(reference, {
      serverVersion: VERSION,
      port: referencePort(env, path.port),
      proxyMode: options.proxyMode,
      mtu: options.largeOnLoopback ? undefined : options.mtu,
    }),
    native: native as unknown as Record<string, unknown>,
  });
  // The line holds it now, and the path its own keys: wipe our copy.
  secret.fill(0);
  log.log(`listening on ${options.proxyMode === 'tcp' ? 'TCP' : 'UDP'} port ${path.port} (mtu ${options.mtu}, ${transport.description})`);
  return { bootstrapLine, port: path.port, path, conn, host, forwards, lifetime };
}
