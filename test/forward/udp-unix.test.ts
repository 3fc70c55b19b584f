import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { waitFor } from '../support/wait.js';
import { memoryEnds, policyWith, scratchDir, udpEcho, udpSocket } from './fixtures.js';
import { echoManyUnix, staleUnixSocket, unboundUnixDatagramSender, unixDatagramClient, unixDatagramEcho } from './unix-datagram-fixtures.js';

// UDP forwards to and from Unix datagram sockets, both sides in one process over an in-memory connection.
const T = { timeout: 60_000 };

/** Both sides make their private socket directories under $TMPDIR: here, a scratch directory, so leftovers can be seen. */
const scratch = scratchDir();
process.env.TMPDIR = scratch.dir;
const privateDirs = (): string[] => readdirSync(scratch.dir).filter((n) => /^tsshd?-udp-/.test(n));
process.once('exit', () => scratch.cleanup());

test('-L udp-/local:/remote: datagrams intact both ways; the socket is 0600 and removed with the forward', T, async () => {
  const dir = scratchDir();
  const ends = memoryEnds();
  const echo = await unixDatagramEcho(dir.path('target.sock'));
  try {
    const forward = await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { path: dir.path('listen.sock') }, connect: { path: dir.path('target.sock') } });
    assert.equal(forward.port, undefined);
    const st = statSync(dir.path('listen.sock'));
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600, 'StreamLocalBindMask 0177 by default');
    const client = await unixDatagramClient(dir.path('app.sock'), dir.path('listen.sock'));
    try {
      assert.equal(await echoManyUnix(client, 200), 200);
    } finally {
      client.close();
    }
    assert.equal(echo.senders.length, 1, 'one association: one socket of tsshd sent to the target');
    assert.match(echo.senders[0]!, /\/tsshd-udp-[^/]+\/s0$/, "tsshd's socket for the association is in its private directory");
    forward.close();
    assert.equal(existsSync(dir.path('listen.sock')), false, 'the socket file is removed');
  } finally {
    echo.close();
    await ends.close();
    dir.cleanup();
  }
  assert.deepEqual(privateDirs(), [], 'the private socket directories are removed');
});

test('-L udp_/local:host:port and -L udp:port:/remote: each way round', T, async () => {
  const dir = scratchDir();
  const ends = memoryEnds();
  const udpTarget = await udpEcho();
  const unixTarget = await unixDatagramEcho(dir.path('target.sock'));
  const app = await udpSocket();
  try {
    await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { path: dir.path('in.sock') }, connect: { host: '127.0.0.1', port: udpTarget.port } });
    const client = await unixDatagramClient(dir.path('app.sock'), dir.path('in.sock'));
    assert.equal(await echoManyUnix(client, 50), 50);
    client.close();
    const forward = await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, connect: { path: dir.path('target.sock') } });
    const reply = await new Promise<Buffer>((resolve) => {
      app.once('message', resolve);
      app.send(Buffer.from('to a unix socket'), forward.port!, '127.0.0.1');
    });
    assert.equal(reply.toString(), 'to a unix socket');
  } finally {
    app.close();
    udpTarget.close();
    unixTarget.close();
    await ends.close();
    dir.cleanup();
  }
});

test('a sender with no socket path: its datagrams are forwarded, replies are dropped and logged once', T, async () => {
  const dir = scratchDir();
  const ends = memoryEnds();
  const echo = await unixDatagramEcho(dir.path('target.sock'));
  const sender = unboundUnixDatagramSender();
  try {
    await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { path: dir.path('listen.sock') }, connect: { path: dir.path('target.sock') } });
    for (let i = 0; i < 3; i++) sender.send(Buffer.from(`log line ${i}`), dir.path('listen.sock'));
    await waitFor('the three datagrams at the target', () => echo.received() === 3);
    await waitFor('the three replies to be dropped', () => ends.forwarder.stats().udp.dropped === 3);
    assert.deepEqual(ends.clientLog, [
      `UDP forward to ${dir.path('target.sock')}: a reply to a sender with no socket path (an unbound socket) cannot be delivered; dropped`,
    ]);
  } finally {
    sender.close();
    echo.close();
    await ends.close();
    dir.cleanup();
  }
});

