import type { MuxStream } from './stream.js';

// The public types of a Mux besides its options (config.ts): its counters and its events.

/** Counters of one Mux. */
export interface MuxStats {
  /** Streams not yet finished at the protocol level (FIN both ways, or RST). */
  streamsOpen: number;
  /** Streams opened by either side since the start. */
  streamsOpenedTotal: number;
  /** Peer SYNs answered with RST (over maxStreams, closing, or nobody listening for 'stream'). */
  streamsRejected: number;
  /** DATA payload bytes received / sent. */
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
  /** Received bytes waiting in streams' queues for slow readers (within maxBufferedBytes, the connection window). */
  bufferedBytes: number;
  /** Written bytes not yet framed (waiting for credit or for the pipe). */
  sendQueuedBytes: number;
  /** Connection credit the peer has given us: DATA bytes we may still send on all streams together. */
  sendCredit: number;
  /** Frames that broke the protocol (each counted once; framing errors also end the Mux). */
  protocolErrors: number;
  /** Frames dropped without effect: for streams already closed or unknown, and unknown commands. */
  framesDropped: number;
}

/** Events of a Mux. */
export interface MuxEvents {
  /** The peer opened a stream. With no listener, peer SYNs are refused with RST. */
  stream: [stream: MuxStream];
  /** The peer will open no more streams and refuses ours (GoAwayCode). */
  goaway: [code: number];
  /** The Mux is finished: after close() completes, or at destroy() with its error. */
  close: [err?: Error];
}
