/**
 * Runs an example as the tsshd of the OpenSSH sshd fixture: a wrapper in the
 * fixture's private dir starts the compiled example with this node, and a
 * client config names it as TsshdPath.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKOUT_ROOT, type SshdFixture } from '../support/sshd.js';

/** Absolute path of a compiled example, e.g. `hello/hello.js`. */
export function exampleScript(relative: string): string {
  return join(CHECKOUT_ROOT, 'dist', 'examples', relative);
}

/** Write the wrapper and a client config using it; returns the `-F` arguments for tssh. */
export function exampleConfig(sshd: SshdFixture, relative: string, extra: string[] = []): string[] {
  const wrapper = join(sshd.dir, `example-${relative.replace(/[^a-z0-9]/gi, '-')}`);
  writeFileSync(wrapper, `#!/bin/sh\nexec ${shq(process.execPath)} ${shq(exampleScript(relative))} "$@"\n`, { mode: 0o700 });
  return ['-F', sshd.writeClientConfig(`ssh_config-${relative.replace(/[^a-z0-9]/gi, '-')}`, extra, wrapper)];
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
