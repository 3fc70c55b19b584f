import { after, before } from 'node:test';
import { echoServer } from '../forward/fixtures.js';
import { SshdFixture } from '../support/sshd.js';
import { killLeftovers } from './harness.js';

/**
 * For a test file's forward tests: a real sshd and a TCP echo server on 127.0.0.1, started before the file's
 * tests and ended after them (with any tssh the file left running). Read `sshd` and `echo` inside the tests.
 */
export function sshdAndTcpEcho(): { readonly sshd: SshdFixture; readonly echo: Awaited<ReturnType<typeof echoServer>> } {
  let sshd: SshdFixture | undefined;
  let echo: Awaited<ReturnType<typeof echoServer>> | undefined;
  before(async () => {
    sshd = await SshdFixture.start();
    echo = await echoServer();
  });
  after(async () => {
    killLeftovers();
    await echo?.close();
    await sshd?.stop();
  });
  return {
    get sshd() {
      if (sshd === undefined) throw new Error('the sshd fixture is not started (read it inside a test)');
      return sshd;
    },
    get echo() {
      if (echo === undefined) throw new Error('the echo server is not started (read it inside a test)');
      return echo;
    },
  };
}
