import { createECDH } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Writable, type Duplex } from 'node:stream';
import { ReferenceWireError } from '../../protocol/reference/errors.js';
import {
  BusCommand,
  encodeChannel,
  encodeDiscard,
  encodeExit,
  errorReply,
  NO_ERROR,
  parseBusInit,
  parseExit,
  parseRekey,
  parseResize,
  parseSettings,
  parseStart,
  parseStderr,
  StreamCommand,
  type BusInit,
  type StartRequest,
} from '../../protocol/reference/messages.js';
import { encodeCommandAndMessage, encodeMessage, StreamFrameReader } from '../../protocol/reference/stream-codec.js';
import type { ExitStatus, SessionRequest } from '../../protocol/messages.js';
import type { SessionHost } from '../session-host.js';
import type { Connection } from '../../transport/connection.js';
import { DiscardGate } from './discard-gate.js';
import { referenceCommandLine } from './command-line.js';
import { putBackRest, readOpening, readOpeningMessage } from './stream-opening.js';

/**
 * The server side of the reference family's streams (docs/INTEROP.md
 * "Streams" and "Bus"), mapped onto our one SessionHost: the reference tssh's
 * session stream becomes a SessionRequest served by SessionHost.serve(), its
 * stderr stream the session's stderr, its bus events resize / exit / close /
 * alive / setting / rekey calls here. Nothing about running sessions,
 * policy or lifetime lives in this file.
 *
 * Events:
 *  - 'bus'      (init: BusInit)   the client's bus is up (its timeouts, for liveness)
 *  - 'alive'    ()                a heartbeat arrived (and was echoed)
 *  - 'close'    ()                the client asked to end tsshd ("close")
 *  - 'rekeyed'  ()                a new traffic key was installed
 *  - 'protocol-error' (err: Error)
 */
export interface ReferenceHostOptions {
  /** Install a rekey secret as the server does (not active until the client uses it). */
  installKey(secret: Buffer): void;
  /** Forward-family streams (dial, listen, accept, dial-udp, listen-udp, accept-udp), after the success reply; absent: refused. */
  forwardStream?(command: string, message: Record<string, unknown>, stream: Duplex): void;
  /** The login's PATH, to tell commands the reference would run directly from those it runs with sh -c. */
  path: string;
  /** Where agent and X11 connections are opened (announced on the bus, claimed with accept streams); absent: refused. */
  channels?: Pick<Connection, 'openStream'>;
}

/** The discard marker's fixed first four bytes (then a u32 BE counter). */
const MARKER_PREFIX = [0xff, 0xc0, 0xc1, 0xff];

export class ReferenceHost extends EventEmitter {
  private bus: Duplex | null = null;
  private maxSessionId = 0;
  private readonly stderrStreams = new Map<number, Duplex>();
  private readonly gates = new Map<number, DiscardGate>();
  /** Each running session's output streams, for the redraw marker. */
  private readonly outputs = new Map<number, { output: Duplex; stderr?: Writable }>();
  private markerIndex = 0;
  private keepPendingInput = false;

  constructor(
    private readonly host: SessionHost,
    private readonly options: ReferenceHostOptions,
  ) {
    super();
  }

  /** Serve a stream the client opened. */
  accept(stream: Duplex): void {
    stream.on('error', () => undefined);
    void this.serveStream(stream).catch((err: unknown) => {
      if (err instanceof ReferenceWireError) this.emit('protocol-error', err);
      reply(stream, errorReply(err instanceof Error ? err.message : String(err)));
      stream.end();
    });
  }

  /** Tell the client an agent or X11 connection waits for its accept stream ("channel"). */
  announceChannel(channelType: string, id: number): void {
    this.sendBus(BusCommand.Channel, encodeChannel(channelType, id));
  }

  /** Tell the client the server is going away ("quit"); it exits with the reason. */
  quit(reason: string): void {
    this.sendBus('quit', { Msg: reason });
  }

  /**
   * The client came back on a new address: unless it asked to keep pending
   * input, hold each session's input until the new marker, and announce it.
   */
  reconnected(): void {
    if (this.keepPendingInput || this.gates.size === 0 || this.bus === null) return;
    const marker = this.nextMarker();
    for (const gate of this.gates.values()) gate.arm(marker);
    this.sendBus(BusCommand.Discard, encodeDiscard({ marker, discardedInput: Buffer.alloc(0), discardedOutputLines: 0, discardedOutputBytes: 0 }));
  }

