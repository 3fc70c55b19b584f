/** Finding and stopping the processes an integrated server started (they carry SERVER_MARKER_ENV=its pid). Linux /proc; empty elsewhere. */
import { readdirSync, readFileSync } from 'node:fs';
import { SERVER_MARKER_ENV } from './service.js';

/** PIDs of running processes started by the integrated server with process id `serverPid`. */
export function serverProcesses(serverPid: number): number[] {
  return processesWithEnv(`${SERVER_MARKER_ENV}=${serverPid}`);
}

/** PIDs of running processes (other than this one) whose environment holds `entry` ("NAME=value"). Linux /proc; empty elsewhere. */
export function processesWithEnv(entry: string): number[] {
  const marker = Buffer.from(`\0${entry}\0`);
  const pids: number[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const name of entries) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${name}/environ`)]);
      if (environ.includes(marker)) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** Wait up to `graceMs` for them to end by themselves, then SIGTERM (and after 3 s SIGKILL) each by PID; returns the PIDs that had to be signalled. */
export async function stopServerProcesses(serverPid: number, graceMs: number): Promise<number[]> {
  const until = async (ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (serverProcesses(serverPid).length === 0) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return serverProcesses(serverPid).length === 0;
  };
  if (await until(graceMs)) return [];
  const left = serverProcesses(serverPid);
  signal(left, 'SIGTERM');
  if (!(await until(3000))) signal(serverProcesses(serverPid), 'SIGKILL');
  return left;
}

function signal(pids: readonly number[], name: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  }
}
