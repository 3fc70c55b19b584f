import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { systemCommand } from './system-command.js';

/**
 * Making a pty's foreground program repaint its screen (the bus message
 * 'redraw', which the client sends after an outage): SIGWINCH to the
 * terminal's foreground process group. Full-screen programs (vim, less, tmux,
 * htop) and readline repaint on SIGWINCH after reading the window size, which
 * is unchanged, so nothing else about the terminal moves. (Resizing the pty
 * by one row and back would also do it, but it makes the program lay out its
 * screen twice, once at a wrong size.) The group comes from the session
 * leader's /proc/<pid>/stat (tpgid), or `ps -o tpgid=` where there is no /proc.
 */

/** Field 8 of /proc/<pid>/stat, counted after the `(comm)` field, which may itself hold spaces and parentheses. */
function tpgidFromStat(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After comm: state ppid pgrp session tty_nr tpgid.
  const tpgid = Number(fields[5]);
  return Number.isInteger(tpgid) && tpgid > 0 ? tpgid : undefined;
}

function tpgidFromPs(pid: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile(systemCommand('ps'), ['-o', 'tpgid=', '-p', String(pid)], { timeout: 5000 }, (err, stdout) => {
      const tpgid = err ? NaN : Number(stdout.trim());
      resolve(Number.isInteger(tpgid) && tpgid > 0 ? tpgid : undefined);
    });
  });
}

/**
 * The foreground process group of the terminal that `leaderPid` controls
 * (the pty session's shell), or undefined if it has none or is gone.
 */
export async function foregroundProcessGroup(leaderPid: number): Promise<number | undefined> {
  try {
    return tpgidFromStat(await readFile(`/proc/${leaderPid}/stat`, 'latin1'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && process.platform === 'linux') return undefined;
    return tpgidFromPs(leaderPid);
  }
}

/** Send SIGWINCH to a process group; false if it is gone or not ours (e.g. a setuid program in the foreground). */
export function signalWindowChange(processGroup: number): boolean {
  try {
    process.kill(-processGroup, 'SIGWINCH');
    return true;
  } catch {
    return false;
  }
}
