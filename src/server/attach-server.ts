/**
 * An attachable tsshd (`--attachable [--socket]`): its terminal sessions
 * outlive the client connection they started on. Each client gets its own
 * link (path, fresh secret, transport, SessionHost, lifetime: tsshd-server.ts
 * openLink); the sessions live in one AttachableSessions registry. A new
 * client comes through a fresh ssh login that runs `tsshd --attach PID`,
 * which asks this daemon over the control socket for a new link and prints
 * its bootstrap line; when that client's attach request arrives, the
 * session moves to it and the old link is told ("another client attached")
 * and wound down. A client that detaches (~d) or vanishes leaves its
 * sessions parked; they end at the client's UdpAliveTimeout without
 * contact, as without attach. The daemon ends when no session is left and
 * no client is connected, or on SIGTERM/SIGHUP/SIGINT while detached.
 */
import { DEFAULT_CONNECT_TIMEOUT, looksLikePortSpec, type TsshdOptions } from './tsshd-args.js';
import type { DebugLog } from './debug-log.js';
import type { Ending } from './lifetime.js';
import type { LoginPolicy } from './login-policy.js';
import { AttachableSessions } from './attach-sessions.js';
import { ControlSocket, type ControlRequest } from './attach-control.js';
import { socketDir, socketPath } from './attach-dir.js';
import { openLink, type ServeOptions, type ServerLink, type StartedServer } from './tsshd-server.js';
import type { ClientLiveness } from './session-host.js';

/** How long detached sessions wait for a client when none said its UdpAliveTimeout (tssh's default). */
export const DEFAULT_PARK_MS = 86_400_000;

const ENDING_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];

/** Link options a `tsshd --attach` may ask for, checked here (the daemon trusts nothing from the socket). */
export function linkOptions(base: TsshdOptions, o: Record<string, unknown>): TsshdOptions {
  const options: TsshdOptions = { ...base, debug: false };
  if (o.mode === 'kcp' || o.mode === 'quic') options.mode = o.mode;
  if (o.proxyMode === 'udp' || o.proxyMode === 'tcp') options.proxyMode = o.proxyMode;
  if (typeof o.port === 'string' && looksLikePortSpec(o.port)) options.port = o.port;
  if (typeof o.mtu === 'number' && Number.isInteger(o.mtu) && o.mtu >= 576 && o.mtu <= 9000) options.mtu = o.mtu;
  if (typeof o.largeOnLoopback === 'boolean') options.largeOnLoopback = o.largeOnLoopback;
  options.connectTimeout = typeof o.connectTimeout === 'number' && o.connectTimeout > 0 && o.connectTimeout <= 3600 ? o.connectTimeout : DEFAULT_CONNECT_TIMEOUT;
  return options;
}

