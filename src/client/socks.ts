/**
 * The SOCKS server side of -D: SOCKS4, SOCKS4a and SOCKS5 without
 * authentication, CONNECT only, as ssh's dynamic forwarding speaks them.
 * Names are not resolved here: the name goes to tsshd, which resolves it on
 * the server's side (so internal names work and no DNS leaks locally).
 */
import { SocketAddress, type Socket } from 'node:net';
import type { ForwardFailureReason, HostPort } from '../protocol/forward-messages.js';

/** A CONNECT request read from a SOCKS client. */
export interface SocksRequest {
  version: 4 | 5;
  target: HostPort;
}

/** The client spoke something we cannot serve; the reply (if any) was already sent. */
export class SocksError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SocksError';
  }
}

/** Most bytes a request may take before it is complete (SOCKS4 user ids are short; SOCKS5 names are ≤ 255). */
const MAX_REQUEST_BYTES = 1024;

const SOCKS5_REPLY: Record<ForwardFailureReason | 'ok' | 'command' | 'address', number> = {
  ok: 0x00,
  'resource-shortage': 0x01,
  prohibited: 0x02,
  'connect-failed': 0x05,
  command: 0x07,
  address: 0x08,
};

/** The reply to send once the forward is open (ok) or refused. */
export function socksReply(version: 4 | 5, outcome: ForwardFailureReason | 'ok'): Buffer {
  if (version === 4) return Buffer.from([0, outcome === 'ok' ? 0x5a : 0x5b, 0, 0, 0, 0, 0, 0]);
  return socks5Reply(SOCKS5_REPLY[outcome]);
}

function socks5Reply(code: number): Buffer {
  // BND.ADDR/BND.PORT are ours to choose; clients ignore them for CONNECT.
  return Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}

type Step = { need: true } | { done: SocksRequest; used: number };

/**
 * Read one CONNECT request from `socket` (answering SOCKS5's method
 * negotiation itself). Resolves with the request, the socket paused and any
 * bytes after the request put back; rejects with SocksError after replying
 * where the protocol has a reply for the failure.
 */
export function readSocksRequest(socket: Socket): Promise<SocksRequest> {
  return new Promise((resolve, reject) => {
    let buffer: Buffer = Buffer.alloc(0);
    let greeted = false;
    const finish = (err: Error | null, request?: SocksRequest, rest?: Buffer): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      if (err) return reject(err);
      if (rest && rest.length > 0) socket.unshift(rest);
      resolve(request!);
    };
    const fail = (message: string, reply?: Buffer): void => {
      if (reply) socket.end(reply);
      finish(new SocksError(message));
    };
    const onEnd = (): void => finish(new SocksError('the SOCKS client closed the connection before its request'));
    const onData = (chunk: Buffer): void => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      try {
        for (;;) {
          if (buffer.length === 0) return;
          const version = buffer[0];
          if (version === 4) {
            const step = parseSocks4(buffer);
            if ('done' in step) return finish(null, step.done, buffer.subarray(step.used));
          } else if (version === 5 && !greeted) {
            if (buffer.length < 2 || buffer.length < 2 + buffer[1]!) break;
            const methods = buffer.subarray(2, 2 + buffer[1]!);
            buffer = buffer.subarray(2 + buffer[1]!);
            if (!methods.includes(0)) {
              return fail('SOCKS5 client offered no acceptable authentication method (only "no authentication" is supported)', Buffer.from([5, 0xff]));
            }
            greeted = true;
            socket.write(Buffer.from([5, 0]));
            continue;
          } else if (version === 5) {
            const step = parseSocks5(buffer);
            if ('done' in step) return finish(null, step.done, buffer.subarray(step.used));
          } else {
            return fail(`not a SOCKS4 or SOCKS5 request (first byte ${version})`, undefined);
          }
          break;
        }
      } catch (err) {
        if (err instanceof SocksFailure) return fail(err.message, err.reply);
        throw err;
      }
      if (buffer.length > MAX_REQUEST_BYTES) fail(`SOCKS request longer than ${MAX_REQUEST_BYTES} bytes`);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}

/** A malformed or unsupported request, with the protocol's reply for it. */
class SocksFailure extends Error {
  constructor(
    message: string,
    readonly reply?: Buffer,
  ) {
    super(message);
  }
}

/** A host name tsshd will accept: not empty, no spaces or control characters. */
function goodName(host: string): boolean {
  return /^[\x21-\x7e\u00a0-\u00ff]+$/.test(host);
}

/** VN CD DSTPORT(2) DSTIP(4) USERID NUL [HOSTNAME NUL] (4a: DSTIP 0.0.0.x, x ≠ 0). */
function parseSocks4(b: Buffer): Step {
  if (b.length < 9) return { need: true };
  const userEnd = b.indexOf(0, 8);
  if (userEnd < 0) return { need: true };
  const refuse = socksReply(4, 'prohibited');
  if (b[1] !== 1) throw new SocksFailure(`SOCKS4 command ${b[1]} is not supported (only CONNECT)`, refuse);
  const port = b.readUInt16BE(2);
  let host: string;
  let used = userEnd + 1;
  if (b[4] === 0 && b[5] === 0 && b[6] === 0 && b[7] !== 0) {
    const nameEnd = b.indexOf(0, used);
    if (nameEnd < 0) return { need: true };
    host = b.toString('latin1', used, nameEnd);
    used = nameEnd + 1;
    if (!goodName(host)) throw new SocksFailure('SOCKS4a request with an empty or unprintable host name', refuse);
  } else {
    host = `${b[4]}.${b[5]}.${b[6]}.${b[7]}`;
  }
  if (port === 0) throw new SocksFailure('SOCKS4 request for port 0', refuse);
  return { done: { version: 4, target: { host, port } }, used };
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT(2). */
function parseSocks5(b: Buffer): Step {
  if (b.length < 5) return { need: true };
  if (b[1] !== 1) throw new SocksFailure(`SOCKS5 command ${b[1]} is not supported (only CONNECT)`, socks5Reply(SOCKS5_REPLY.command));
  let host: string;
  let end: number;
  switch (b[3]) {
    case 1:
      end = 4 + 4;
      if (b.length < end + 2) return { need: true };
      host = `${b[4]}.${b[5]}.${b[6]}.${b[7]}`;
      break;
    case 3: {
      const length = b[4]!;
      end = 5 + length;
      if (b.length < end + 2) return { need: true };
      host = b.toString('latin1', 5, end);
      if (!goodName(host)) throw new SocksFailure('SOCKS5 request with an empty or unprintable host name', socks5Reply(SOCKS5_REPLY.address));
      break;
    }
    case 4: {
      end = 4 + 16;
      if (b.length < end + 2) return { need: true };
      const groups: string[] = [];
      for (let i = 4; i < end; i += 2) groups.push(b.readUInt16BE(i).toString(16));
      host = new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
      break;
    }
    default:
      throw new SocksFailure(`SOCKS5 address type ${b[3]} is not supported`, socks5Reply(SOCKS5_REPLY.address));
  }
  const port = b.readUInt16BE(end);
  if (port === 0) throw new SocksFailure('SOCKS5 request for port 0', socks5Reply(SOCKS5_REPLY.prohibited));
  return { done: { version: 5, target: { host, port } }, used: end + 2 };
}
