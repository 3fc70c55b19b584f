/**
 * `tssh --install-tsshd [--install-path DIR] [--tsshd-bin-path FILE] host`:
 * one login with the user's own ssh and options, whose script first tells
 * what the server is (install-plan.ts), then waits on stdin for the tsshd
 * this tssh makes for it (install-payload.ts) and puts it in place
 * atomically (one login: one password prompt at most).
 * No root and no network access are needed on the server.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { VERSION } from '../version.js';
import { LOGIN_FORCED_OPTIONS } from './bootstrap-over-ssh.js';
import {
  absoluteRemotePath,
  chooseInstallKind,
  DEFAULT_INSTALL_PATH,
  INSTALL_ABORT,
  installCommand,
  installHeader,
  libraryDir,
  parseProbe,
  PROBE_END,
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
/** Chunks written to ssh at a time; progress is shown per chunk. */
const CHUNK = 256 * 1024;

/** One ssh run of installCommand's script: its output as it comes, its stdin, and how it ended. */
class InstallLogin {
  stdout = '';
  stderrTail = '';
  readonly ended: Promise<number | null>;
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly waiters: Array<() => void> = [];

  constructor(program: string, args: readonly string[]) {
    this.child = spawn(program, [...LOGIN_FORCED_OPTIONS, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    // ssh closes its stdin early when the login fails: the exit status tells the story.
    this.child.stdin.on('error', () => undefined);
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (s: string) => {
      if (this.stdout.length < MAX_OUTPUT) this.stdout += s;
      this.waiters.splice(0).forEach((wake) => wake());
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4096);
    });
    this.ended = new Promise((resolve, reject) => {
      this.child.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`tssh: cannot run ${program}: ${err.message}; install OpenSSH (the openssh-client package)`)),
      );
      this.child.once('close', (code) => {
        this.waiters.splice(0).forEach((wake) => wake());
        resolve(code);
      });
    });
    this.ended.catch(() => undefined);
  }

  /** Resolves once stdout holds `marker` (true) or ssh has ended without it (false). */
  async until(marker: string): Promise<boolean> {
    for (;;) {
      if (this.stdout.includes(marker)) return true;
      if (this.child.exitCode !== null || this.child.signalCode !== null) return false;
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
  }

  /** Write `data` as ssh's stdin drains, reporting the fraction sent, then close it. */
  async send(data: Buffer, progress?: (fraction: number) => void): Promise<void> {
    const stdin = this.child.stdin;
    for (let at = 0; at < data.length && !stdin.destroyed; at += CHUNK) {
      if (!stdin.write(data.subarray(at, at + CHUNK))) await new Promise((resolve) => stdin.once('drain', resolve).once('close', resolve));
      progress?.(Math.min(1, (at + CHUNK) / data.length));
    }
    stdin.end();
  }

  /** Stop the script after the probe. */
  abort(): void {
    this.child.stdin.end(INSTALL_ABORT);
  }
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
  const loginFailed = (code: number | null): Error =>
    new Error(`tssh: the ssh login to ${o.host} failed (exit status ${code ?? '?'}); see ssh's message above`);
  const login = new InstallLogin(o.program, [...o.loginArgs, installCommand(installPath)]);
  if (!(await login.until(PROBE_END))) {
    const code = await login.ended;
    if (code === 255) throw loginFailed(code);
  }
  let kind: InstallKind | { kind: 'file' };
  let probe;
  try {
    probe = parseProbe(login.stdout, o.host);
    kind = o.binPath !== undefined ? { kind: 'file' } : chooseInstallKind(probe, clientAbilities(), o.host);
  } catch (err) {
    login.abort();
    await login.ended;
    throw err;
  }
  if (probe.installed === `tsshd ${VERSION}` && kind.kind !== 'file') say(`tssh: tsshd ${VERSION} is installed on ${o.host} already; installing it again`);

  const versionDir = `tsshd-${VERSION}-${randomBytes(4).toString('hex')}`;
  const absoluteDir = absoluteRemotePath(installPath, probe.home);
  let payload: Buffer;
  try {
    payload =
      kind.kind === 'file'
        ? filePayload(o.binPath!)
        : kind.kind === 'bundle'
          ? bundlePayload({ platform: serverPlatform(probe)!, node: kind.node, nodeAbi: probe.nodeAbi, installedAt: `${libraryDir(absoluteDir)}/${versionDir}` })
          : await executablePayload(say);
  } catch (err) {
    login.abort();
    await login.ended;
    throw err;
  }
  say(`tssh: sending tsshd ${VERSION} to ${o.host} (${describe(kind)}, ${(payload.length / 1e6).toFixed(1)} MB compressed)`);
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
  await login.send(Buffer.concat([Buffer.from(installHeader(versionDir, expect)), payload]), progress);
  const code = await login.ended;
  const broken = /^broken=(.*)$/m.exec(login.stdout)?.[1]?.trim();
  if (broken !== undefined) {
    throw new Error(`tssh: the tsshd sent to ${o.host} does not run there (it said ${JSON.stringify(broken.slice(0, 200))}); the tsshd there before (if any) is unchanged`);
  }
  const installed = /^installed=(.*)$/m.exec(login.stdout)?.[1]?.trim();
  if (code !== 0 || installed === undefined) {
    if (code === 255) throw loginFailed(code);
    const said = lastLine(login.stderrTail) || `exit status ${code ?? '?'}`;
    throw new Error(`tssh: installing tsshd in ${absoluteDir} on ${o.host} failed: ${said}; the tsshd there before (if any) is unchanged`);
  }
  if (expect !== undefined && installed !== expect) {
    throw new Error(`tssh: tsshd was installed at ${absoluteDir}/tsshd on ${o.host} but does not run there (it said ${JSON.stringify(installed.slice(0, 200))})`);
  }
  say(`tssh: ${installed} installed on ${o.host} at ${absoluteDir}/tsshd`);
  if (installPath.replace(/\/+$/, '') === DEFAULT_INSTALL_PATH) say(`tssh: tssh --udp ${o.host} finds it there`);
  else say(`tssh: tell tssh where it is: --tsshd-path ${absoluteDir}/tsshd, or "#!! TsshdPath ${absoluteDir}/tsshd" in the Host block for ${o.host} in ~/.ssh/config`);
  return 0;
}
