/**
 * The bootstrap line: the one line tsshd prints on the SSH login for tssh to
 * read before it closes SSH and switches to UDP. It is a BEL (which no MOTD or
 * shell prompt normally contains) followed by JSON and a newline.
 */
import { PROTOCOL_VERSION, VERSION } from '../version.js';
import { oneLine } from './config-syntax.js';

/** Marks the start of the bootstrap JSON in the login's output. */
export const BOOTSTRAP_MARKER = '\x07';
/** Whole login output accepted, so a runaway remote command cannot exhaust memory. */
export const MAX_BOOTSTRAP_OUTPUT = 1024 * 1024;
/** The JSON itself is a few hundred bytes; anything past this is not ours. */
export const MAX_BOOTSTRAP_JSON = 64 * 1024;
/** Session secret size in bytes (encoded as 43 base64url characters). */
export const BOOTSTRAP_SECRET_BYTES = 32;

/** Reliable transport the server chose. */
export type BootstrapMode = 'kcp' | 'quic';
/** How datagrams travel: plain UDP, or UDP-over-TCP where UDP is blocked. */
export type BootstrapProxyMode = 'udp' | 'tcp';

/** QUIC-specific bootstrap data: certificate pins for the self-signed server certificate. */
export interface BootstrapQuic {
  /** SHA-256 fingerprints of acceptable server certificates, as hex or base64 strings. */
  certFingerprints: string[];
}

/** Everything tssh needs to reach a freshly started tsshd over UDP. */
export interface BootstrapInfo {
  /** tsshd's package version, for messages. */
  serverVersion: string;
  /** Wire protocol version; must equal the client's. */
  protocolVersion: number;
  /** UDP (or TCP proxy) port tsshd listens on, 1..65535. */
  port: number;
  mode: BootstrapMode;
  /** 32-byte session secret, base64url without padding. */
  secret: string;
  proxyMode: BootstrapProxyMode;
  /** Path MTU to use, 576..9000. */
  mtu: number;
  /** KCP conversation id (u32), when the server picked one. */
  conv?: number;
  quic?: BootstrapQuic;
}

/** The bootstrap object, validated (what goes into the reference ServerInfo's TsshdNative field). */
export function bootstrapObject(info: BootstrapInfo): BootstrapInfo {
  return validateFields(info as unknown as Record<string, unknown>);
}

/** Render the bootstrap line tsshd prints (validated first, so a bad one is never sent). */
export function encodeBootstrap(info: BootstrapInfo): string {
  const checked = validateFields(info as unknown as Record<string, unknown>);
  return `${BOOTSTRAP_MARKER}${JSON.stringify(checked)}\n`;
}

/** Options for {@link parseBootstrap}; the defaults are this build's versions. */
export interface ParseBootstrapOptions {
  protocolVersion?: number;
  clientVersion?: string;
}

/**
 * Find and check the bootstrap line in everything the login printed. Only the
 * text after the last BEL counts (MOTD and shell noise may come before it),
 * up to the end of that line. Throws a one-line Error on any problem.
 */
