/**
 * The messages of the bus and session streams, described once for both
 * sides: a type per message and a parser per stream that checks every field
 * and builds a fresh object with only the known fields (unknown fields are
 * ignored, so later versions can add optional ones). Wire framing lives in
 * message-codec.ts; the exchange is documented in docs/SESSIONS.md.
 */

/** Why a peer's message was rejected. */
export type ProtocolErrorCode =
  /** A frame's length field exceeds MAX_MESSAGE_SIZE. */
  | 'oversize'
  /** The frame is not UTF-8 JSON. */
  | 'bad-json'
  /** The JSON is not a valid message of the expected kind (field missing, wrong type, out of range). */
  | 'bad-message'
  /** The `type` field names no message this side knows on this stream. */
  | 'unknown-type'
  /** The stream ended inside a frame or before an expected message. */
  | 'truncated';

/** The peer's bytes do not follow the session protocol; the only error a decoder throws. */
export class ProtocolError extends Error {
  constructor(readonly code: ProtocolErrorCode, detail: string) {
    super(`session protocol error (${code}): ${detail}`);
    this.name = 'ProtocolError';
  }
}

/** Largest session id (ids are u32, chosen by the client). */
export const MAX_SESSION_ID = 0xffff_ffff;
/** Terminal sizes are unsigned shorts in struct winsize; 0 is refused because node-pty refuses it. */
export const MAX_TERMINAL_DIMENSION = 0xffff;
/** Longest free-text field (version, reason, error message) that a parser accepts. */
export const MAX_TEXT_LENGTH = 1024;
/** Longest TERM name accepted in a pty request. */
export const MAX_TERM_LENGTH = 64;
/** Most environment variables one session request may carry. */
export const MAX_ENV_ENTRIES = 1024;
/** Longest environment variable name. */
export const MAX_ENV_NAME_LENGTH = 256;

// ---------------------------------------------------------------------------
// Bus stream (StreamKind.Bus)

/** Longest liveness timeout a hello may carry, in ms (setTimeout's limit, about 24.8 days). */
export const MAX_LIVENESS_TIMEOUT_MS = 0x7fff_ffff;

/** Client -> server, first message on the bus. */
export interface HelloMessage {
  type: 'hello';
  clientVersion: string;
  /** The client's UdpAliveTimeout in ms: the server gives up (and hangs up) after this long without contact. */
  aliveTimeoutMs?: number;
  /** The client's heartbeat timeout in ms: the server reports contact lost after this long. */
  heartbeatTimeoutMs?: number;
  /** UdpSessionName: the name an attachable tsshd lists this session under (tsshd --list, tssh --attach). */
  sessionName?: string;
}

/** Client -> server: a pty session's window changed size. */
export interface ResizeMessage {
  type: 'resize';
  session: number;
  cols: number;
  rows: number;
}

/** How a session's process ended, as ssh reports it: an exit code, or the signal that killed it (name without "SIG"). */
export interface ExitStatus {
  code?: number;
  signal?: string;
  coreDumped?: boolean;
}

/** Server -> client: a session's process ended. */
export interface ExitMessage extends ExitStatus {
  type: 'exit';
  session: number;
}

/** Either way: the sender is going away; the receiver should wind down. */
export interface GoodbyeMessage {
  type: 'goodbye';
  reason: string;
}

/** Client -> server: ask for a pty session's screen to be repainted (after an outage); the server sends SIGWINCH to the pty's foreground process group. */
export interface RedrawMessage {
  type: 'redraw';
  session: number;
}

/**
 * Client -> server: the client leaves on purpose (`~d`) but the sessions stay:
 * an attachable tsshd keeps its terminal sessions for a later attach (a tsshd
 * that is not attachable treats it as a goodbye).
 */
export interface DetachMessage {
  type: 'detach';
}

/** Anything that travels on the bus. */
export type BusMessage = HelloMessage | ResizeMessage | ExitMessage | GoodbyeMessage | RedrawMessage | DetachMessage;

/** Longest session name (UdpSessionName). */
export const MAX_SESSION_NAME_LENGTH = 64;

// ---------------------------------------------------------------------------
// Session stream (StreamKind.Session) and stderr stream (StreamKind.Stderr)

/** The terminal a pty session asks for. */
export interface PtyRequest {
  term: string;
  cols: number;
  rows: number;
  /**
   * The user asked for the pty explicitly (-t, -tt, RequestTTY yes/force): if
   * the login may not have one, the session is refused, as ssh then gives up;
   * otherwise it runs without a pty, as ssh's default does.
   */
  required?: boolean;
}

/**
 * X11 forwarding asked for with a session (ssh's x11-req): the server
 * registers this fake cookie with xauth for the display it allocates; the
 * client swaps it for the real one in each X connection (docs/FORWARDING.md).
 */
export interface X11Request {
  /** Authentication protocol, e.g. MIT-MAGIC-COOKIE-1: printable ASCII without spaces. */
  protocol: string;
  /** The fake cookie, lowercase hex. */
  cookie: string;
  /** The screen of the client's DISPLAY (".0"). */
  screen: number;
}

