import { EventEmitter } from 'node:events';
import type { ExitStatus } from '../protocol/messages.js';
import type { SessionCarrier } from './attach-carrier.js';
import { readFile } from 'node:fs/promises';
import { foregroundProcessGroup } from './redraw.js';
import type { StreamSession } from './session.js';

/** The name of the program in the foreground of the terminal that `leader` controls (Linux /proc), or ''. */
async function foregroundCommand(leader: number): Promise<string> {
  try {
    const group = (await foregroundProcessGroup(leader)) ?? leader;
    return (await readFile(`/proc/${group}/comm`, 'utf8')).trim().slice(0, 64);
  } catch {
    return '';
  }
}

/**
 * The terminal sessions of an attachable tsshd, which outlive the client
 * connection they started on. Each belongs to at most one connection's
 * SessionHost at a time (its owner); none while detached. An attach moves a
 * session to the new connection's host; the host that lost it is told
 * ('taken-over'). Also what `tsshd --list` shows: the name, start, command
 * or title, size, last contact and whether a client is attached.
 *
 * Events:
 *  - 'taken-over' (from: AttachOwner, to: AttachOwner)  a session moved to another connection
 *  - 'empty' ()  the last session ended
 */

/** What an owner (a connection's SessionHost) does for its attachable sessions. */
export interface AttachOwner {
  /** Report a session's exit on this connection's bus. */
  sendExit(id: number, status: ExitStatus): void;
  /** Forget a session without hanging it up (it moved, or was parked by a detach). */
  release(id: number): void;
  /** The session ended: drop it from this owner's books. */
  ended(id: number): void;
}

/** One attachable session. */
export interface AttachableSession {
  readonly id: number;
  readonly session: StreamSession;
  readonly carrier: SessionCarrier;
  owner: AttachOwner | null;
  /** The session's process (the pty's session leader), once started. */
  pid?: number;
}

/** One session as `tsshd --list` reports it. */
export interface AttachableSessionInfo {
  id: number;
  /** The terminal's title (OSC 0/2), else the command, else ''. */
  title: string;
  command: string;
  /** Unix ms. */
  startedMs: number;
  /** Unix ms a client last had the output (now while one is attached and in contact). */
  lastSeenMs: number;
  cols: number;
  rows: number;
  attached: boolean;
}

/** The registry; see the file comment. */
export class AttachableSessions extends EventEmitter {
  readonly startedMs = Date.now();
  private sessionName = '';
  private readonly sessions = new Map<number, AttachableSession>();

  /** UdpSessionName of the first client that gave one ('' for none). */
  get name(): string {
    return this.sessionName;
  }

  /** Sessions not ended. */
  get count(): number {
    return this.sessions.size;
  }

  /** Name the tsshd (the first name given sticks). */
  setName(name: string): void {
    if (this.sessionName === '') this.sessionName = name;
  }

  add(entry: AttachableSession): void {
    this.sessions.set(entry.id, entry);
    entry.session.once('process', (pid: number) => (entry.pid = pid));
    void entry.session.done.then(() => {
      this.sessions.delete(entry.id);
      entry.owner?.ended(entry.id);
      entry.carrier.detach();
      if (this.sessions.size === 0) this.emit('empty');
    });
  }

  /** A session that never started (refused): forget it. */
  remove(id: number): void {
    if (this.sessions.delete(id) && this.sessions.size === 0) this.emit('empty');
  }

  /** Report an exit to whoever owns the session now (nobody while detached: the next client finds it gone). */
  reportExit(id: number, status: ExitStatus): void {
    this.sessions.get(id)?.owner?.sendExit(id, status);
  }

  /** Move session `id` to `to`; returns it, or why it cannot be attached. */
  take(id: number, to: AttachOwner): AttachableSession | string {
    const entry = this.sessions.get(id);
    if (entry === undefined) return `no terminal session ${id} to attach in this tsshd (it may have ended)`;
    if (entry.session.hasExited) return `session ${id} has ended`;
    const from = entry.owner;
    if (from === to) return `session ${id} is already attached by this client`;
    from?.release(id);
    entry.carrier.detach();
    entry.owner = to;
    if (from !== null) this.emit('taken-over', from, to);
    return entry;
  }

  /** Park every session `owner` has (a detach): they run on, their output kept. */
  park(owner: AttachOwner): void {
    for (const entry of this.sessions.values()) {
      if (entry.owner !== owner) continue;
      owner.release(entry.id);
      entry.carrier.detach();
      entry.owner = null;
    }
  }

  /** Whether `owner` has attachable sessions. */
  owns(owner: AttachOwner): boolean {
    for (const entry of this.sessions.values()) if (entry.owner === owner) return true;
    return false;
  }

  /** Hang up every session (the tsshd is ending). */
  hangup(reason: string): void {
    for (const entry of this.sessions.values()) entry.session.hangup(reason);
  }

  /** A session's emulated screen (`tsshd --view`). */
  async screen(id: number): Promise<string[]> {
    const entry = this.sessions.get(id);
    if (entry === undefined) throw new Error(`no terminal session ${id} in this tsshd`);
    return entry.carrier.screen.snapshot();
  }

  async list(): Promise<AttachableSessionInfo[]> {
    return Promise.all([...this.sessions.values()].map(async ({ id, session, carrier, pid }) => ({
      id,
      title: carrier.screen.title || session.command || (pid === undefined ? '' : await foregroundCommand(pid)),
      command: session.command,
      startedMs: carrier.startedMs,
      lastSeenMs: carrier.lastSeenMs,
      cols: session.pty?.cols ?? 0,
      rows: session.pty?.rows ?? 0,
      attached: carrier.attached,
    })));
  }
}
