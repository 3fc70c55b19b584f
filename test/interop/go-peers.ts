/**
 * The reference Go peers for the interop tests (pinned in interop/peers.env,
 * built into .peers/bin by scripts/install-go-peers.sh). A test that needs
 * one is skipped with one line naming the fix when it is missing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { killLeftovers } from '../e2e/harness.js';
import { CHECKOUT_ROOT, SshdFixture } from '../support/sshd.js';

export const GO_TSSHD = join(CHECKOUT_ROOT, '.peers', 'bin', 'tsshd');
export const GO_TSSH = join(CHECKOUT_ROOT, '.peers', 'bin', 'tssh');

/** node:test's `skip` value: false when the Go tsshd is there, else the reason. */
export const SKIP_WITHOUT_GO_TSSHD: string | false = existsSync(GO_TSSHD) ? false : `${GO_TSSHD} is missing: run scripts/install-go-peers.sh`;
export const SKIP_WITHOUT_GO_TSSH: string | false = existsSync(GO_TSSH) ? false : `${GO_TSSH} is missing: run scripts/install-go-peers.sh`;

/** tssh arguments: the fixture's config, KCP, the Go tsshd as TsshdPath, more options, the host, the command. */
export function overGoTsshd(configArgs: readonly string[], host: string, options: readonly string[] = [], command: readonly string[] = []): string[] {
  return [...configArgs, '--kcp', '-o', `TsshdPath=${GO_TSSHD}`, ...options, host, ...command];
}

/**
 * For a test file run against the Go tsshd: a real sshd started before its tests (unless the Go tsshd is
 * missing) and stopped after them, with any tssh the file left running. Read `sshd` inside the tests.
 */
export function sshdForGoTsshd(): { readonly sshd: SshdFixture } {
  let sshd: SshdFixture | undefined;
  before(async () => {
    if (!SKIP_WITHOUT_GO_TSSHD) sshd = await SshdFixture.start();
  });
  after(async () => {
    killLeftovers();
    await sshd?.stop();
  });
  return {
    get sshd() {
      if (sshd === undefined) throw new Error('the sshd fixture is not started (read it inside a test)');
      return sshd;
    },
  };
}
