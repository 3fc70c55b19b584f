/**
 * What a jump-host relay (`tsshd --relay`, docs/CLIENT.md "Jump hosts") says:
 * its bootstrap line on the SSH login, and the one control datagram a client
 * sends it, "bye", when the session is over. Everything else the relay
 * carries is the session's own sealed datagrams, which it cannot read.
 *
 * Bootstrap line: BEL, then JSON {"relay":1,"serverVersion":S,"port":N,"secret":B}
 * and a newline; `secret` is 32 random bytes, base64url without padding.
 *
 * Bye datagram (24 bytes):
 *   byte 0      0xE7: reserved bits set, so never a sealed path datagram
 *   bytes 1..7  ASCII "RLYBYE" and version 1
 *   bytes 8..23 the first 16 bytes of HMAC-SHA256(secret, bytes 0..7)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BOOTSTRAP_MARKER, MAX_BOOTSTRAP_JSON, decodeBootstrapSecret, encodeBootstrapSecret } from './bootstrap.js';

/** Relay bootstrap version; a client refuses another. */
export const RELAY_VERSION = 1;
/** Length of a bye datagram. */
export const RELAY_BYE_BYTES = 24;
const BYE_HEADER = Buffer.from([0xe7, 0x52, 0x4c, 0x59, 0x42, 0x59, 0x45, RELAY_VERSION]);
const MAC_BYTES = 16;

/** What a relay tells the client over SSH. */
export interface RelayBootstrap {
  serverVersion: string;
  /** The relay's port on the hop (UDP, or TCP for UdpProxyMode TCP). */
  port: number;
  /** Authenticates the client's bye; 32 bytes. */
  secret: Buffer;
}

/** The line a relay prints (BEL, JSON, newline). */
export function encodeRelayBootstrap(info: RelayBootstrap): string {
  return `${BOOTSTRAP_MARKER}${JSON.stringify({ relay: RELAY_VERSION, serverVersion: info.serverVersion, port: info.port, secret: encodeBootstrapSecret(info.secret) })}\n`;
}

/** Whether the login output holds a complete line after its last BEL. */
export function relayLineComplete(output: string): boolean {
  const at = output.lastIndexOf(BOOTSTRAP_MARKER);
  return at >= 0 && output.indexOf('\n', at) >= 0;
}

/** Parse the relay's line out of everything the login printed. Throws one line naming the problem. */
export function parseRelayBootstrap(output: string, hop: string): RelayBootstrap {
  const at = output.lastIndexOf(BOOTSTRAP_MARKER);
  if (at < 0) throw new Error(`the relay on ${hop} printed no bootstrap line; is tsshd there this version or newer (tsshd --relay)?`);
  const rest = output.slice(at + 1);
  const end = rest.indexOf('\n');
  const json = (end < 0 ? rest : rest.slice(0, end)).trim();
  if (json.length > MAX_BOOTSTRAP_JSON) throw new Error(`the relay on ${hop} printed an over-long bootstrap line`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new Error(`the relay on ${hop} printed a bootstrap line that is not JSON`);
  }
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (v.relay !== RELAY_VERSION) throw new Error(`the relay on ${hop} speaks relay version ${JSON.stringify(v.relay)}, not ${RELAY_VERSION}; update tsshd on ${hop}`);
  const port = v.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`the relay on ${hop} sent a bad port`);
  if (typeof v.secret !== 'string') throw new Error(`the relay on ${hop} sent no secret`);
  let secret: Buffer;
  try {
    secret = decodeBootstrapSecret(v.secret);
  } catch {
    throw new Error(`the relay on ${hop} sent a bad secret`);
  }
  const serverVersion = typeof v.serverVersion === 'string' ? v.serverVersion.slice(0, 64) : 'unknown';
  return { serverVersion, port, secret };
}

function byeMac(secret: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(BYE_HEADER).digest().subarray(0, MAC_BYTES);
}

/** The bye datagram for a relay with this secret. */
export function relayBye(secret: Uint8Array): Buffer {
  return Buffer.concat([BYE_HEADER, byeMac(secret)]);
}

/** Whether `datagram` is a genuine bye for this secret (cheap reject for everything else). */
export function isRelayBye(datagram: Uint8Array, secret: Uint8Array): boolean {
  if (datagram.length !== RELAY_BYE_BYTES || datagram[0] !== BYE_HEADER[0]) return false;
  for (let i = 1; i < BYE_HEADER.length; i++) if (datagram[i] !== BYE_HEADER[i]) return false;
  return timingSafeEqual(datagram.subarray(BYE_HEADER.length), byeMac(secret));
}