test('-R udp_/remote:host:port: StreamLocalBindMask and StreamLocalBindUnlink apply; idle associations expire; the file goes with the forward', T, async () => {
  const dir = scratchDir();
  const ends = memoryEnds(policyWith({ streamLocalBindMask: 0o117, streamLocalBindUnlink: true }), { client: { udpTimeoutMs: 150 } });
  const target = await udpEcho();
  staleUnixSocket(dir.path('remote.sock'));
  try {
    const forward = await ends.forwarder.udpRemoteForward({ proto: 'udp', listen: { path: dir.path('remote.sock') }, connect: { host: '127.0.0.1', port: target.port } });
    assert.equal(forward.port, undefined);
    assert.equal(statSync(dir.path('remote.sock')).mode & 0o777, 0o660, 'StreamLocalBindMask 0117');
    const client = await unixDatagramClient(dir.path('app.sock'), dir.path('remote.sock'));
    try {
      assert.equal(await echoManyUnix(client, 50), 50);
    } finally {
      client.close();
    }
    await waitFor('tsshd to expire the source', () => ends.host.stats().udp.associations === 0);
    await waitFor('the client to close its socket for it', () => ends.forwarder.stats().udp.associations === 0);
    forward.close();
    await waitFor('tsshd to remove the socket file', () => !existsSync(dir.path('remote.sock')));
  } finally {
    target.close();
    await ends.close();
    dir.cleanup();
  }
});

test('-R udp-/remote:/local: replies come from the listener to a bound sender', T, async () => {
  const dir = scratchDir();
  const ends = memoryEnds();
  const echo = await unixDatagramEcho(dir.path('local.sock'));
  try {
    await ends.forwarder.udpRemoteForward({ proto: 'udp', listen: { path: dir.path('remote.sock') }, connect: { path: dir.path('local.sock') } });
    const client = await unixDatagramClient(dir.path('app.sock'), dir.path('remote.sock'));
    try {
      assert.equal(await echoManyUnix(client, 50), 50);
    } finally {
      client.close();
    }
    assert.match(echo.senders[0]!, /\/tssh-udp-[^/]+\/s0$/, "tssh's socket for the association is in its private directory");
  } finally {
    echo.close();
    await ends.close();
    dir.cleanup();
  }
});

test('policy: AllowStreamLocalForwarding no refuses Unix UDP listeners and targets; a missing target is reported', T, async () => {
  const dir = scratchDir();
  const ends = memoryEnds(policyWith({ allowStreamLocalForwarding: 'no' }));
  const app = await udpSocket();
  try {
    await assert.rejects(
      ends.forwarder.udpRemoteForward({ proto: 'udp', listen: { path: dir.path('remote.sock') }, connect: { host: '127.0.0.1', port: 9 } }),
      new Error(`remote UDP forwarding failed for listen ${dir.path('remote.sock')}: Unix socket forwarding is disabled (AllowStreamLocalForwarding no)`),
    );
    assert.equal(existsSync(dir.path('remote.sock')), false);
    const forward = await ends.forwarder.udpLocalForward({ proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, connect: { path: dir.path('target.sock') } });
    app.send(Buffer.from('x'), forward.port!, '127.0.0.1');
    await waitFor('the refusal', () => ends.clientLog.length > 0);
    assert.deepEqual(ends.clientLog, [`UDP forward to ${dir.path('target.sock')} failed: Unix socket forwarding is disabled (AllowStreamLocalForwarding no)`]);
  } finally {
    app.close();
    await ends.close();
  }
  const open = memoryEnds();
  const app2 = await udpSocket();
  try {
    const forward = await open.forwarder.udpLocalForward({ proto: 'udp', listen: { host: '127.0.0.1', port: 0 }, connect: { path: dir.path('missing.sock') } });
    app2.send(Buffer.from('x'), forward.port!, '127.0.0.1');
    await waitFor('the failure', () => open.clientLog.length > 0);
    assert.deepEqual(open.clientLog, [`UDP forward to ${dir.path('missing.sock')} failed: ${dir.path('missing.sock')}: no such file or directory`]);
  } finally {
    app2.close();
    await open.close();
    dir.cleanup();
  }
});
