import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { refuseListen, refuseOpen, serverBindPlan } from '../../src/server/forward-policy.js';
import { waitFor } from '../support/wait.js';
import { closedQuietly, connectTo, echoServer, exchange, memoryEnds, policyWith, scratchDir, udpEcho, udpSocket, type ForwardEnds } from './fixtures.js';

const T = { timeout: 60_000 };

/** -L to `target` through `ends`: returns the client's log line (the local socket must close without data). */
async function deniedLocal(ends: ForwardEnds, connect: { host: string; port: number } | { path: string }): Promise<string> {
  const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, connect });
  const before = ends.clientLog.length;
  assert.equal(await closedQuietly(await connectTo(forward.port!)), true, 'the local socket is closed without data');
  await waitFor('the failure line', () => ends.clientLog.length > before);
  forward.close();
  return ends.clientLog[before]!;
}

/** Nothing is left over on either side after a refusal. */
function assertNothingOpen(ends: ForwardEnds): void {
  const s = ends.host.stats();
  assert.equal(s.open, 0, 'no forwarded connection is open on the server');
  assert.equal(s.pending, 0);
  assert.equal(s.opened, 0, 'the server connected to nothing');
}

test('AllowTcpForwarding no: -L and -R are refused with clear errors; nothing is connected or bound', T, async () => {
  const ends = memoryEnds(policyWith({ allowTcpForwarding: 'no' }));
  const echo = await echoServer();
  try {
    assert.match(await deniedLocal(ends, { host: '127.0.0.1', port: echo.port }), /^channel \d+: open failed: administratively prohibited: TCP forwarding is disabled \(AllowTcpForwarding no\)$/);
    await assert.rejects(
      ends.forwarder.remoteForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: echo.port } }),
      { message: 'remote port forwarding failed for listen localhost:0: TCP forwarding is disabled (AllowTcpForwarding no)' },
    );
    assert.equal(echo.connections(), 0);
    assertNothingOpen(ends);
    assert.equal(ends.host.stats().prohibited, 1);
  } finally {
    await echo.close();
    await ends.close();
  }
});

test('AllowTcpForwarding local: -R is refused, -L still works', T, async () => {
  const ends = memoryEnds(policyWith({ allowTcpForwarding: 'local' }));
  const echo = await echoServer();
  try {
    await assert.rejects(
      ends.forwarder.remoteForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: echo.port } }),
      { message: 'remote port forwarding failed for listen localhost:0: remote forwarding is not permitted (AllowTcpForwarding local)' },
    );
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: echo.port } });
    assert.equal((await exchange(await connectTo(forward.port!), Buffer.from('still fine'))).toString(), 'still fine');
    assert.deepEqual(ends.clientLog, []);
  } finally {
    await echo.close();
    await ends.close();
  }
});

test('AllowTcpForwarding remote: -L is refused, -R still works', T, async () => {
  const ends = memoryEnds(policyWith({ allowTcpForwarding: 'remote' }));
  const echo = await echoServer();
  try {
    assert.match(await deniedLocal(ends, { host: '127.0.0.1', port: echo.port }), /administratively prohibited: local forwarding is not permitted \(AllowTcpForwarding remote\)$/);
    const forward = await ends.forwarder.remoteForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: echo.port } });
    assert.equal((await exchange(await connectTo(forward.port!), Buffer.from('remote ok'))).toString(), 'remote ok');
  } finally {
    await echo.close();
    await ends.close();
  }
});

test('PermitOpen mismatch: refused with the target named; a matching entry (port *) is allowed', T, async () => {
  const echo = await echoServer();
  const denied = memoryEnds(policyWith({ permitOpen: ['127.0.0.1:1', 'otherhost:*'] }));
  const allowed = memoryEnds(policyWith({ permitOpen: ['127.0.0.1:*'] }));
  try {
    assert.match(await deniedLocal(denied, { host: '127.0.0.1', port: echo.port }), new RegExp(`administratively prohibited: 127\\.0\\.0\\.1:${echo.port} is not permitted by PermitOpen$`));
    assert.equal(echo.connections(), 0);
    assertNothingOpen(denied);
    const forward = await allowed.forwarder.localForward({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: echo.port } });
    assert.equal((await exchange(await connectTo(forward.port!), Buffer.from('permitted'))).toString(), 'permitted');
  } finally {
    await echo.close();
    await denied.close();
    await allowed.close();
  }
});

