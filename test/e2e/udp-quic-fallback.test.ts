import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QUIC_PACKAGE_TEST_ENV } from '../../src/transport/quic/engine.js';
import { SshdFixture, TSSHD_BIN } from '../support/sshd.js';
import { cleanEnv, killLeftovers, runTssh } from './harness.js';

// --quic where QUIC cannot run: tssh says why, uses KCP, and the command still runs.
// Test seam: TSSH_TEST_QUIC_PACKAGE names a package that is not installed, so the engine does not load.
let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start();
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

const MISSING = '@matrixai/quic-missing-for-test';
const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

test('no QUIC engine on the client: one line ending "; using KCP", then the command runs over KCP', async () => {
  const r = await runTssh([...sshd.configArgs, '--quic', sshd.host, 'echo ran-$((6*7))'], {
    env: cleanEnv({ [QUIC_PACKAGE_TEST_ENV]: MISSING }),
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'ran-42\n');
  assert.equal(r.stderr, `tssh: QUIC engine unavailable: ${MISSING} is not installed; using KCP\n`);
});

test('no QUIC engine on the server: tsshd refuses --quic, tssh logs in again for KCP and the command runs', async () => {
  // A tsshd whose engine does not load (the client's does).
  const wrapper = join(sshd.dir, 'tsshd-without-quic');
  writeFileSync(wrapper, `#!/bin/sh\n${QUIC_PACKAGE_TEST_ENV}=${MISSING} exec ${quote(process.execPath)} ${quote(TSSHD_BIN)} "$@"\n`, { mode: 0o700 });
  const r = await runTssh([...sshd.configArgs, '--quic', '--tsshd-path', wrapper, sshd.host, 'echo ran-$((6*7))']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'ran-42\n');
  assert.deepEqual(r.stderr.split('\n').filter((l) => l !== ''), [
    `tsshd: QUIC engine unavailable: ${MISSING} is not installed; use --kcp`,
    `tssh: tsshd on ${sshd.host} cannot use QUIC; using KCP`,
  ]);
});
