/**
 * UdpProxyMode TCP carries the same sealed datagrams over one TCP connection,
 * each framed as [u16 BE length][datagram]. The sender leaves
 * FRAME_HEADER_BYTES of headroom in front of a sealed datagram and calls
 * writeFrameHeader(), so framing costs no copy.
 */
export const FRAME_HEADER_BYTES = 2;

/** Fill in the length prefix of a frame whose datagram starts at FRAME_HEADER_BYTES. */
export function writeFrameHeader(frame: Buffer): void {
  frame.writeUInt16BE(frame.length - FRAME_HEADER_BYTES, 0);
}

/**
 * Splits a TCP byte stream into datagrams. A frame whose length is outside
 * [minLength, maxLength] cannot come from a peer speaking this protocol: push()
 * then returns false and the caller closes the connection. At most one
 * partial frame (maxLength + 2 bytes) is buffered.
 */
export class TcpFrameDecoder {
  private pending: Buffer | null = null;

  constructor(
    private readonly minLength: number,
    private readonly maxLength: number,
    private readonly onFrame: (datagram: Buffer) => void,
  ) {}

  /** Feed received bytes; frames are passed to onFrame in order. Returns false on an impossible length. */
  push(chunk: Buffer): boolean {
    let data = chunk;
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let at = 0;
    const end = data.length;
    while (end - at >= FRAME_HEADER_BYTES) {
      const length = data.readUInt16BE(at);
      if (length < this.minLength || length > this.maxLength) return false;
      const frameEnd = at + FRAME_HEADER_BYTES + length;
      if (frameEnd > end) break;
      this.onFrame(data.subarray(at + FRAME_HEADER_BYTES, frameEnd));
      at = frameEnd;
    }
    // Copy the tail so a small partial frame does not pin a large chunk.
    if (at < end) this.pending = Buffer.from(data.subarray(at));
    return true;
  }
}
