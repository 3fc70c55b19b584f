import type { Duplex } from 'node:stream';
import type { Stream } from '../transport/connection.js';

/**
 * Join a local socket (TCP or Unix, created with allowHalfOpen) and a
 * transport stream, as an SSH channel joins them:
 *  - bytes both ways with backpressure (pipe pauses the faster side);
 *  - half-close: the socket's EOF ends the stream (FIN), the stream's end
 *    ends the socket (TCP FIN), and the other direction keeps flowing;
 *  - an error or abort on either side destroys the other (the stream is
 *    reset, so the peer's socket is destroyed too).
 * `onClose` runs once, when both are finished.
 */
export function spliceSocket(socket: Duplex, stream: Duplex & Pick<Stream, 'reset'>, onClose?: () => void): void {
  let closed = 0;
  const closedOne = (): void => {
    if (++closed === 2) onClose?.();
  };
  socket.on('error', () => stream.reset());
  stream.on('error', () => socket.destroy());
  const onSocketClose = (): void => {
    // A socket that closed before its EOF was read was aborted: pass the abort on.
    if (!socket.readableEnded) stream.reset();
    closedOne();
  };
  const onStreamClose = (): void => {
    if (!(stream.readableEnded && stream.writableFinished)) socket.destroy();
    closedOne();
  };
  if (socket.closed) onSocketClose();
  else socket.once('close', onSocketClose);
  if (stream.closed) onStreamClose();
  else stream.once('close', onStreamClose);
  socket.pipe(stream);
  stream.pipe(socket);
}
