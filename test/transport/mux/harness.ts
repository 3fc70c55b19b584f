import { createHash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { Mux, type MuxOptions, type MuxStream } from '../../../src/transport/mux/mux.js';
import { waitForEvent } from '../../support/wait.js';
import { createMemoryPipePair, type MemoryPipe, type MemoryPipeOptions } from './memory-pipe.js';

/** A client and a server Mux joined by a MemoryPipe pair; `accepted` collects the server's (and client's) incoming streams. */
export interface MuxPair {
  client: Mux;
  server: Mux;
  /** clientPipe carries client -> server, serverPipe server -> client. */
  clientPipe: MemoryPipe;
  serverPipe: MemoryPipe;
  serverAccepted: MuxStream[];
  clientAccepted: MuxStream[];
  /** Destroy both Muxes and stop the pipes' timers. */
  dispose(): void;
}

export function createMuxPair(
  pipeOptions: MemoryPipeOptions = {},
  muxOptions: Partial<Omit<MuxOptions, 'role'>> = {},
  serverOptions: Partial<Omit<MuxOptions, 'role'>> = muxOptions,
): MuxPair {
  const [clientPipe, serverPipe] = createMemoryPipePair(pipeOptions);
  const client = new Mux(clientPipe, { ...muxOptions, role: 'client' });
  const server = new Mux(serverPipe, { ...serverOptions, role: 'server' });
  const serverAccepted: MuxStream[] = [];
  const clientAccepted: MuxStream[] = [];
  server.on('stream', (s) => serverAccepted.push(s));
  client.on('stream', (s) => clientAccepted.push(s));
  return {
    client,
    server,
    clientPipe,
    serverPipe,
    serverAccepted,
    clientAccepted,
    dispose() {
      client.destroy();
      server.destroy();
      clientPipe.close();
    },
  };
}

/**
 * Read a stream to its end; resolves with everything read. Uses events, not
 * `for await`, which would destroy a Duplex (and so reset its write side) at the end.
 */
export function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
  });
}

/** Read a stream to its end (events, like readAll); resolves with the SHA-256 (hex) and byte count. */
export function hashAll(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    stream.once('end', () => resolve({ sha256: hash.digest('hex'), bytes }));
    stream.once('error', reject);
  });
}

/**
 * Write `data` in chunks of pseudo-random size (1..maxChunk, from `seed`),
 * honouring backpressure, then end(). Resolves with the SHA-256 of what was written.
 */
export async function writeChunked(stream: Writable, data: Buffer, maxChunk: number, seed: number): Promise<string> {
  const hash = createHash('sha256').update(data).digest('hex');
  let x = seed >>> 0 || 1;
  let offset = 0;
  while (offset < data.length) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const n = Math.min(1 + (x % maxChunk), data.length - offset);
    if (!stream.write(data.subarray(offset, offset + n))) await waitForEvent(stream, 'drain', 30_000);
    offset += n;
  }
  stream.end();
  return hash;
}

/** Deterministic pseudo-random bytes (xorshift32), distinct per seed. */
export function pseudoRandomBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  for (; i < length; i++) out[i] = i & 0xff;
  return out;
}
