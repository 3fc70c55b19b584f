/**
 * A real ssh-agent for agent-forwarding tests, on a socket in `dir`, holding
 * one fresh ed25519 key; stopped by PID.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface TestAgent {
  /** SSH_AUTH_SOCK of the agent. */
  sock: string;
  pid: number;
  /** SHA256 fingerprint of the key it holds (what `ssh-add -l` prints). */
  fingerprint: string;
  stop(): void;
}

export function startAgentWithKey(dir: string, comment = 'tsshd-agent-test'): TestAgent {
  const out = execFileSync('ssh-agent', ['-s', '-a', join(dir, 'agent.sock')], { encoding: 'utf8' });
  const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(out)![1]!;
  const pid = Number(/SSH_AGENT_PID=([0-9]+);/.exec(out)![1]);
  const key = join(dir, 'agent_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', key]);
  execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
  const fingerprint = execFileSync('ssh-keygen', ['-lf', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return {
    sock,
    pid,
    fingerprint,
    stop: () => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}
