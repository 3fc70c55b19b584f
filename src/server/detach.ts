import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { singleExecutable } from '../native-addons.js';

/**
 * Detaching from the SSH login. Node cannot fork, so the tsshd that ssh
 * started (the parent) spawns itself again as a daemon in a new session
 * (setsid), with /dev/null for stdin, stdout and stderr and its working
 * directory in HOME. The daemon binds the port, makes the secret and reports
 * back over a private IPC channel (a socketpair, never argv or the
 * environment); the parent prints the bootstrap line and exits, so ssh sees
 * EOF and returns at once while the daemon keeps serving.
 */

/** Environment marker that, together with an IPC channel, tells tsshd it is the daemon half. */
export const DAEMON_MARKER_ENV = 'TSSHD_DAEMON_CHILD';

/** What the daemon tells its parent, exactly once. */
export type DaemonReport =
  | { type: 'ready'; bootstrapLine: string; logPath?: string }
  | { type: 'failed'; message: string };

/** How long the parent waits for the daemon's report. */
export const DAEMON_READY_TIMEOUT_MS = 30_000;

/**
 * Whether this process is the daemon half of tsshd (spawned by spawnDaemon);
 * if so the marker is removed from the environment, so nothing started later inherits it.
 */
export function takeDaemonRole(): boolean {
  const isDaemon = process.env[DAEMON_MARKER_ENV] === '1' && typeof process.send === 'function';
  if (isDaemon) delete process.env[DAEMON_MARKER_ENV];
  return isDaemon;
}

function workingDirectory(): string {
  const home = homedir();
  try {
    if (statSync(home).isDirectory()) return home;
  } catch {
    // fall through
  }
  return '/';
}

function isReport(value: unknown): value is DaemonReport {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (v.type === 'ready' && typeof v.bootstrapLine === 'string') || (v.type === 'failed' && typeof v.message === 'string');
}

/**
 * Parent side: start the daemon with the same flags and wait for its report.
 * Resolves with a 'failed' report (never rejects) if the daemon cannot be
 * started, dies, or stays silent for `timeoutMs`; then it is killed by PID.
 */
export function spawnDaemon(args: readonly string[], timeoutMs = DAEMON_READY_TIMEOUT_MS): Promise<DaemonReport> {
  // A single executable is its own script.
  const argv = singleExecutable ? [...args] : [resolve(process.argv[1] ?? ''), ...args];
  const child = spawn(process.execPath, argv, {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    cwd: workingDirectory(),
    env: { ...process.env, [DAEMON_MARKER_ENV]: '1' },
  });
  return new Promise<DaemonReport>((settle) => {
    let settled = false;
    const finish = (report: DaemonReport): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.removeAllListeners();
      child.on('error', () => undefined);
      if (report.type === 'failed' && child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      if (child.connected) child.disconnect();
      child.unref();
      settle(report);
    };
    const timer = setTimeout(
      () => finish({ type: 'failed', message: `tsshd: the daemon was not ready within ${Math.round(timeoutMs / 1000)} s; try again, or run with --debug and read the log` }),
      timeoutMs,
    );
    child.once('error', (err) => finish({ type: 'failed', message: `tsshd: cannot start the daemon: ${err.message.split('\n')[0]}` }));
    child.on('message', (message: unknown) => {
      if (isReport(message)) finish(message);
    });
    // 'disconnect' comes after every message the daemon sent, unlike 'exit', which may overtake them.
    child.once('disconnect', () => {
      const { exitCode, signalCode } = child;
      const how = signalCode ? `was killed by ${signalCode}` : exitCode !== null ? `exited with status ${exitCode}` : 'closed its channel';
      finish({ type: 'failed', message: `tsshd: the daemon ${how} before it was ready; run with --debug and read the log` });
    });
  });
}

/**
 * Daemon side: send the report to the parent and close the channel, after
 * which the daemon holds nothing of the SSH login. Resolves false if the
 * parent is gone (then nobody can ever learn the secret and the daemon should exit).
 */
export function reportToParent(report: DaemonReport): Promise<boolean> {
  return new Promise((settle) => {
    if (typeof process.send !== 'function' || !process.connected) {
      settle(false);
      return;
    }
    try {
      process.send(report, (err: Error | null) => {
        if (process.connected) process.disconnect();
        settle(err === null);
      });
    } catch {
      settle(false);
    }
  });
}