test('PermitListen mismatch: -R refused with the listen address named; nothing bound', T, async () => {
  const ends = memoryEnds(policyWith({ permitListen: ['localhost:2222'] }));
  try {
    await assert.rejects(
      ends.forwarder.remoteForward({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: 9 } }),
      { message: 'remote port forwarding failed for listen 127.0.0.1:0: listening on 127.0.0.1:0 is not permitted by PermitListen' },
    );
    await assert.rejects(
      ends.forwarder.udpRemoteForward({ proto: 'udp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: 9 } }),
      { message: 'remote UDP forwarding failed for listen localhost:0: listening on localhost:0 is not permitted by PermitListen' },
    );
    assert.equal(ends.serverLog.length, 2);
  } finally {
    await ends.close();
  }
});

test('DisableForwarding yes: -L (TCP and Unix), -R (TCP and Unix) and UDP -L/-R all refused', T, async () => {
  const ends = memoryEnds(policyWith({ disableForwarding: true }));
  const echo = await echoServer();
  const tmp = scratchDir();
  try {
    assert.match(await deniedLocal(ends, { host: '127.0.0.1', port: echo.port }), /administratively prohibited: forwarding is disabled \(DisableForwarding yes\)$/);
    assert.match(await deniedLocal(ends, { path: tmp.path('x.sock') }), /administratively prohibited: forwarding is disabled \(DisableForwarding yes\)$/);
    for (const listen of [{ port: 0 }, { path: tmp.path('r.sock') }]) {
      await assert.rejects(ends.forwarder.remoteForward({ proto: 'tcp', listen, connect: { host: '127.0.0.1', port: echo.port } }), /: forwarding is disabled \(DisableForwarding yes\)$/);
    }
    await assert.rejects(ends.forwarder.udpRemoteForward({ proto: 'udp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: 9 } }), /: forwarding is disabled \(DisableForwarding yes\)$/);
    // UDP -L: the first datagram's association is refused, logged once.
    const target = await udpEcho();
    const forward = await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: target.port } });
    const app = await udpSocket();
    app.send(Buffer.from('one'), forward.port!, '127.0.0.1');
    await waitFor('the UDP refusal line', () => ends.clientLog.some((l) => l.startsWith('UDP forward')));
    app.send(Buffer.from('two'), forward.port!, '127.0.0.1');
    await waitFor('the second datagram to be dropped', () => ends.forwarder.stats().udp.dropped >= 1);
    assert.equal(target.received(), 0);
    assert.deepEqual(
      ends.clientLog.filter((l) => l.startsWith('UDP forward')),
      [`UDP forward to 127.0.0.1:${target.port} failed: forwarding is disabled (DisableForwarding yes)`],
    );
    app.close();
    target.close();
    assert.equal(echo.connections(), 0);
    assertNothingOpen(ends);
  } finally {
    await echo.close();
    await ends.close();
    tmp.cleanup();
  }
});

test('AllowStreamLocalForwarding no: Unix targets and listeners refused, TCP forwarding unaffected', T, async () => {
  const ends = memoryEnds(policyWith({ allowStreamLocalForwarding: 'no' }));
  const tmp = scratchDir();
  const unixEcho = await echoServer(tmp.path('target.sock'));
  const echo = await echoServer();
  try {
    assert.match(await deniedLocal(ends, { path: tmp.path('target.sock') }), /administratively prohibited: Unix socket forwarding is disabled \(AllowStreamLocalForwarding no\)$/);
    await assert.rejects(
      ends.forwarder.remoteForward({ proto: 'tcp', listen: { path: tmp.path('remote.sock') }, connect: { host: '127.0.0.1', port: echo.port } }),
      { message: `remote port forwarding failed for listen ${tmp.path('remote.sock')}: Unix socket forwarding is disabled (AllowStreamLocalForwarding no)` },
    );
    assert.equal(unixEcho.connections(), 0);
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: echo.port } });
    assert.equal((await exchange(await connectTo(forward.port!), Buffer.from('tcp ok'))).toString(), 'tcp ok');
  } finally {
    await unixEcho.close();
    await echo.close();
    await ends.close();
    tmp.cleanup();
  }
});

test('-R on a port already in use is reported with the address and reason', T, async () => {
  const ends = memoryEnds(policyWith({ gatewayPorts: 'clientspecified' }));
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as { port: number }).port;
  try {
    await assert.rejects(ends.forwarder.remoteForward({ proto: 'tcp', listen: { host: '127.0.0.1', port }, connect: { host: '127.0.0.1', port: 9 } }), {
      message: `remote port forwarding failed for listen 127.0.0.1:${port}: cannot listen on 127.0.0.1:${port}: address already in use`,
    });
    // The failure leaves the control stream usable: the next request succeeds.
    const forward = await ends.forwarder.remoteForward({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: 9 } });
    assert.ok(forward.port! > 0 && forward.port !== port);
  } finally {
    busy.close();
    await ends.close();
  }
});

