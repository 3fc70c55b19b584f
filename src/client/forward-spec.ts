/**
 * OpenSSH port-forwarding specifications (-L, -R, -D and their ssh_config
 * forms), plus tssh's UDP forms written with a `udp/` (or `udp:`, `udp_`,
 * `udp-`) prefix. Fields split on `:` except inside `[...]`; a field with a
 * `/` in it is a unix socket path, as in OpenSSH.
 */
import { quoteValue } from '../protocol/config-syntax.js';

/** Where a forward listens: a TCP/UDP port (optionally bound to an address) or a unix socket. */
export type ForwardListen = { host?: string; port: number } | { path: string };
/** Where a forwarded connection goes. */
export type ForwardConnect = { host: string; port: number } | { path: string };

/** A parsed -L or -R forward. `listen.host` is kept as written: '' and '*' mean all interfaces. */
export interface ForwardSpec {
  proto: 'tcp' | 'udp';
  listen: ForwardListen;
  connect: ForwardConnect;
}

/** A parsed -D (SOCKS) forward. */
export interface DynamicForwardSpec {
  listen: { host?: string; port: number };
}

/** Which option the spec came from: decides the error text and whether port 0 may listen. */
export interface ForwardSpecOptions {
  /** 'L' (local) or 'R' (remote). */
  kind: 'L' | 'R';
  /** Name for messages, e.g. "-L" (default) or "LocalForward". */
  label?: string;
  /** Force UDP, for UdpLocalForward/UdpRemoteForward (a udp prefix is then optional). */
  udp?: boolean;
}

const FORWARD_FORM = '[bind_address:]port:host:hostport';
const DYNAMIC_FORM = '[bind_address:]port';

interface Field {
  text: string;
  isPath: boolean;
}

/** Parse a -L/-R specification. Throws a one-line Error naming the spec and the expected form. */
export function parseForwardSpec(spec: string, options: ForwardSpecOptions): ForwardSpec {
  const label = options.label ?? `-${options.kind}`;
  const fail = (why?: string): Error =>
    new Error(`bad ${label} specification ${quoteValue(spec)}: ${why ?? `expected ${FORWARD_FORM} (a side may be a /unix/socket path)`}`);
  let body = spec.trimStart();
  let proto: 'tcp' | 'udp' = options.udp ? 'udp' : 'tcp';
  const prefix = /^udp[/:_-]/i.exec(body);
  if (prefix) {
    proto = 'udp';
    body = body.slice(prefix[0].length);
  }
  const fields = splitFields(body);
  if (fields === null) throw fail();
  const [a, b, c, d] = fields;
  const remote = options.kind === 'R';
  let listen: ForwardListen;
  let connect: ForwardConnect;
  switch (fields.length) {
    case 2:
      if (!b!.isPath) throw fail();
      listen = a!.isPath ? { path: a!.text } : { port: port(a!.text, remote, fail) };
      connect = { path: b!.text };
      break;
    case 3:
      if (a!.isPath) {
        listen = { path: a!.text };
        connect = { host: host(b!, fail), port: port(c!.text, false, fail) };
      } else if (c!.isPath) {
        listen = { host: a!.text, port: port(b!.text, remote, fail) };
        connect = { path: c!.text };
      } else {
        listen = { port: port(a!.text, remote, fail) };
        connect = { host: host(b!, fail), port: port(c!.text, false, fail) };
      }
      break;
    case 4:
      if (a!.isPath || b!.isPath || d!.isPath) throw fail();
      listen = { host: a!.text, port: port(b!.text, remote, fail) };
      connect = { host: host(c!, fail), port: port(d!.text, false, fail) };
      break;
    default:
      throw fail();
  }
  if ('path' in listen && listen.path === '') throw fail('the listening socket path is empty');
  if ('path' in connect && connect.path === '') throw fail('the socket path to connect to is empty');
  return { proto, listen, connect };
}

/** Parse a -D specification. Throws a one-line Error naming the spec and the expected form. */
export function parseDynamicForwardSpec(spec: string, label = '-D'): DynamicForwardSpec {
  const fail = (why?: string): Error => new Error(`bad ${label} specification ${quoteValue(spec)}: ${why ?? `expected ${DYNAMIC_FORM}`}`);
  if (/^udp[/:_-]/i.test(spec.trimStart())) throw fail(`SOCKS forwarding is TCP only; expected ${DYNAMIC_FORM}`);
  const fields = splitFields(spec.trimStart());
  if (fields === null || fields.some((f) => f.isPath)) throw fail();
  if (fields.length === 1) return { listen: { port: port(fields[0]!.text, false, fail) } };
  if (fields.length === 2) return { listen: { host: fields[0]!.text, port: port(fields[1]!.text, false, fail) } };
  throw fail();
}

// OpenSSH's parse_fwd_field: `[...]` is literal, `\` escapes, a `/` makes a path.
function splitFields(text: string): Field[] | null {
  if (text === '') return null;
  const fields: Field[] = [];
  let i = 0;
  while (i < text.length) {
    if (fields.length === 4) return null;
    if (text[i] === '[') {
      const close = text.indexOf(']', i + 1);
      if (close < 0) return null;
      const inner = text.slice(i + 1, close);
      if (close + 1 < text.length && text[close + 1] !== ':') return null;
      fields.push({ text: inner, isPath: inner.includes('/') });
      i = close + 2;
      continue;
    }
    let word = '';
    let isPath = false;
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (c === '\\') {
        if (i + 1 >= text.length) return null;
        word += text[++i];
      } else if (c === ':') {
        break;
      } else {
        if (c === '/') isPath = true;
        word += c;
      }
    }
    i++;
    fields.push({ text: word, isPath });
  }
  return fields;
}

function port(text: string, allowZero: boolean, fail: (why?: string) => Error): number {
  const n = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= (allowZero ? 0 : 1) && n <= 65535)) {
    throw fail(`port ${quoteValue(text)} must be a number from ${allowZero ? 0 : 1} to 65535`);
  }
  return n;
}

function host(field: Field, fail: (why?: string) => Error): string {
  if (field.text === '') throw fail('the host to connect to is empty');
  if (field.isPath) throw fail();
  return field.text;
}
