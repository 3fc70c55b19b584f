/**
 * `tssh --install-tsshd [--install-path DIR] [--tsshd-bin-path FILE] host`:
 * two ssh runs with the user's own ssh and options. The first asks the
 * server what it is (install-plan.ts), the second pipes it the tsshd this
 * tssh made for it (install-payload.ts) and puts it in place atomically.
 * No root and no network access are needed on the server.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { VERSION } from '../version.js';
import { LOGIN_FORCED_OPTIONS } from './bootstrap-over-ssh.js';
import {
  absoluteRemotePath,
  chooseInstallKind,
  DEFAULT_INSTALL_PATH,
  installCommand,
  libraryDir,
  parseProbe,
  probeCommand,
  serverPlatform,
  type InstallKind,
} from './install-plan.js';
import { bundlePayload, clientAbilities, executablePayload, filePayload } from './install-payload.js';

/** Inputs to {@link installTsshd}. */
export interface InstallTsshdOptions {
  /** The ssh program. */
  program: string;
  /** The user's ssh options and destination (loginSshArgs). */
  loginArgs: readonly string[];
  /** The server's name, for messages. */
  host: string;
  /** --install-path, default ~/.local/bin. */
  installPath?: string;
  /** --tsshd-bin-path: an executable to upload as is. */
  binPath?: string;
  quiet: boolean;
}

/** What the server printed on stdout is small; more than this is not our script's. */
const MAX_OUTPUT = 256 * 1024;

interface SshRun {
  stdout: string;
  stderrTail: string;
  code: number | null;
}

/** Chunks written to ssh at a time; progress is shown per chunk. */
const CHUNK = 256 * 1024;

/** Write `data` to ssh's stdin as it drains, reporting the fraction sent. */
async function feed(stdin: Writable, data: Buffer, progress?: (fraction: number) => void): Promise<void> {
  for (let at = 0; at < data.length && !stdin.destroyed; at += CHUNK) {
    if (!stdin.write(data.subarray(at, at + CHUNK))) await new Promise((resolve) => stdin.once('drain', resolve).once('close', resolve));
    progress?.(Math.min(1, (at + CHUNK) / data.length));
  }
  stdin.end();
}

function runSsh(program: string, args: readonly string[], input?: Buffer, progress?: (fraction: number) => void): Promise<SshRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, [...LOGIN_FORCED_OPTIONS, ...args], { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderrTail = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += s;
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4096);
    });
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`tssh: cannot run ${program}: ${err.message}; install OpenSSH (the openssh-client package)`)),
    );
    child.once('close', (code) => resolve({ stdout, stderrTail, code }));
    if (input && child.stdin) {
      // ssh closes its stdin early when the login fails: the exit status tells the story.
      child.stdin.on('error', () => undefined);
      void feed(child.stdin, input, progress);
    }
  });
}

function lastLine(text: string): string {
  return text.trim().split('\n').map((l) => l.trim()).filter((l) => l !== '').pop() ?? '';
}

function describe(kind: InstallKind | { kind: 'file' }): string {
  if (kind.kind === 'bundle') return `bundle run by ${kind.node}`;
  return kind.kind === 'file' ? 'the given executable' : 'single executable';
}

/** Install tsshd on the server; resolves with tssh's exit status (messages already printed). */
export async function installTsshd(o: InstallTsshdOptions): Promise<number> {
  const installPath = o.installPath ?? DEFAULT_INSTALL_PATH;
  const say = (line: string): void => {
    if (!o.quiet) process.stderr.write(`${line}\n`);
  };
  const probeRun = await runSsh(o.program, [...o.loginArgs, probeCommand(installPath)]);
  if (probeRun.code === 255 && !probeRun.stdout.includes('tsshd-probe-end')) {
    throw new Error(`tssh: the ssh login to ${o.host} failed (exit status 255); see ssh's message above`);
  }
  const probe = parseProbe(probeRun.stdout, o.host);
  const platform = serverPlatform(probe);
  const kind: InstallKind | { kind: 'file' } = o.binPath !== undefined ? { kind: 'file' } : chooseInstallKind(probe, clientAbilities(), o.host);
  if (probe.installed === `tsshd ${VERSION}` && kind.kind !== 'file') say(`tssh: tsshd ${VERSION} is installed on ${o.host} already; installing it again`);

  const versionDir = `tsshd-${VERSION}-${randomBytes(4).toString('hex')}`;
  const absoluteDir = absoluteRemotePath(installPath, probe.home);
  const payload =
    kind.kind === 'file'
      ? filePayload(o.binPath!)
      : kind.kind === 'bundle'
        ? bundlePayload({ platform: platform!, node: kind.node, nodeAbi: probe.nodeAbi, installedAt: `${libraryDir(absoluteDir)}/${versionDir}` })
        : await executablePayload(say);
  const size = `${(payload.length / 1e6).toFixed(1)} MB`;
  say(`tssh: sending tsshd ${VERSION} to ${o.host} (${describe(kind)}, ${size} compressed)`);
  // A percentage on a terminal (the single executable takes a while on a slow link).
  const showProgress = !o.quiet && process.stderr.isTTY === true;
  let shown = -1;
  const progress = (fraction: number): void => {
    const percent = Math.floor(fraction * 100);
    if (!showProgress || percent === shown) return;
    shown = percent;
    process.stderr.write(`\rtssh: sent ${percent}%${percent === 100 ? '\n' : ''}`);
  };
  const expect = kind.kind === 'file' ? undefined : `tsshd ${VERSION}`;
  const run = await runSsh(o.program, [...o.loginArgs, installCommand(installPath, versionDir, expect)], payload, progress);
  const broken = /^broken=(.*)$/m.exec(run.stdout)?.[1]?.trim();
  if (broken !== undefined) {
    throw new Error(`tssh: the tsshd sent to ${o.host} does not run there (it said ${JSON.stringify(broken.slice(0, 200))}); the tsshd there before (if any) is unchanged`);
  }
  const installed = /^installed=(.*)$/m.exec(run.stdout)?.[1]?.trim();
  if (run.code !== 0 || installed === undefined) {
    if (run.code === 255) throw new Error(`tssh: the ssh login to ${o.host} failed (exit status 255); see ssh's message above`);
    const said = lastLine(run.stderrTail) || `exit status ${run.code ?? '?'}`;
    throw new Error(`tssh: installing tsshd in ${absoluteDir} on ${o.host} failed: ${said}; the tsshd there before (if any) is unchanged`);
  }
  if (kind.kind !== 'file' && installed !== `tsshd ${VERSION}`) {
    throw new Error(`tssh: tsshd was installed at ${absoluteDir}/tsshd on ${o.host} but does not run there (it said ${JSON.stringify(installed.slice(0, 200))})`);
  }
  say(`tssh: ${installed} installed on ${o.host} at ${absoluteDir}/tsshd`);
  if (installPath.replace(/\/+$/, '') === DEFAULT_INSTALL_PATH) say(`tssh: tssh --udp ${o.host} finds it there`);
  else say(`tssh: tell tssh where it is: --tsshd-path ${absoluteDir}/tsshd, or "#!! TsshdPath ${absoluteDir}/tsshd" in the Host block for ${o.host} in ~/.ssh/config`);
  return 0;
}
