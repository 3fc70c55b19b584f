import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectTo, echoServer, exchange, numberedUdpClient, payload, sha256, socksExchange, u16, udpSocket } from '../forward/fixtures.js';
import { SshdFixture } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { freeTcpPort, freeUdpPort, killLeftovers, startTssh, untilDatagramForwardUp, untilListening } from '../e2e/harness.js';
import { GO_TSSH, goConfig, goEnv, NO_GO_TSSH } from './server-go-peer.js';

// Port forwarding asked for by the reference Go tssh, served by our tsshd's one ForwardHost (sshd_config policy).
let sshd: SshdFixture;
let echo: Awaited<ReturnType<typeof echoServer>>;
let config: string;
before(async () => {
  if (NO_GO_TSSH) return;
  sshd = await SshdFixture.start();
  echo = await echoServer();
  config = goConfig(sshd, 'go_config');
});
after(async () => {
  killLeftovers();
  await echo?.close();
  await sshd?.stop();
});

const goTssh = (args: string[], cfg = config) => startTssh(['-F', cfg, '--kcp', ...args], { program: GO_TSSH, env: goEnv(sshd) });

test('-L: a local port reaches a target through tsshd, 1 MB both ways intact', { skip: NO_GO_TSSH }, async () => {
  const port = await freeTcpPort();
  const tssh = goTssh(['-N', '-L', `${port}:127.0.0.1:${echo.port}`, sshd.host]);
  try {
    await untilListening(tssh, port);
    const socket = await connectTo(port);
    const data = payload(1_000_000);
    const back = await exchange(socket, data.data);
    assert.equal(sha256(back), data.sha256);
    socket.destroy();
  } finally {
    await tssh.stop();
  }
});

test('-R: a port on the server side reaches a target on the client side', { skip: NO_GO_TSSH }, async () => {
  const port = await freeTcpPort();
  const tssh = goTssh(['-N', '-R', `${port}:127.0.0.1:${echo.port}`, sshd.host]);
  try {
    await untilListening(tssh, port);
    for (let i = 0; i < 3; i++) {
      const socket = await connectTo(port);
      assert.equal((await exchange(socket, Buffer.from(`through -R ${i}`))).toString(), `through -R ${i}`);
      socket.destroy();
    }
  } finally {
    await tssh.stop();
  }
});

test('-D: SOCKS5 CONNECT reaches the target through tsshd', { skip: NO_GO_TSSH }, async () => {
  const port = await freeTcpPort();
  const tssh = goTssh(['-N', '-D', `127.0.0.1:${port}`, sshd.host]);
  try {
    await untilListening(tssh, port);
    const socket = await connectTo(port);
    const reply = await socksExchange(socket, [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 1, 127, 0, 0, 1]), u16(echo.port)])], 2 + 10);
    assert.deepEqual([...reply.subarray(0, 2)], [5, 0]);
    assert.equal(reply[3], 0, 'SOCKS5 reply: succeeded');
    assert.equal((await exchange(socket, Buffer.from('through socks5'))).toString(), 'through socks5');
    socket.destroy();
  } finally {
    await tssh.stop();
  }
});

/** Through a UDP forward (`-L udp/...` or `-R udp/...`) to a UDP echo: 100 datagrams of 100..1882 bytes come back unchanged. */
async function udpForwardEchoes(flag: '-L' | '-R'): Promise<void> {
  const target = await udpSocket((msg, from) => target.send(msg, from.port, from.address));
  const port = await freeUdpPort();
  const tssh = goTssh(['-N', flag, `udp/${port}:127.0.0.1:${target.port}`, sshd.host]);
  const client = await numberedUdpClient(port);
  try {
    await untilDatagramForwardUp(tssh, client, `the UDP forward at ${port}`);
    // The large ones travel framed on the stream, the small ones as KCP datagrams.
    const sent = new Map<number, Buffer>();
    for (let seq = 0; seq < 100; seq++) {
      sent.set(seq, client.send(seq, 100 + seq * 18));
      if (seq % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitFor('most replies', () => [...client.replies.keys()].filter((k) => k < 100).length >= 95, 20_000, 50);
    for (const [seq, reply] of client.replies) if (seq < 100) assert.ok(reply.equals(sent.get(seq)!), `datagram ${seq} came back unchanged`);
    // Up to 5 may be lost (datagrams are unreliable); among the large ones (over 1400 bytes: seq 73..99) most must come back.
    const large = [...client.replies.keys()].filter((k) => k >= 73 && k < 100).length;
    assert.ok(large >= 22, `${large} of 27 datagrams larger than one KCP datagram came back`);
  } finally {
    client.close();
    target.close();
    await tssh.stop();
  }
}

test('-L udp/: datagrams reach a UDP target through tsshd and the answers come back, small and large', { skip: NO_GO_TSSH }, () => udpForwardEchoes('-L'));

test('-R udp/: datagrams to a server-side port reach a client-side UDP target and the answers come back', { skip: NO_GO_TSSH }, () => udpForwardEchoes('-R'));

test('sshd_config policy: AllowTcpForwarding no refuses -L as it would for ssh', { skip: NO_GO_TSSH }, async () => {
  const strict = await SshdFixture.start();
  try {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    // tsshd reads its own sshd_config (XDG_CONFIG_HOME/tsshd/sshd_config in the fixture).
    writeFileSync(join(strict.dir, 'xdg', 'tsshd', 'sshd_config'), 'AcceptEnv LANG LC_*\nAllowTcpForwarding no\n', { mode: 0o600 });
    const port = await freeTcpPort();
    const tssh = startTssh(['-F', goConfig(strict, 'go_config'), '--kcp', '-N', '-L', `${port}:127.0.0.1:${echo.port}`, strict.host], { program: GO_TSSH, env: goEnv(strict) });
    try {
      await untilListening(tssh, port);
      const socket = await connectTo(port);
      const closed = await new Promise<boolean>((resolve) => {
        socket.on('error', () => undefined);
        socket.once('close', () => resolve(true));
        socket.write('refused?');
      });
      assert.ok(closed);
      await waitFor('the refusal in the Go client\'s output', () => /AllowTcpForwarding/.test(tssh.stderr()), 10_000).catch((err: Error) => {
        throw new Error(`${err.message}; stderr: ${tssh.stderr()}`);
      });
    } finally {
      await tssh.stop();
    }
  } finally {
    await strict.stop();
  }
});
