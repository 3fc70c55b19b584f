/**
 * The reference (Go tsshd) bootstrap reply: tsshd prints BEL, then the JSON
 * of its ServerInfo, then a newline, on the SSH exec session that started it
 * (docs/INTEROP.md "Bootstrap"). Field names are Go's (capitalised); empty
 * fields are left out. ClientID and ServerID are unsigned 64-bit JSON
 * numbers: they are read from the JSON text as bigints, never through a
 * double, so no bit is lost.
 *
 * Our tsshd adds one field the Go tssh ignores, `TsshdNative`, holding our
 * own bootstrap object; this module only carries it through (raw).
 */
import { oneLine } from '../config-syntax.js';
import { ReferenceWireError } from './errors.js';

/** Marks the start of the JSON in the login's output (the last one counts). */
export const SERVER_INFO_MARKER = '\x07';
/** Whole login output accepted before giving up. */
export const MAX_SERVER_INFO_OUTPUT = 1024 * 1024;
/** Longest JSON accepted (the Go tsshd's is under 3 KiB even with QUIC certificates). */
export const MAX_SERVER_INFO_JSON = 64 * 1024;
/** The one protocol version the Go tsshd v0.1.9 speaks. */
export const REFERENCE_PROTOCOL_VERSION = 1;
/** Name of the extra field our tsshd adds with its native bootstrap object. */
export const NATIVE_FIELD = 'TsshdNative';

/** Transport the server chose; the client follows it. */
export type ReferenceMode = 'KCP' | 'QUIC';

/** The reference ServerInfo, decoded. */
export interface ReferenceServerInfo {
  serverVersion: string;
  /** 0 when the server did not send one (older than v0.1.7). */
  protoVersion: number;
  port: number;
  mode: ReferenceMode;
  /** KCP: the initial traffic secret and the HKDF salt (48 bytes each from the Go tsshd). */
  pass?: Buffer;
  salt?: Buffer;
  /** QUIC: PEM texts (hex-decoded). */
  serverCert?: string;
  clientCert?: string;
  clientKey?: string;
  /** AES-256 key of the proxy's authentication packets. */
  proxyKey: Buffer;
  clientId: bigint;
  serverId: bigint;
  /** 'TCP' for UDP-over-TCP; 'UDP' when the field is absent. */
  proxyMode: 'UDP' | 'TCP';
  /** 0 when the server left the MTU to the client. */
  mtu: number;
  /** Our tsshd's native bootstrap object, when the server is ours. */
  native?: Record<string, unknown>;
}

const U64_MAX = (1n << 64n) - 1n;
const BIG_FIELDS = new Set(['ClientID', 'ServerID']);

/**
 * Find the ServerInfo in everything the login printed: the text after the
 * last BEL, up to the end of that line. Throws a one-line ReferenceWireError.
 */
export function parseServerInfoLine(output: string): ReferenceServerInfo {
  return decodeServerInfo(serverInfoJson(output));
}

/** The JSON text after the last BEL (up to its line's end), checked for size. */
export function serverInfoJson(output: string): string {
  if (output.length > MAX_SERVER_INFO_OUTPUT) {
    throw new ReferenceWireError('tsshd printed more than 1 MiB before its ServerInfo; check TsshdPath and the login shell');
  }
  const at = output.lastIndexOf(SERVER_INFO_MARKER);
  if (at < 0) throw new ReferenceWireError('tsshd printed no bootstrap line; is TsshdPath right?');
  const rest = output.slice(at + 1);
  const end = rest.indexOf('\n');
  const json = (end < 0 ? rest : rest.slice(0, end)).replace(/\r/g, '').trim();
  if (json.length > MAX_SERVER_INFO_JSON) throw new ReferenceWireError('tsshd bootstrap line is longer than 64 KiB; is TsshdPath a tsshd?');
  return json;
}

