import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { waitFor } from '../support/wait.js';
import { closedQuietly, connectTo, echoServer, exchange, memoryEnds, policyWith, scratchDir } from './fixtures.js';

test('-L from a local Unix socket to a TCP target: echo with half-close, socket mode from the mask, removed on close', { timeout: 60_000 }, async () => {
  const ends = memoryEnds(policyWith(), { client: { streamLocalBindMask: 0o077 } });
  const echo = await echoServer();
  const tmp = scratchDir();
  try {
    const path = tmp.path('local.sock');
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { path }, connect: { host: '127.0.0.1', port: echo.port } });
    assert.equal(forward.port, undefined);
    assert.equal(statSync(path).mode & 0o777, 0o700, 'StreamLocalBindMask 077 leaves the owner only');
    const got = await exchange(await connectTo(path), Buffer.from('over a unix socket'));
    assert.equal(got.toString(), 'over a unix socket');
    forward.close();
    await waitFor('the socket file to be removed', () => !existsSync(path));
  } finally {
    await echo.close();
    await ends.close();
    tmp.cleanup();
  }
});

test('-L from TCP to a Unix socket target on the server side', { timeout: 60_000 }, async () => {
  const ends = memoryEnds();
  const tmp = scratchDir();
  const echo = await echoServer(tmp.path('target.sock'));
  try {
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, connect: { path: tmp.path('target.sock') } });
    const got = await exchange(await connectTo(forward.port!), Buffer.from('to a unix target'));
    assert.equal(got.toString(), 'to a unix target');
    assert.equal(echo.connections(), 1);
  } finally {
    await echo.close();
    await ends.close();
    tmp.cleanup();
  }
});

test('-R listening on a server-side Unix socket (StreamLocalBindMask applied, stale socket unlinked) to a TCP target', { timeout: 60_000 }, async () => {
  const tmp = scratchDir();
  const ends = memoryEnds(policyWith({ streamLocalBindMask: 0o117, streamLocalBindUnlink: true }));
  const echo = await echoServer();
  try {
    const path = tmp.path('remote.sock');
    // A stale socket file, as a crashed session leaves one: libuv unlinks the name it bound, so bind elsewhere and move it.
    const stale = await echoServer(tmp.path('stale.sock'));
    renameSync(tmp.path('stale.sock'), path);
    await stale.close();
    assert.ok(lstatSync(path).isSocket(), 'a stale socket file is in the way');
    const forward = await ends.forwarder.remoteForward({ proto: 'tcp', listen: { path }, connect: { host: '127.0.0.1', port: echo.port } });
    assert.equal(forward.port, undefined);
    assert.equal(statSync(path).mode & 0o777, 0o660, 'StreamLocalBindMask 0117 gives rw for owner and group');
    const got = await exchange(await connectTo(path), Buffer.from('from a remote unix socket'));
    assert.equal(got.toString(), 'from a remote unix socket');
    forward.close();
    await waitFor('tsshd to remove its socket file after the cancel', () => !existsSync(path));
  } finally {
    await echo.close();
    await ends.close();
    tmp.cleanup();
  }
});

test('-R: without StreamLocalBindUnlink a stale socket file is reported, not replaced', { timeout: 60_000 }, async () => {
  const tmp = scratchDir();
  const ends = memoryEnds();
  try {
    const path = tmp.path('remote.sock');
    const stale = await echoServer(tmp.path('stale.sock'));
    renameSync(tmp.path('stale.sock'), path);
    await stale.close();
    await assert.rejects(
      ends.forwarder.remoteForward({ proto: 'tcp', listen: { path }, connect: { host: '127.0.0.1', port: 9 } }),
      /^Error: remote port forwarding failed for listen \S+remote\.sock: cannot listen on \S+remote\.sock: address already in use$/,
    );
  } finally {
    await ends.close();
    tmp.cleanup();
  }
});

test('-R listening on TCP to a client-side Unix socket target', { timeout: 60_000 }, async () => {
  const tmp = scratchDir();
  const ends = memoryEnds();
  const echo = await echoServer(tmp.path('client-target.sock'));
  try {
    const forward = await ends.forwarder.remoteForward({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, connect: { path: tmp.path('client-target.sock') } });
    const got = await exchange(await connectTo(forward.port!), Buffer.from('to a client unix socket'));
    assert.equal(got.toString(), 'to a client unix socket');
  } finally {
    await echo.close();
    await ends.close();
    tmp.cleanup();
  }
});

test('-R: a regular file at the socket path is reported and never deleted, even with StreamLocalBindUnlink', { timeout: 60_000 }, async () => {
  const tmp = scratchDir();
  const ends = memoryEnds(policyWith({ streamLocalBindUnlink: true }));
  try {
    const path = tmp.path('not-a-socket');
    writeFileSync(path, 'keep me');
    await assert.rejects(
      ends.forwarder.remoteForward({ proto: 'tcp', listen: { path }, connect: { host: '127.0.0.1', port: 9 } }),
      /^Error: remote port forwarding failed for listen .*not-a-socket: cannot listen on .*not-a-socket: address already in use$/,
    );
    assert.equal(readFileSync(path, 'utf8'), 'keep me');
  } finally {
    await ends.close();
    tmp.cleanup();
  }
});

test('-W: a stdio forward is a stream to the target with half-close', { timeout: 60_000 }, async () => {
  const ends = memoryEnds();
  const echo = await echoServer();
  try {
    const stream = await ends.forwarder.stdioForward('127.0.0.1', echo.port);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.resume(); // handed over paused, like a stream after its header
    const ended = new Promise((resolve) => stream.once('end', resolve));
    stream.end('stdin bytes');
    await ended;
    assert.equal(Buffer.concat(chunks).toString(), 'stdin bytes');
  } finally {
    await echo.close();
    await ends.close();
  }
});

test('-W to a closed port rejects with ssh-style "open failed: connect failed" line', { timeout: 60_000 }, async () => {
  const ends = memoryEnds();
  const echo = await echoServer();
  const port = echo.port;
  await echo.close();
  try {
    await assert.rejects(ends.forwarder.stdioForward('127.0.0.1', port), (err: Error) => {
      assert.match(err.message, new RegExp(`^channel \\d+: open failed: connect failed: connect to 127\\.0\\.0\\.1:${port} failed: connection refused; stdio forwarding failed$`));
      return true;
    });
    assert.equal(ends.host.stats().connectFailed, 1);
  } finally {
    await ends.close();
  }
});

test('-L to a target that refuses: the local socket is closed and ssh-style line logged', { timeout: 60_000 }, async () => {
  const ends = memoryEnds();
  const echo = await echoServer();
  const port = echo.port;
  await echo.close();
  try {
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port } });
    const app = await connectTo(forward.port!);
    assert.equal(await closedQuietly(app), true);
    await waitFor('the failure line', () => ends.clientLog.length > 0);
    assert.match(ends.clientLog[0]!, /^channel \d+: open failed: connect failed: connect to 127\.0\.0\.1:\d+ failed: connection refused$/);
  } finally {
    await ends.close();
  }
});
