/**
 * `tssh` against a Go tsshd: the reference protocol's session joined to this
 * process's terminal and stdio the way ssh joins its channel (raw mode for a
 * pty, window changes, escapes, stdin EOF as half-close, stderr apart, the
 * outage notice and input gate, the remote exit status), over
 * ReferenceClient. Forwards come from reference-forwards.ts.
 *
 * A command runs as `sh -c COMMAND` (the Go tssh splits it into words and the
 * Go tsshd runs them without a shell unless it cannot find the program; sh
 * gives the command ssh's meaning). The discard marker the server sends after
 * a reconnect goes out in front of the next input.
 */
import type { PassThrough } from 'node:stream';
import { performance } from 'node:perf_hooks';
import * as M from '../protocol/reference/messages.js';
import type { ReferenceServerInfo } from '../protocol/reference/server-info.js';
import type { SmuxStream } from '../transport/reference/smux.js';
import { formatEscapeHelp, type EscapeKind } from './escape-keys.js';
import { EXIT_FAILURE, EXIT_GAVE_UP, EXIT_QUIT_DURING_OUTAGE } from './exit-codes.js';
import type { InputGate } from './input-gate.js';
import { NOTICE_REFRESH_MS, type OutageNotice } from './outage-notice.js';
import { ReferenceClient, ReferenceRefusedError } from './reference-client.js';
import { ReferenceForwards } from './reference-forwards.js';
import { makeOutageNotice, SessionInput } from './session-input.js';
import { FATAL_SIGNALS, Terminal } from './terminal.js';
import type { UdpSessionOptions } from './udp-session.js';

/** What a reference session needs: the native options, with the reference ServerInfo in place of the native bootstrap. */
export type ReferenceSessionOptions = Omit<UdpSessionOptions, 'bootstrap'> & { serverInfo: ReferenceServerInfo };

/** How `~?` names the protocol in use. */
export function referenceProtocolName(info: ReferenceServerInfo): string {
  return `reference (Go tsshd ${info.serverVersion || '?'})`;
}

/** After the session's exit note, its output may pause this long before tssh stops waiting for the rest. */
const EXIT_OUTPUT_STALL_MS = 10_000;

function toMs(seconds: number): number {
  return Math.min(Math.round(seconds * 1000), 2_000_000_000);
}