class AttachServer {
  readonly ended: Promise<Ending>;
  private settle!: (ending: Ending) => void;
  private readonly sessions = new AttachableSessions();
  private current: ServerLink | null = null;
  private readonly pending = new Set<ServerLink>();
  private socket: ControlSocket | null = null;
  private parkTimer: NodeJS.Timeout | null = null;
  private parkMs = DEFAULT_PARK_MS;
  private finished = false;
  /** A signal asked tsshd to end: once the current link has wound down, nothing is parked. */
  private signalled = false;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.signalled = true;
    // While a client is connected its lifetime handles the signal (goodbye, hang-up).
    if (this.current === null) this.finish({ reason: `received ${signal} while detached`, code: 0 });
  };

  constructor(
    private readonly options: TsshdOptions,
    private readonly policy: LoginPolicy,
    private readonly log: DebugLog,
    private readonly serve: ServeOptions,
  ) {
    this.ended = new Promise((resolve) => (this.settle = resolve));
    this.sessions.on('empty', () => {
      if (this.current === null) this.finish({ reason: 'the last detached session ended', code: 0 });
    });
    for (const signal of ENDING_SIGNALS) process.on(signal, this.onSignal);
  }

  async start(): Promise<ServerLink> {
    const first = await this.open(this.options);
    this.current = first;
    if (this.options.socket) {
      try {
        const path = socketPath(socketDir(process.env), process.pid);
        this.socket = await ControlSocket.listen(path, (request) => this.answer(request));
        this.log.log(`control socket ${path}`);
      } catch (err) {
        first.lifetime.abort('start-up failed');
        throw new Error(`tsshd: cannot listen on the control socket: ${(err as Error).message.replace(/^tsshd: /, '')}`);
      }
    }
    return first;
  }

  abort(reason: string): void {
    this.current?.lifetime.abort(reason);
    for (const link of this.pending) link.lifetime.abort(reason);
    this.finish({ reason, code: 1 });
  }

  hangup(): void {
    this.current?.host.hangup();
    this.sessions.hangup('the server is hanging up');
  }

  private async open(options: TsshdOptions): Promise<ServerLink> {
    const link = await openLink(options, this.policy, this.log, this.serve, this.sessions);
    link.path.on('contact-lost', () => link.host.setInContact(false));
    link.path.on('contact-restored', () => link.host.setInContact(true));
    link.host.on('hello', (_version: string, liveness: ClientLiveness) => {
      if (liveness.aliveTimeoutMs !== undefined) this.parkMs = liveness.aliveTimeoutMs;
    });
    link.host.on('attached', (id: number) => this.attached(link, id));
    void link.lifetime.ended.then((ending) => this.linkEnded(link, ending));
    return link;
  }

  /** A client took over a session: its link is the current one; the one before is told and wound down. */
  private attached(link: ServerLink, id: number): void {
    this.clearParkTimer();
    const before = this.current;
    this.pending.delete(link);
    this.current = link;
    // The new client may still be a candidate being validated (address-validation.ts) when its request arrives.
    const stats = link.path.stats();
    const peer = stats.peer ?? stats.candidate;
    const from = peer === null ? '' : ` from ${peer.address.replace(/^::ffff:/, '')}`;
    this.log.log(`session ${id} attached by a new client${from}`);
    if (before !== null && before !== link) {
      before.lifetime.handOver(`another client attached to this session${from}`);
    }
  }

  private linkEnded(link: ServerLink, ending: Ending): void {
    this.pending.delete(link);
    if (link !== this.current) return;
    this.current = null;
    if (this.sessions.count === 0 || this.signalled) {
      this.finish(ending);
      return;
    }
    this.log.log(`detached: ${this.sessions.count} session(s) wait up to ${Math.round(this.parkMs / 1000)} s for a client (${ending.reason})`);
    this.clearParkTimer();
    this.parkTimer = setTimeout(() => {
      this.sessions.hangup('no client attached within UdpAliveTimeout');
      this.finish({ reason: `no client attached within ${Math.round(this.parkMs / 1000)} s (UdpAliveTimeout)`, code: 1 });
    }, Math.min(this.parkMs, 0x7fff_ffff));
  }

  private async answer(request: ControlRequest): Promise<object> {
    if (request.type === 'info') {
      return { pid: process.pid, name: this.sessions.name, startedMs: this.sessions.startedMs, sessions: await this.sessions.list() };
    }
    if (request.type === 'view') return { lines: await this.sessions.screen(request.session) };
    if (this.finished) throw new Error('this tsshd is ending');
    const link = await this.open(linkOptions(this.options, request.link));
    this.pending.add(link);
    this.log.log(`attach: new link on port ${link.port}`);
    return { bootstrapLine: link.bootstrapLine };
  }

  private clearParkTimer(): void {
    if (this.parkTimer !== null) clearTimeout(this.parkTimer);
    this.parkTimer = null;
  }

  private finish(ending: Ending): void {
    if (this.finished) return;
    this.finished = true;
    this.clearParkTimer();
    this.socket?.close();
    for (const signal of ENDING_SIGNALS) process.off(signal, this.onSignal);
    this.sessions.hangup('tsshd is ending');
    for (const link of this.pending) link.lifetime.abort('tsshd is ending');
    this.settle(ending);
  }
}

/** Start an attachable tsshd: the first client's link and, with --socket, the control socket. */
export async function startAttachableServer(options: TsshdOptions, policy: LoginPolicy, log: DebugLog, serve: ServeOptions): Promise<StartedServer> {
  const server = new AttachServer(options, policy, log, serve);
  const first = await server.start();
  return {
    bootstrapLine: first.bootstrapLine,
    port: first.port,
    host: { hangup: () => server.hangup() },
    lifetime: server,
  };
}
