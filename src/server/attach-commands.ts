/**
 * `tsshd --list`, `--view PID.SID` and `--attach PID`: short-lived commands
 * that ask the attachable daemons of this user over their control sockets
 * (attach-control.ts) and print the answer. `--list` prints the reference
 * tsshd's JSON (`[{"Pid":N,"Info":"{...}"}]`, which tssh --attach reads)
 * unless stdout is a terminal, where it prints a table for people.
 */
import type { Writable } from 'node:stream';
import { oneLine } from '../protocol/config-syntax.js';
import { controlRequest } from './attach-control.js';
import { listSockets, socketDir, socketPath } from './attach-dir.js';
import type { TsshdOptions } from './tsshd-args.js';

/** One daemon's answer to `info`, in the reference's field names plus ours. */
export interface ListedServer {
  Pid: number;
  /** JSON of ListedInfo, or the error met asking this daemon. */
  Info: string;
}

/** The Info of one daemon. */
export interface ListedInfo {
  /** Unix seconds the daemon started. */
  Time: number;
  Name?: string;
  Sessions?: ListedSession[];
}

/** One session: ID and Title as the reference has them; the rest are ours. */
export interface ListedSession {
  ID: number;
  Title?: string;
  Command?: string;
  /** Unix seconds. */
  Started: number;
  /** Unix seconds a client last had the output. */
  LastSeen: number;
  Cols: number;
  Rows: number;
  Attached: boolean;
}

function toInfo(answer: Record<string, unknown>): ListedInfo {
  const sessions = Array.isArray(answer.sessions) ? (answer.sessions as Array<Record<string, unknown>>) : [];
  const seconds = (v: unknown): number => (typeof v === 'number' ? Math.floor(v / 1000) : 0);
  const info: ListedInfo = { Time: seconds(answer.startedMs) };
  if (typeof answer.name === 'string' && answer.name !== '') info.Name = answer.name;
  info.Sessions = sessions.map((s) => {
    const out: ListedSession = {
      ID: Number(s.id),
      Started: seconds(s.startedMs),
      LastSeen: seconds(s.lastSeenMs),
      Cols: Number(s.cols),
      Rows: Number(s.rows),
      Attached: s.attached === true,
    };
    if (typeof s.title === 'string' && s.title !== '') out.Title = s.title;
    if (typeof s.command === 'string' && s.command !== '') out.Command = s.command;
    return out;
  });
  return info;
}

/** Ask every daemon of this user (in parallel, each bounded by the socket timeout). */
export async function listServers(env: Readonly<Record<string, string | undefined>> = process.env): Promise<ListedServer[]> {
  const dir = socketDir(env);
  return Promise.all(
    listSockets(dir).map(async ({ pid, path }) => {
      try {
        return { Pid: pid, Info: JSON.stringify(toInfo(await controlRequest(path, { type: 'info' }))) };
      } catch (err) {
        return { Pid: pid, Info: `tsshd ${pid}: ${(err as Error).message}` };
      }
    }),
  );
}

function clock(seconds: number): string {
  if (seconds <= 0) return '-';
  return new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 19);
}

function ago(seconds: number, now: number): string {
  const d = Math.max(0, now - seconds);
  if (d < 5) return 'now';
  if (d < 120) return `${d} s ago`;
  if (d < 7200) return `${Math.round(d / 60)} min ago`;
  return `${Math.round(d / 3600)} h ago`;
}

/** The table `tsshd --list` prints on a terminal. */
export function formatTable(servers: readonly ListedServer[], nowSeconds = Math.floor(Date.now() / 1000)): string {
  const rows: string[][] = [['ID', 'NAME', 'TITLE', 'STARTED', 'LAST SEEN', 'SIZE', 'ATTACHED']];
  const problems: string[] = [];
  for (const server of servers) {
    let info: ListedInfo;
    try {
      info = JSON.parse(server.Info) as ListedInfo;
    } catch {
      problems.push(server.Info);
      continue;
    }
    for (const s of info.Sessions ?? []) {
      const title = oneLine(s.Title ?? s.Command ?? '').slice(0, 40);
      rows.push([`${server.Pid}.${s.ID}`, info.Name ?? '-', title || '-', clock(s.Started), s.Attached && s.LastSeen >= nowSeconds - 5 ? 'now' : ago(s.LastSeen, nowSeconds), `${s.Cols}x${s.Rows}`, s.Attached ? 'yes' : 'no']);
    }
  }
  if (rows.length === 1 && problems.length === 0) return 'no attachable tsshd sessions for this user\n';
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.length > 1 ? rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()) : [];
  return [...lines, ...problems].join('\n') + '\n';
}

/** `tsshd --list`. */
export async function runList(stdout: Writable & { isTTY?: boolean }): Promise<void> {
  const servers = await listServers();
  stdout.write(stdout.isTTY === true ? formatTable(servers) : `${JSON.stringify(servers)}\n`);
}

/** `tsshd --view PID.SID`: the session's screen, one line per row. */
export async function runView(pid: number, session: number, stdout: Writable): Promise<void> {
  const answer = await controlRequest(socketPath(socketDir(), pid), { type: 'view', session });
  const lines = Array.isArray(answer.lines) ? answer.lines.map(String) : [];
  stdout.write(lines.map((l) => `${l}\n`).join(''));
}

/** `tsshd --attach PID`: a new link for this login; its bootstrap line (with a fresh secret) goes to stdout, which is the ssh channel. */
export async function runAttach(pid: number, options: TsshdOptions, stdout: Writable): Promise<void> {
  const link = {
    mode: options.mode,
    proxyMode: options.proxyMode,
    port: options.port,
    mtu: options.mtu,
    largeOnLoopback: options.largeOnLoopback,
    connectTimeout: options.connectTimeout,
  };
  const answer = await controlRequest(socketPath(socketDir(), pid), { type: 'attach', link });
  if (typeof answer.bootstrapLine !== 'string') throw new Error('the tsshd answered without a bootstrap line');
  stdout.write(answer.bootstrapLine);
}

/** The one-line reason a command failed, naming the socket problem. */
export function commandFailure(what: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const message = (err instanceof Error ? err.message : String(err)).replace(/^tsshd: /, '');
  const hint = code === 'ENOENT' || code === 'ECONNREFUSED' ? ' (no such attachable tsshd of yours; tsshd --list shows them)' : code === 'EACCES' ? ' (not your session)' : '';
  return `tsshd: ${what} failed: ${message}${hint}`;
}
