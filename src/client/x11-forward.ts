/**
 * tssh's side of X11 forwarding (-X, -Y, ForwardX11): each X11 stream tsshd
 * opens (an X client in the session connected to its DISPLAY) starts with
 * the X connection setup. Its authorization must be the fake cookie tssh
 * gave tsshd; it is replaced by the real one and the connection joined to
 * the local display. Anything else gets the X protocol's "Failed" setup
 * reply and is closed, so the local X server never sees a guessed cookie.
 */
import { timingSafeEqual } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import { parseX11StreamHeader } from '../protocol/agent-x11-messages.js';
import { spliceSocket } from '../protocol/forward-splice.js';
import { readFirstMessage } from '../protocol/message-codec.js';
import { StreamKind } from '../protocol/stream-kind.js';
import { encodeX11Setup, parseX11Setup, x11SetupFailure, type X11Setup } from '../protocol/x11-setup.js';
import type { Connection, Stream } from '../transport/connection.js';
import type { DisplayTarget, X11Auth } from './x11-auth.js';

/** X connections relayed at once; more are refused (reset). */
export const MAX_CLIENT_X11_CONNECTIONS = 256;
/** The setup request must arrive within this long. */
export const X11_SETUP_TIMEOUT_MS = 30_000;

export interface X11ForwardingOptions {
  target: DisplayTarget;
  auth: X11Auth;
  /** One line per distinct failure. */
  log: (line: string) => void;
  /** Clock for ForwardX11Timeout (tests). */
  now?: () => number;
}

/** The check of one setup request against the fake cookie: the setup to send on, or the reply for a refusal. */
export type X11Verdict = { ok: true; setup: Buffer } | { ok: false; reason: string; reply?: Buffer };

/**
 * Check a complete setup request's authorization against `auth.fake` and
 * return the request to send to the local server, with the real cookie.
 */
export function swapX11Cookie(setup: X11Setup, auth: Pick<X11Auth, 'protocol' | 'fake' | 'real'>): X11Verdict {
  const sameProtocol = setup.authName === auth.protocol;
  const sameData = setup.authData.length === auth.fake.length && timingSafeEqual(setup.authData, auth.fake);
  if (!sameProtocol || !sameData) {
    const reason = sameProtocol ? 'wrong authentication' : `authentication protocol ${JSON.stringify(setup.authName.slice(0, 64))} is not ${auth.protocol}`;
    return { ok: false, reason, reply: x11SetupFailure(setup, `X11 connection rejected because of ${sameProtocol ? 'wrong authentication' : 'a different authentication protocol'}`) };
  }
  return { ok: true, setup: encodeX11Setup({ ...setup, authData: auth.real }) };
}

/** Relays X11 streams to the local display for as long as the connection lasts. */
export class X11Forwarding {
  private open = 0;
  private lastError = '';
  private closed = false;
  private readonly now: () => number;

  /** `conn` null: no streams are taken from a connection; the caller hands them to serve() (the reference family). */
  constructor(
    private readonly conn: Connection | null,
    private readonly options: X11ForwardingOptions,
  ) {
    this.now = options.now ?? Date.now;
    conn?.on('stream', this.onStream);
  }

  /** Stop taking X11 streams (they are reset). */
  close(): void {
    this.closed = true;
    this.conn?.off('stream', this.onStream);
  }

  /** Serve one X connection whose setup request comes next on `stream` (no native stream header). */
  serve(stream: Stream): void {
    if (this.admit(stream)) this.readSetup(stream);
  }

  private report(line: string): void {
    if (line !== this.lastError) this.options.log(line);
    this.lastError = line;
  }

  private readonly onStream = (stream: Stream): void => {
    if (stream.kind !== StreamKind.X11) return;
    if (!this.admit(stream)) return;
    readFirstMessage(stream)
      .then(parseX11StreamHeader)
      .then(
        () => this.readSetup(stream),
        () => stream.reset(),
      );
  };

  /** Count the connection against the cap (resetting it when over, or closed); false if refused. */
  private admit(stream: Stream): boolean {
    stream.on('error', () => undefined);
    if (this.closed || this.open >= MAX_CLIENT_X11_CONNECTIONS) {
      stream.reset();
      return false;
    }
    this.open++;
    let released = false;
    stream.once('close', () => {
      if (!released) this.open--;
      released = true;
    });
    return true;
  }

  private readSetup(stream: Stream): void {
    const refuseAfter = this.options.auth.refuseAfter;
    if (refuseAfter !== undefined && this.now() > refuseAfter) {
      this.report('tssh: rejected X11 connection after ForwardX11Timeout expired');
      stream.reset();
      return;
    }
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      done();
      stream.reset();
    }, X11_SETUP_TIMEOUT_MS);
    const done = (): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
    };
    const onEnd = (): void => {
      done();
      stream.end();
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const parsed = parseX11Setup(buffered);
      if (parsed.kind === 'incomplete') return;
      done();
      stream.pause();
      if (parsed.kind === 'bad') {
        this.report(`tssh: X11 connection rejected: ${parsed.reason}`);
        stream.reset();
        return;
      }
      const verdict = swapX11Cookie(parsed.setup, this.options.auth);
      if (!verdict.ok) {
        this.report(`tssh: X11 connection rejected because of ${verdict.reason}`);
        // Tell the X client why, then close; whatever else it sent is dropped.
        stream.end(verdict.reply);
        stream.resume();
        return;
      }
      const rest = buffered.subarray(parsed.setup.length);
      if (rest.length > 0) stream.unshift(rest);
      this.connect(stream, verdict.setup);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.resume();
  }

  private connect(stream: Stream, setup: Buffer): void {
    const target = this.options.target;
    const socket: Socket =
      target.kind === 'unix'
        ? createConnection({ path: target.path, allowHalfOpen: true })
        : createConnection({ host: target.host, port: target.port, allowHalfOpen: true });
    const where = target.kind === 'unix' ? target.path : `${target.host} port ${target.port}`;
    const onError = (err: NodeJS.ErrnoException): void => {
      this.report(`tssh: cannot connect to the local X display at ${where} (${err.code ?? err.message})`);
      stream.reset();
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      socket.write(setup);
      spliceSocket(socket, stream);
    });
  }
}