  private async serveStream(stream: Duplex): Promise<void> {
    const opening = await readOpening(stream);
    const { command } = opening;
    if (command !== StreamCommand.Bus && this.bus === null) throw new Error('bus must be initialized first');
    const forward = this.options.forwardStream;
    switch (command) {
      case StreamCommand.Bus:
      case StreamCommand.Session:
      case StreamCommand.Stderr:
        break;
      case StreamCommand.Dial:
      case StreamCommand.Listen:
      case StreamCommand.Accept:
      case StreamCommand.DialUdp:
      case StreamCommand.ListenUdp:
      case StreamCommand.AcceptUdp:
        if (forward === undefined) throw new Error(`port forwarding is not enabled: ${command}`);
        break;
      default:
        throw new Error(`unknown stream command: ${command.slice(0, 40)}`);
    }
    reply(stream, NO_ERROR); // the hello every accepted stream gets first
    const message = await readOpeningMessage(stream, opening);
    if (command === StreamCommand.Bus) this.serveBus(stream, opening.reader, parseBusInit(message));
    else if (command === StreamCommand.Session) {
      putBackRest(stream, opening);
      await this.serveSession(stream, parseStart(message));
    } else if (command === StreamCommand.Stderr) this.takeStderr(stream, parseStderr(message));
    else {
      putBackRest(stream, opening);
      forward!(command, message, stream);
    }
  }

