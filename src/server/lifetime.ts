import type { Connection } from '../transport/connection.js';
import type { ServerPath } from '../path/server-path.js';
import type { ClientLiveness, SessionHost } from './session-host.js';
import type { DebugLog } from './debug-log.js';
import type { SessionRequest } from '../protocol/messages.js';

/**
 * When tsshd ends, and how it winds down. It ends:
 *  - after the last session ended and its output was delivered ('idle'; a
 *    client that never opens one, as `tssh -N`, is served until it leaves)
 *    and, as sshd, the forwarded connections still open then have closed,
 *  - when the client says goodbye (bus or path), detaches, or its connection closes,
 *  - when another client attached its sessions (handOver; attach-server.ts),
 *  - when no client authenticated within --connect-timeout,
 *  - after UdpAliveTimeout without contact (the path's 'gave-up'),
 *  - on SIGTERM, SIGHUP or SIGINT (the client is told why).
 * Every way out hangs up the sessions (SIGHUP to their process groups, as
 * sshd does), waits a bounded time for them to end, closes the connection
 * (gracefully while the client can still hear) and settles `ended`.
 */

/** How long sessions get to end after their hang-up before tsshd goes anyway. */
export const HANGUP_GRACE_MS = 3000;
/** Bound on the graceful close (the multiplexer waits for credit that a vanished client never grants). */
export const CLOSE_GRACE_MS = 6000;

/** Signals that end tsshd with a goodbye to the client. */
const ENDING_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];

/** What the lifetime needs of the forwarded connections. */
export interface ForwardedConnections {
  readonly openConnections: number;
  whenNoConnections(): Promise<void>;
}

/** What the lifetime needs of the connection it winds down (a Connection, or the reference family's). */
export type LifetimeConnection = Pick<Connection, 'close' | 'destroy' | 'once'>;

/** What ended the server, with the exit status the daemon uses. */
export interface Ending {
  reason: string;
  /** 0 for an orderly end (sessions over, goodbye, signal), 1 when the client never came or was lost. */
  code: number;
}

interface ShutdownPlan {
  /** Tell the client this on the bus before closing. */
  goodbye?: string;
  /** The connection is gone or useless: destroy it instead of closing it gracefully. */
  connectionLost?: boolean;
}

/** Watches a running server and winds it down once; see the file comment. */
export class ServerLifetime {
  /** Settles once tsshd has wound down. */
  readonly ended: Promise<Ending>;
  private settle!: (ending: Ending) => void;
  private stopping = false;
  /** Whether a client ever authenticated: without one there is nobody to close gracefully with. */
  private peerSeen = false;
  private connectTimer: NodeJS.Timeout | null;
  /** Settles when the connection has closed, by anyone. */
  private connClosed: Promise<void>;
  private readonly onSignal = (signal: NodeJS.Signals): void => this.signalled(signal);
  /** How the client is told why tsshd goes (our bus's goodbye, or the reference family's quit). */
  private goodbye: (reason: string) => void;

