import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { connectTo, echoServer, exchange, payload, scratchDir, sha256, socksExchange } from '../forward/fixtures.js';
import { waitFor } from '../support/wait.js';
import { freeTcpPort, runTssh, startTssh, untilListening } from './harness.js';
import { sshdAndTcpEcho } from './forward-files.js';

// TCP and Unix socket forwards through real tssh and tsshd (logged in with the real sshd).
const files = sshdAndTcpEcho();
const scratch = scratchDir();
after(() => scratch.cleanup());

/** Send `bytes` random bytes through `where` to the echo server and check what comes back. */
async function roundTrip(where: number | string, bytes: number): Promise<void> {
  const { data, sha256: expected } = payload(bytes);
  const back = await exchange(await connectTo(where), data);
  assert.equal(back.length, data.length, 'every byte came back');
  assert.equal(sha256(back), expected, 'the bytes are intact');
}

const over = (flag: string, ...rest: string[]): string[] => [...files.sshd.configArgs, flag, ...rest];

for (const flag of ['--kcp', '--quic']) {
  test(`${flag}: -N -L carries 4 MB both ways intact to a TCP target, for two connections at once`, async () => {
    const port = await freeTcpPort();
    const tssh = startTssh(over(flag, '-N', '-L', `${port}:127.0.0.1:${files.echo.port}`, files.sshd.host));
    try {
      await untilListening(tssh, port);
      await Promise.all([roundTrip(port, 4 * 1024 * 1024), roundTrip(port, 1024 * 1024)]);
      assert.ok(files.sshd.sessionProcesses().length >= 1, 'tsshd serves a client with forwards and no session');
    } finally {
      const status = await tssh.stop();
      assert.equal(status, 255, 'killed by a signal, as ssh: 255');
      assert.match(tssh.stderr(), /Killed by signal 15\./);
    }
    // tssh said goodbye on its way out: tsshd ends too.
    await waitFor('tsshd to exit after the goodbye', () => files.sshd.sessionProcesses().length === 0, 30_000, 100);
  });
}

test('-L with a command: the forward works while the command runs, and tssh ends with the command', async () => {
  const port = await freeTcpPort();
  const tssh = startTssh(over('--kcp', '-L', `127.0.0.1:${port}:127.0.0.1:${files.echo.port}`, files.sshd.host, 'sleep 60'));
  try {
    await untilListening(tssh, port);
    await roundTrip(port, 200_000);
  } finally {
    await tssh.stop();
  }
});

test('-L to a remote Unix socket and from a local Unix socket', async () => {
  const remote = await echoServer(scratch.path('remote.sock'));
  const local = scratch.path('local.sock');
  const port = await freeTcpPort();
  const tssh = startTssh(over('--kcp', '-N', '-L', `${port}:${scratch.path('remote.sock')}`, '-L', `${local}:127.0.0.1:${files.echo.port}`, files.sshd.host));
  try {
    await untilListening(tssh, port);
    await untilListening(tssh, local);
    await roundTrip(port, 300_000);
    await roundTrip(local, 300_000);
    assert.ok(remote.connections() >= 1, 'the remote Unix socket was reached');
  } finally {
    await tssh.stop();
    await remote.close();
  }
});

test('-R: a connection to the server-side listener reaches the client-side target intact', async () => {
  const port = await freeTcpPort();
  const tssh = startTssh(over('--kcp', '-N', '-R', `${port}:127.0.0.1:${files.echo.port}`, files.sshd.host));
  try {
    await untilListening(tssh, port);
    await roundTrip(port, 2 * 1024 * 1024);
  } finally {
    await tssh.stop();
  }
});

test('-R 0: the server picks the port and tssh says which, as ssh does', async () => {
  const tssh = startTssh(over('--kcp', '-N', '-R', `0:127.0.0.1:${files.echo.port}`, files.sshd.host));
  try {
    const m = await waitFor('the allocated port', () => /Allocated port (\d+) for remote forward to 127\.0\.0\.1:(\d+)/.exec(tssh.stderr()), 40_000, 50);
    await roundTrip(Number(m[1]), 100_000);
  } finally {
    await tssh.stop();
  }
});

