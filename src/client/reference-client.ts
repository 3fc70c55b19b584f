/**
 * Our tssh's side of the reference protocol (docs/INTEROP.md): the proxy path
 * (path/reference-client-path.ts), kcp-go framing, KCP and smux
 * (transport/reference/kcp-session.ts), and the bus: the heartbeat, the
 * client-driven P-256 rekey, session exits, quit and error notes, the
 * discard marker after a reconnect, and channels the server offers.
 *
 * Events: 'exit' (id, code); 'quit' (msg); 'server-error' (msg); 'discard'
 * (DiscardNote); 'channel' (type, id); 'closed' (reason); plus the path's
 * 'contact-lost', 'contact-restored', 'renewed'.
 */
import { createECDH } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ReferenceClientPath } from '../path/reference-client-path.js';
import { ReferenceWireError } from '../protocol/reference/errors.js';
import * as M from '../protocol/reference/messages.js';
import type { ReferenceServerInfo } from '../protocol/reference/server-info.js';
import { encodeCommand, encodeCommandAndMessage, encodeMessage, StreamFrameReader } from '../protocol/reference/stream-codec.js';
import { ReferenceKcpSession } from '../transport/reference/kcp-session.js';
import type { SmuxStream } from '../transport/reference/smux.js';

/** The client version we announce (the reference version whose protocol we speak). */
export const REFERENCE_CLIENT_VERSION = '0.1.9';
/** Rekey this often (the reference: hourly, and at start). */
const REKEY_INTERVAL_MS = 3600 * 1000;

export interface ReferenceClientOptions {
  address: string;
  port: number;
  /** UdpMTU when set by the user (else the server's MTU, else 1400). */
  mtu?: number;
  connectTimeoutMs: number;
  heartbeatTimeoutMs: number;
  aliveTimeoutMs: number;
  /** Heartbeat period on the bus. Default 1000 (the reference: min(alive/10, heartbeat/3)). */
  intervalMs?: number;
}

/** The server refused a stream or request; message is its text. */
export class ReferenceRefusedError extends Error {
  constructor(
    what: string,
    readonly reason: string,
    readonly code = 0,
  ) {
    super(`${what}: ${reason}`);
    this.name = 'ReferenceRefusedError';
  }
}

