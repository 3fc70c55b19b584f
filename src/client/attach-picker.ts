/**
 * `tssh --attach` (UdpSessionAttach yes): which session to attach. A first
 * ssh login runs `tsshd --list` on the server; with UdpSessionName the
 * session of that name is taken without asking, otherwise the user picks
 * one from a numbered list on the terminal (name, title or command, start,
 * last contact, size, attached or not). No session, no session of that
 * name, or "new" in the picker: tssh starts a new attachable session
 * (`tsshd --attachable --socket`, named with UdpSessionName). The attach
 * itself is a second login running `tsshd --attach PID` (fresh keys).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { oneLine } from '../protocol/config-syntax.js';
import { LOGIN_FORCED_OPTIONS } from './bootstrap-over-ssh.js';

/** A session the server listed. */
export interface ListedSession {
  pid: number;
  id: number;
  name: string;
  title: string;
  startedSec: number;
  lastSeenSec: number;
  cols: number;
  rows: number;
  attached: boolean;
}

/** What to attach: the daemon, the session in it, and its name ('' for none). */
export interface AttachTarget {
  pid: number;
  session: number;
  name: string;
}

/** The most `tsshd --list` may print. */
const MAX_LIST_OUTPUT = 1024 * 1024;

/** Parse `tsshd --list`'s JSON (the reference's ServerItem list); daemons that answered with an error are skipped. */
export function parseSessionList(text: string): ListedSession[] {
  const items = JSON.parse(text) as unknown;
  if (!Array.isArray(items)) throw new Error('not a list');
  const out: ListedSession[] = [];
  for (const item of items as Array<Record<string, unknown>>) {
    if (typeof item?.Pid !== 'number' || typeof item.Info !== 'string') continue;
    let info: Record<string, unknown>;
    try {
      info = JSON.parse(item.Info) as Record<string, unknown>;
    } catch {
      continue;
    }
    const sessions = Array.isArray(info.Sessions) ? (info.Sessions as Array<Record<string, unknown>>) : [];
    for (const s of sessions) {
      if (typeof s.ID !== 'number') continue;
      out.push({
        pid: item.Pid,
        id: s.ID,
        name: typeof info.Name === 'string' ? info.Name : '',
        title: typeof s.Title === 'string' ? s.Title : typeof s.Command === 'string' ? s.Command : '',
        startedSec: typeof s.Started === 'number' ? s.Started : typeof info.Time === 'number' ? info.Time : 0,
        lastSeenSec: typeof s.LastSeen === 'number' ? s.LastSeen : 0,
        cols: typeof s.Cols === 'number' ? s.Cols : 0,
        rows: typeof s.Rows === 'number' ? s.Rows : 0,
        attached: s.Attached === true,
      });
    }
  }
  return out;
}

/** Run `remoteCommand` over a login like the bootstrap's and return its stdout; ssh's stderr goes to ours. */
export function sshOutput(program: string, args: readonly string[], remoteCommand: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, [...LOGIN_FORCED_OPTIONS, ...args, remoteCommand], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      stdout += s;
      if (stdout.length > MAX_LIST_OUTPUT) child.kill('SIGTERM');
    });
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.once('error', (err) => reject(new Error(`tssh: cannot run ${program}: ${err.message}`)));
    child.once('close', (code) => resolve({ code, stdout: stdout.slice(0, MAX_LIST_OUTPUT) }));
  });
}

/** Text from the server on one line, without control characters (oneLine misses C1; the terminal must not see them). */
function clean(text: string, max: number): string {
  return oneLine(text).replace(/[\u0080-\u009f]/g, ' ').slice(0, max);
}

function when(seconds: number, now: number): string {
  if (seconds <= 0) return '-';
  const d = Math.max(0, now - seconds);
  if (d < 5) return 'now';
  if (d < 120) return `${d}s ago`;
  if (d < 7200) return `${Math.round(d / 60)}m ago`;
  if (d < 172800) return `${Math.round(d / 3600)}h ago`;
  return `${Math.round(d / 86400)}d ago`;
}

/** The picker's lines (one per session, numbered from 1, then the "new session" entry). */
export function formatChoices(sessions: readonly ListedSession[], nowSec = Math.floor(Date.now() / 1000)): string[] {
  const rows = sessions.map((s, i) => [
    `${i + 1})`,
    clean(s.name, 24) || '-',
    clean(s.title, 32) || '-',
    `started ${when(s.startedSec, nowSec)}`,
    `seen ${s.attached && nowSec - s.lastSeenSec < 5 ? 'now' : when(s.lastSeenSec, nowSec)}`,
    `${s.cols}x${s.rows}`,
    s.attached ? 'attached' : 'detached',
  ]);
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => r[c]!.length))) ?? [];
  return [...rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()), `${sessions.length + 1})`.padEnd(widths[0] ?? 0) + '  a new session'];
}

/** Ask on the terminal; resolves with the chosen session, or null for a new one. Rejects when stdin is not a terminal or closes. */
export async function pickSession(sessions: readonly ListedSession[], host: string): Promise<ListedSession | null> {
  if (process.stdin.isTTY !== true) {
    throw new Error('tssh: --attach needs a terminal to pick a session; name it with -o UdpSessionName=NAME instead');
  }
  const lines = formatChoices(sessions);
  process.stderr.write(`Sessions on ${host}:\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      process.stderr.write(`Attach which one [1-${sessions.length + 1}, default 1]? `);
      const answer = await new Promise<string | null>((resolve) => {
        rl.once('line', resolve);
        rl.once('close', () => resolve(null));
      });
      if (answer === null) throw new Error('tssh: no session chosen (input closed)');
      const text = answer.trim();
      const n = text === '' ? 1 : /^[0-9]{1,4}$/.test(text) ? Number(text) : NaN;
      if (n >= 1 && n <= sessions.length) return sessions[n - 1]!;
      if (n === sessions.length + 1) return null;
      process.stderr.write(`tssh: type a number from 1 to ${sessions.length + 1}\n`);
    }
    throw new Error('tssh: no session chosen');
  } finally {
    rl.close();
    process.stdin.pause();
  }
}

/** Inputs to {@link chooseAttachTarget}. */
export interface AttachChoiceOptions {
  program: string;
  /** The login's ssh arguments (loginSshArgs). */
  args: readonly string[];
  /** `tsshd` as the remote shell should run it (quoted TsshdPath). */
  tsshdCommand: string;
  host: string;
  /** UdpSessionName: attach this one without asking. */
  sessionName?: string;
}

/** List the sessions over ssh and decide; null means start a new attachable session. */
export async function chooseAttachTarget(o: AttachChoiceOptions): Promise<AttachTarget | null> {
  const listed = await sshOutput(o.program, o.args, `${o.tsshdCommand} --list`);
  let sessions: ListedSession[];
  try {
    sessions = parseSessionList(listed.stdout.trim());
  } catch {
    if (listed.code === 255) throw new Error(`tssh: the ssh login to ${o.host} failed; see ssh's message above`);
    process.stderr.write(`tssh: tsshd on ${o.host} cannot list sessions (exit status ${listed.code ?? '?'}); starting a new session\n`);
    return null;
  }
  if (o.sessionName !== undefined) {
    const named = sessions.find((s) => s.name === o.sessionName);
    return named === undefined ? null : { pid: named.pid, session: named.id, name: named.name };
  }
  if (sessions.length === 0) return null;
  const chosen = await pickSession(sessions, o.host);
  return chosen === null ? null : { pid: chosen.pid, session: chosen.id, name: chosen.name };
}