test('-D: SOCKS5 and SOCKS4a CONNECT reach the target through tsshd (names resolved there)', async () => {
  const port = await freeTcpPort();
  const tssh = startTssh(over('--kcp', '-N', '-D', `127.0.0.1:${port}`, files.sshd.host));
  try {
    await untilListening(tssh, port);
    // SOCKS5: no authentication, CONNECT localhost:echo by name.
    const s5 = await connectTo(port);
    const host = Buffer.from('localhost');
    const reply5 = await socksExchange(s5, [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 3, host.length]), host, u16(files.echo.port)])], 2 + 10);
    assert.deepEqual([...reply5.subarray(0, 2)], [5, 0], 'method: no authentication');
    assert.equal(reply5[3], 0, 'SOCKS5 reply: succeeded');
    assert.equal((await exchange(s5, Buffer.from('through socks5'))).toString(), 'through socks5');
    // SOCKS4a: IP 0.0.0.1 and the name after the user id.
    const s4 = await connectTo(port);
    const reply4 = await socksExchange(s4, [Buffer.concat([Buffer.from([4, 1]), u16(files.echo.port), Buffer.from([0, 0, 0, 1]), Buffer.from('me\0localhost\0')])], 8);
    assert.equal(reply4[1], 0x5a, 'SOCKS4 reply: granted');
    assert.equal((await exchange(s4, Buffer.from('through socks4a'))).toString(), 'through socks4a');
  } finally {
    await tssh.stop();
  }
});

