/** CPU time of processes from /proc, and which processes own a socket bound to a port. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const TICKS_PER_SEC = 100;

/** CPU seconds (user + system) of one process; 0 if it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SEC;
  } catch {
    return 0;
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/** `root` and all its descendants. */
export function processTree(root: number): number[] {
  const pids = allPids();
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const p of pids) if (parentOf(p) === tree[i] && !tree.includes(p)) tree.push(p);
  return tree;
}

/**
 * PIDs holding a socket with local port `port` (UDP, or established TCP; IPv4 or IPv6),
 * among `candidates` (processes of one namespace; `netPid` is any of them,
 * whose /proc/PID/net shows that namespace's sockets).
 */
export function socketOwners(candidates: readonly number[], netPid: number, port: number, proto: 'udp' | 'tcp'): number[] {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const table of [proto, `${proto}6`]) {
    try {
      for (const line of readFileSync(`/proc/${netPid}/net/${table}`, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || !f[1]!.endsWith(hex)) continue;
        if (proto === 'tcp' && f[3] !== '01') continue;
        inodes.add(f[9]!);
      }
    } catch {
      // No such table (no IPv6).
    }
  }
  const owners: number[] = [];
  for (const pid of candidates) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m && inodes.has(m[1]!)) {
          owners.push(pid);
          break;
        }
      }
    } catch {
      // Gone.
    }
  }
  return owners;
}

/** Local ports of the established TCP connections that process `pid` holds. */
export function tcpLocalPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    try {
      for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length >= 10 && f[3] === '01' && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
      }
    } catch {
      // No such table.
    }
  }
  return ports;
}