/** Run the session to its end and return tssh's exit status; network trouble prints one line and returns 255. */
export async function runReferenceSession(o: ReferenceSessionOptions): Promise<number> {
  let client: ReferenceClient;
  try {
    client = await ReferenceClient.connect(o.serverInfo, {
      address: o.address,
      port: o.port,
      ...(o.largeOnLoopback ? {} : { mtu: o.mtu }),
      connectTimeoutMs: Math.max(1000, o.connectTimeoutSec * 1000),
      heartbeatTimeoutMs: toMs(o.heartbeatTimeoutSec),
      aliveTimeoutMs: toMs(o.aliveTimeoutSec),
    });
  } catch (err) {
    process.stderr.write(`tssh: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
  return new ReferenceSession(o, client).run();
}

class ReferenceSession {
  private readonly terminal: Terminal;
  private readonly pty: boolean;
  private readonly keys: SessionInput;
  private readonly gate: InputGate;
  private readonly notice: OutageNotice | null;
  private readonly input: PassThrough;
  private readonly serverAddress: string;
  private readonly cleanups: Array<() => void> = [];
  private forwards: ReferenceForwards | null = null;
  private sessionId = 0;
  private stream: SmuxStream | null = null;
  private marker: Buffer | null = null;
  private outageTimer: NodeJS.Timeout | null = null;
  private finishing = false;
  private resolveRun: (code: number) => void = () => undefined;

  constructor(
    private readonly o: ReferenceSessionOptions,
    private readonly client: ReferenceClient,
  ) {
    const work = o.work ?? { kind: 'session' };
    this.pty = work.kind === 'session' && o.session.pty !== undefined;
    this.serverAddress = o.address.includes(':') ? `[${o.address}]:${o.port}` : `${o.address}:${o.port}`;
    this.terminal = new Terminal({ onSignal: (signal) => this.onFatalSignal(signal) });
    this.keys = new SessionInput({
      pty: this.pty,
      escapeChar: o.escapeChar,
      stdinNull: o.stdinNull,
      onEscape: (kind) => this.escape(kind),
      onQuitDuringOutage: () => void this.finish(EXIT_QUIT_DURING_OUTAGE, `tssh: quit while the connection to ${o.host} was lost`, false),
      finishing: () => this.finishing,
    });
    this.gate = this.keys.gate;
    this.input = this.keys.input;
    this.notice = makeOutageNotice(
      { pty: this.pty, escapeChar: this.keys.filter !== null ? (o.escapeChar as number) : null, full: o.showFullNotifications, onTop: o.showNotificationOnTop },
      this.terminal,
    );
  }

  run(): Promise<number> {
    return new Promise<number>((resolve) => {
      this.resolveRun = resolve;
      this.start();
    });
  }

  private start(): void {
    const c = this.client;
    const on = <A extends unknown[]>(event: string, listener: (...args: A) => void): void => {
      const fn = listener as unknown as (...args: unknown[]) => void;
      c.on(event, fn);
      this.cleanups.push(() => c.off(event, fn));
    };
    on('contact-lost', () => this.watchOutage());
    on('contact-restored', () => this.endOutage());
    on('quit', (msg: string) => void this.finish(EXIT_FAILURE, `tssh: tsshd quit: ${msg}`, false));
    on('server-error', (msg: string) => {
      if (!this.o.quiet) this.say(`tssh: tsshd: ${msg}`);
    });
    on('closed', (reason: string) => void this.finish(reason === 'alive timeout' ? EXIT_GAVE_UP : EXIT_FAILURE, `tssh: connection to ${this.o.host} lost: ${reason}`, false));
    on('discard', (note: M.DiscardNote) => {
      if (note.marker.length > 0) this.marker = Buffer.from(note.marker);
    });
    if (!this.pty) {
      for (const signal of FATAL_SIGNALS) {
        const handler = (): void => this.onFatalSignal(signal);
        process.on(signal, handler);
        this.cleanups.push(() => process.off(signal, handler));
      }
    } else {
      this.terminal.enterRaw();
      this.cleanups.push(this.terminal.onResize((cols, rows) => this.resize(cols, rows)));
    }
    const work = this.o.work ?? { kind: 'session' };
    if (work.kind !== 'none') this.cleanups.push(this.keys.readStdin());
    const onStdoutError = (): void => void this.finish(EXIT_FAILURE);
    process.stdout.on('error', onStdoutError);
    this.cleanups.push(() => process.stdout.off('error', onStdoutError));
    void this.startWork();
  }

  private async startWork(): Promise<void> {
    const o = this.o;
    const work = o.work ?? { kind: 'session' };
    const plan = o.forwards;
    if ((plan !== undefined && plan.local.length + plan.remote.length + plan.dynamic.length > 0) || work.kind === 'stdio' || o.agentX11 !== undefined) {
      this.forwards = new ReferenceForwards(this.client, { log: (line) => this.say(line), quiet: o.quiet, ...(o.agentX11 !== undefined ? { agentX11: o.agentX11 } : {}) });
    }
    if (plan !== undefined && this.forwards !== null) {
      const ok = await this.forwards.setUp(plan);
      if (this.finishing) return;
      if (!ok) return void this.finish(EXIT_FAILURE);
    }
    if (work.kind === 'none') return;
    if (work.kind === 'stdio') {
      try {
        const stream = await this.forwards!.dial(work.host, work.port);
        stream.once('close', () => void this.finish(0));
        stream.pipe(process.stdout, { end: false });
        this.input.pipe(stream);
      } catch (err) {
        void this.finish(EXIT_FAILURE, `tssh: ${(err as Error).message}`);
      }
      return;
    }
    try {
      await this.startSession();
    } catch (err) {
      const what = err instanceof ReferenceRefusedError ? `the server refused the session: ${err.reason}` : `session failed: ${(err as Error).message}`;
      void this.finish(EXIT_FAILURE, `tssh: ${what}`);
    }
  }

  private async startSession(): Promise<void> {
    const o = this.o;
    const c = this.client;
    const id = c.takeSessionId();
    this.sessionId = id;
    // Without a pty the bytes are data, not a screen: the Go tsshd must neither drop output pending during an
    // outage nor hold back input after a reconnect (its defaults suit a terminal, where a redraw replaces them).
    if (!this.pty) c.sendBus(M.BusCommand.Setting, M.encodeSettings({ keepPendingInput: true, keepPendingOutput: true }));
    const stream = await c.openStream(M.StreamCommand.Session);
    let errStream: SmuxStream | null = null;
    if (!this.pty) {
      errStream = await c.openStream(M.StreamCommand.Stderr);
      await c.request(errStream, 'tsshd refused the stderr stream', M.encodeStderr(id));
    }
    const envs: Record<string, string> = { ...(o.session.env ?? {}) };
    const start: M.StartRequest = { id, pty: this.pty, shell: false, envs };
    if (o.session.pty !== undefined && this.pty) {
      envs.TERM = o.session.pty.term;
      start.cols = o.session.pty.cols;
      start.rows = o.session.pty.rows;
    }
    if (o.session.subsystem !== undefined) start.subsystem = o.session.subsystem;
    else if (o.session.command !== undefined) {
      start.name = 'sh';
      start.args = ['-c', o.session.command];
    } else start.shell = true;
    if (o.session.agent) start.agent = { channelType: M.AGENT_CHANNEL_TYPE };
    if (o.session.x11 !== undefined) {
      start.x11 = { channelType: M.X11_CHANNEL_TYPE, singleConnection: false, authProtocol: o.session.x11.protocol, authCookie: o.session.x11.cookie, screenNumber: o.session.x11.screen };
    }
    // The exit note may overtake the last output: the status waits for the stream's end (bounded).
    let exitCode: number | null = null;
    let stall: NodeJS.Timeout | null = null;
    // After the exit note, output still in flight is awaited while it keeps coming (the Go tssh waits without bound).
    const armStall = (): void => {
      if (exitCode === null || this.finishing) return;
      if (stall !== null) clearTimeout(stall);
      stall = setTimeout(() => this.sessionDone(exitCode!), EXIT_OUTPUT_STALL_MS);
    };
    this.cleanups.push(() => {
      if (stall !== null) clearTimeout(stall);
    });
    const onExit = (sid: number, code: number): void => {
      if (sid !== id) return;
      exitCode = code;
      this.maybeDone(stream, errStream, exitCode);
      armStall();
    };
    stream.on('data', armStall);
    errStream?.on('data', armStall);
    c.on('exit', onExit);
    this.cleanups.push(() => c.off('exit', onExit));
    await c.request(stream, 'tsshd refused the session', M.encodeStart(start));
    this.stream = stream;
    this.pipeOut(stream, process.stdout, () => this.maybeDone(stream, errStream, exitCode));
    if (errStream !== null) this.pipeOut(errStream, process.stderr, () => this.maybeDone(stream, errStream, exitCode));
    this.pipeIn(stream);
  }

  private maybeDone(stream: SmuxStream, errStream: SmuxStream | null, code: number | null): void {
    if (code === null) return;
    if (!stream.readableEnded) return;
    if (errStream !== null && !errStream.readableEnded) return;
    this.sessionDone(code);
  }

  private sessionDone(code: number): void {
    const message = this.pty && !this.o.quiet ? `Connection to ${this.o.host} closed.` : undefined;
    void this.finish(code < 0 ? EXIT_FAILURE : code & 0xff, message);
  }

  private pipeOut(from: SmuxStream, to: NodeJS.WritableStream, onEnd: () => void): void {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.once('end', onEnd);
    from.on('error', () => undefined);
  }

  /** Our input to the session stream: the discard marker first when the server asked for one. */
  private pipeIn(stream: SmuxStream): void {
    const input = this.input;
    input.on('data', (chunk: Buffer) => {
      if (this.marker !== null) {
        stream.write(this.marker);
        this.marker = null;
      }
      if (!stream.write(chunk)) {
        input.pause();
        stream.once('drain', () => input.resume());
      }
    });
    input.once('end', () => {
      if (!stream.destroyed) stream.end();
    });
  }

  private say(line: string): void {
    process.stderr.write(this.pty ? `${line}\r\n` : `${line}\n`);
  }

  private escape(kind: EscapeKind): void {
    switch (kind) {
      case 'disconnect':
        void this.finish(this.gate.inOutage ? EXIT_QUIT_DURING_OUTAGE : EXIT_FAILURE, `Connection to ${this.o.host} closed.`);
        return;
      case 'help': {
        const rtt = this.client.rttMs;
        process.stderr.write(
          formatEscapeHelp(this.o.escapeChar as number, {
            transport: 'KCP',
            protocol: referenceProtocolName(this.client.info),
            serverAddress: this.serverAddress,
            ...(Number.isFinite(rtt) ? { rttMs: rtt } : {}),
            sinceLastContactMs: performance.now() - this.client.path.lastContactMs,
          }),
        );
        return;
      }
      case 'suspend':
        this.terminal.suspend(() => {
          const { cols, rows } = this.terminal.size();
          this.resize(cols, rows);
        });
        return;
      case 'renew-path':
        this.client.path.renew('asked');
        return;
    }
  }

  private resize(cols: number, rows: number, redraw = false): void {
    if (this.stream === null) return;
    this.client.sendBus(M.BusCommand.Resize, M.encodeResize({ id: this.sessionId, cols, rows, redraw }));
  }

  private watchOutage(): void {
    if (this.outageTimer !== null || this.finishing) return;
    const tick = (): void => {
      const lost = this.client.path.lastContactMs;
      if (performance.now() - lost < this.o.reconnectTimeoutSec * 1000) return;
      const port = this.client.path.stats().localPort;
      const trying = port > 0 ? `a new UDP path from local port ${port}` : 'to open a new UDP path';
      this.notice?.show({ lostSinceMs: lost, aliveTimeoutMs: toMs(this.o.aliveTimeoutSec), serverAddress: this.serverAddress, trying });
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
    if (hidden?.needsRedraw && !this.finishing) {
      const { cols, rows } = this.terminal.size();
      this.resize(cols, rows, true);
    }
  }

  private onFatalSignal(signal: NodeJS.Signals): void {
    const number = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 }[signal as string] ?? signal;
    void this.finish(EXIT_FAILURE, `Killed by signal ${number}.`);
  }

  private async finish(code: number, message?: string, graceful = true): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    if (this.outageTimer !== null) clearInterval(this.outageTimer);
    this.outageTimer = null;
    this.notice?.hide();
    this.terminal.restore();
    if (message !== undefined) process.stderr.write(`${message}\n`);
    if (!this.input.writableEnded) this.input.end();
    this.forwards?.close();
    if (graceful) await this.client.goodbye();
    else this.client.close();
    this.resolveRun(code);
  }
}
