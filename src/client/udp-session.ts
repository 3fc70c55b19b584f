/**
 * The UDP half of `tssh --udp`: the roaming path, the KCP or QUIC connection
 * (transport-factory.ts), the port forwards (forward-setup.ts) and one
 * session over them (or none with -N, or a stdio forward with -W), joined to this process's terminal and stdio the way ssh
 * joins its channel: raw mode for a pty, window changes, escape keys, stdin
 * EOF as half-close, the connection-lost notice and input gate during an
 * outage, and an exit status (docs/CLIENT.md).
 */
import { proxyCommandStream } from './proxy-command.js';
import { PassThrough, type Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { ClientPath } from '../path/client-path.js';
import { oneLine } from '../protocol/config-syntax.js';
import type { Connection } from '../transport/connection.js';
import { decodeBootstrapSecret, type BootstrapInfo } from '../protocol/bootstrap.js';
import { MAX_LIVENESS_TIMEOUT_MS, type ExitStatus } from '../protocol/messages.js';
import { VERSION } from '../version.js';
import { AgentForwarding } from './agent-forward.js';
import type { AgentX11Choice } from './agent-x11-options.js';
import { EscapeFilter, formatEscapeHelp, type EscapeKind } from './escape-keys.js';
import { EXIT_DETACHED, EXIT_FAILURE, EXIT_GAVE_UP, EXIT_QUIT_DURING_OUTAGE, exitCodeOf } from './exit-codes.js';
import type { ForwardPlan } from './forward-plan.js';
import { setUpForwards, type ForwardSetupResult } from './forward-setup.js';
import { Forwarder } from './forwarder.js';
import { InputGate } from './input-gate.js';
import { NOTICE_REFRESH_MS, OutageNotice, formatDuration } from './outage-notice.js';
import { serveControlMaster, type ControlMasterChoice } from './session-control.js';
import { SessionClient, SessionLostError, SessionRefusedError, type SessionOptions } from './session-client.js';
import type { PredictMode } from './predict/mode.js';
import { startPredictiveEcho, type PredictiveEcho } from './predict/session-hook.js';
import type { EscapeChar } from './ssh-args.js';
import { FATAL_SIGNALS, Terminal } from './terminal.js';
import { createClientTransport, type ClientTransport } from './transport-factory.js';
import { X11Forwarding } from './x11-forward.js';

/** What runs over the connection: a session, nothing but the forwards (-N), or a stdio forward (-W host:port). */
export type SessionWork = { kind: 'session' } | { kind: 'none' } | { kind: 'stdio'; host: string; port: number };

/** Everything a UDP session needs, decided before it starts (plain data: -f hands it to the background process). */
export interface UdpSessionOptions {
  bootstrap: BootstrapInfo;
  /** Where to send datagrams: the address ssh reached (or the test seam's). */
  address: string;
  port: number;
  /** The server's name for messages ("Connection to HOST closed."). */
  host: string;
  /** What to run; `pty` set means a terminal session. */
  session: SessionOptions;
  /** Session (default), -N or -W. */
  work?: SessionWork;
  /** The forwards to set up before the work starts. */
  forwards?: ForwardPlan;
  /** EscapeChar (used only with a pty). */
  escapeChar: EscapeChar;
  /** -n: stdin is not read (as if /dev/null). */
  stdinNull: boolean;
  /** -q: no "Connection to HOST closed." */
  quiet: boolean;
  /** UdpProxyMode TCP through a ProxyCommand (tokens expanded): each connection is a new run of it (proxy-command.ts). */
  tcpProxyCommand?: string;
  /** Seconds: UdpHeartbeatTimeout, UdpReconnectTimeout, UdpAliveTimeout, and the wait for the first reply. */
  heartbeatTimeoutSec: number;
  reconnectTimeoutSec: number;
  aliveTimeoutSec: number;
  connectTimeoutSec: number;
  mtu: number;
  /** UdpMTU was not set: a server on a loopback address gets the loopback size (docs/PROTOCOL.md, "Datagram size"). */
  largeOnLoopback?: boolean;
  showNotificationOnTop: boolean;
  showFullNotifications: boolean;
  /** PredictiveEcho (pty sessions only; default never). */
  predict?: PredictMode;
  /** Agent and X11 forwarding to serve (the session request asks for them in `session`). */
  agentX11?: AgentX11Choice;
  /** Serve ssh's control protocol at this ControlPath (-M / ControlMaster). */
  controlMaster?: ControlMasterChoice;
  /** UdpReconnectExitKey: quits during an outage (detaches in attach mode); default Ctrl+D, null for none. */
  exitKey?: number | null;
  /** tssh --attach (UdpSessionAttach): `~d` and the exit key detach, and tssh says how to come back. */
  attachMode?: AttachMode;
  /** UdpSessionName, for the server's session list. */
  sessionName?: string;
}

/** How a detached session is found again. */
export interface AttachMode {
  /** The session's name ('' for none). */
  name: string;
  /** The destination as typed, for the "attach again with" line. */
  hostArg: string;
}

/** Grace for the goodbye and the last acknowledgements when the session ends. */
const CLOSE_GRACE_MS = 3000;

/** Seconds to ms, within what a timer (and the hello message) can hold. */
function toMs(seconds: number): number {
  return Math.min(Math.round(seconds * 1000), MAX_LIVENESS_TIMEOUT_MS);
}

/**
 * Run the session to its end and return tssh's exit status. Never throws for
 * network trouble or a refused session: those print one line and return 255.
 */
export async function runUdpSession(o: UdpSessionOptions, hooks: UdpSessionHooks = {}): Promise<number> {
  const secret = decodeBootstrapSecret(o.bootstrap.secret);
  let path: ClientPath;
  try {
    path = await ClientPath.create({
      host: o.address,
      port: o.port,
      secret,
      mtu: Math.min(o.mtu, o.bootstrap.mtu),
      largeOnLoopback: o.largeOnLoopback ?? false,
      heartbeatTimeoutMs: toMs(o.heartbeatTimeoutSec),
      aliveTimeoutMs: toMs(o.aliveTimeoutSec),
      proxyMode: o.bootstrap.proxyMode,
      ...(o.tcpProxyCommand !== undefined ? { tcpDial: (): Duplex => proxyCommandStream(o.tcpProxyCommand!) } : {}),
    });
  } catch (err) {
    process.stderr.write(`tssh: cannot open the UDP path to ${o.address}:${o.port}: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  } finally {
    // The path derived its keys (and wiped its own copy): the raw secret is not needed again.
    secret.fill(0);
  }
  let transport: ClientTransport;
  try {
    transport = createClientTransport(o.bootstrap, path);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    path.close('bye');
    return EXIT_FAILURE;
  }
  return new UdpSession(o, path, transport, hooks).run();
}

/** Calls into the caller at points of the session's life. */
export interface UdpSessionHooks {
  /** The forwards are in place and the work is about to start (-f goes to the background here). */
  onReady?: () => void;
}

/** One running session; finish() is the single way out. */
class UdpSession {
  private readonly conn: Connection;
  private readonly transportName: string;
  private readonly client: SessionClient;
  private readonly terminal: Terminal;
  private readonly pty: boolean;
  private readonly serverAddress: string;
  private readonly filter: EscapeFilter | null;
  private readonly gate: InputGate;
  private readonly notice: OutageNotice | null;
  private readonly input = new PassThrough();
  private readonly work: SessionWork;
  private forwarder: Forwarder | null = null;
  private echo: PredictiveEcho | null = null;
  private readonly cleanups: Array<() => void> = [];
  private outageTimer: NodeJS.Timeout | null = null;
  private finishing = false;
  /** ~d: leave without goodbye, the session stays on the server. */
  private detaching = false;
  /** Why the server said goodbye (e.g. another client attached this session). */
  private serverGoodbye: string | null = null;
  private resolveRun: (code: number) => void = () => undefined;

  constructor(
    private readonly o: UdpSessionOptions,
    private readonly path: ClientPath,
    transport: ClientTransport,
    private readonly hooks: UdpSessionHooks,
  ) {
    this.work = o.work ?? { kind: 'session' };
    this.pty = this.work.kind === 'session' && o.session.pty !== undefined;
    this.serverAddress = o.address.includes(':') ? `[${o.address}]:${o.port}` : `${o.address}:${o.port}`;
    this.conn = transport.conn;
    this.transportName = transport.name;
    this.client = new SessionClient(this.conn, VERSION, {
      aliveTimeoutMs: toMs(o.aliveTimeoutSec),
      heartbeatTimeoutMs: toMs(o.heartbeatTimeoutSec),
      ...(o.sessionName !== undefined ? { sessionName: o.sessionName } : {}),
    });
    this.client.on('protocol-error', () => undefined);
    this.client.on('goodbye', (reason: string) => (this.serverGoodbye = oneLine(reason).replace(/[\u0080-\u009f]/g, ' ').slice(0, 300)));
    this.gate = new InputGate(Date.now, o.exitKey === undefined ? 0x04 : o.exitKey);
    this.startAgentX11();
    this.terminal = new Terminal({ onSignal: (signal) => this.onFatalSignal(signal) });
    this.filter = this.pty && o.escapeChar !== 'none' ? new EscapeFilter(o.escapeChar, { detach: o.attachMode !== undefined }) : null;
    this.notice = this.makeNotice();
  }

  /** Serve the Agent and X11 streams tsshd opens; report a refusal as ssh does (not with -q). */
  private startAgentX11(): void {
    const choice = this.o.agentX11;
    const log = (line: string): void => this.toTerminal(`${line}\n`, process.stderr);
    if (choice?.agentSocket !== undefined) {
      const agent = new AgentForwarding(this.conn, { socketPath: choice.agentSocket, log });
      this.cleanups.push(() => agent.close());
    }
    if (choice?.x11 !== undefined) {
      const x11 = new X11Forwarding(this.conn, { target: choice.x11.target, auth: choice.x11.auth, log });
      this.cleanups.push(() => x11.close());
    }
    this.client.on('forwarding-refused', (what: 'agent' | 'x11', reason: string) => {
      if (!this.o.quiet) log(`tssh: ${what === 'agent' ? 'agent' : 'X11'} forwarding request failed: ${reason}`);
    });
  }

  run(): Promise<number> {
    return new Promise<number>((resolve) => {
      this.resolveRun = resolve;
      this.start();
    });
  }

  private start(): void {
    const o = this.o;
    // Connection loss and the end of the path.
    const onLost = (): void => this.watchOutage();
    const onRestored = (): void => this.endOutage();
    const onGaveUp = (): void => {
      const silent = formatDuration(performance.now() - this.path.lastContactMs);
      void this.finish(EXIT_GAVE_UP, `tssh: no reply from ${this.serverAddress} for ${silent} (UdpAliveTimeout); giving up`);
    };
    this.path.on('contact-lost', onLost);
    this.path.on('contact-restored', onRestored);
    this.path.on('gave-up', onGaveUp);
    this.cleanups.push(() => {
      this.path.off('contact-lost', onLost);
      this.path.off('contact-restored', onRestored);
      this.path.off('gave-up', onGaveUp);
    });

    // No reply at all: tsshd's port is unreachable from here.
    const connectTimer = setTimeout(() => {
      if (this.path.stats().datagramsReceived > 0) return;
      const proxyHint = o.bootstrap.proxyMode === 'udp' ? ', or set UdpProxyMode TCP' : '';
      void this.finish(
        EXIT_FAILURE,
        `tssh: no UDP reply from ${this.serverAddress} within ${o.connectTimeoutSec} s; a firewall may block it: allow TsshdPort's UDP ports on the server${proxyHint}`,
        false,
      );
    }, Math.max(1, o.connectTimeoutSec * 1000));
    this.cleanups.push(() => clearTimeout(connectTimer));

    // Signals from outside end tssh like ssh ("Killed by signal"); in raw mode Terminal catches them and restores first.
    if (!this.pty) {
      for (const signal of FATAL_SIGNALS) {
        const handler = (): void => this.onFatalSignal(signal);
        process.on(signal, handler);
        this.cleanups.push(() => process.off(signal, handler));
      }
    }

    if (this.pty) {
      this.terminal.enterRaw();
      const off = this.terminal.onResize((cols, rows) => this.resize(cols, rows));
      this.cleanups.push(off);
    }
    if (this.work.kind !== 'none') this.readStdin();
    // A closed stdout (`tssh ... | head`) ends tssh quietly, as SIGPIPE ends ssh.
    const onStdoutError = (): void => void this.finish(EXIT_FAILURE);
    process.stdout.on('error', onStdoutError);
    this.cleanups.push(() => process.stdout.off('error', onStdoutError));

    // Without a session, the end of the connection is the end of tssh.
    if (this.work.kind !== 'session') {
      const closed = (): void => void this.finish(EXIT_FAILURE, o.quiet ? undefined : `Connection to ${o.host} closed by remote host.`, false);
      this.conn.once('close', closed);
      this.client.on('goodbye', closed);
      this.cleanups.push(() => {
        this.conn.off('close', closed);
        this.client.off('goodbye', closed);
      });
    }
    void this.startWork();
  }

  /** Forwards first (as ssh sets them up before the session), then the session, the stdio forward, or nothing. */
  private async startWork(): Promise<void> {
    const o = this.o;
    const plan = o.forwards;
    if ((plan !== undefined && (plan.local.length + plan.remote.length + plan.dynamic.length > 0)) || this.work.kind === 'stdio') this.ensureForwarder();
    let initial: ForwardSetupResult['entries'] = [];
    if (plan !== undefined && this.forwarder !== null) {
      const result = await setUpForwards(this.forwarder, plan, (line) => this.say(line), !o.quiet);
      if (this.finishing) return;
      if (!result.ok) {
        void this.finish(EXIT_FAILURE);
        return;
      }
      initial = result.entries;
    }
    if (o.controlMaster !== undefined) {
      const stop = await serveControlMaster({
        choice: o.controlMaster,
        forwarder: () => this.ensureForwarder(),
        initial,
        say: (line) => this.say(line),
        terminate: () => void this.finish(0),
      });
      this.cleanups.push(stop);
      if (this.finishing) stop();
    }
    this.hooks.onReady?.();
    if (this.work.kind === 'none') return;
    if (this.pty) this.echo = await startPredictiveEcho(o.predict, this.terminal.size(), () => this.path.srttMs);
    if (this.finishing) return;
    if (this.work.kind === 'stdio') {
      void this.startStdioForward(this.forwarder!, this.work.host, this.work.port);
      return;
    }
    this.client
      .openSession(o.session, { stdin: this.input, stdout: this.echo?.output ?? process.stdout, stderr: process.stderr })
      .then(
        (status: ExitStatus) => {
          const message = this.pty && !o.quiet ? `Connection to ${o.host} closed.` : undefined;
          void this.afterSession(exitCodeOf(status), message);
        },
        (err: Error) => {
          // The server said why it let go (another client attached): that is the message.
          if (this.serverGoodbye !== null && err instanceof SessionLostError) {
            void this.finish(EXIT_FAILURE, `tssh: ${this.serverGoodbye}; this tssh ends`, false);
            return;
          }
          const what =
            err instanceof SessionRefusedError
              ? `the server refused the session: ${err.reason}`
              : err instanceof SessionLostError
                ? `connection to ${o.host} lost (${err.message.replace(/^session lost: /, '')})`
                : `session failed: ${err.message}`;
          void this.finish(EXIT_FAILURE, `tssh: ${what}`);
        },
      );
  }

  /** The session's Forwarder, made on first use (forwards at the start, -W, or a control client's -O forward). */
  private ensureForwarder(): Forwarder {
    if (this.forwarder !== null) return this.forwarder;
    const o = this.o;
    const plan = o.forwards;
    this.forwarder = new Forwarder(this.conn, {
      log: (line) => {
        if (!o.quiet) this.say(line);
      },
      ...(plan !== undefined
        ? {
            gatewayPorts: plan.gatewayPorts,
            streamLocalBindMask: plan.streamLocalBindMask,
            streamLocalBindUnlink: plan.streamLocalBindUnlink,
            udpTimeoutMs: plan.udpTimeoutMs,
          }
        : {}),
    });
    return this.forwarder;
  }

  /**
   * The session ended. As ssh, stay (printing nothing, the terminal given
   * back) while forwarded connections are still open, then exit with the
   * session's status; tsshd waits for them too (lifetime.ts).
   */
  private async afterSession(code: number, message: string | undefined): Promise<void> {
    const forwarder = this.forwarder;
    if (forwarder !== null && forwarder.openConnections > 0 && !this.finishing) {
      this.terminal.restore();
      if (!this.input.writableEnded) this.input.end();
      // Out of raw mode the terminal's signal handlers are gone: a signal still ends tssh like ssh.
      if (this.pty) {
        for (const signal of FATAL_SIGNALS) {
          const handler = (): void => this.onFatalSignal(signal);
          process.on(signal, handler);
          this.cleanups.push(() => process.off(signal, handler));
        }
      }
      let onClose = (): void => undefined;
      const closed = new Promise<void>((resolve) => this.conn.once('close', (onClose = resolve)));
      await Promise.race([forwarder.whenNoConnections(), closed]);
      this.conn.off('close', onClose);
    }
    void this.finish(code, message);
  }

  /** -W: stdin to host:port through tsshd, its answer to stdout; over when both directions are. */
  private async startStdioForward(forwarder: Forwarder, host: string, port: number): Promise<void> {
    let stream;
    try {
      stream = await forwarder.stdioForward(host, port);
    } catch (err) {
      void this.finish(EXIT_FAILURE, (err as Error).message);
      return;
    }
    if (this.finishing) {
      stream.destroy();
      return;
    }
    stream.once('close', () => void this.finish(stream.readableEnded ? 0 : EXIT_FAILURE));
    stream.pipe(process.stdout, { end: false });
    this.input.pipe(stream);
  }

  /** One line on stderr, as ssh writes it (CR LF while the terminal is raw). */
  private say(line: string): void {
    this.toTerminal(this.pty ? `${line}\r\n` : `${line}\n`, process.stderr);
  }

  /** tssh's own bytes for the terminal; with predictive echo they pass through its screen model. */
  private toTerminal(text: string, stream: NodeJS.WriteStream = process.stdout): void {
    if (this.echo !== null) this.echo.local(text, (s) => stream.write(s));
    else stream.write(text);
  }

  private readStdin(): void {
    if (this.o.stdinNull) {
      this.input.end();
      return;
    }
    const stdin = process.stdin;
    const onData = (chunk: Buffer): void => this.onInput(chunk);
    // stdin EOF is the session's stdin EOF (half-close), as in ssh.
    const onEnd = (): void => {
      if (!this.input.writableEnded) this.input.end();
    };
    stdin.on('data', onData);
    // Explicitly resumed: a 'data' listener alone does not undo an earlier pause (the attach picker's question).
    stdin.resume();
    stdin.once('end', onEnd);
    stdin.on('error', onEnd);
    this.cleanups.push(() => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onEnd);
      stdin.pause();
    });
  }

  /** Typed input: escapes first (so `~.` works during an outage), then the outage gate, then the session. */
  private onInput(chunk: Buffer): void {
    if (this.finishing) return;
    if (this.filter === null) {
      this.deliver(chunk);
      return;
    }
    const { data, actions } = this.filter.push(chunk);
    let at = 0;
    for (const action of actions) {
      this.deliver(data.subarray(at, action.at));
      at = action.at;
      this.escape(action.kind);
      if (this.finishing) return;
    }
    this.deliver(data.subarray(at));
  }

  private deliver(data: Buffer): void {
    if (data.length === 0 || this.finishing) return;
    let forward: Buffer | null = data;
    if (this.pty) {
      const gated = this.gate.push(data);
      if (gated.quit) {
        if (this.o.attachMode !== undefined) this.detach();
        else void this.finish(EXIT_QUIT_DURING_OUTAGE, `tssh: quit while the connection to ${this.o.host} was lost`);
        return;
      }
      if (gated.bell) this.toTerminal('\x07');
      forward = gated.forward;
    }
    if (forward === null || this.input.writableEnded) return;
    this.echo?.typed(forward);
    // Backpressure: stop reading the keyboard (or pipe) until the session takes more.
    if (!this.input.write(forward)) {
      process.stdin.pause();
      this.input.once('drain', () => {
        if (!this.finishing) process.stdin.resume();
      });
    }
  }

  private escape(kind: EscapeKind): void {
    switch (kind) {
      case 'disconnect':
        void this.finish(this.gate.inOutage ? EXIT_QUIT_DURING_OUTAGE : EXIT_FAILURE, `Connection to ${this.o.host} closed.`);
        return;
      case 'help': {
        const rtt = this.path.srttMs;
        const help = formatEscapeHelp(this.o.escapeChar as number, {
          transport: this.transportName,
          serverAddress: this.serverAddress,
          ...(Number.isFinite(rtt) ? { rttMs: rtt } : {}),
          sinceLastContactMs: performance.now() - this.path.lastContactMs,
          protocol: 'native',
        }, this.o.attachMode !== undefined);
        this.toTerminal(help, process.stderr);
        return;
      }
      case 'suspend':
        this.terminal.suspend(() => {
          const { cols, rows } = this.terminal.size();
          this.resize(cols, rows);
        });
        return;
      case 'renew-path': {
        const before = this.path.stats().localPort;
        void this.path.renew().then(() => {
          if (this.finishing) return;
          const now = this.path.stats().localPort;
          // ssh answers its own escapes with a line (~# lists, ~R says "rekeying"): so does ~P.
          this.say(now > 0 ? `tssh: new UDP path from local port ${now} (was ${before}) to ${this.serverAddress}` : 'tssh: could not open a new UDP path now; retrying');
        });
        return;
      }
      case 'detach':
        this.detach();
        return;
    }
  }

  /** Leave the session running on the server and say how to come back (attach mode). */
  private detach(): void {
    const mode = this.o.attachMode;
    if (mode === undefined || this.finishing) return;
    this.detaching = true;
    if (!this.path.isClosed) this.client.detach();
    const named = mode.name !== '' ? ` ${mode.name}` : '';
    const how = mode.name !== '' ? `tssh --attach -o UdpSessionName=${mode.name} ${mode.hostArg}` : `tssh --attach ${mode.hostArg}`;
    void this.finish(EXIT_DETACHED, `Detached from session${named} on ${this.o.host}; it keeps running. Attach again with: ${how}`, !this.gate.inOutage);
  }

  private resize(cols: number, rows: number): void {
    this.echo?.resize(cols, rows);
    try {
      this.client.resize(cols, rows);
    } catch {
      // A size out of the protocol's range (a broken terminal report) is not worth ending the session for.
    }
  }

  private makeNotice(): OutageNotice | null {
    const o = this.o;
    const escapeChar = this.filter !== null ? (o.escapeChar as number) : null;
    // One timer drives the refresh: watchOutage's tick redraws the notice, so the notice's own timer is a no-op.
    const timers = { setInterval: () => null, clearInterval: () => undefined };
    const exitKey = { key: o.exitKey === undefined ? 0x04 : o.exitKey, detach: o.attachMode !== undefined };
    const common = { now: () => performance.now(), full: o.showFullNotifications, escapeChar, timers, columns: () => this.terminal.size().cols, exitKey };
    if (this.pty) return new OutageNotice({ ...common, onTop: o.showNotificationOnTop, write: (s) => this.toTerminal(s) });
    // Without a pty stdout is data: the notice goes to stderr, and only when a person is watching it.
    if (process.stderr.isTTY) return new OutageNotice({ ...common, onTop: false, write: (s) => process.stderr.write(s) });
    return null;
  }

  /** Contact lost: check once a second until UdpReconnectTimeout has passed, then show the notice and gate input. */
  private watchOutage(): void {
    if (this.outageTimer !== null || this.finishing) return;
    const tick = (): void => {
      const silentMs = performance.now() - this.path.lastContactMs;
      if (silentMs < this.o.reconnectTimeoutSec * 1000) return;
      const stats = this.path.stats();
      const trying = stats.localPort > 0 ? `a new UDP path from local port ${stats.localPort}` : 'to open a new UDP path';
      this.notice?.show({ lostSinceMs: this.path.lastContactMs, aliveTimeoutMs: toMs(this.o.aliveTimeoutSec), serverAddress: this.serverAddress, trying });
      if (this.pty) this.gate.setOutage(true);
    };
    this.outageTimer = setInterval(tick, NOTICE_REFRESH_MS);
    tick();
  }

  private endOutage(): void {
    if (this.outageTimer !== null) clearInterval(this.outageTimer);
    this.outageTimer = null;
    this.gate.setOutage(false);
    const hidden = this.notice?.hide();
    // What the notice covered is lost: the remote program repaints.
    if (hidden?.needsRedraw && !this.finishing) this.client.redraw();
  }

  private onFatalSignal(signal: NodeJS.Signals): void {
    const number = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 }[signal as string] ?? signal;
    void this.finish(EXIT_FAILURE, `Killed by signal ${number}.`);
  }

  /**
   * End the session: terminal back, one line, goodbye, bounded close, then
   * resolve run(). `graceful` false skips waiting for a server that is not answering.
   */
  private async finish(code: number, message?: string, graceful = code !== EXIT_GAVE_UP && code !== EXIT_QUIT_DURING_OUTAGE): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    if (this.outageTimer !== null) clearInterval(this.outageTimer);
    this.outageTimer = null;
    // Without redraw: the session is over.
    this.notice?.hide();
    this.echo?.close();
    this.terminal.restore();
    if (message !== undefined) process.stderr.write(`${message}\n`);
    if (!this.input.writableEnded) this.input.end();
    await this.forwarder?.close();
    if (graceful && !this.path.isClosed) {
      // A detach was said already: the server keeps the session.
      if (!this.detaching) this.client.goodbye(code === EXIT_FAILURE ? 'client disconnected' : 'session ended');
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
      await Promise.race([this.conn.close().catch(() => undefined), grace]);
      clearTimeout(timer);
    }
    this.conn.destroy();
    this.path.close(code === EXIT_QUIT_DURING_OUTAGE ? 'user quit' : 'bye');
    this.resolveRun(code);
  }
}
