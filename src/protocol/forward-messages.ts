/**
 * The messages of port forwarding, described once for both sides. Every
 * stream of kind StreamKind.Forward starts with one header message that says
 * what the stream is:
 *
 *  - `forward-open`     (C→S) a -L/-D/-W connection: reply, then raw bytes
 *  - `forward-incoming` (S→C) a connection accepted by a -R listener: reply, then raw bytes
 *  - `forward-control`  (C→S) the -R control stream: listen/cancel requests and their replies
 *  - `udp-control`      (C→S) the UDP forwarding control stream: associations and UDP listeners
 *
 * Framing is message-codec.ts's; parsers check every field and build fresh
 * objects (unknown fields are ignored). The exchange is in docs/FORWARDING.md.
 */
import { ProtocolError } from './messages.js';

/** Longest host name or address accepted (DNS names are at most 253 characters). */
export const MAX_HOST_LENGTH = 255;
/** Longest Unix socket path accepted (Linux's sun_path is 108 bytes, other systems differ; the OS has the last word). */
export const MAX_SOCKET_PATH_LENGTH = 4096;
/** Longest error text a parser accepts. */
export const MAX_FORWARD_TEXT_LENGTH = 1024;
/** Largest listener id (u32, chosen by the client). */
export const MAX_LISTEN_ID = 0xffff_ffff;
/** Longest UDP idle timeout a udp listen request may carry, in ms (setTimeout's limit). */
export const MAX_UDP_IDLE_MS = 0x7fff_ffff;

/**
 * Datagram channels carrying UDP associations. Each side allocates from its
 * own range, so the two never collide; channels below 0x8000 are left for
 * other uses of the connection's datagrams.
 */
export const CLIENT_UDP_CHANNELS = { first: 0x8000, count: 0x4000 } as const;
/** Channels the server allocates for associations of its UDP listeners (-R udp). */
export const SERVER_UDP_CHANNELS = { first: 0xc000, count: 0x4000 } as const;

/** A TCP endpoint. */
export interface HostPort {
  host: string;
  port: number;
}

/** What a forwarded connection connects to: a TCP host and port, or a Unix socket path. */
export type ForwardTarget = HostPort | { path: string };

/**
 * Where a -R listener binds. `host` is what the user wrote: absent means
 * "localhost" (as ssh sends it), '' means all interfaces; GatewayPorts
 * decides what the server actually binds.
 */
export type ListenBind = { host?: string; port: number } | { path: string };

/** Why a forward was refused, as SSH's channel-open failure reasons. */
export type ForwardFailureReason = 'prohibited' | 'connect-failed' | 'resource-shortage';

/** How ssh words each reason ("channel 2: open failed: administratively prohibited: ..."). */
export const FAILURE_REASON_TEXT: Record<ForwardFailureReason, string> = {
  prohibited: 'administratively prohibited',
  'connect-failed': 'connect failed',
  'resource-shortage': 'resource shortage',
};

// ---------------------------------------------------------------------------
// Stream headers (first message of a Forward stream)

/** C→S: connect to `target` and relay. `originator` is the local peer, for the server's log. */
export interface ForwardOpenMessage {
  type: 'forward-open';
  target: ForwardTarget;
  originator?: HostPort;
}

/** S→C: listener `id` accepted a connection from `originator` (absent for Unix listeners). */
export interface ForwardIncomingMessage {
  type: 'forward-incoming';
  id: number;
  originator?: HostPort;
}

/** C→S: this stream carries -R listen requests. */
export interface ForwardControlHeader {
  type: 'forward-control';
}

/** C→S: this stream announces UDP associations and carries UDP listen requests. */
export interface UdpControlHeader {
  type: 'udp-control';
}

/** The first message of any Forward stream. */
export type ForwardHeader = ForwardOpenMessage | ForwardIncomingMessage | ForwardControlHeader | UdpControlHeader;

// ---------------------------------------------------------------------------
// Replies on forward-open / forward-incoming streams (from the side that connects)

/** The connection is made; raw bytes follow. */
export interface ForwardOkMessage {
  type: 'forward-ok';
}

/** The connection was refused or failed; the sender ends the stream. */
export interface ForwardErrorMessage {
  type: 'forward-error';
  reason: ForwardFailureReason;
  message: string;
}

/** The reply to a forward-open or forward-incoming. */
export type ForwardReply = ForwardOkMessage | ForwardErrorMessage;

// ---------------------------------------------------------------------------
// Control streams (forward-control for TCP/Unix, udp-control for UDP)

/** C→S: bind a listener; `id` is the client's, unique among its listeners on this stream. */
export interface ListenMessage {
  type: 'listen';
  id: number;
  bind: ListenBind;
  /** UDP only: close an association after this long without a datagram either way. */
  idleMs?: number;
}

/** C→S: close listener `id` (no reply). */
export interface CancelMessage {
  type: 'cancel';
  id: number;
}

