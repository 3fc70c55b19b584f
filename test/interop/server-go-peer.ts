/**
 * Running the reference Go tssh (trzsz-ssh, pinned in interop/peers.env and
 * built into .peers/bin by scripts/install-go-peers.sh) against our tsshd
 * over the sshd fixture: its own ssh_config (-F) with `#!! TsshdPath`, a
 * private HOME so nothing of the user's ~/.ssh or ~/.tssh.conf counts, and
 * no terminal unless a test gives it a pty.
 */
import type { SshdFixture } from '../support/sshd.js';
import { cleanEnv, runCollect, type RunResult } from '../e2e/harness.js';
import { GO_TSSH, SKIP_WITHOUT_GO_TSSH } from './go-peers.js';

export { GO_TSSH };
/** false when the Go tssh is there, else the one line the test runner shows as the skip reason. */
export const NO_GO_TSSH = SKIP_WITHOUT_GO_TSSH;

/** A client config for the Go tssh reaching `sshd`, our tsshd as TsshdPath, plus `extra` lines. */
export function goConfig(sshd: SshdFixture, name: string, extra: string[] = []): string {
  return sshd.writeClientConfig(name, extra);
}

/** Environment for the Go tssh: ours, cleaned, with HOME in the fixture's directory. */
export function goEnv(sshd: SshdFixture, extra: Record<string, string> = {}): Record<string, string> {
  return cleanEnv({ HOME: sshd.dir, ...extra });
}

/** Run the Go tssh without a terminal and collect everything. */
export function runGoTssh(sshd: SshdFixture, args: readonly string[], options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  return runCollect(GO_TSSH, args, { ...options, env: options.env ?? goEnv(sshd) });
}
