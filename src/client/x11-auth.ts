/**
 * The client's X11 display and its authorization, found as ssh's
 * client_x11_get_proto finds them:
 *  - trusted (-Y, or ForwardX11Trusted yes): the cookie `xauth list $DISPLAY` prints;
 *  - untrusted (-X with ForwardX11Trusted no): a fresh cookie from
 *    `xauth generate $DISPLAY MIT-MAGIC-COOKIE-1 untrusted timeout T` (the X
 *    server's SECURITY extension limits what its clients may do; connections
 *    are refused after ForwardX11Timeout, as by ssh);
 *  - no cookie (a display without authorization): made-up data, with ssh's warning.
 * The fake cookie sent to tsshd is random and as long as the real one.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where the local X server listens, from $DISPLAY. */
export type DisplayTarget =
  | { kind: 'unix'; path: string; number: number; screen: number }
  | { kind: 'tcp'; host: string; port: number; number: number; screen: number };

/** The directory of local X sockets. */
export const X11_UNIX_DIR = '/tmp/.X11-unix';
/** X11 TCP ports: display N at 6000 + N. */
const X11_TCP_BASE = 6000;
/** ssh's X11_TIMEOUT_SLACK: the generated cookie outlives the refusal time by this much. */
const GENERATE_SLACK_SEC = 60;
/** xauth gets this long. */
const XAUTH_TIMEOUT_MS = 10_000;

/**
 * Parse $DISPLAY: ":N[.S]" and "unix:N[.S]" are the local socket
 * /tmp/.X11-unix/XN; "/path:N[.S]" (macOS launchd) is that socket path
 * (":N" included); "host:N[.S]" is TCP host, port 6000+N. Null if it is none of these.
 */
export function parseDisplay(display: string): DisplayTarget | null {
  const m = /^(.*):([0-9]{1,5})(?:\.([0-9]{1,5}))?$/s.exec(display);
  if (!m) return null;
  const host = m[1]!;
  const number = Number(m[2]);
  const screen = m[3] === undefined ? 0 : Number(m[3]);
  if (number > 65535 - X11_TCP_BASE || screen > 65535) return null;
  if (host === '' || host === 'unix') return { kind: 'unix', path: `${X11_UNIX_DIR}/X${number}`, number, screen };
  if (host.startsWith('/')) return { kind: 'unix', path: `${host}:${number}`, number, screen };
  if (/[\s/]/.test(host)) return null;
  return { kind: 'tcp', host: host.replace(/^\[(.*)\]$/, '$1'), port: X11_TCP_BASE + number, number, screen };
}

/** The local authorization and the fake one tsshd gets. */
export interface X11Auth {
  protocol: string;
  real: Buffer;
  fake: Buffer;
  /** Untrusted forwarding: X connections after this time (Date.now() ms) are refused. */
  refuseAfter?: number;
}

/** What localX11Auth found: the auth, or why X11 is not forwarded; `warning` is for stderr either way. */
export type X11AuthResult = { auth: X11Auth; warning?: string } | { auth: null; warning: string };

export interface LocalX11AuthOptions {
  display: string;
  xauthLocation: string;
  trusted: boolean;
  /** ForwardX11Timeout in seconds (untrusted only; 0: no limit). */
  timeoutSec: number;
}

/** Read (or, untrusted, generate) the local display's cookie and make a fake one. Never throws. */
export async function localX11Auth(o: LocalX11AuthOptions): Promise<X11AuthResult> {
  // As ssh: xauth may not know "localhost:N", but "unix:N" is the same display.
  const display = o.display.startsWith('localhost:') ? `unix:${o.display.slice('localhost:'.length)}` : o.display;
  let found: { protocol: string; data: Buffer } | null = null;
  let refuseAfter: number | undefined;
  if (o.trusted) {
    found = firstCookie(await runXauth(o.xauthLocation, ['list', display]));
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'tssh-xauth-'));
    try {
      const file = join(dir, 'xauthfile');
      const generate = ['-f', file, 'generate', display, 'MIT-MAGIC-COOKIE-1', 'untrusted'];
      if (o.timeoutSec > 0) generate.push('timeout', String(o.timeoutSec + GENERATE_SLACK_SEC));
      if ((await runXauth(o.xauthLocation, generate)) === null) {
        return { auth: null, warning: 'Warning: untrusted X11 forwarding setup failed: xauth key data not generated' };
      }
      found = firstCookie(await runXauth(o.xauthLocation, ['-f', file, 'list', display]));
      if (o.timeoutSec > 0) refuseAfter = Date.now() + o.timeoutSec * 1000;
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
  let warning: string | undefined;
  if (found === null) {
    warning = 'Warning: No xauth data; using fake authentication data for X11 forwarding.';
    found = { protocol: 'MIT-MAGIC-COOKIE-1', data: randomBytes(16) };
  }
  const auth: X11Auth = { protocol: found.protocol, real: found.data, fake: randomBytes(found.data.length) };
  if (refuseAfter !== undefined) auth.refuseAfter = refuseAfter;
  return warning === undefined ? { auth } : { auth, warning };
}

/** The protocol and data of the first line of `xauth list` ("host/unix:0  MIT-MAGIC-COOKIE-1  hex"). */
export function firstCookie(listing: string | null): { protocol: string; data: Buffer } | null {
  if (listing === null) return null;
  for (const line of listing.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words.length < 3) continue;
    const hex = words[2]!.toLowerCase();
    if (!/^(?:[0-9a-f]{2}){1,256}$/.test(hex)) continue;
    return { protocol: words[1]!, data: Buffer.from(hex, 'hex') };
  }
  return null;
}

/** xauth's stdout, or null if it failed or could not run. */
function runXauth(xauth: string, args: readonly string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(xauth, args, { timeout: XAUTH_TIMEOUT_MS, maxBuffer: 1024 * 1024 }, (err, stdout) => resolve(err ? null : stdout));
  });
}
