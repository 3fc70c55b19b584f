/**
 * ssh's escape sequences, as an incremental filter over the bytes typed at
 * stdin. An escape is recognised only right after a newline (CR or LF) or at
 * the very start of the session, exactly as OpenSSH's client loop does:
 *
 *   ~.    disconnect            ~?    help and connection status
 *   ~^Z   suspend tssh          ~~    send one literal escape character
 *   ~P    renew the UDP path now (tssh's own; ssh has no ~P)
 *   ~d    detach, leaving the session running (attach mode only, as the reference tssh)
 *
 * The escape character followed by any other byte sends both bytes. A held
 * escape character waits for the next byte, however long that takes, even
 * across chunks. The filter is pure: no I/O, no timers.
 */

const CR = 0x0d;
const LF = 0x0a;
const CTRL_Z = 0x1a;

/** ssh's default escape character, `~`. */
export const DEFAULT_ESCAPE_CHAR = 0x7e;

/** What an escape sequence asks the client to do. */
export type EscapeKind = 'disconnect' | 'help' | 'suspend' | 'renew-path' | 'detach';

/** One recognised escape sequence, positioned relative to the filtered data. */
export interface EscapeAction {
  kind: EscapeKind;
  /** Number of bytes of this push's `data` that were typed before the escape: send `data.subarray(0, at)` first. */
  at: number;
}

/** The result of filtering one chunk of input. */
export interface EscapeResult {
  /** The bytes to send to the remote side, escapes taken out. */
  data: Buffer;
  /** Recognised escapes in the order they were typed. */
  actions: EscapeAction[];
}

/** The second byte of each escape sequence this client acts on. */
const ACTIONS = new Map<number, EscapeKind>([
  [0x2e /* . */, 'disconnect'],
  [0x3f /* ? */, 'help'],
  [CTRL_Z, 'suspend'],
  [0x50 /* P */, 'renew-path'],
]);

/**
 * Incremental escape-sequence filter. Feed it every chunk read from stdin, in
 * order; it returns the bytes to forward and the escapes recognised. With the
 * escape character `null` or `'none'`, input passes through unchanged.
 */
export class EscapeFilter {
  private readonly escapeChar: number | null;
  private readonly actions: ReadonlyMap<number, EscapeKind>;
  /** True at session start and after a CR or LF was forwarded. */
  private atLineStart = true;
  /** An escape character was typed at a line start and awaits its second byte. */
  private held = false;

  /**
   * @param escapeChar the escape byte (default `~`), or `null`/`'none'` to disable escapes.
   * @param options.detach recognise `~d` (a session that can be attached again); otherwise `~d` is two ordinary bytes.
   */
  constructor(escapeChar: number | null | 'none' = DEFAULT_ESCAPE_CHAR, options: { detach?: boolean } = {}) {
    if (typeof escapeChar === 'number' && (!Number.isInteger(escapeChar) || escapeChar < 0 || escapeChar > 0xff)) {
      throw new RangeError(`escape character must be a byte, got ${escapeChar}`);
    }
    this.escapeChar = escapeChar === 'none' ? null : escapeChar;
    this.actions = options.detach === true ? new Map([...ACTIONS, [0x64 /* d */, 'detach']]) : ACTIONS;
  }

  /** True while an escape character is held, waiting for the byte that follows it. */
  get pending(): boolean {
    return this.held;
  }

  /** Filter one chunk of typed input. */
  push(chunk: Uint8Array): EscapeResult {
    const esc = this.escapeChar;
    if (esc === null) {
      return { data: Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length), actions: [] };
    }
    // One extra byte: a held escape character from the previous chunk may be released.
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let n = 0;
    const actions: EscapeAction[] = [];
    for (const b of chunk) {
      if (this.held) {
        this.held = false;
        const kind = this.actions.get(b);
        if (kind !== undefined) {
          // Like ssh, an acted-on escape leaves the line-start state as it was, so escapes can follow one another.
          actions.push({ kind, at: n });
          continue;
        }
        // `~~` sends one `~`; `~x` sends both, then x is an ordinary byte.
        if (b !== esc) out[n++] = esc;
      } else if (this.atLineStart && b === esc) {
        this.held = true;
        continue;
      }
      out[n++] = b;
      this.atLineStart = b === CR || b === LF;
    }
    return { data: out.subarray(0, n), actions };
  }
}

/** Connection facts shown by `~?`, as supplied by the caller at the time of asking. */
export interface ConnectionStatus {
  /** Transport in use, e.g. `KCP` or `QUIC`. */
  transport: string;
  /** Server address as `host:port`. */
  serverAddress: string;
  /** Smoothed round-trip time, when known. */
  rttMs?: number;
  /** Recent packet loss in percent, when known. */
  lossPct?: number;
  /** Time since the last datagram from the server, when known. */
  sinceLastContactMs?: number;
  /** Protocol family in use: `native`, or `reference (Go tsshd 0.1.9)`. */
  protocol?: string;
}

/** How ssh prints an escape character: itself, or `^X` for a control character. */
export function describeEscapeChar(escapeChar: number): string {
  if (escapeChar < 0x20) return `^${String.fromCharCode(escapeChar + 0x40)}`;
  if (escapeChar === 0x7f) return '^?';
  return String.fromCharCode(escapeChar);
}

/**
 * The text `~?` prints: ssh's list of the escapes tssh supports, then a line of
 * connection status. Lines end in CRLF because the terminal is in raw mode.
 */
export function formatEscapeHelp(escapeChar: number, status: ConnectionStatus, detach = false): string {
  const e = describeEscapeChar(escapeChar);
  const lines = [
    '',
    'Supported escape sequences:',
    ` ${e}.   - terminate connection`,
    ...(detach ? [` ${e}d   - detach, leaving the session running (tssh --attach to come back)`] : []),
    ` ${e}P   - renew the UDP path now (roam to the current network)`,
    ` ${e}^Z  - suspend tssh`,
    ` ${e}?   - this message`,
    ` ${e}${e}   - send the escape character by typing it twice`,
    '(Note that escapes are only recognized immediately after newline.)',
    formatStatusLine(status),
  ];
  return lines.join('\r\n') + '\r\n';
}

/** One line summarising the connection, leaving out facts not known. */
export function formatStatusLine(status: ConnectionStatus): string {
  const parts = [`${status.transport} to ${status.serverAddress}`];
  if (status.rttMs !== undefined) parts.push(`RTT ${Math.round(status.rttMs)} ms`);
  if (status.lossPct !== undefined) parts.push(`loss ${status.lossPct.toFixed(1)}%`);
  if (status.sinceLastContactMs !== undefined) {
    parts.push(`last heard from ${(status.sinceLastContactMs / 1000).toFixed(1)} s ago`);
  }
  if (status.protocol !== undefined) parts.push(`${status.protocol} protocol`);
  return `Connection: ${parts.join(', ')}`;
}