  constructor(
    private readonly path: ServerPath,
    private conn: LifetimeConnection,
    private readonly host: SessionHost,
    private readonly log: DebugLog,
    connectTimeoutMs: number,
    /** The forwarded connections (ForwardHost), which the end of the last session waits for. */
    private readonly forwards: ForwardedConnections = { openConnections: 0, whenNoConnections: () => Promise.resolve() },
  ) {
    this.ended = new Promise((resolve) => (this.settle = resolve));
    this.goodbye = (reason) => host.goodbye(reason);
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      void this.shutdown(`no client authenticated within ${connectTimeoutMs / 1000} s (--connect-timeout)`, 1, { connectionLost: true });
    }, connectTimeoutMs);
    path.once('peer', (address: string, port: number) => {
      this.peerSeen = true;
      this.clearConnectTimer();
      log.log(`client authenticated from ${address} port ${port}`);
    });
    path.on('peer-candidate', (address: string, port: number) => {
      // An authenticated client, not yet validated: a session that ends at once (a refused request) must still be
      // closed gracefully, so its refusal and exit reach the client while validation completes.
      this.peerSeen = true;
      log.log(`new client address ${address} port ${port}: answered (at most 3x what it sent) until validated`);
    });
    path.on('peer-moved', (address: string, port: number) => log.log(`client moved to ${address} port ${port} (validated)`));
    path.on('contact-lost', (sinceMs: number) => log.log(`no contact for ${Math.round(sinceMs)} ms`));
    path.on('contact-restored', () => log.log('contact restored'));
    path.once('gave-up', (reason: string) => void this.shutdown(`gave up on the client: ${reason}`, 1, { connectionLost: true }));
    this.connClosed = this.watchClose(conn);
    host.on('hello', (version: string, liveness: ClientLiveness) => this.hello(version, liveness));
    host.on('session', (id: number, request: SessionRequest) => log.log(`session ${id} accepted (${request.subsystem !== undefined ? 'subsystem' : request.command !== undefined ? 'command' : 'shell'}${request.pty ? ', pty' : ''})`));
    host.on('process', (id: number, pid: number) => log.log(`session ${id} started, pid ${pid}`));
    host.on('handler-error', (id: number, err: unknown) => log.log(`session ${id}: handler failed: ${err instanceof Error ? err.message : String(err)}`));
    host.on('exit', (id: number, status: object) => log.log(`session ${id} ended ${JSON.stringify(status)}`));
    host.on('redraw', (id: number) => log.log(`session ${id}: redraw (SIGWINCH)`));
    host.on('protocol-error', (err: Error) => log.log(`client protocol error: ${err.message}`));
    host.on('goodbye', (reason: string) => void this.shutdown(`the client said goodbye: ${reason.slice(0, 200)}`, 0, {}));
    host.on('detach', () => void this.shutdown('the client detached', 0, {}));
    host.on('idle', () => void this.idle());
    for (const signal of ENDING_SIGNALS) process.on(signal, this.onSignal);
  }

  private watchClose(conn: LifetimeConnection): Promise<void> {
    return new Promise((resolve) => {
      conn.once('close', (err?: Error) => {
        resolve();
        if (conn !== this.conn) return;
        // Release the sessions' streams at once, so nothing waits on a connection that is gone.
        if (this.stopping) conn.destroy();
        const why = err ? `connection failed: ${err.message}` : 'the connection closed (client goodbye)';
        void this.shutdown(why, 0, { connectionLost: true });
      });
    });
  }

  /**
   * The port was claimed by the other protocol family (the reference tssh):
   * its connection is the one to wind down from now on.
   */
  switchConnection(conn: LifetimeConnection, description: string, goodbye: (reason: string) => void): void {
    // Ours stays as it is (idle, with no peer): destroying it would close the path that now carries the other family.
    this.conn = conn;
    this.goodbye = goodbye;
    this.connClosed = this.watchClose(conn);
    this.log.log(`the port is served to ${description}`);
  }

  /** The client is set up (the reference family's bus): it came within the connect timeout. */
  clientArrived(description: string): void {
    this.peerSeen = true;
    this.clearConnectTimer();
    this.log.log(`client ready: ${description}`);
  }

  /** The client is gone for good or asked to end (a family without a path goodbye reports it here). */
  clientLeft(reason: string, code = 0): void {
    void this.shutdown(reason, code, code === 0 ? {} : { connectionLost: true });
  }

  /** The last session ended: end once the forwarded connections still open have closed too (unless a session started meanwhile). */
  private async idle(): Promise<void> {
    const waited = this.forwards.openConnections > 0;
    if (waited) {
      this.log.log(`the last session ended; waiting for ${this.forwards.openConnections} forwarded connection(s) to close`);
      await this.forwards.whenNoConnections();
    }
    if (this.host.sessionCount > 0) return;
    void this.shutdown(waited ? 'the last session ended and its forwarded connections closed' : 'the last session ended', 0, {});
  }

  /** End now without waiting for a client: hang up, destroy the connection. */
  abort(reason: string): void {
    void this.shutdown(reason, 1, { connectionLost: true });
  }

  /** Another client took this one's sessions over: tell it why, then wind this connection down. */
  handOver(reason: string): void {
    void this.shutdown(reason, 0, { goodbye: reason });
  }

  private hello(version: string, liveness: ClientLiveness): void {
    this.log.log(`hello from ${version.slice(0, 100)}; client timeouts ${JSON.stringify(liveness)}`);
    try {
      this.path.setLivenessTimeouts(liveness);
    } catch (err) {
      this.log.log(`client timeouts ignored: ${(err as Error).message}`);
    }
  }

  private signalled(signal: NodeJS.Signals): void {
    if (this.stopping) {
      // A second signal: stop waiting for anyone.
      this.log.log(`received ${signal} again; ending now`);
      this.host.hangup();
      this.conn.destroy();
      this.finish({ reason: `received ${signal}`, code: 0 });
      return;
    }
    void this.shutdown(`received ${signal}`, 0, { goodbye: `tsshd received ${signal}` });
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private async shutdown(reason: string, code: number, plan: ShutdownPlan): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.clearConnectTimer();
    this.log.log(`shutting down: ${reason}`);
    this.logPathStats();
    if (plan.goodbye !== undefined) this.goodbye(plan.goodbye);
    this.host.hangup();
    // Destroying ends the sessions' streams too, so their 'done' does not wait on a dead connection.
    const graceful = !plan.connectionLost && this.peerSeen;
    if (!graceful) this.conn.destroy();
    if (this.host.sessionCount > 0) {
      const left = await this.sessionsEnded(HANGUP_GRACE_MS);
      if (left > 0) this.log.log(`${left} session(s) still running after their hang-up; leaving them`);
    }
    if (graceful) {
      const closed = await within(Promise.race([this.conn.close(), this.connClosed]), CLOSE_GRACE_MS);
      if (!closed) this.log.log('the client did not acknowledge the close in time');
    }
    this.conn.destroy();
    this.path.close(reason);
    // The last datagrams (QUIC's CONNECTION_CLOSE, the path's goodbye) reach the socket only on the next
    // tick (dgram's address lookup): let them out before the daemon may call process.exit().
    await new Promise((resolve) => setImmediate(resolve));
    this.finish({ reason, code });
  }

  /** What the path saw: authenticated datagrams, refusals by reason, the peer and its moves (tests read this to see hostile traffic counted). */
  private logPathStats(): void {
    if (!this.log.enabled) return;
    const s = this.path.stats();
    const peer = s.peer === null ? 'none' : `${s.peer.address} port ${s.peer.port}`;
    this.log.log(`path: received ${s.datagramsReceived}, sent ${s.datagramsSent}, dropped ${JSON.stringify(s.dropped)}, peer ${peer}, peer moves ${s.peerMoves}`);
  }

  /** Resolve with how many sessions are left once all ended or `ms` passed. */
  private sessionsEnded(ms: number): Promise<number> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.host.off('idle', done);
        resolve(this.host.sessionCount);
      };
      const timer = setTimeout(done, ms);
      this.host.on('idle', done);
    });
  }

  private finish(ending: Ending): void {
    this.clearConnectTimer();
    for (const signal of ENDING_SIGNALS) process.off(signal, this.onSignal);
    this.settle(ending);
  }
}

/** Whether `promise` settled (either way) within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
