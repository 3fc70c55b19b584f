import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

/**
 * PIDs of the processes inside network namespace `ns` (one made with
 * `ip netns add`), optionally only those whose command line contains `needle`.
 * Shared by the lab (bench/lab/netlab.ts) and the jump-host tests.
 */
export function pidsInNamespace(ns: string, needle = ''): number[] {
  let inode: string;
  try {
    inode = String(statSync(`/run/netns/${ns}`).ino);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/net`) !== `net:[${inode}]`) continue;
      if (needle !== '' && !readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) continue;
      pids.push(Number(name));
    } catch {
      // Gone, or a kernel thread.
    }
  }
  return pids;
}