/** Parse the JSON object with ClientID/ServerID kept exact (as decimal strings, then bigints). */
export function parseServerInfoObject(json: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(quoteBigFields(json));
  } catch (err) {
    throw new ReferenceWireError(`tsshd bootstrap line is not valid JSON (${oneLine((err as Error).message).slice(0, 120)}); is TsshdPath a tsshd?`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ReferenceWireError('tsshd bootstrap line is not a JSON object; is TsshdPath a tsshd?');
  }
  return value as Record<string, unknown>;
}

/** Decode and check a ServerInfo JSON text. */
export function decodeServerInfo(json: string): ReferenceServerInfo {
  return serverInfoFromObject(parseServerInfoObject(json));
}

/** Check the fields of a parsed ServerInfo object. */
export function serverInfoFromObject(f: Record<string, unknown>): ReferenceServerInfo {
  const mode = f.Mode;
  if (mode === undefined || mode === '') throw new ReferenceWireError('the Go tsshd on the server is too old (no Mode in its ServerInfo); upgrade it to v0.1.9 or newer');
  if (mode !== 'KCP' && mode !== 'QUIC') throw invalid('Mode', '"KCP" or "QUIC"', mode);
  const info: ReferenceServerInfo = {
    serverVersion: str(f, 'ServerVer', 64) ?? '',
    protoVersion: int(f, 'ProtoVer', 0, 0xffff),
    port: int(f, 'Port', 1, 65535, true),
    mode,
    proxyKey: hex(f, 'ProxyKey', 32, 32, true)!,
    clientId: u64(f, 'ClientID'),
    serverId: u64(f, 'ServerID'),
    proxyMode: proxyMode(f.ProxyMode),
    mtu: int(f, 'MTU', 0, 65535),
  };
  if (mode === 'KCP') {
    info.pass = hex(f, 'Pass', 16, 1024, true);
    info.salt = hex(f, 'Salt', 0, 1024, false) ?? Buffer.alloc(0);
  } else {
    info.serverCert = hexText(f, 'ServerCert');
    info.clientCert = hexText(f, 'ClientCert');
    info.clientKey = hexText(f, 'ClientKey');
  }
  const native = f[NATIVE_FIELD];
  if (native !== undefined) {
    if (typeof native !== 'object' || native === null || Array.isArray(native)) throw invalid(NATIVE_FIELD, 'an object', native);
    info.native = native as Record<string, unknown>;
  }
  return info;
}

/** Render the line a server prints: BEL, JSON with Go's field names (empty ones left out), newline. */
export function encodeServerInfoLine(info: ReferenceServerInfo): string {
  const parts: string[] = [];
  const put = (name: string, value: string | undefined): void => {
    if (value !== undefined) parts.push(`${JSON.stringify(name)}:${value}`);
  };
  const s = (v: string | undefined): string | undefined => (v ? JSON.stringify(v) : undefined);
  const n = (v: number | bigint): string | undefined => (v ? String(v) : undefined);
  const h = (v: Buffer | undefined): string | undefined => (v && v.length > 0 ? JSON.stringify(v.toString('hex')) : undefined);
  const t = (v: string | undefined): string | undefined => (v ? JSON.stringify(Buffer.from(v).toString('hex')) : undefined);
  put('ServerVer', s(info.serverVersion));
  put('ProtoVer', n(info.protoVersion));
  put('Port', n(info.port));
  put('Mode', s(info.mode));
  put('Pass', h(info.pass));
  put('Salt', h(info.salt));
  put('ServerCert', t(info.serverCert));
  put('ClientCert', t(info.clientCert));
  put('ClientKey', t(info.clientKey));
  put('ProxyKey', h(info.proxyKey));
  put('ClientID', n(info.clientId));
  put('ServerID', n(info.serverId));
  put('ProxyMode', info.proxyMode === 'TCP' ? '"TCP"' : undefined);
  put('MTU', n(info.mtu));
  if (info.native !== undefined) put(NATIVE_FIELD, JSON.stringify(info.native));
  return `${SERVER_INFO_MARKER}{${parts.join(',')}}\n`;
}

