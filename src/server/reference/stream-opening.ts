import type { Duplex } from 'node:stream';
import { StreamFrameReader } from '../../protocol/reference/stream-codec.js';

/**
 * Reading the opening of a reference stream on the server: the command that
 * names the stream, then its JSON message. Whatever the client sent after
 * them is put back into the stream (unshift), so the session or forward that
 * takes the stream over reads it first.
 */

/** The opening of a stream: its command and the reader holding what came after it. */
export interface StreamOpening {
  command: string;
  reader: StreamFrameReader;
}

/** Wait for a whole item that `take` finds in the reader; the stream is paused again before this resolves. */
export function nextFrame<T>(stream: Duplex, reader: StreamFrameReader, take: () => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const attempt = (): boolean => {
      let value: T | undefined;
      try {
        value = take();
      } catch (err) {
        cleanup();
        reject(err as Error);
        return true;
      }
      if (value === undefined) return false;
      cleanup();
      resolve(value);
      return true;
    };
    const onData = (chunk: Buffer): void => {
      reader.push(chunk);
      attempt();
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error('the stream ended before its opening was complete'));
    };
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.pause();
    };
    if (attempt()) return;
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    // A stream paused by an earlier read does not resume when a 'data' listener is added.
    stream.resume();
  });
}

/** Read a stream's command. */
export async function readOpening(stream: Duplex): Promise<StreamOpening> {
  const reader = new StreamFrameReader();
  const command = await nextFrame(stream, reader, () => reader.readCommand());
  return { command, reader };
}

/** Read the JSON message that follows the command. */
export function readOpeningMessage(stream: Duplex, opening: StreamOpening): Promise<Record<string, unknown>> {
  return nextFrame(stream, opening.reader, () => opening.reader.readMessage());
}

/** Give the bytes read past the opening back to the stream, for whoever reads it next. */
export function putBackRest(stream: Duplex, opening: StreamOpening): void {
  const rest = opening.reader.takeRest();
  if (rest.length > 0) stream.unshift(rest);
}
