/**
 * A small sshd on the tsshd API: real commands and login shells, with and
 * without a pty, window changes and exit codes. It is what the built-in
 * shellHandler() does, minus its flow control and sshd's finer points
 * (login argv[0], subsystems, redraw), written out to read. Run it where
 * tssh would run tsshd: `tssh --udp -o TsshdPath=/path/to/examples/sshd/sshd host`.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import * as pty from '@lydell/node-pty';
import { runMain, type Handler, type Session } from 'tsshd';

const signalNames = new Map(Object.entries(constants.signals).map(([name, number]) => [number as number, name.slice(3)]));

/** `$SHELL -c command`, or a login shell; started in HOME with the session's environment. */
function commandLine(session: Session): { file: string; args: string[]; cwd: string } {
  const file = session.environ.SHELL ?? '/bin/sh';
  return { file, args: session.command === '' ? ['-l'] : ['-c', session.command], cwd: session.environ.HOME ?? '/' };
}

/** In a pty: the program gets a terminal; its output (stdout and stderr) is the session's output. */
async function runInPty(session: Session, info: NonNullable<Session['pty']>): Promise<void> {
  const { file, args, cwd } = commandLine(session);
  const term = pty.spawn(file, args, { name: info.term, cols: info.cols, rows: info.rows, cwd, env: { ...session.environ }, encoding: null });
  const write = term.write.bind(term) as (data: string | Buffer) => void; // with encoding null node-pty takes bytes
  session.on('data', (chunk: Buffer) => write(chunk));
  term.onData((chunk: string | Buffer) => session.write(chunk));
  session.on('window-change', ({ cols, rows }: { cols: number; rows: number }) => term.resize(cols, rows));
  // The client is gone for good: hang up the program's process group, as sshd does.
  session.signal.addEventListener('abort', () => process.kill(-term.pid, 'SIGHUP'));
  const { exitCode, signal } = await new Promise<{ exitCode: number; signal?: number }>((resolve) => term.onExit(resolve));
  session.exit(signal ? { signal: signalNames.get(signal) ?? String(signal) } : exitCode);
}

/** Without a pty: stdin, stdout and stderr are pipes, stdout and stderr kept apart. */
async function runOnPipes(session: Session): Promise<void> {
  const { file, args, cwd } = commandLine(session);
  // detached: the program gets its own process group, so a hang-up reaches its children too.
  const child = spawn(file, args, { cwd, env: { ...session.environ }, stdio: 'pipe', detached: true });
  session.pipe(child.stdin);
  child.stdin.on('error', () => undefined); // the program may exit without reading its input
  child.stdout.pipe(session, { end: false });
  child.stderr.pipe(session.stderr, { end: false });
  session.signal.addEventListener('abort', () => child.pid && process.kill(-child.pid, 'SIGHUP'));
  // 'close': the program exited and its stdout and stderr are read to the end.
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject); // e.g. no such shell: the handler's error ends the session with 255
    child.once('close', (c, s) => resolve([c, s]));
  });
  session.exit(signal ? { signal: signal.slice(3) } : (code ?? 0));
}

const sshd: Handler = async (session) => {
  if (session.subsystem !== undefined) throw new Error(`this sshd has no subsystem ${session.subsystem}`);
  if (session.pty) await runInPty(session, session.pty);
  else await runOnPipes(session);
};

process.exit(await runMain({ handler: sshd }));
