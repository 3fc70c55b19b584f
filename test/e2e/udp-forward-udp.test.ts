import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket as UdpSocket } from 'node:dgram';
import { numberedUdpClient, udpSocket } from '../forward/fixtures.js';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { SshdFixture } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { cleanEnv, freeUdpPort, killLeftovers, runTssh, startTssh, untilDatagramForwardUp, type LiveTssh } from './harness.js';

// UDP forwards (-L udp/..., -R udp/..., UdpLocalForward, ForwardUdpTimeout) through real tssh and tsshd.
let sshd: SshdFixture;
let echo: UdpEcho;
before(async () => {
  sshd = await SshdFixture.start();
  echo = await udpEchoServer();
});
after(async () => {
  killLeftovers();
  echo?.socket.close();
  await sshd?.stop();
});

/** A UDP echo server on 127.0.0.1 that remembers which source ports it heard from. */
interface UdpEcho {
  socket: UdpSocket & { port: number };
  sources: number[];
}
async function udpEchoServer(): Promise<UdpEcho> {
  const sources: number[] = [];
  const socket = await udpSocket((msg, from) => {
    if (sources[sources.length - 1] !== from.port) sources.push(from.port);
    socket.send(msg, from.port, from.address);
  });
  return { socket, sources };
}

/** Probe until a datagram comes back through the forward at `port` (it is up), or tssh exits. */
async function untilUdpForwardUp(tssh: LiveTssh, port: number): Promise<void> {
  const client = await numberedUdpClient(port);
  try {
    await untilDatagramForwardUp(tssh, client, `the UDP forward at ${port}`);
  } finally {
    client.close();
  }
}

/**
 * Send `count` datagrams, 10 every 5 ms (a UDP application paces itself: a
 * burst of thousands overflows a socket's receive buffer before any process
 * reads it), and wait for the replies; returns how many came back, each checked byte for byte.
 */
async function echoMany(port: number, count: number, settleMs = 15_000): Promise<number> {
  const client = await numberedUdpClient(port);
  try {
    const sent = new Map<number, Buffer>();
    for (let seq = 0; seq < count; seq++) {
      sent.set(seq, client.send(seq, 100 + (seq % 900)));
      if (seq % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitFor('the replies', () => client.replies.size >= count, settleMs, 50).catch(() => undefined);
    for (const [seq, reply] of client.replies) {
      if (seq >= count) continue;
      assert.ok(reply.equals(sent.get(seq)!), `datagram ${seq} came back unchanged`);
    }
    return [...client.replies.keys()].filter((s) => s < count).length;
  } finally {
    client.close();
  }
}

const over = (flag: string, ...rest: string[]): string[] => [...sshd.configArgs, flag, ...rest];

for (const flag of ['--kcp', '--quic']) {
  test(`${flag}: -N -L udp/... relays datagrams both ways, unchanged`, async () => {
    const port = await freeUdpPort();
    const tssh = startTssh(over(flag, '-N', '-L', `udp/${port}:127.0.0.1:${echo.socket.port}`, sshd.host));
    try {
      await untilUdpForwardUp(tssh, port);
      const back = await echoMany(port, 1000);
      // Loopback without impairment: nearly all come back (UDP may still drop under load).
      assert.ok(back >= 950, `${back} of 1000 datagrams came back`);
    } finally {
      await tssh.stop();
    }
  });
}

test('-R udp:... listens on the server and relays to the client side', async () => {
  const port = await freeUdpPort();
  const tssh = startTssh(over('--kcp', '-N', '-R', `udp:${port}:127.0.0.1:${echo.socket.port}`, sshd.host));
  try {
    await untilUdpForwardUp(tssh, port);
    const back = await echoMany(port, 1000);
    assert.ok(back >= 950, `${back} of 1000 datagrams came back`);
  } finally {
    await tssh.stop();
  }
});

test('UdpLocalForward from a #!! line, and ForwardUdpTimeout clears an idle association', async () => {
  const port = await freeUdpPort();
  const config = sshd.writeClientConfig('udp_forward_config', [`#!! UdpLocalForward ${port} 127.0.0.1:${echo.socket.port}`, '#!! ForwardUdpTimeout 1']);
  const tssh = startTssh(['-F', config, '--kcp', '-N', sshd.host]);
  try {
    const client = await numberedUdpClient(port);
    try {
      await untilUdpForwardUp(tssh, port);
      echo.sources.length = 0;
      client.send(1);
      await waitFor('the first reply', () => client.replies.has(1), 20_000, 20);
      const first = echo.sources.at(-1);
      // The association is cleared between 1 and 1.25 s without a datagram; then a new one starts (a new socket at tsshd).
      // Being idle is what is tested, so the test stays idle: 1.5 s, longer on a loaded machine.
      let renewed = false;
      for (let attempt = 1; attempt <= 4 && !renewed; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 1500 * attempt));
        const seq = 100 + attempt;
        client.send(seq);
        await waitFor(`reply ${seq}`, () => client.replies.has(seq), 20_000, 20);
        renewed = echo.sources.at(-1) !== first;
      }
      assert.ok(renewed, 'a new association (new source port at the target) after the idle timeout');
      // Within the timeout the association stays: quick datagrams share one source port.
      const now = echo.sources.at(-1);
      for (const seq of [200, 201, 202]) {
        client.send(seq);
        await waitFor(`reply ${seq}`, () => client.replies.has(seq), 20_000, 20);
      }
      assert.equal(echo.sources.at(-1), now);
    } finally {
      client.close();
    }
  } finally {
    await tssh.stop();
  }
});

test('outside UDP mode, UDP forwards are refused with one line', async () => {
  const r = await runTssh(over('--tcp', '-L', 'udp/5353:127.0.0.1:53', sshd.host, 'true'));
  assert.equal(r.status, 255);
  assert.equal(r.stderr, 'tssh: UDP forwarding (-L udp/5353:127.0.0.1:53) needs UDP mode; use --udp, --kcp or --quic, or drop it to use plain ssh\n');
});

for (const flag of ['--kcp', '--quic']) {
  test(`${flag}: UDP -L through 1 % loss and address changes: losses counted, nothing corrupted`, async () => {
    const tsshdPort = await freeUdpPort();
    const proxy = await ImpairmentProxy.start({
      targetHost: '127.0.0.1',
      targetPort: tsshdPort,
      clientToServer: { lossPct: 1 },
      serverToClient: { lossPct: 1 },
      seed: 11,
    });
    const port = await freeUdpPort();
    const tssh = startTssh(over(flag, '--tsshd-port', String(tsshdPort), '-N', '-L', `udp/${port}:127.0.0.1:${echo.socket.port}`, sshd.host), {
      env: cleanEnv({ TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}` }),
    });
    try {
      await untilUdpForwardUp(tssh, port);
      let back = 0;
      for (let round = 0; round < 5; round++) {
        await proxy.rebind();
        back += await echoMany(port, 2000, 8000);
      }
      // Each datagram crosses the lossy link twice: ~2 % lost, more around a rebind.
      assert.ok(back >= 10_000 * 0.8, `${back} of 10000 came back`);
      assert.ok(back < 10_000, 'the link did lose some');
      assert.equal(proxy.stats.rebinds, 5);
    } finally {
      await tssh.stop();
      proxy.close();
    }
  });
}
