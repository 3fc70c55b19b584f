/**
 * What happens to keys typed while the connection is lost. While the outage
 * notice is up, typed bytes are discarded, never queued: replaying them minutes
 * later (a half-typed `rm`, a stray Enter) would surprise the user. Ctrl+D
 * quits instead. Before the notice shows (the link is merely slow) everything
 * passes: the reliable transport queues it. Escapes (`~.`) are filtered before
 * this gate, so they work during an outage too.
 */

/** Ctrl+D: during an outage, quits tssh. */
export const QUIT_BYTE = 0x04;

/** Minimum time between two bells for discarded input, so a held key does not ring continuously. */
export const BELL_INTERVAL_MS = 1000;

/** What to do with one chunk of typed input. */
export interface GateResult {
  /** Bytes to send to the remote side, or null when nothing is to be sent. */
  forward: Buffer | null;
  /** Ctrl+D was typed during an outage: the user wants to quit. */
  quit: boolean;
  /** Number of bytes thrown away. */
  discarded: number;
  /** Ring the local bell (BEL to stdout) to say the keys went nowhere. */
  bell: boolean;
}

/** Gate between the escape filter and the session's input stream. */
export class InputGate {
  private outage = false;
  private lastBellMs = -Infinity;

  /**
   * @param now clock in milliseconds, used only to space out bells.
   * @param quitByte the key that quits during an outage (UdpReconnectExitKey; default Ctrl+D), or null for none.
   */
  constructor(
    private readonly now: () => number = Date.now,
    private readonly quitByte: number | null = QUIT_BYTE,
  ) {}

  /** True while input is being discarded. */
  get inOutage(): boolean {
    return this.outage;
  }

  /** Call with true when the outage notice appears and false when the connection is back. */
  setOutage(on: boolean): void {
    if (on && !this.outage) this.lastBellMs = -Infinity;
    this.outage = on;
  }

  /** Decide what happens to one chunk of typed input. */
  push(chunk: Uint8Array): GateResult {
    if (!this.outage) {
      const forward = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      return { forward: chunk.length > 0 ? forward : null, quit: false, discarded: 0, bell: false };
    }
    if (this.quitByte !== null && chunk.includes(this.quitByte)) return { forward: null, quit: true, discarded: chunk.length, bell: false };
    let bell = false;
    if (chunk.length > 0) {
      const t = this.now();
      if (t - this.lastBellMs >= BELL_INTERVAL_MS) {
        bell = true;
        this.lastBellMs = t;
      }
    }
    return { forward: null, quit: false, discarded: chunk.length, bell };
  }
}