export function parseBootstrap(output: string, options: ParseBootstrapOptions = {}): BootstrapInfo {
  if (output.length > MAX_BOOTSTRAP_OUTPUT) {
    throw new Error(`tsshd printed more than 1 MiB before its bootstrap line; check TsshdPath and the login shell's startup files`);
  }
  const at = output.lastIndexOf(BOOTSTRAP_MARKER);
  if (at < 0) throw new Error('tsshd printed no bootstrap line; is TsshdPath right?');
  const rest = output.slice(at + 1);
  const end = rest.indexOf('\n');
  const json = (end < 0 ? rest : rest.slice(0, end)).trim();
  if (json.length > MAX_BOOTSTRAP_JSON) {
    throw new Error('tsshd bootstrap line is longer than 64 KiB; is TsshdPath a compatible tsshd?');
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    const reason = oneLine((err as Error).message).slice(0, 200);
    throw new Error(`tsshd bootstrap line is not valid JSON (${reason}); is TsshdPath a compatible tsshd?`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('tsshd bootstrap line is not a JSON object; is TsshdPath a compatible tsshd?');
  }
  const fields = value as Record<string, unknown>;
  checkProtocolVersion(fields, options.protocolVersion ?? PROTOCOL_VERSION, options.clientVersion ?? VERSION);
  return validateFields(fields);
}

/** Decode the session secret to its 32 bytes. */
export function decodeBootstrapSecret(secret: string): Buffer {
  if (!isSecret(secret)) throw new Error('bootstrap secret must be 32 bytes in base64url (43 characters)');
  return Buffer.from(secret, 'base64url');
}

/** Encode 32 secret bytes for the bootstrap line. */
export function encodeBootstrapSecret(bytes: Uint8Array): string {
  if (bytes.length !== BOOTSTRAP_SECRET_BYTES) throw new Error(`bootstrap secret must be 32 bytes (got ${bytes.length})`);
  return Buffer.from(bytes).toString('base64url');
}

// Version first: a newer tsshd may have other fields, and "upgrade" is the useful advice.
function checkProtocolVersion(fields: Record<string, unknown>, ours: number, clientVersion: string): void {
  const theirs = fields.protocolVersion;
  if (theirs === undefined) throw missing('protocolVersion');
  if (!Number.isInteger(theirs)) throw invalid('protocolVersion', 'an integer', theirs);
  if (theirs === ours) return;
  const server = typeof fields.serverVersion === 'string' ? ` ${oneLine(fields.serverVersion.slice(0, 40))}` : '';
  const older = (theirs as number) < ours ? 'upgrade tsshd on the server' : 'upgrade tssh on this machine';
  throw new Error(
    `tsshd${server} speaks protocol version ${theirs as number} but tssh ${clientVersion} speaks protocol version ${ours}; ${older}`,
  );
}

function validateFields(f: Record<string, unknown>): BootstrapInfo {
  const info: BootstrapInfo = {
    serverVersion: field(f, 'serverVersion', 'a string', (v) => typeof v === 'string' && v.length > 0 && v.length <= 256) as string,
    protocolVersion: field(f, 'protocolVersion', 'an integer', (v) => Number.isInteger(v)) as number,
    port: field(f, 'port', 'an integer from 1 to 65535', (v) => isIntIn(v, 1, 65535)) as number,
    mode: field(f, 'mode', '"kcp" or "quic"', (v) => v === 'kcp' || v === 'quic') as BootstrapMode,
    secret: field(f, 'secret', '32 bytes in base64url (43 characters)', isSecret) as string,
    proxyMode: field(f, 'proxyMode', '"udp" or "tcp"', (v) => v === 'udp' || v === 'tcp') as BootstrapProxyMode,
    mtu: field(f, 'mtu', 'an integer from 576 to 9000', (v) => isIntIn(v, 576, 9000)) as number,
  };
  if (f.conv !== undefined) {
    info.conv = field(f, 'conv', 'an unsigned 32-bit integer', (v) => isIntIn(v, 0, 0xffffffff)) as number;
  }
  if (f.quic !== undefined) info.quic = validateQuic(f.quic);
  return info;
}

function validateQuic(v: unknown): BootstrapQuic {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid('quic', 'an object', v);
  const prints = (v as Record<string, unknown>).certFingerprints;
  if (
    !Array.isArray(prints) ||
    prints.length > 16 ||
    !prints.every((p) => typeof p === 'string' && /^[A-Za-z0-9+/=_:-]{1,200}$/.test(p))
  ) {
    throw invalid('quic.certFingerprints', 'a list of up to 16 fingerprint strings', prints);
  }
  return { certFingerprints: [...(prints as string[])] };
}

function field(f: Record<string, unknown>, name: string, expected: string, ok: (v: unknown) => boolean): unknown {
  const v = f[name];
  if (v === undefined) throw missing(name);
  if (!ok(v)) throw invalid(name, expected, v);
  return v;
}

function isIntIn(v: unknown, min: number, max: number): boolean {
  return Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
}

// 43 base64url characters carry 258 bits; the last two must be zero for exactly 32 bytes.
function isSecret(v: unknown): boolean {
  return typeof v === 'string' && /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(v);
}

function missing(name: string): Error {
  return new Error(`tsshd bootstrap line has no "${name}" field; is TsshdPath a compatible tsshd?`);
}

function invalid(name: string, expected: string, got: unknown): Error {
  // JSON.stringify escapes newlines and control characters, keeping the message on one line.
  let shown = JSON.stringify(got) ?? String(got);
  if (shown.length > 60) shown = `${shown.slice(0, 60)}...`;
  shown = oneLine(shown);
  return new Error(`tsshd bootstrap field "${name}" must be ${expected} (got ${shown}); is TsshdPath a compatible tsshd?`);
}
