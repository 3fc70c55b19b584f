/**
 * The first message of the streams tsshd opens back to tssh for agent and X11
 * forwarding (StreamKind.Agent and StreamKind.X11). No reply follows: raw
 * bytes flow both ways after the header, and the client resets the stream if
 * it cannot or will not connect it. Framing is message-codec.ts's; the
 * exchange is in docs/FORWARDING.md.
 */
import { MAX_SESSION_ID, ProtocolError } from './messages.js';

/** S→C, first message of an Agent stream: a connection to session `session`'s SSH_AUTH_SOCK. */
export interface AgentStreamHeader {
  type: 'agent';
  session: number;
}

/** S→C, first message of an X11 stream: a connection to session `session`'s DISPLAY, from `originator`. */
export interface X11StreamHeader {
  type: 'x11';
  session: number;
  originator?: { host: string; port: number };
}

type Fields = Record<string, unknown>;

function bad(detail: string): ProtocolError {
  return new ProtocolError('bad-message', detail);
}

function fields(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`${what} is not an object`);
  return value as Fields;
}

function u32(o: Fields, key: string, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw bad(`${key} is not an integer in 0..${max}`);
  return v;
}

function expectType(o: Fields, type: string, stream: string): void {
  if (o.type !== type) throw new ProtocolError('unknown-type', `an ${stream} stream must start with a ${type} header`);
}

/** Check the first message of an Agent stream. */
export function parseAgentStreamHeader(value: unknown): AgentStreamHeader {
  const o = fields(value, 'message');
  expectType(o, 'agent', 'agent');
  return { type: 'agent', session: u32(o, 'session', MAX_SESSION_ID) };
}

/** Check the first message of an X11 stream. */
export function parseX11StreamHeader(value: unknown): X11StreamHeader {
  const o = fields(value, 'message');
  expectType(o, 'x11', 'X11');
  const header: X11StreamHeader = { type: 'x11', session: u32(o, 'session', MAX_SESSION_ID) };
  if (o.originator !== undefined) {
    const origin = fields(o.originator, 'originator');
    const host = origin.host;
    if (typeof host !== 'string' || host.length > 255) throw bad('originator.host is not a string of at most 255 characters');
    header.originator = { host, port: u32(origin, 'port', 0xffff) };
  }
  return header;
}
