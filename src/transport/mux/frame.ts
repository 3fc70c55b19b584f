/**
 * The multiplexer's wire format: every frame is an 8-byte header followed by
 * `length` payload bytes. All integers are big-endian.
 *
 * ```
 *  0        1        2                 4                                   8
 *  +--------+--------+-----------------+-----------------------------------+
 *  |version | command|  length (u16)   |          stream id (u32)          |
 *  +--------+--------+-----------------+-----------------------------------+
 * ```
 *
 * See docs/MUX.md for the rules that go with it.
 */

/** Wire version; a frame with any other version ends the connection (its header layout cannot be trusted). */
export const MUX_VERSION = 1;

/** Bytes in a frame header. */
export const HEADER_SIZE = 8;

/** Largest payload any frame may carry on the wire; a larger length ends the connection. */
export const MAX_FRAME_PAYLOAD = 16 * 1024;

/**
 * Credit each side holds for a new stream before any WINDOW_UPDATE: the opener
 * may send this much right after SYN without waiting a round trip. A receiver
 * configured with a larger window grants the difference as soon as the stream
 * exists.
 */
export const INITIAL_STREAM_CREDIT = 64 * 1024;

/**
 * Connection credit each side holds before any WINDOW_UPDATE on stream 0:
 * DATA bytes on all streams together. A receiver grants the rest of its
 * connection window (MuxOptions.maxBufferedBytes) as its first frame.
 */
export const INITIAL_CONNECTION_CREDIT = 256 * 1024;

/** Stream id 0 is the session itself (PING, PONG, GOAWAY, and WINDOW_UPDATE for the connection's credit). */
export const SESSION_ID = 0;

/** Largest stream id; ids are never reused within a connection. */
export const MAX_STREAM_ID = 0xffff_ffff;

/** Frame commands. */
export const Command = {
  /** Open a stream; payload: kind (u8). */
  Syn: 0,
  /** Stream bytes; payload: 0..MAX_FRAME_PAYLOAD bytes, counted against the receiver's window. */
  Data: 1,
  /** Sender half-closes its direction; no payload. */
  Fin: 2,
  /** Abort both directions; no payload. */
  Rst: 3,
  /** Grant the peer more credit on a stream, or on the connection as a whole (stream 0); payload: delta bytes (u32). */
  WindowUpdate: 4,
  /** Liveness probe on stream 0; payload: opaque (u32) echoed in PONG. */
  Ping: 5,
  /** Answer to PING on stream 0; payload: the PING's opaque value (u32). */
  Pong: 6,
  /** No new streams from the sender of GOAWAY; existing ones finish. Stream 0; payload: GoAwayCode (u32). */
  GoAway: 7,
} as const;
export type Command = (typeof Command)[keyof typeof Command];

/** Number of defined commands; a command at or above this is unknown and skipped. */
export const COMMAND_COUNT = 8;

/** Reason carried by GOAWAY. */
export const GoAwayCode = {
  Normal: 0,
  ProtocolError: 1,
  InternalError: 2,
} as const;
export type GoAwayCode = (typeof GoAwayCode)[keyof typeof GoAwayCode];

/**
 * Exact payload length of each control command (-1: variable, i.e. DATA).
 * A known command with another length ends the connection.
 */
export const CONTROL_PAYLOAD: readonly number[] = [1, -1, 0, 0, 4, 4, 4, 4];

/** Largest payload of a control frame: the decoder's fixed scratch size. */
export const MAX_CONTROL_PAYLOAD = 4;

/** Whether the command addresses the session (stream 0) rather than a stream. */
export function isSessionCommand(command: number): boolean {
  return command === Command.Ping || command === Command.Pong || command === Command.GoAway;
}

/** Whether the command may address stream 0 as well as a stream (WINDOW_UPDATE: connection or stream credit). */
export function isEitherCommand(command: number): boolean {
  return command === Command.WindowUpdate;
}