/** Read one JSON message at the head of a stream; bytes after it are put back for the stream's next reader. */
export function readStreamMessage(stream: SmuxStream, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const reader = new StreamFrameReader();
    const done = (err: Error | null, value?: Record<string, unknown>): void => {
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
      if (err !== null) reject(err);
      else {
        const rest = reader.takeRest();
        if (rest.length > 0) stream.unshift(rest);
        resolve(value!);
      }
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = stream.read() as Buffer | null) !== null) {
        reader.push(chunk);
        try {
          const m = reader.readMessage();
          if (m !== undefined) return done(null, m);
        } catch (err) {
          return done(err as Error);
        }
      }
    };
    const onEnd = (): void => done(new Error('the stream ended before the server answered'));
    const onError = (err: Error): void => done(err);
    const timer = setTimeout(() => done(new Error(`no answer from tsshd within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onError);
    onReadable();
  });
}

export class ReferenceClient extends EventEmitter {
  readonly path: ReferenceClientPath;
  readonly kcp: ReferenceKcpSession;
  private bus: SmuxStream | null = null;
  private nextSessionId = 1;
  private aliveTimer: NodeJS.Timeout | null = null;
  private rekeyTimer: NodeJS.Timeout | null = null;
  private ecdh: ReturnType<typeof createECDH> | null = null;
  /** Latest heartbeat round trip, ms (NaN before one). */
  heartbeatRttMs = NaN;
  rekeys = 0;
  private closed = false;

  private constructor(
    readonly info: ReferenceServerInfo,
    path: ReferenceClientPath,
    mtu: number,
    private readonly o: ReferenceClientOptions,
  ) {
    super();
    this.path = path;
    this.kcp = new ReferenceKcpSession({ send: (d) => path.send(d) }, { role: 'client', pass: info.pass!, salt: info.salt!, mtu });
    path.onDatagram = (d) => this.kcp.input(d);
    path.on('renewed', (reason: string) => {
      // The new path is open: what is in flight goes out right behind the auth packet.
      this.kcp.kcp?.pathChanged();
      this.emit('renewed', reason);
    });
    path.on('contact-lost', (ms: number) => this.emit('contact-lost', ms));
    path.on('contact-restored', () => this.emit('contact-restored'));
    path.on('gave-up', (reason: string) => this.emit('closed', reason));
    this.kcp.on('error', (err: Error) => this.emit('closed', err.message));
  }

  /** Authenticate the path, start KCP and smux, and initialise the bus. Throws one line on failure. */
  static async connect(info: ReferenceServerInfo, o: ReferenceClientOptions): Promise<ReferenceClient> {
    if (info.mode !== 'KCP' || info.pass === undefined) {
      throw new ReferenceWireError(`the Go tsshd chose ${info.mode} mode, which tssh does not speak with it; ask for KCP (UdpMode KCP)`);
    }
    const mtu = o.mtu ?? (info.mtu > 0 ? info.mtu : 1400);
    const path = await ReferenceClientPath.create({
      address: o.address,
      port: o.port,
      proxyMode: info.proxyMode === 'TCP' ? 'tcp' : 'udp',
      proxyKey: info.proxyKey,
      clientId: info.clientId,
      serverId: info.serverId,
      mtu,
      connectTimeoutMs: o.connectTimeoutMs,
      heartbeatTimeoutMs: o.heartbeatTimeoutMs,
      aliveTimeoutMs: o.aliveTimeoutMs,
      // Over TCP a moved address breaks the connection (renewed at once); silence there is only a slow peer.
      silenceMs: info.proxyMode === 'TCP' ? o.heartbeatTimeoutMs : Math.min(1000, o.heartbeatTimeoutMs),
    });
    const client = new ReferenceClient(info, path, mtu, o);
    try {
      await client.initBus();
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  /** Open a stream of `command` and wait for the server's hello. */
  async openStream(command: string): Promise<SmuxStream> {
    const stream = this.kcp.openStream();
    stream.write(encodeCommand(command));
    const hello = M.parseErrorReply(await readStreamMessage(stream, this.o.connectTimeoutMs));
    if (!M.isNoError(hello)) {
      stream.destroy();
      throw new ReferenceRefusedError(`tsshd refused a ${command} stream`, hello.msg, hello.code);
    }
    return stream;
  }

  /** Send a request on a fresh stream and wait for its reply (errorMessage-shaped). */
  async request(stream: SmuxStream, what: string, message: Record<string, unknown>): Promise<Record<string, unknown>> {
    stream.write(encodeMessage(message));
    const reply = await readStreamMessage(stream, this.o.connectTimeoutMs);
    const r = M.parseErrorReply(reply);
    if (!M.isNoError(r)) {
      stream.destroy();
      throw new ReferenceRefusedError(what, r.msg, r.code);
    }
    return reply;
  }

  /** Smoothed RTT as KCP measures it (the heartbeat's before KCP has a sample), ms; NaN before either. */
  get rttMs(): number {
    const srtt = this.kcp.kcp?.stats().srttMs ?? NaN;
    return Number.isFinite(srtt) ? srtt : this.heartbeatRttMs;
  }

  /** A new session id (the server told the first in its bus answer). */
  takeSessionId(): number {
    return this.nextSessionId++;
  }

  /** Send a bus event. */
  sendBus(command: string, message: Record<string, unknown>): void {
    if (this.bus !== null && !this.bus.destroyed && !this.bus.writableEnded) this.bus.write(encodeCommandAndMessage(command, message));
  }

  /** Tell the server we are done ("close": it ends its sessions and exits), then close the path. */
  async goodbye(graceMs = 300): Promise<void> {
    if (this.closed) return;
    if (this.bus !== null && !this.bus.destroyed) {
      this.bus.write(encodeCommand(M.BusCommand.Close));
      this.bus.end();
      // Wait (bounded) for KCP to deliver it.
      const start = performance.now();
      while (performance.now() - start < graceMs && (this.kcp.kcp?.inFlight ?? 0) + (this.kcp.kcp?.queuedBytes ?? 0) > 0) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.aliveTimer !== null) clearInterval(this.aliveTimer);
    if (this.rekeyTimer !== null) clearInterval(this.rekeyTimer);
    this.kcp.close();
    this.path.close();
  }

  private async initBus(): Promise<void> {
    const bus = await this.openStream(M.StreamCommand.Bus);
    const intervalMs = this.o.intervalMs ?? 1000;
    const init = M.encodeBusInit({
      clientVersion: REFERENCE_CLIENT_VERSION,
      protoVersion: Math.min(this.info.protoVersion, 1),
      aliveTimeoutMs: this.o.aliveTimeoutMs,
      intervalMs,
      heartbeatTimeoutMs: this.o.heartbeatTimeoutMs,
    });
    const reply = M.parseBusResponse(await this.request(bus, 'tsshd refused the session bus', init));
    this.nextSessionId = Math.max(1, reply.nextSessionId);
    this.bus = bus;
    this.readBus(bus);
    this.aliveTimer = setInterval(() => this.sendBus(M.BusCommand.Alive, M.encodeAlive(Date.now())), intervalMs);
    this.rekey();
    this.rekeyTimer = setInterval(() => this.rekey(), REKEY_INTERVAL_MS);
  }

  /** Start a rekey: our P-256 public key on the bus; the server's answer installs the new key. */
  private rekey(): void {
    this.ecdh = createECDH('prime256v1');
    this.sendBus(M.BusCommand.Rekey, M.encodeRekey(this.ecdh.generateKeys()));
  }

  private readBus(bus: SmuxStream): void {
    const reader = new StreamFrameReader();
    let command: string | undefined;
    bus.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      try {
        for (;;) {
          if (command === undefined) command = reader.readCommand();
          if (command === undefined) return;
          const m = reader.readMessage();
          if (m === undefined) return;
          const c = command;
          command = undefined;
          this.onBus(c, m);
        }
      } catch (err) {
        this.emit('closed', `tsshd sent a bad bus message: ${(err as Error).message}`);
        bus.destroy();
      }
    });
    bus.once('end', () => {
      if (!this.closed) this.emit('closed', 'tsshd closed the session bus');
    });
    bus.on('error', () => undefined);
  }

  private onBus(command: string, m: Record<string, unknown>): void {
    switch (command) {
      case M.BusCommand.Alive: {
        const sent = M.parseAlive(m);
        if (sent > 0) this.heartbeatRttMs = Math.max(0, Date.now() - sent);
        return;
      }
      case M.BusCommand.Exit: {
        const e = M.parseExit(m);
        this.emit('exit', e.id, e.exitCode);
        return;
      }
      case M.BusCommand.Quit:
        this.emit('quit', M.parseQuit(m));
        return;
      case M.BusCommand.Error:
        this.emit('server-error', M.parseQuit(m));
        return;
      case M.BusCommand.Discard:
        this.emit('discard', M.parseDiscard(m));
        return;
      case M.BusCommand.Channel: {
        const c = M.parseChannel(m);
        this.emit('channel', c.channelType, c.id);
        return;
      }
      case M.BusCommand.Rekey: {
        const ecdh = this.ecdh;
        if (ecdh === null) return;
        this.ecdh = null;
        try {
          this.kcp.installKey(ecdh.computeSecret(M.parseRekey(m)));
          this.rekeys++;
        } catch {
          // A bad key from the server: keep the current one (the next rekey tries again).
        }
        return;
      }
      default:
        // debug and events a newer server may send: nothing to do.
        return;
    }
  }
}