/** S→C: listener `id` is bound; `port` is the port bound (allocated when 0 was asked; absent for Unix sockets). */
export interface ListenOkMessage {
  type: 'listen-ok';
  id: number;
  port?: number;
}

/** S→C: listener `id` was refused or could not bind. */
export interface ListenErrorMessage {
  type: 'listen-error';
  id: number;
  message: string;
}

/** C→S (udp-control): a new association on `channel` (client range) to `target` (host:port or a Unix datagram socket). */
export interface UdpOpenMessage {
  type: 'udp-open';
  channel: number;
  target: ForwardTarget;
}

/** S→C (udp-control): UDP listener `id` heard a new source `originator` (absent for a Unix socket listener), now on `channel` (server range). */
export interface UdpIncomingMessage {
  type: 'udp-incoming';
  channel: number;
  id: number;
  originator?: HostPort;
}

/** Either way (udp-control): the association on `channel` is over; `message` says why if it failed. */
export interface UdpCloseMessage {
  type: 'udp-close';
  channel: number;
  message?: string;
}

/** What the client sends on the forward-control stream. */
export type ControlRequest = ListenMessage | CancelMessage;
/** What the server sends on the forward-control stream. */
export type ControlReply = ListenOkMessage | ListenErrorMessage;
/** What the client sends on the udp-control stream. */
export type UdpClientMessage = ListenMessage | CancelMessage | UdpOpenMessage | UdpCloseMessage;
/** What the server sends on the udp-control stream. */
export type UdpServerMessage = ListenOkMessage | ListenErrorMessage | UdpIncomingMessage | UdpCloseMessage;

// ---------------------------------------------------------------------------
// Field checks

type Fields = Record<string, unknown>;

function bad(detail: string): ProtocolError {
  return new ProtocolError('bad-message', detail);
}

function unknown(type: string, where: string): ProtocolError {
  return new ProtocolError('unknown-type', `no ${where} message of type ${JSON.stringify(type.slice(0, 64))}`);
}

function asFields(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`${what} is not an object`);
  return value as Fields;
}

function has(o: Fields, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key) && o[key] !== undefined;
}

function typeOf(o: Fields): string {
  const t = o.type;
  if (typeof t !== 'string') throw bad('type is not a string');
  return t;
}

function text(o: Fields, key: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string') throw bad(`${key} is not a string`);
  if (v.length > max) throw bad(`${key} is longer than ${max}`);
  return v;
}

function integer(o: Fields, key: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`${key} is not an integer in ${min}..${max}`);
  return v;
}

/** Visible characters only (ASCII, or any non-ASCII for internationalised names). */
const PRINTABLE_HOST = /^[\x21-\x7e\u00a0-\uffff]+$/;

/** Host names reach getaddrinfo: no NUL, no whitespace or control characters. */
function hostName(o: Fields, key: string, allowEmpty: boolean): string {
  const v = text(o, key, MAX_HOST_LENGTH);
  if (!allowEmpty && v === '') throw bad(`${key} is empty`);
  if (v !== '' && !PRINTABLE_HOST.test(v)) throw bad(`${key} contains spaces or control characters`);
  return v;
}

function socketPath(o: Fields, key: string): string {
  const v = text(o, key, MAX_SOCKET_PATH_LENGTH);
  if (v === '') throw bad(`${key} is empty`);
  if (v.includes('\0')) throw bad(`${key} contains NUL`);
  return v;
}

function parseHostPort(value: unknown, what: string, minPort = 1): HostPort {
  const o = asFields(value, what);
  return { host: hostName(o, 'host', false), port: integer(o, 'port', minPort, 65535) };
}

function parseTarget(value: unknown): ForwardTarget {
  const o = asFields(value, 'target');
  if (has(o, 'path')) return { path: socketPath(o, 'path') };
  return parseHostPort(o, 'target');
}

function parseBind(value: unknown): ListenBind {
  const o = asFields(value, 'bind');
  if (has(o, 'path')) return { path: socketPath(o, 'path') };
  const bind: ListenBind = { port: integer(o, 'port', 0, 65535) };
  if (has(o, 'host')) bind.host = hostName(o, 'host', true);
  return bind;
}

function channelIn(o: Fields, range: { first: number; count: number }): number {
  return integer(o, 'channel', range.first, range.first + range.count - 1);
}

function listenId(o: Fields): number {
  return integer(o, 'id', 0, MAX_LISTEN_ID);
}

function originatorOf(o: Fields): HostPort | undefined {
  // The originator is informational: a port of 0 is possible for odd sockets.
  return has(o, 'originator') ? parseHostPort(o.originator, 'originator', 0) : undefined;
}

