/**
 * What a transport stream carries; sent when the stream is opened (the mux's
 * SYN, or QUIC's first byte). Both sides use these numbers.
 */
export const enum StreamKind {
  /** Control ("bus") messages, one per connection, opened by the client first. */
  Bus = 1,
  /** A session: a SessionRequest message, its reply, then raw stdin (client->server) and stdout/pty output (server->client). */
  Session = 2,
  /** A session's stderr (no pty), opened by the server: a StderrHeader message, then raw bytes. */
  Stderr = 3,
  /** A forwarded TCP/Unix connection: a ForwardHeader message, then raw bytes both ways. */
  Forward = 4,
  /** An agent connection carried back to the client's SSH agent. */
  Agent = 5,
  /** An X11 connection carried back to the client's display. */
  X11 = 6,
}

/**
 * The KCP lane for a stream kind: forwarded connections (bulk by nature) go in
 * lane 1 so that their losses never hold back the session's keystrokes and
 * screen updates in lane 0. Both sides use this.
 */
export function laneOfKind(kind: number): 0 | 1 {
  return kind === StreamKind.Forward || kind === StreamKind.Agent || kind === StreamKind.X11 ? 1 : 0;
}
