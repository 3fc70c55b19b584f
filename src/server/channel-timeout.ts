/**
 * sshd's ChannelTimeout: a channel that sees no traffic either way for the
 * interval of the first `type=interval` entry whose type pattern matches the
 * channel's type is closed. tsshd applies it to sessions (session-host.ts)
 * and to forwarded connections (the socket's own idle timer, which counts
 * reads and writes, so nothing is done per chunk).
 */
import type { Socket } from 'node:net';
import { matchPattern } from '../protocol/config-syntax.js';
import type { SshdPolicy } from './sshd-config.js';

/** The interval in ms for a channel known by any of `names`, or undefined (none, or 0: off). */
export function channelTimeoutMs(timeouts: SshdPolicy['channelTimeouts'] | undefined, names: readonly string[]): number | undefined {
  const entry = timeouts?.find((t) => names.some((name) => matchPattern(name, t.type)));
  return entry !== undefined && entry.seconds > 0 ? entry.seconds * 1000 : undefined;
}

/** The ChannelTimeout entries of a policy that may carry them (forwarding policies are a part of SshdPolicy). */
export function channelTimeoutsOf(policy: object): SshdPolicy['channelTimeouts'] | undefined {
  return 'channelTimeouts' in policy ? (policy as Pick<SshdPolicy, 'channelTimeouts'>).channelTimeouts : undefined;
}

/** Close a forwarded connection's socket once it has been idle for `ms` (the splice then ends the stream). */
export function closeWhenIdle(socket: Socket, ms: number | undefined): void {
  if (ms === undefined) return;
  socket.setTimeout(ms);
  socket.once('timeout', () => socket.destroy());
}
