/**
 * tssh without UDP: the system's `ssh` with the user's arguments (tssh's own
 * options taken out), stdio inherited, signals sent to tssh passed on, and
 * ssh's exit status returned, so `tssh` is `ssh` when UdpMode is no.
 */
import { spawn } from 'node:child_process';
import { EXIT_FAILURE } from './exit-codes.js';

/** The ssh program: `ssh` from PATH unless TSSH_SSH names another (for unusual installs). */
export function sshProgram(env: NodeJS.ProcessEnv = process.env): string {
  return env.TSSH_SSH && env.TSSH_SSH !== '' ? env.TSSH_SSH : 'ssh';
}

/** Signals passed on to ssh: those that end it when sent from outside (the terminal sends keyboard signals to both anyway). */
const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * Run `ssh args` with stdio inherited. Resolves with ssh's exit status: 255
 * when ssh could not be started (after a one-line message) or was killed by a
 * signal (ssh's own convention for "Killed by signal").
 */
export function runPlainSsh(args: readonly string[], program = sshProgram()): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: 'inherit' });
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const signal of FORWARDED_SIGNALS) {
      const handler = (): void => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      };
      handlers.set(signal, handler);
      process.on(signal, handler);
    }
    let settled = false;
    const done = (status: number): void => {
      if (settled) return;
      settled = true;
      for (const [signal, handler] of handlers) process.off(signal, handler);
      resolve(status);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ENOENT' ? 'install OpenSSH (the openssh-client package)' : 'check that it is executable';
      process.stderr.write(`tssh: cannot run ${program}: ${err.message}; ${hint}\n`);
      done(EXIT_FAILURE);
    });
    child.once('exit', (code) => done(code ?? EXIT_FAILURE));
  });
}