function parseListenFamily(o: Fields, type: string, udp: boolean): ListenMessage | CancelMessage | null {
  if (type === 'cancel') return { type, id: listenId(o) };
  if (type !== 'listen') return null;
  const m: ListenMessage = { type, id: listenId(o), bind: parseBind(o.bind) };
  if (udp) {
    if (has(o, 'idleMs')) m.idleMs = integer(o, 'idleMs', 1, MAX_UDP_IDLE_MS);
  }
  return m;
}

function parseListenReply(o: Fields, type: string): ListenOkMessage | ListenErrorMessage | null {
  if (type === 'listen-ok') {
    const m: ListenOkMessage = { type, id: listenId(o) };
    if (has(o, 'port')) m.port = integer(o, 'port', 1, 65535);
    return m;
  }
  if (type === 'listen-error') return { type, id: listenId(o), message: text(o, 'message', MAX_FORWARD_TEXT_LENGTH) };
  return null;
}

/** Either side may close an association of either range (its own, or one it refuses). */
const ANY_UDP_CHANNEL = { first: CLIENT_UDP_CHANNELS.first, count: CLIENT_UDP_CHANNELS.count + SERVER_UDP_CHANNELS.count };

function parseUdpClose(o: Fields): UdpCloseMessage {
  const m: UdpCloseMessage = { type: 'udp-close', channel: channelIn(o, ANY_UDP_CHANNEL) };
  if (has(o, 'message')) m.message = text(o, 'message', MAX_FORWARD_TEXT_LENGTH);
  return m;
}

// ---------------------------------------------------------------------------
// Parsers, one per stream position

/** Check the first message of a Forward stream. Throws ProtocolError. */
export function parseForwardHeader(value: unknown): ForwardHeader {
  const o = asFields(value, 'message');
  const type = typeOf(o);
  switch (type) {
    case 'forward-open': {
      const m: ForwardOpenMessage = { type, target: parseTarget(o.target) };
      const originator = originatorOf(o);
      if (originator) m.originator = originator;
      return m;
    }
    case 'forward-incoming': {
      const m: ForwardIncomingMessage = { type, id: listenId(o) };
      const originator = originatorOf(o);
      if (originator) m.originator = originator;
      return m;
    }
    case 'forward-control':
    case 'udp-control':
      return { type };
    default:
      throw unknown(type, 'forward stream header');
  }
}

/** Check the reply to a forward-open or forward-incoming. */
export function parseForwardReply(value: unknown): ForwardReply {
  const o = asFields(value, 'message');
  const type = typeOf(o);
  if (type === 'forward-ok') return { type };
  if (type === 'forward-error') {
    const reason = o.reason;
    if (reason !== 'prohibited' && reason !== 'connect-failed' && reason !== 'resource-shortage') throw bad('reason is not a known failure reason');
    return { type, reason, message: text(o, 'message', MAX_FORWARD_TEXT_LENGTH) };
  }
  throw unknown(type, 'forward reply');
}

/** Check a message the client sent on a forward-control stream. */
export function parseControlRequest(value: unknown): ControlRequest {
  const o = asFields(value, 'message');
  const type = typeOf(o);
  const m = parseListenFamily(o, type, false);
  if (m) return m;
  throw unknown(type, 'forward-control request');
}

/** Check a message the server sent on a forward-control stream. */
export function parseControlReply(value: unknown): ControlReply {
  const o = asFields(value, 'message');
  const type = typeOf(o);
  const m = parseListenReply(o, type);
  if (m) return m;
  throw unknown(type, 'forward-control reply');
}

/** Check a message the client sent on the udp-control stream. */
export function parseUdpClientMessage(value: unknown): UdpClientMessage {
  const o = asFields(value, 'message');
  const type = typeOf(o);
  if (type === 'udp-open') {
    return { type, channel: channelIn(o, CLIENT_UDP_CHANNELS), target: parseTarget(o.target) };
  }
  if (type === 'udp-close') return parseUdpClose(o);
  const m = parseListenFamily(o, type, true);
  if (m) return m;
  throw unknown(type, 'udp-control request');
}

/** Check a message the server sent on the udp-control stream. */
export function parseUdpServerMessage(value: unknown): UdpServerMessage {
  const o = asFields(value, 'message');
  const type = typeOf(o);
  if (type === 'udp-incoming') {
    const m: UdpIncomingMessage = { type, channel: channelIn(o, SERVER_UDP_CHANNELS), id: listenId(o) };
    const originator = originatorOf(o);
    if (originator) m.originator = originator;
    return m;
  }
  if (type === 'udp-close') return parseUdpClose(o);
  const m = parseListenReply(o, type);
  if (m) return m;
  throw unknown(type, 'udp-control reply');
}

/** "host:port" (IPv6 in brackets) or the socket path, for messages. */
export function describeTarget(target: ForwardTarget | ListenBind): string {
  if ('path' in target) return target.path;
  const host = target.host === undefined ? 'localhost' : target.host === '' ? '*' : target.host;
  return `${host.includes(':') ? `[${host}]` : host}:${target.port}`;
}
