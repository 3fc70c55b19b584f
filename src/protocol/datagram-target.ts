/**
 * The far end of a UDP association, shared by tsshd (-L udp) and tssh
 * (-R udp): a UDP socket connected to host:port, or a Unix datagram socket
 * bound in a private directory that sends to the target's path (the target
 * answers to that path). Replies go to `onReply`.
 */
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { lstat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { describeSocketError } from './forward-listeners.js';
import type { ForwardTarget } from './forward-messages.js';
import { bindUnixDatagram, describeUnixDatagramError, makePrivateDirectory, removePrivateDirectory } from './unix-datagram.js';

/** Where an association's datagrams go. */
export interface DatagramTarget {
  /** Send one datagram; `done` gets an error if it was lost. */
  send(payload: Buffer, done: (err?: Error | null) => void): void;
  close(): void;
}

/**
 * The private directory for one forwarder's Unix datagram sockets, made on
 * first use and removed on close (and at exit).
 */
export class SocketDirectory {
  private dir: Promise<string> | null = null;
  private made: string | null = null;
  private next = 0;
  private closed = false;

  constructor(private readonly prefix: string) {}

  /** A fresh socket path inside the directory. */
  async socketPath(): Promise<string> {
    if (this.closed) throw new Error('the forwarder is closed');
    this.dir ??= makePrivateDirectory(this.prefix).then((dir) => {
      if (this.closed) removePrivateDirectory(dir);
      return (this.made = dir);
    });
    return join(await this.dir, `s${this.next++}`);
  }

  close(): void {
    this.closed = true;
    if (this.made) removePrivateDirectory(this.made);
  }
}

/**
 * Open the far end for `target`. Rejects with one line (without the target's
 * name) if the name does not resolve, the socket cannot be made, or a Unix
 * target is not a socket.
 */
export async function openDatagramTarget(target: ForwardTarget, onReply: (msg: Buffer) => void, sockets: SocketDirectory): Promise<DatagramTarget> {
  if ('path' in target) {
    const info = await lstat(target.path).catch((err: unknown) => {
      throw new Error(describeSocketError(err));
    });
    if (!info.isSocket()) throw new Error('not a socket');
    let socket;
    try {
      socket = await bindUnixDatagram(await sockets.socketPath(), (msg) => onReply(msg));
    } catch (err) {
      throw new Error(describeUnixDatagramError(err));
    }
    const to = target.path;
    return { send: (payload, done) => socket.send(payload, to, done), close: () => socket.close() };
  }
  let socket;
  try {
    const address = isIP(target.host) ? target.host : (await lookup(target.host)).address;
    socket = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4' });
    const s = socket;
    s.on('message', onReply);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.connect(target.port, address, () => {
        s.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    socket?.close();
    throw new Error(describeSocketError(err));
  }
  // ICMP errors (port unreachable) surface here; UDP carries on regardless.
  socket.on('error', () => undefined);
  const s = socket;
  return { send: (payload, done) => s.send(payload, done), close: () => s.close() };
}
