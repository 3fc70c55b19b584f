import { createRequire } from 'node:module';
import { bindUnixDatagram, type UnixDatagramSocket } from '../../src/protocol/unix-datagram.js';
import { waitFor } from '../support/wait.js';
import { keepNumbered, numberedClient, type NumberedDatagramClient } from './fixtures.js';

/** A Unix datagram echo server at `path`: answers each sender that has a path, counts every datagram. */
export async function unixDatagramEcho(path: string): Promise<UnixDatagramSocket & { received: () => number; senders: (string | null)[] }> {
  let received = 0;
  const senders: (string | null)[] = [];
  const socket: UnixDatagramSocket = await bindUnixDatagram(path, (msg, from) => {
    received++;
    if (senders.at(-1) !== from) senders.push(from);
    if (from !== null) socket.send(msg, from, () => undefined);
  });
  return Object.assign(socket, { received: () => received, senders });
}

/** A client bound at `path` that sends numbered datagrams to `to` and keeps each reply by its number (first 4 bytes). */
export async function unixDatagramClient(path: string, to: string): Promise<NumberedDatagramClient> {
  const replies = new Map<number, Buffer>();
  const socket = await bindUnixDatagram(path, (msg) => keepNumbered(replies, msg));
  return numberedClient(replies, (msg) => socket.send(msg, to, () => undefined), () => socket.close());
}

interface RawSocket {
  bind(path: string): void;
  send(b: Buffer, o: number, l: number, p: string, cb: (err?: Error) => void): void;
  on(e: 'error', f: () => void): void;
  close(): void;
}
const raw = (): RawSocket => (createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): RawSocket }).createSocket('unix_dgram');

/** Leave a socket file at `path` with nothing behind it, as a killed process does. */
export function staleUnixSocket(path: string): void {
  const socket = raw();
  socket.bind(path);
  socket.close();
}

/** A sender that never binds (like `logger -u` or a fire-and-forget client): it has no path and cannot be answered. */
export function unboundUnixDatagramSender(): { send(msg: Buffer, to: string): void; close(): void } {
  const socket = raw();
  socket.on('error', () => undefined);
  return { send: (msg, to) => socket.send(msg, 0, msg.length, to, () => undefined), close: () => socket.close() };
}

/**
 * Send `count` numbered datagrams of varied sizes from `client`, a few at a
 * time (a Unix datagram receiver queues only net.unix.max_dgram_qlen, 10 by
 * default: a sender that does not pace itself loses datagrams), and wait for
 * the replies; returns how many came back, each checked byte for byte.
 */
export async function echoManyUnix(client: NumberedDatagramClient, count: number, settleMs = 20_000): Promise<number> {
  const sent = new Map<number, Buffer>();
  // Replies to this run's datagrams (the client may hold replies to earlier probes too).
  const got = (): number => [...client.replies.keys()].filter((s) => s < count).length;
  for (let seq = 0; seq < count; seq++) {
    sent.set(seq, client.send(seq, 100 + ((seq * 37) % 900)));
    if (seq % 4 === 3) {
      // Wait for the replies so far (bounded): at most a few datagrams are in flight.
      await waitFor('replies to catch up', () => got() >= seq - 4, 2_000, 2).catch(() => undefined);
    }
  }
  await waitFor('the replies', () => got() >= count, settleMs, 20).catch(() => undefined);
  let back = 0;
  for (const [seq, reply] of client.replies) {
    if (seq >= count) continue;
    if (!reply.equals(sent.get(seq)!)) throw new Error(`datagram ${seq} came back changed`);
    back++;
  }
  return back;
}