/**
 * Wrap the numbers of ClientID/ServerID at the top level of the object in
 * quotes, so JSON.parse keeps their digits. A scanner, not a regex: it knows
 * strings and nesting, so text inside strings or nested objects is untouched.
 */
function quoteBigFields(json: string): string {
  let out = '';
  let depth = 0;
  let i = 0;
  let lastKey: string | null = null;
  let expectValue = false;
  const n = json.length;
  while (i < n) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (j < n && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const token = json.slice(i, j + 1);
      out += token;
      if (depth === 1 && !expectValue) lastKey = token.slice(1, -1);
      if (expectValue) expectValue = false;
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === ':' && depth === 1) {
      expectValue = true;
      out += c;
      i++;
      while (i < n && /\s/.test(json[i])) out += json[i++];
      if (lastKey !== null && BIG_FIELDS.has(lastKey) && /[-0-9]/.test(json[i] ?? '')) {
        let j = i;
        while (j < n && /[-+0-9.eE]/.test(json[j])) j++;
        out += `"${json.slice(i, j)}"`;
        i = j;
        expectValue = false;
      }
      continue;
    } else if (c === ',') {
      expectValue = false;
      lastKey = null;
    } else if (!/\s/.test(c)) {
      expectValue = false;
    }
    out += c;
    i++;
  }
  return out;
}

function u64(f: Record<string, unknown>, name: string): bigint {
  const v = f[name];
  if (v === undefined) return 0n;
  if (typeof v !== 'string' || !/^[0-9]{1,20}$/.test(v)) throw invalid(name, 'an unsigned 64-bit integer', v);
  const b = BigInt(v);
  if (b > U64_MAX) throw invalid(name, 'an unsigned 64-bit integer', v);
  return b;
}

function int(f: Record<string, unknown>, name: string, min: number, max: number, required = false): number {
  const v = f[name];
  if (v === undefined) {
    if (required) throw missing(name);
    return 0;
  }
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw invalid(name, `an integer from ${min} to ${max}`, v);
  return v as number;
}

function str(f: Record<string, unknown>, name: string, max: number): string | undefined {
  const v = f[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > max) throw invalid(name, `a string of at most ${max} characters`, v);
  return oneLine(v);
}

function hex(f: Record<string, unknown>, name: string, minBytes: number, maxBytes: number, required: boolean): Buffer | undefined {
  const v = f[name];
  if (v === undefined) {
    if (required) throw missing(name);
    return undefined;
  }
  if (typeof v !== 'string' || v.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(v) || v.length / 2 < minBytes || v.length / 2 > maxBytes) {
    throw invalid(name, minBytes === maxBytes ? `${minBytes} bytes in hex` : `${minBytes} to ${maxBytes} bytes in hex`, v);
  }
  return Buffer.from(v, 'hex');
}

function hexText(f: Record<string, unknown>, name: string): string {
  return hex(f, name, 1, 16384, true)!.toString('latin1');
}

function proxyMode(v: unknown): 'UDP' | 'TCP' {
  if (v === undefined || v === '' || v === 'UDP') return 'UDP';
  if (v === 'TCP') return 'TCP';
  throw invalid('ProxyMode', '"TCP" or absent', v);
}

function missing(name: string): ReferenceWireError {
  return new ReferenceWireError(`tsshd ServerInfo has no "${name}" field; is TsshdPath a tsshd?`);
}

function invalid(name: string, expected: string, got: unknown): ReferenceWireError {
  let shown = JSON.stringify(got) ?? String(got);
  if (shown.length > 60) shown = `${shown.slice(0, 60)}...`;
  return new ReferenceWireError(`tsshd ServerInfo field "${name}" must be ${expected} (got ${oneLine(shown)}); is TsshdPath a tsshd?`);
}
