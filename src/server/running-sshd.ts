/**
 * Which sshd_config the sshd that let this login in was started with. tsshd
 * runs below it (sshd listener -> per-connection sshd -> shell -> tsshd), so
 * it walks up its ancestors in /proc to the listener and reads its command
 * line: OpenSSH 9 titles it `sshd: /usr/sbin/sshd -D -f /etc/ssh/alt_config
 * [listener] ...` (older releases keep the real argv). The rule:
 *
 * - the first ancestor whose command line is an sshd listener's decides;
 * - its `-f FILE` is the config when FILE is absolute; without -f, the
 *   system file; a relative FILE cannot be resolved reliably: no answer;
 * - no sshd ancestor (tsshd started otherwise, no /proc): no answer.
 *
 * Linux /proc only; everywhere else (and on any read error) no answer.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';

/** How far up to look: sshd -> sshd -> shell -> tsshd, with room for wrappers (sudo, a login shell, tmux). */
const MAX_ANCESTORS = 12;

/** Reads /proc files (a test seam); undefined when unreadable. */
export type ProcReader = (path: string) => string | undefined;

/** The sshd listener's config file, or undefined when it cannot be told (see the file comment). */
export function runningSshdConfig(systemConfig: string, startPid = process.ppid, read: ProcReader = readProc): string | undefined {
  let pid = startPid;
  for (let step = 0; step < MAX_ANCESTORS && pid > 1; step++) {
    const cmdline = read(`/proc/${pid}/cmdline`);
    if (cmdline === undefined) return undefined;
    const argv = listenerArgv(cmdline);
    if (argv !== null) return configFromArgv(argv, systemConfig);
    const parent = parentPid(read(`/proc/${pid}/stat`));
    if (parent === null) return undefined;
    pid = parent;
  }
  return undefined;
}

/** The listener's argv (after the program name), or null when `cmdline` is not an sshd listener. */
export function listenerArgv(cmdline: string): string[] | null {
  const text = cmdline.replace(/\0+$/, '');
  // OpenSSH 9: "sshd: /usr/sbin/sshd -D -f FILE [listener] 0 of 10-100 startups" in one (NUL-padded) string.
  const titled = /^sshd: (\S+)(.*?) \[listener\]/.exec(text.replace(/\0/g, ' '));
  if (titled) return isSshd(titled[1]!) ? titled[2]!.trim().split(/\s+/).filter((w) => w !== '') : null;
  // Older: the real argv, NUL-separated; the listener is the sshd that is not a per-connection child (-R).
  const words = text.split('\0');
  if (!isSshd(words[0]!) || words.includes('-R')) return null;
  return words.slice(1);
}

/** `-f FILE` (last one wins, as getopt leaves it) or the system file; undefined for a relative FILE. */
export function configFromArgv(argv: readonly string[], systemConfig: string): string | undefined {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (!word.startsWith('-') || word === '-') continue;
    // Letters in a cluster; a letter taking an argument ends it (sshd's getopt string has these).
    for (let j = 1; j < word.length; j++) {
      const letter = word[j]!;
      if ('CcEfgHhkOoPp'.includes(letter)) {
        const value = j + 1 < word.length ? word.slice(j + 1) : argv[++i];
        if (letter === 'f' && value !== undefined) file = value;
        break;
      }
    }
  }
  if (file === undefined) return systemConfig;
  return isAbsolute(file) ? file : undefined;
}

function isSshd(program: string): boolean {
  return program === 'sshd' || program.endsWith('/sshd');
}

/** The parent pid from /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold spaces and parentheses). */
function parentPid(stat: string | undefined): number | null {
  if (stat === undefined) return null;
  const after = stat.slice(stat.lastIndexOf(')') + 1).trim().split(' ');
  const ppid = Number(after[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}
