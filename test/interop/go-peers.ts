/**
 * The reference Go peers for the interop tests (pinned in interop/peers.env,
 * built into .peers/bin by scripts/install-go-peers.sh). A test that needs
 * one is skipped with one line naming the fix when it is missing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKOUT_ROOT } from '../support/sshd.js';

export const GO_TSSHD = join(CHECKOUT_ROOT, '.peers', 'bin', 'tsshd');
export const GO_TSSH = join(CHECKOUT_ROOT, '.peers', 'bin', 'tssh');

/** node:test's `skip` value: false when the Go tsshd is there, else the reason. */
export const SKIP_WITHOUT_GO_TSSHD: string | false = existsSync(GO_TSSHD) ? false : `${GO_TSSHD} is missing: run scripts/install-go-peers.sh`;
export const SKIP_WITHOUT_GO_TSSH: string | false = existsSync(GO_TSSH) ? false : `${GO_TSSH} is missing: run scripts/install-go-peers.sh`;

/** tssh arguments: the fixture's config, KCP, the Go tsshd as TsshdPath, more options, the host, the command. */
export function overGoTsshd(configArgs: readonly string[], host: string, options: readonly string[] = [], command: readonly string[] = []): string[] {
  return [...configArgs, '--kcp', '-o', `TsshdPath=${GO_TSSHD}`, ...options, host, ...command];
}