test('-W host:port: stdin goes to the target and its answer to stdout; tssh ends when both directions do', async () => {
  const text = payload(250_000).data.toString('hex');
  const expected = sha256(Buffer.from(text));
  const r = await runTssh(over('--kcp', '-W', `127.0.0.1:${files.echo.port}`, files.sshd.host), { input: text, timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(sha256(Buffer.from(r.stdout)), expected);
});

test('-W to a closed port: ssh\'s open-failed line and status 255', async () => {
  const port = await freeTcpPort();
  const r = await runTssh(over('--kcp', '-W', `127.0.0.1:${port}`, files.sshd.host), { input: '' });
  assert.equal(r.status, 255);
  assert.match(r.stderr, /channel \d+: open failed: connect failed: .*127\.0\.0\.1:\d+.*\n/);
});

test('LocalForward from ssh_config and -o, and ClearAllForwardings', async () => {
  const [p1, p2, p3] = [await freeTcpPort(), await freeTcpPort(), await freeTcpPort()];
  const config = files.sshd.writeClientConfig('forward_config', [`LocalForward ${p1} 127.0.0.1:${files.echo.port}`]);
  const tssh = startTssh(['-F', config, '--kcp', '-N', '-o', `LocalForward=${p2} 127.0.0.1:${files.echo.port}`, files.sshd.host]);
  try {
    await untilListening(tssh, p1);
    await untilListening(tssh, p2);
    await roundTrip(p1, 10_000);
    await roundTrip(p2, 10_000);
  } finally {
    await tssh.stop();
  }
  // ClearAllForwardings yes clears the config's and the command line's forwards (they would be up before the command runs).
  const cleared = startTssh(['-F', config, '--kcp', '-o', 'ClearAllForwardings=yes', '-L', `${p3}:127.0.0.1:${files.echo.port}`, files.sshd.host, 'echo up; sleep 60']);
  try {
    await waitFor('the command to run', () => cleared.stdout().toString() === 'up\n' || cleared.exitStatus() !== undefined, 40_000, 50);
    await assert.rejects(connectTo(p1), 'LocalForward from the config was cleared');
    await assert.rejects(connectTo(p3), '-L was cleared');
  } finally {
    await cleared.stop();
  }
});

test('a local listener that cannot bind: ssh\'s message, and with ExitOnForwardFailure status 255', async () => {
  const busy = await listenAnywhere();
  try {
    const tssh = startTssh(over('--kcp', '-N', '-L', `127.0.0.1:${busy.port}:127.0.0.1:${files.echo.port}`, files.sshd.host));
    try {
      await waitFor('the local forwarding failure', () => /Could not request local forwarding\./.test(tssh.stderr()), 40_000, 50);
      assert.equal(tssh.exitStatus(), undefined, 'without ExitOnForwardFailure tssh keeps going');
    } finally {
      await tssh.stop();
    }
    const r = await runTssh(over('--kcp', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${busy.port}:127.0.0.1:${files.echo.port}`, files.sshd.host, 'echo should-not-run'));
    assert.equal(r.status, 255, r.stderr);
    assert.match(r.stderr, /address already in use[^\n]*\nCould not request local forwarding\.\n/i);
    assert.doesNotMatch(r.stdout.toString(), /should-not-run/);
  } finally {
    busy.server.close();
  }
});

test('a remote listener that cannot bind (port in use): ssh\'s warning, and with ExitOnForwardFailure its error and 255', async () => {
  // Every address of the port is taken (tsshd binds both 127.0.0.1 and ::1 for loopback).
  const busy = await listenAnywhere('::');
  try {
    const r = await runTssh(over('--kcp', '-R', `${busy.port}:127.0.0.1:${files.echo.port}`, files.sshd.host, 'echo ran'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'ran\n', 'the session runs anyway');
    assert.match(r.stderr, new RegExp(`in use[^\\n]*\\nWarning: remote port forwarding failed for listen port ${busy.port}\\n`, 'i'));
    const fatal = await runTssh(over('--kcp', '-o', 'ExitOnForwardFailure=yes', '-R', `${busy.port}:127.0.0.1:${files.echo.port}`, files.sshd.host, 'echo ran'));
    assert.equal(fatal.status, 255, fatal.stderr);
    assert.match(fatal.stderr, new RegExp(`Error: remote port forwarding failed for listen port ${busy.port}\\n`));
    assert.equal(fatal.stdout.length, 0, 'the command did not run');
  } finally {
    busy.server.close();
  }
});

test('-f -N: tssh returns once the forward is up and the background tssh keeps forwarding', async () => {
  const port = await freeTcpPort();
  const foreground = startTssh(over('--kcp', '-f', '-N', '-L', `${port}:127.0.0.1:${files.echo.port}`, files.sshd.host));
  assert.equal(await foreground.waitForExit(40_000), 0, foreground.stderr());
  // The forward was in place when the foreground returned.
  await roundTrip(port, 200_000);
  // The background tssh is found by the port it listens on; end it by PID.
  const pids = listenerPids(port);
  assert.equal(pids.length, 1, 'one background tssh listens');
  process.kill(pids[0]!, 'SIGTERM');
  await waitFor('the background tssh to end', () => !isRunning(pids[0]!), 20_000, 50);
  await assert.rejects(connectTo(port), 'its listener went with it');
});

test('-f with a forward that fails under ExitOnForwardFailure: the foreground tssh reports it and exits 255', async () => {
  const busy = await listenAnywhere();
  try {
    const foreground = startTssh(over('--kcp', '-f', '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${busy.port}:127.0.0.1:${files.echo.port}`, files.sshd.host));
    assert.equal(await foreground.waitForExit(40_000), 255, foreground.stderr());
    assert.match(foreground.stderr(), /Could not request local forwarding\.\n/);
    await waitFor('tsshd to end after the background tssh gave up', () => files.sshd.sessionProcesses().length === 0, 30_000, 100);
  } finally {
    busy.server.close();
  }
});

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** A TCP listener on `host` (default 127.0.0.1; '::' is every address) at some port, to make the port busy. */
async function listenAnywhere(host = '127.0.0.1'): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

/** PIDs of processes with a listening TCP socket on `port` (Linux /proc). */
function listenerPids(port: number): number[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1]!.endsWith(`:${hex}`) && f[3] === '0A') inodes.add(f[9]!);
    }
  }
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${name}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${name}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) {
          pids.push(Number(name));
          break;
        }
      } catch {
        // gone
      }
    }
  }
  return pids;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