/** Longest X11 authentication protocol name accepted. */
export const MAX_X11_PROTOCOL_LENGTH = 64;
/** Longest X11 cookie accepted, in bytes (hex is twice as long). */
export const MAX_X11_COOKIE_BYTES = 256;

/**
 * Client -> server, first message on a session stream. Without `command` or
 * `subsystem` the user's login shell runs; `command` and `subsystem` exclude
 * each other. `agent` and `x11` ask for agent and X11 forwarding (-A, -X/-Y).
 */
export interface SessionRequest {
  type: 'session';
  id: number;
  pty?: PtyRequest;
  env: Record<string, string>;
  command?: string;
  subsystem?: string;
  agent?: boolean;
  x11?: X11Request;
  /**
   * Take over the running session `id` of an attachable tsshd instead of
   * starting one (tssh --attach); `pty` gives the new client's terminal size.
   * Only pty sessions can be attached; command and subsystem are not allowed.
   */
  attach?: boolean;
}

/**
 * Server -> client: the session runs; raw bytes follow. `agentRefused` /
 * `x11Refused` say why a requested forwarding is not set up (the session
 * runs without it).
 */
export interface SessionOkMessage {
  type: 'session-ok';
  agentRefused?: string;
  x11Refused?: string;
  /** The request was an attach and the session is now this client's. */
  attached?: boolean;
}

/** Server -> client: the session was refused; the server ends the stream. */
export interface SessionErrorMessage {
  type: 'session-error';
  message: string;
}

/** The server's reply to a SessionRequest. */
export type SessionReply = SessionOkMessage | SessionErrorMessage;

/** Server -> client, first message on a stderr stream: which session's stderr follows. */
export interface StderrHeader {
  type: 'stderr';
  session: number;
}

// ---------------------------------------------------------------------------
// Field checks

type Fields = Record<string, unknown>;

function bad(detail: string): ProtocolError {
  return new ProtocolError('bad-message', detail);
}

function asFields(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`${what} is not an object`);
  return value as Fields;
}

function has(o: Fields, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key) && o[key] !== undefined;
}

function text(o: Fields, key: string, max = MAX_TEXT_LENGTH): string {
  const v = o[key];
  if (typeof v !== 'string') throw bad(`${key} is not a string`);
  if (v.length > max) throw bad(`${key} is longer than ${max}`);
  return v;
}

/** A string that will reach execve or the environment, where NUL cannot be represented. */
function cString(o: Fields, key: string, max: number): string {
  const v = text(o, key, max);
  if (v.includes('\0')) throw bad(`${key} contains NUL`);
  return v;
}

function integer(o: Fields, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`${key} is not an integer in ${min}..${max}`);
  }
  return v;
}

function boolean(o: Fields, key: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw bad(`${key} is not a boolean`);
  return v;
}

function sessionId(o: Fields, key: string): number {
  return integer(o, key, 0, MAX_SESSION_ID);
}

/** A session name: printable, no spaces or quotes, so it lists and passes through shells and configs as it is. */
export const SESSION_NAME_PATTERN = /^[A-Za-z0-9._@+-]{1,64}$/;

function sessionName(o: Fields, key: string): string {
  const v = text(o, key, MAX_SESSION_NAME_LENGTH);
  if (!SESSION_NAME_PATTERN.test(v)) throw bad(`${key} must be 1 to 64 of A-Z a-z 0-9 . _ @ + -`);
  return v;
}

function dimension(o: Fields, key: string): number {
  return integer(o, key, 1, MAX_TERMINAL_DIMENSION);
}

function typeOf(o: Fields): string {
  const t = o.type;
  if (typeof t !== 'string') throw bad('type is not a string');
  return t;
}

const SIGNAL_NAME = /^[A-Z][A-Z0-9+-]{0,31}$/;
const TERM_NAME = /^[\x21-\x7e]+$/;

function parsePty(value: unknown): PtyRequest {
  const o = asFields(value, 'pty');
  const term = text(o, 'term', MAX_TERM_LENGTH);
  if (!TERM_NAME.test(term)) throw bad('pty.term is not printable ASCII without spaces');
  const pty: PtyRequest = { term, cols: dimension(o, 'cols'), rows: dimension(o, 'rows') };
  if (o.required === true) pty.required = true;
  return pty;
}

const X11_PROTOCOL_NAME = /^[\x21-\x7e]+$/;
const HEX_COOKIE = /^(?:[0-9a-f]{2})+$/;

function parseX11Request(value: unknown): X11Request {
  const o = asFields(value, 'x11');
  const protocol = text(o, 'protocol', MAX_X11_PROTOCOL_LENGTH);
  if (!X11_PROTOCOL_NAME.test(protocol)) throw bad('x11.protocol is not printable ASCII without spaces');
  const cookie = text(o, 'cookie', 2 * MAX_X11_COOKIE_BYTES);
  if (!HEX_COOKIE.test(cookie)) throw bad('x11.cookie is not lowercase hex bytes');
  return { protocol, cookie, screen: integer(o, 'screen', 0, 0xffff) };
}

