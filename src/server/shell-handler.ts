import { buildLoginEnv, currentLogin, FALLBACK_SHELL } from './login-env.js';
import { foregroundProcessGroup, signalWindowChange } from './redraw.js';
import type { Handler, Session } from './session.js';
import type { RunningSession } from './session-runner.js';

/**
 * The default handler: what sshd runs for a session (session-runner.ts): a
 * login shell or `$SHELL -c command`, in a pty when one was requested, a
 * configured subsystem's command, all with the session's environment. Window
 * changes resize the pty, a redraw sends SIGWINCH to its foreground process
 * group, and the session's abort signal hangs the process group up (SIGHUP).
 */

/** Settings of {@link shellHandler}. */
export interface ShellHandlerOptions {
  /** Subsystem name -> command run with `$SHELL -c` (e.g. sftp -> /usr/lib/openssh/sftp-server). Default: none. */
  subsystems?: ReadonlyMap<string, string>;
  /** SHELL and HOME come from here when the session's environment lacks them (default: the current user's login). */
  loginEnv?: Readonly<Record<string, string>>;
}

/** Thrown by the shell handler before the session is accepted: the client gets it as a refusal. */
class StartError extends Error {}

/**
 * The handler that runs real shells and commands as the user running the
 * server. A session it cannot start (unknown subsystem, no such shell) is
 * refused with the reason, before any output.
 */
export function shellHandler(options: ShellHandlerOptions = {}): Handler {
  const subsystems = options.subsystems ?? new Map<string, string>();
  let fallbackEnv = options.loginEnv;
  return async (session: Session): Promise<void> => {
    fallbackEnv ??= buildLoginEnv(currentLogin({}));
    let command: string | undefined = session.command === '' ? undefined : session.command;
    if (session.subsystem !== undefined) {
      command = subsystems.get(session.subsystem);
      if (command === undefined) throw new StartError(`subsystem ${JSON.stringify(session.subsystem)} is not configured`);
    }
    const env = { ...session.environ };
    let running: RunningSession;
    try {
      // Loaded on first use: a program that imports the library (e.g. tsshd's parent half) does not pay for node-pty.
      const { startSession } = await import('./session-runner.js');
      running = await startSession({
        shell: env.SHELL ?? fallbackEnv.SHELL ?? FALLBACK_SHELL,
        home: env.HOME ?? fallbackEnv.HOME ?? '/',
        env,
        command,
        pty: session.pty,
      });
    } catch (err) {
      throw new StartError(`cannot start session: ${err instanceof Error ? err.message : String(err)}`);
    }
    const hangup = (): void => running.signalGroup('SIGHUP');
    const resize = ({ cols, rows }: { cols: number; rows: number }): void => void running.resize(cols, rows);
    let exited = false;
    void running.exited.then(() => (exited = true));
    // Signal only while the process still runs: after it exits the group id may be someone else's.
    const redraw = (): void => void repaint(running, () => exited);
    session.signal.addEventListener('abort', hangup, { once: true });
    session.on('window-change', resize);
    session.on('redraw', redraw);
    // The window may have changed while the process was starting.
    const pty = session.pty;
    if (pty) running.resize(pty.cols, pty.rows);
    running.attach({ input: session, output: session, errorOutput: running.terminal ? undefined : session.stderr });
    // For the server's log (SessionHost 'process').
    session.emit('process', running.pid);
    if (session.signal.aborted) hangup();
    const status = await running.done;
    session.signal.removeEventListener('abort', hangup);
    session.off('window-change', resize);
    session.off('redraw', redraw);
    session.exit(status.signal !== undefined ? { signal: status.signal } : (status.code ?? 0));
  };
}

/** Whether a handler error is the shell handler's refusal (reported to the client as session-error). */
export function isStartError(err: unknown): boolean {
  return err instanceof StartError;
}

async function repaint(running: RunningSession, exited: () => boolean): Promise<void> {
  if (!running.terminal || exited()) return;
  const group = await foregroundProcessGroup(running.pid);
  if (group !== undefined && !exited()) signalWindowChange(group);
}