  private serveBus(stream: Duplex, reader: StreamFrameReader, init: BusInit): void {
    if (this.bus !== null) throw new Error('bus has been initialized');
    if (init.protoVersion === 0 && !atLeast(init.clientVersion, [0, 1, 6])) throw new Error('please upgrade tssh to continue');
    reply(stream, { ...NO_ERROR, NextSessionID: this.maxSessionId + 1 });
    this.bus = stream;
    this.emit('bus', init);
    let pending: string | undefined;
    const drain = (): void => {
      for (;;) {
        if (pending === undefined) pending = reader.readCommand();
        if (pending === undefined) return;
        if (pending === BusCommand.Close) {
          // "close" has no message. Ending the bus at once lets the client finish without waiting for its time-out.
          pending = undefined;
          stream.end();
          this.emit('close');
          continue;
        }
        const message = reader.readMessage();
        if (message === undefined) return;
        const command = pending;
        pending = undefined;
        try {
          this.onBus(command, message);
        } catch (err) {
          this.emit('protocol-error', err);
        }
      }
    };
    stream.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      try {
        drain();
      } catch (err) {
        // A frame boundary is lost: nothing more can be read from this bus.
        this.emit('protocol-error', err);
        stream.destroy();
      }
    });
    stream.once('end', () => stream.end());
    drain();
    stream.resume();
  }

  private onBus(command: string, message: Record<string, unknown>): void {
    switch (command) {
      case BusCommand.Alive:
        // Echoed as it came: the client measures its RTT and liveness by it.
        this.sendBus(BusCommand.Alive, message);
        this.emit('alive');
        return;
      case BusCommand.Resize: {
        const r = parseResize(message);
        if (r.marker) {
          // The client drops output until it sees the marker: what was sent before it is stale; the redraw follows it.
          const streams = this.outputs.get(r.id);
          if (streams?.output.writable) streams.output.write(r.marker);
          if (streams?.stderr?.writable) streams.stderr.write(r.marker);
        }
        if (r.cols <= 0 || r.rows <= 0) {
          if (r.redraw) this.host.redraw(r.id);
          return;
        }
        this.host.resize(r.id, r.cols, r.rows);
        if (r.redraw) this.host.redraw(r.id);
        return;
      }
      case BusCommand.Exit:
        this.host.hangupSession(parseExit(message).id, 'the client closed the session');
        return;
      case BusCommand.Setting: {
        const s = parseSettings(message);
        if (s.keepPendingInput !== undefined) this.keepPendingInput = s.keepPendingInput;
        return;
      }
      case BusCommand.Rekey: {
        const clientKey = parseRekey(message);
        const ecdh = createECDH('prime256v1');
        const ours = ecdh.generateKeys();
        const secret = ecdh.computeSecret(clientKey);
        this.options.installKey(secret);
        this.sendBus(BusCommand.Rekey, { PubKey: ours.toString('base64') });
        this.emit('rekeyed');
        return;
      }
      default:
        return; // a newer client's event: ignored, as the reference does
    }
  }

  private takeStderr(stream: Duplex, id: number): void {
    if (this.stderrStreams.has(id)) throw new Error(`session ${id} stderr already set`);
    this.stderrStreams.set(id, stream);
    reply(stream, NO_ERROR);
    // Nothing is read from a stderr stream; its end is the client's.
    stream.resume();
    stream.once('close', () => {
      if (this.stderrStreams.get(id) === stream) this.stderrStreams.delete(id);
    });
  }

  private async serveSession(stream: Duplex, start: StartRequest): Promise<void> {
    const id = start.id;
    if (id > this.maxSessionId) this.maxSessionId = id;
    const gate = new DiscardGate((input) => this.sendBus(BusCommand.Discard, encodeDiscard({ marker: Buffer.alloc(0), discardedInput: input, discardedOutputLines: 0, discardedOutputBytes: 0 })));
    stream.pipe(gate);
    this.gates.set(id, gate);
    const request = this.toRequest(start);
    await this.host.serve(request, {
      input: gate,
      output: stream,
      accept: () => {
        reply(stream, NO_ERROR);
        if (request.pty) {
          this.closeStderr(id);
          this.outputs.set(id, { output: stream });
          return undefined;
        }
        const stderr = this.stderrStreams.get(id);
        this.stderrStreams.delete(id);
        this.outputs.set(id, stderr ? { output: stream, stderr } : { output: stream });
        return stderr ?? new Writable({ write: (_chunk, _encoding, callback) => callback() });
      },
      refuse: (msg) => {
        this.gates.delete(id);
        this.closeStderr(id);
        reply(stream, errorReply(msg));
        stream.end();
      },
      reportExit: (status: ExitStatus) => {
        this.gates.delete(id);
        this.outputs.delete(id);
        this.sendBus(BusCommand.Exit, encodeExit({ id, exitCode: status.code ?? -1 }));
      },
      ...(this.options.channels ? { forwardingConn: this.options.channels } : {}),
    });
  }

  private toRequest(start: StartRequest): SessionRequest {
    const env = { ...(start.envs ?? {}) };
    const term = env.TERM;
    delete env.TERM;
    const request: SessionRequest = { type: 'session', id: start.id, env };
    if (start.pty) request.pty = { term: term ?? 'xterm', cols: start.cols || 80, rows: start.rows || 24 };
    if (start.agent) request.agent = true;
    if (start.x11) {
      const cookie = start.x11.authCookie.toLowerCase();
      if (/^[0-9a-f]{2,512}$/.test(cookie) && cookie.length % 2 === 0 && /^[!-~]{1,64}$/.test(start.x11.authProtocol)) {
        request.x11 = { protocol: start.x11.authProtocol, cookie, screen: start.x11.screenNumber };
      }
    }
    if (start.subsystem !== undefined) request.subsystem = start.subsystem;
    else if (!start.shell) request.command = referenceCommandLine(start.name ?? '', start.args ?? [], this.options.path);
    return request;
  }

  private closeStderr(id: number): void {
    const stderr = this.stderrStreams.get(id);
    this.stderrStreams.delete(id);
    stderr?.end();
  }

  private sendBus(command: string, message: unknown): void {
    if (this.bus?.writable) this.bus.write(encodeCommandAndMessage(command, message));
  }

  private nextMarker(): Buffer {
    // Bytes ';' and '\r' are skipped in the counter, as the reference does for tmux's sake.
    let index = (this.markerIndex + 1) >>> 0;
    for (let shift = 24; shift >= 0; shift -= 8) {
      const b = (index >>> shift) & 0xff;
      if (b === 0x3b || b === 0x0d) {
        index = (((index >>> shift) + 1) << shift) >>> 0;
        break;
      }
    }
    this.markerIndex = index;
    const marker = Buffer.from([...MARKER_PREFIX, 0, 0, 0, 0]);
    marker.writeUInt32BE(index, 4);
    return marker;
  }
}

function reply(stream: Duplex, message: unknown): void {
  if (stream.writable) stream.write(encodeMessage(message));
}

/** Whether a version string like "0.1.9" is at least `min`. */
function atLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split('.').map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < min.length; i++) {
    const v = Number.isFinite(parts[i]) ? parts[i]! : 0;
    if (v !== min[i]) return v > min[i]!;
  }
  return true;
}