test('-L on a local port already in use rejects with the address and reason', T, async () => {
  const ends = memoryEnds();
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as { port: number }).port;
  try {
    await assert.rejects(ends.forwarder.localForward({ proto: 'tcp', listen: { host: '127.0.0.1', port }, connect: { host: '127.0.0.1', port: 9 } }), {
      message: `cannot listen on 127.0.0.1:${port}: address already in use`,
    });
  } finally {
    busy.close();
    await ends.close();
  }
});

test('policy rules: PermitOpen and PermitListen forms, GatewayPorts bind plans', () => {
  const p = policyWith();
  assert.equal(refuseOpen(policyWith({ permitOpen: ['[::1]:22'] }), { host: '::1', port: 22 }), null);
  assert.equal(refuseOpen(policyWith({ permitOpen: ['*:443'] }), { host: 'anything', port: 443 }), null);
  assert.equal(refuseOpen(policyWith({ permitOpen: ['Example.COM:80'] }), { host: 'example.com', port: 80 }), null);
  assert.equal(refuseOpen(policyWith({ permitOpen: ['none'] }), { host: 'a', port: 1 }), 'a:1 is not permitted by PermitOpen (PermitOpen none)');
  assert.equal(refuseOpen(policyWith({ permitOpen: ['none'] }), { path: '/tmp/s' }), null, 'PermitOpen does not cover Unix sockets');
  // UDP to or from a Unix datagram socket needs both gates: AllowTcpForwarding (UDP) and AllowStreamLocalForwarding (Unix).
  assert.equal(refuseOpen(p, { path: '/tmp/s' }, 'udp'), null);
  assert.equal(refuseOpen(policyWith({ allowStreamLocalForwarding: 'no' }), { path: '/tmp/s' }, 'udp'), 'Unix socket forwarding is disabled (AllowStreamLocalForwarding no)');
  assert.equal(refuseOpen(policyWith({ allowTcpForwarding: 'no' }), { path: '/tmp/s' }, 'udp'), 'TCP forwarding is disabled (AllowTcpForwarding no)');
  assert.equal(refuseOpen(policyWith({ allowTcpForwarding: 'remote' }), { path: '/tmp/s' }, 'udp'), 'local forwarding is not permitted (AllowTcpForwarding remote)');
  assert.equal(refuseListen(policyWith({ allowStreamLocalForwarding: 'local' }), { path: '/tmp/s' }, 'udp'), 'remote forwarding is not permitted (AllowStreamLocalForwarding local)');
  assert.equal(refuseListen(policyWith({ allowTcpForwarding: 'no' }), { path: '/tmp/s' }, 'udp'), 'TCP forwarding is disabled (AllowTcpForwarding no)');
  assert.equal(refuseListen(policyWith({ permitListen: ['none'] }), { path: '/tmp/s' }, 'udp'), null, 'PermitListen does not cover Unix sockets');
  // A bare port in PermitListen means any listen host, as in sshd.
  assert.equal(refuseListen(policyWith({ permitListen: ['8080'] }), { host: '0.0.0.0', port: 8080 }), null);
  assert.equal(refuseListen(policyWith({ permitListen: ['localhost:*'] }), { port: 1234 }), null, 'no host means "localhost"');
  assert.equal(refuseListen(policyWith({ permitListen: ['localhost:*'] }), { host: '', port: 1234 }), 'listening on *:1234 is not permitted by PermitListen');
  assert.equal(refuseListen(policyWith({ permitListen: ['10.0.0.*:80'] }), { host: '10.0.0.7', port: 80 }), null, 'listen hosts are patterns');
  assert.equal(refuseListen(policyWith({ permitListen: ['none'] }), { path: '/tmp/s' }), null, 'PermitListen does not cover Unix sockets');
  // GatewayPorts: sshd's channel_fwd_bind_addr.
  assert.deepEqual(serverBindPlan(policyWith({ gatewayPorts: 'no' }), { host: '' }), { kind: 'loopback' });
  assert.deepEqual(serverBindPlan(policyWith({ gatewayPorts: 'no' }), { host: '0.0.0.0' }), { kind: 'loopback' });
  assert.deepEqual(serverBindPlan(policyWith({ gatewayPorts: 'no' }), { host: '127.0.0.1' }), { kind: 'address', host: '127.0.0.1' });
  assert.deepEqual(serverBindPlan(policyWith({ gatewayPorts: 'yes' }), {}), { kind: 'wildcard' });
  assert.deepEqual(serverBindPlan(policyWith({ gatewayPorts: 'clientspecified' }), {}), { kind: 'loopback' });
  assert.deepEqual(serverBindPlan(policyWith({ gatewayPorts: 'clientspecified' }), { host: '*' }), { kind: 'wildcard' });
  assert.deepEqual(serverBindPlan(policyWith({ gatewayPorts: 'clientspecified' }), { host: '10.1.2.3' }), { kind: 'address', host: '10.1.2.3' });
});
