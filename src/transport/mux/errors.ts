/** Base class of every error the multiplexer raises itself. */
export class MuxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MuxError';
  }
}

/** Why the peer's bytes were rejected. */
export type MuxProtocolErrorCode =
  | 'bad-version'
  | 'frame-too-large'
  | 'bad-control-length'
  | 'window-exceeded'
  | 'connection-window-exceeded'
  | 'data-after-fin';

/**
 * The peer broke the wire protocol. Framing errors ('bad-version',
 * 'frame-too-large', 'bad-control-length') and DATA beyond the connection's
 * credit end the whole Mux; stream flow-control errors reset only the
 * offending stream.
 */
export class MuxProtocolError extends MuxError {
  constructor(readonly code: MuxProtocolErrorCode, detail: string, readonly streamId = 0) {
    super(`mux protocol error (${code}): ${detail}`);
    this.name = 'MuxProtocolError';
  }
}

/** The Mux is closing or closed, or the peer sent GOAWAY: no new streams. */
export class MuxClosedError extends MuxError {
  constructor(readonly reason: 'closed' | 'goaway') {
    super(reason === 'goaway' ? 'the peer refuses new streams (GOAWAY)' : 'the multiplexer is closed');
    this.name = 'MuxClosedError';
  }
}

/** openStream() would exceed maxStreams, or the id space is used up. */
export class MuxStreamLimitError extends MuxError {
  constructor(readonly limit: number) {
    super(`cannot open more than ${limit} streams`);
    this.name = 'MuxStreamLimitError';
  }
}

/** An option passed to the Mux is out of range. */
export class MuxConfigError extends RangeError {
  constructor(readonly option: string, detail: string) {
    super(`mux option ${option}: ${detail}`);
    this.name = 'MuxConfigError';
  }
}

/** A write or end() could not complete because its stream was destroyed or reset first. */
export class MuxStreamClosedError extends MuxError {
  constructor(readonly streamId: number) {
    super(`stream ${streamId} was destroyed before its bytes were sent`);
    this.name = 'MuxStreamClosedError';
  }
}
