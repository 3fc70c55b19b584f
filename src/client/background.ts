/**
 * tssh -f (ForkAfterAuthentication). Node cannot fork, so once the login is
 * done (passwords were asked on the terminal) tssh spawns itself again, with
 * the same arguments (for `ps`; the marker and the IPC channel, not argv, make
 * it the background half), in a
 * new session (setsid) with stdin from /dev/null, hands it the session's
 * options, the bootstrap secret included, over a private IPC channel (a
 * socketpair: never argv, the environment or a file), and waits. The
 * background tssh opens the UDP connection and sets up the forwards; once
 * they are in place it says so and the foreground tssh exits 0, as ssh -f
 * returns once its forwards are up. If the background tssh fails first, its
 * message is already on stderr and the foreground tssh exits with its status.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { EXIT_FAILURE } from './exit-codes.js';
import type { UdpSessionOptions } from './udp-session.js';

/** Environment marker that, with an IPC channel, makes tssh the background half. */
export const BACKGROUND_MARKER_ENV = 'TSSH_BACKGROUND_CHILD';

/** How long the foreground tssh waits for the forwards to be in place. */
export const BACKGROUND_READY_TIMEOUT_MS = 60_000;

type ToChild = { type: 'start'; options: UdpSessionOptions };

/**
 * Whether this process is the background half (spawned by runInBackground);
 * the marker is removed so that nothing started later inherits it.
 */
export function takeBackgroundRole(): boolean {
  const is = process.env[BACKGROUND_MARKER_ENV] === '1' && typeof process.send === 'function';
  if (is) delete process.env[BACKGROUND_MARKER_ENV];
  return is;
}

/** Foreground side: start the background tssh with `options`; resolves with the foreground's exit status. */
export function runInBackground(options: UdpSessionOptions, timeoutMs = BACKGROUND_READY_TIMEOUT_MS): Promise<number> {
  const script = resolve(process.argv[1] ?? '');
  const hasOutput = options.work?.kind !== 'none';
  // The user's own arguments, as ssh -f keeps its argv, so that `ps` tells one background tssh from another.
  // They are only what the user typed (visible in ps already); the session's secrets go over IPC.
  const child = spawn(process.execPath, [script, ...process.argv.slice(2)], {
    detached: true,
    // With a command, its output goes where ours goes, as ssh -f keeps the session's stdout and stderr.
    // Without one (-N), pipes relayed until the forwards are up, then let go (ssh -f sends its stdio to
    // /dev/null): the background tssh must not hold a caller's pipe open (`out=$(tssh -f -N ...)` would hang).
    stdio: hasOutput ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, [BACKGROUND_MARKER_ENV]: '1' },
  });
  child.stdout?.pipe(process.stdout, { end: false });
  child.stderr?.pipe(process.stderr, { end: false });
  const letGo = (): void => {
    for (const pipe of [child.stdout, child.stderr]) {
      pipe?.unpipe();
      pipe?.destroy();
    }
  };
  return new Promise<number>((settleOnce) => {
    let settled = false;
    // A failed background tssh's last words are still in the pipe: relay them (bounded) before returning.
    const settle = (code: number): void => {
      if (code === 0 || child.stderr === null || child.stderr.destroyed) {
        letGo();
        settleOnce(code);
        return;
      }
      const bound = setTimeout(() => done(), 2000);
      const done = (): void => {
        clearTimeout(bound);
        letGo();
        settleOnce(code);
      };
      child.stderr.once('close', done);
    };
    const finish = (code: number, message?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (message !== undefined) process.stderr.write(`${message}\n`);
      child.removeAllListeners();
      child.on('error', () => undefined);
      if (code !== 0 && child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      if (child.connected) child.disconnect();
      child.unref();
      settle(code);
    };
    const timer = setTimeout(() => finish(EXIT_FAILURE, `tssh: the background tssh was not ready within ${Math.round(timeoutMs / 1000)} s; run without -f to see why`), timeoutMs);
    child.once('error', (err) => finish(EXIT_FAILURE, `tssh: cannot go to the background: ${err.message.split('\n')[0]}`));
    child.on('message', (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'ready') finish(0);
    });
    // The background tssh dropped the channel before its forwards were up (it said why on stderr): its status is ours.
    // 'disconnect' comes after every message it sent, unlike 'exit', which may overtake them.
    child.once('disconnect', () => {
      if (settled) return;
      if (child.exitCode !== null || child.signalCode !== null) finish(child.exitCode ?? EXIT_FAILURE);
      else child.once('exit', (code) => finish(code ?? EXIT_FAILURE));
    });
    child.send({ type: 'start', options } satisfies ToChild, (err: Error | null) => {
      if (err) finish(EXIT_FAILURE, `tssh: cannot hand the session to the background tssh: ${err.message}`);
    });
  });
}

/** Background side: take the options, run the session, tell the foreground once the forwards are up. */
export function runAsBackground(): Promise<number> {
  return new Promise<number>((settleStart) => {
    const timer = setTimeout(() => settleStart(EXIT_FAILURE), 30_000);
    process.once('message', (message: unknown) => {
      clearTimeout(timer);
      const m = message as ToChild | null;
      if (typeof m !== 'object' || m === null || m.type !== 'start' || typeof m.options !== 'object') {
        settleStart(EXIT_FAILURE);
        return;
      }
      reviveBuffers(m.options);
      // Once the foreground has gone, nobody reads these pipes: what is written then is dropped, as by ssh -f.
      process.stdout.on('error', () => undefined);
      process.stderr.on('error', () => undefined);
      void import('./udp-session.js').then(({ runUdpSession }) =>
        runUdpSession(m.options, {
          onReady: () => {
            if (!process.connected) return;
            process.send?.({ type: 'ready' }, () => {
              if (process.connected) process.disconnect();
            });
          },
        }).then(settleStart, () => settleStart(EXIT_FAILURE)),
      );
    });
  });
}

/** The IPC channel carries JSON, which turns a Buffer into { type: 'Buffer', data }: the X11 cookies are the options' only Buffers. */
export function reviveBuffers(options: UdpSessionOptions): void {
  const auth = options.agentX11?.x11?.auth;
  if (auth === undefined) return;
  const revive = (b: unknown): Buffer => Buffer.from((b as { data: number[] }).data);
  auth.real = revive(auth.real);
  auth.fake = revive(auth.fake);
}