function parseEnv(value: unknown): Record<string, string> {
  const o = asFields(value, 'env');
  const keys = Object.keys(o);
  if (keys.length > MAX_ENV_ENTRIES) throw bad(`env has more than ${MAX_ENV_ENTRIES} entries`);
  const entries: [string, string][] = [];
  for (const name of keys) {
    if (name.length === 0 || name.length > MAX_ENV_NAME_LENGTH || name.includes('=') || name.includes('\0')) {
      throw bad('env has an invalid variable name');
    }
    const v = o[name];
    if (typeof v !== 'string' || v.includes('\0')) throw bad(`env.${name} is not a string without NUL`);
    entries.push([name, v]);
  }
  // fromEntries defines own properties, so a name like "__proto__" stays an ordinary key.
  return Object.fromEntries(entries);
}

// ---------------------------------------------------------------------------
// Parsers, one per stream position

/** Check a decoded bus message. Throws ProtocolError ('unknown-type' for types this version does not know). */
export function parseBusMessage(value: unknown): BusMessage {
  const o = asFields(value, 'message');
  const type = typeOf(o);
  switch (type) {
    case 'hello': {
      const m: HelloMessage = { type, clientVersion: text(o, 'clientVersion') };
      if (has(o, 'aliveTimeoutMs')) m.aliveTimeoutMs = integer(o, 'aliveTimeoutMs', 1, MAX_LIVENESS_TIMEOUT_MS);
      if (has(o, 'heartbeatTimeoutMs')) m.heartbeatTimeoutMs = integer(o, 'heartbeatTimeoutMs', 1, MAX_LIVENESS_TIMEOUT_MS);
      if (has(o, 'sessionName')) m.sessionName = sessionName(o, 'sessionName');
      return m;
    }
    case 'resize':
      return { type, session: sessionId(o, 'session'), cols: dimension(o, 'cols'), rows: dimension(o, 'rows') };
    case 'exit': {
      const m: ExitMessage = { type, session: sessionId(o, 'session') };
      if (has(o, 'code')) m.code = integer(o, 'code', 0, 0xffff_ffff);
      if (has(o, 'signal')) {
        const signal = text(o, 'signal', 32);
        if (!SIGNAL_NAME.test(signal)) throw bad('signal is not a signal name');
        m.signal = signal;
      }
      if (has(o, 'coreDumped')) m.coreDumped = boolean(o, 'coreDumped');
      return m;
    }
    case 'goodbye':
      return { type, reason: text(o, 'reason') };
    case 'redraw':
      return { type, session: sessionId(o, 'session') };
    case 'detach':
      return { type };
    default:
      throw new ProtocolError('unknown-type', `no bus message of type ${JSON.stringify(type.slice(0, 64))}`);
  }
}

/** Check the first message of a session stream. */
export function parseSessionRequest(value: unknown): SessionRequest {
  const o = asFields(value, 'message');
  if (typeOf(o) !== 'session') throw new ProtocolError('unknown-type', 'a session stream must start with a session request');
  const request: SessionRequest = { type: 'session', id: sessionId(o, 'id'), env: parseEnv(o.env) };
  if (has(o, 'pty')) request.pty = parsePty(o.pty);
  // Bounded by the frame size; NUL cannot pass through execve.
  if (has(o, 'command')) request.command = cString(o, 'command', Number.MAX_SAFE_INTEGER);
  if (has(o, 'subsystem')) {
    const name = cString(o, 'subsystem', MAX_ENV_NAME_LENGTH);
    if (name.length === 0) throw bad('subsystem is empty');
    request.subsystem = name;
  }
  if (request.command !== undefined && request.subsystem !== undefined) throw bad('command and subsystem both given');
  if (has(o, 'agent') && boolean(o, 'agent')) request.agent = true;
  if (has(o, 'x11')) request.x11 = parseX11Request(o.x11);
  if (has(o, 'attach') && boolean(o, 'attach')) {
    if (request.pty === undefined) throw bad('attach needs a pty');
    if (request.command !== undefined || request.subsystem !== undefined) throw bad('attach takes no command or subsystem');
    request.attach = true;
  }
  return request;
}

/** Check the server's reply on a session stream. */
export function parseSessionReply(value: unknown): SessionReply {
  const o = asFields(value, 'message');
  const type = typeOf(o);
  if (type === 'session-ok') {
    const reply: SessionOkMessage = { type };
    if (has(o, 'agentRefused')) reply.agentRefused = text(o, 'agentRefused');
    if (has(o, 'x11Refused')) reply.x11Refused = text(o, 'x11Refused');
    if (has(o, 'attached') && boolean(o, 'attached')) reply.attached = true;
    return reply;
  }
  if (type === 'session-error') return { type, message: text(o, 'message') };
  throw new ProtocolError('unknown-type', 'expected session-ok or session-error');
}

/** Check the first message of a stderr stream. */
export function parseStderrHeader(value: unknown): StderrHeader {
  const o = asFields(value, 'message');
  if (typeOf(o) !== 'stderr') throw new ProtocolError('unknown-type', 'a stderr stream must start with a stderr header');
  return { type: 'stderr', session: sessionId(o, 'session') };
}
