/**
 * A terminal session's output while no client receives it (detached, or its
 * client out of contact): the most recent DETACHED_OUTPUT_LIMIT bytes are
 * kept, cut at a line start; what falls off the front is counted in lines,
 * and the client that comes back first reads one summary line
 * ("[tsshd: N lines of output not shown]") and then the kept tail. Nothing is
 * dropped without being counted. Memory: at most the limit plus one chunk.
 */

/** Bytes of detached output kept for the next client (documented in docs/TSSHD.md). */
export const DETACHED_OUTPUT_LIMIT = 256 * 1024;

const LF = 0x0a;

function countLines(data: Buffer): number {
  let n = 0;
  for (let at = data.indexOf(LF); at >= 0; at = data.indexOf(LF, at + 1)) n++;
  return n;
}

/** The summary put before the kept tail when lines fell off. */
export function summaryLine(lines: number, bytes: number): string {
  const what = lines === 1 ? '1 line' : `${lines} lines`;
  return `\r\n[tsshd: ${what} (${bytes} bytes) of output while detached not shown]\r\n`;
}

/** Detached output, bounded; see the file comment. */
export class DetachedOutput {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private droppedLines = 0;
  private droppedBytes = 0;

  constructor(private readonly limit = DETACHED_OUTPUT_LIMIT) {}

  /** Bytes held. */
  get size(): number {
    return this.bytes;
  }

  /** Whether anything (kept or dropped) waits for the next client. */
  get isEmpty(): boolean {
    return this.bytes === 0 && this.droppedBytes === 0;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes > this.limit) this.trim();
  }

  /** What the next client gets (summary, then the tail), emptied. */
  take(): Buffer {
    const parts = this.chunks;
    const out = this.droppedBytes > 0 ? [Buffer.from(summaryLine(this.droppedLines, this.droppedBytes)), ...parts] : parts;
    this.chunks = [];
    this.bytes = 0;
    this.droppedLines = 0;
    this.droppedBytes = 0;
    return Buffer.concat(out);
  }

  /** Drop from the front until within the limit, then on to the next line start (in that chunk) so the tail begins with a whole line. */
  private trim(): void {
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= this.limit) this.drop(this.chunks.shift()!);
    const first = this.chunks[0]!;
    let cut = this.bytes - this.limit;
    if (cut <= 0) return;
    const nextLine = first.indexOf(LF, cut);
    if (nextLine >= 0) cut = nextLine + 1;
    this.drop(first.subarray(0, cut));
    if (cut >= first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(cut);
  }

  private drop(part: Buffer): void {
    this.droppedLines += countLines(part);
    this.droppedBytes += part.length;
    this.bytes -= part.length;
  }
}
