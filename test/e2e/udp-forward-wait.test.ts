import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { connectTo, scratchDir } from '../forward/fixtures.js';
import { waitFor } from '../support/wait.js';
import { freeTcpPort, startTssh, untilListening } from './harness.js';
import { sshdAndTcpEcho } from './forward-files.js';

// As ssh: when the session's command ends while forwarded connections are open, tssh stays (printing nothing)
// until the last one closes, then exits with the command's status.
const files = sshdAndTcpEcho();
const scratch = scratchDir();
after(() => scratch.cleanup());

/** Send `text` on an open connection and wait for the echo (bounded). */
async function roundTrip(socket: Socket, text: string): Promise<void> {
  let got = '';
  const onData = (b: Buffer): void => void (got += b.toString());
  socket.on('data', onData);
  socket.write(text);
  try {
    await waitFor(`the echo of ${text}`, () => got === text, 20_000, 10);
  } finally {
    socket.off('data', onData);
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

for (const flag of ['--kcp', '--quic']) {
  test(`${flag}: the command ends while a -L connection is open: tssh waits for it, then exits with the command's status`, async () => {
    const port = await freeTcpPort();
    const go = scratch.path(`go${flag}`);
    // The command prints its PID, waits (bounded) for the test's go-ahead, and exits 7.
    const command = `echo $$; i=0; while [ ! -e ${go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; exit 7`;
    const tssh = startTssh([...files.sshd.configArgs, flag, '-L', `${port}:127.0.0.1:${files.echo.port}`, files.sshd.host, command]);
    let socket: Socket | null = null;
    try {
      await untilListening(tssh, port);
      const pid = Number(await waitFor('the command to start', () => /^(\d+)\n/.exec(tssh.stdout().toString())?.[1], 40_000, 20));
      socket = await connectTo(port);
      await roundTrip(socket, 'before');
      writeFileSync(go, '');
      await waitFor('the command to exit', () => !alive(pid), 20_000, 20);
      // The session is over; the forwarded connection keeps working, and tssh keeps running, for as long as it is open.
      for (let i = 0; i < 10; i++) {
        await roundTrip(socket, `after ${i}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(tssh.exitStatus(), undefined, 'tssh is still there while the connection is open');
      socket.end();
      assert.equal(await tssh.waitForExit(30_000), 7, "the command's status, once the last forwarded connection closed");
      assert.equal(tssh.stderr(), '', 'nothing printed while waiting');
    } finally {
      socket?.destroy();
      await tssh.stop();
    }
  });
}

test('--kcp: with no forwarded connection open, tssh exits with the command as before', async () => {
  const port = await freeTcpPort();
  const tssh = startTssh([...files.sshd.configArgs, '--kcp', '-L', `${port}:127.0.0.1:${files.echo.port}`, files.sshd.host, 'exit 5']);
  try {
    assert.equal(await tssh.waitForExit(40_000), 5);
  } finally {
    await tssh.stop();
  }
});
