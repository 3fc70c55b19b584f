import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { StreamKind } from '../../src/protocol/stream-kind.js';
import { waitFor } from '../support/wait.js';
import { closedQuietly, connectTo, echoServer, exchange, memoryEnds, payload, policyWith } from './fixtures.js';

const T = { timeout: 60_000 };

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

test('-L: the target half-closes first and still receives what the client sends afterwards', T, async () => {
  const ends = memoryEnds();
  let afterFin = '';
  const target = createServer({ allowHalfOpen: true }, (socket) => {
    socket.setEncoding('utf8');
    socket.end('bye first');
    socket.on('data', (c: string) => (afterFin += c));
    socket.on('end', () => socket.destroy());
  });
  try {
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: await listen(target) } });
    const app = await connectTo(forward.port!);
    let got = '';
    app.setEncoding('utf8');
    app.on('data', (c: string) => (got += c));
    await new Promise((resolve) => app.once('end', resolve));
    assert.equal(got, 'bye first');
    const closed = new Promise((resolve) => app.once('close', resolve));
    app.end('sent after the FIN');
    await waitFor('the bytes sent after the target\'s FIN', () => afterFin === 'sent after the FIN');
    await closed;
  } finally {
    target.close();
    await ends.close();
  }
});

test('-L: a target that resets its connection closes the local socket', T, async () => {
  const ends = memoryEnds();
  const target = createServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
  try {
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: await listen(target) } });
    const app = await connectTo(forward.port!);
    const closed = closedQuietly(app);
    app.write('provoke');
    assert.equal(await closed, true);
    await waitFor('both ends to forget the connection', () => ends.host.stats().open === 0 && ends.forwarder.stats().open === 0);
  } finally {
    target.close();
    await ends.close();
  }
});

test('-L: a stalled target stops the local writer; buffers stay bounded; everything arrives once it reads', T, async () => {
  const ends = memoryEnds();
  const stalled: Socket[] = [];
  const target = createServer({ allowHalfOpen: true }, (socket) => {
    socket.pause();
    stalled.push(socket);
  });
  try {
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: await listen(target) } });
    const app = await connectTo(forward.port!);
    const { data, sha256 } = payload(64 * 1024 * 1024);
    app.end(data);
    const [clientConn, serverConn] = ends.conns;
    const serverSide = await waitFor('the forward stream at tsshd', () => serverConn.streams.find((s) => s.kind === StreamKind.Forward));
    const clientSide = clientConn.streams.find((s) => s.kind === StreamKind.Forward)!;
    // The stall has reached the client once tsshd's end stops reading and the client's writes wait.
    await waitFor('backpressure to reach the client', () => stalled.length === 1 && serverSide.parkedWrite !== null && app.writableLength > 0);
    assert.ok(app.writableLength > 0, 'the local writer is held back, not drained into memory');
    for (const s of [clientSide, serverSide]) {
      assert.ok(s.peakBuffered <= 1024 * 1024, `stream ${s.id} buffered at most ${s.peakBuffered} bytes`);
      assert.ok(s.readableLength <= 1024 * 1024);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const done = new Promise<void>((resolve) => stalled[0]!.once('end', resolve));
    stalled[0]!.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    stalled[0]!.resume();
    await done;
    assert.equal(bytes, data.length);
    assert.equal(hash.digest('hex'), sha256);
    app.destroy();
  } finally {
    for (const s of stalled) s.destroy();
    target.close();
    await ends.close();
  }
});

test('-R: port 0 is allocated by tsshd; close() cancels the listener there', T, async () => {
  const ends = memoryEnds();
  const echo = await echoServer();
  try {
    const forward = await ends.forwarder.remoteForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: echo.port } });
    assert.equal((await exchange(await connectTo(forward.port!), Buffer.from('through -R'))).toString(), 'through -R');
    forward.close();
    await waitFor('the remote listener to close', () => connectTo(forward.port!).then((s) => (s.destroy(), false), () => true));
  } finally {
    await echo.close();
    await ends.close();
  }
});

test('-R: when the client cannot reach its target, the remote connection is closed and tsshd logs why', T, async () => {
  const ends = memoryEnds();
  const gone = await echoServer();
  const port = gone.port;
  await gone.close();
  try {
    const forward = await ends.forwarder.remoteForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port } });
    assert.equal(await closedQuietly(await connectTo(forward.port!)), true);
    await waitFor('the server log line', () => ends.serverLog.length > 0);
    assert.match(ends.serverLog[0]!, new RegExp(`^remote forward 1: the client could not connect: connect to 127\\.0\\.0\\.1:${port} failed: connection refused$`));
  } finally {
    await ends.close();
  }
});

test('limits: connections beyond tsshd\'s open limit are refused as "resource shortage"', T, async () => {
  const ends = memoryEnds(policyWith(), { server: { relayLimits: { maxPending: 8, maxOpen: 1 } } });
  const echo = await echoServer();
  try {
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: echo.port } });
    const first = await connectTo(forward.port!);
    first.write('hold');
    await waitFor('the first connection to be open', () => echo.connections() === 1);
    assert.equal(await closedQuietly(await connectTo(forward.port!)), true);
    await waitFor('the failure line', () => ends.clientLog.length === 1);
    assert.match(ends.clientLog[0]!, /^channel \d+: open failed: resource shortage: too many forwarded connections$/);
    assert.equal(ends.host.stats().limited, 1);
    first.destroy();
  } finally {
    await echo.close();
    await ends.close();
  }
});

test('limits: local connections beyond the client\'s pending limit are dropped at once', T, async () => {
  const ends = memoryEnds(policyWith(), { client: { relayLimits: { maxPending: 1, maxOpen: 100 } } });
  try {
    const forward = await ends.forwarder.dynamicForward({ listen: { host: '127.0.0.1', port: 0 } });
    const silent = await connectTo(forward.port!); // a SOCKS client that never sends its request stays pending
    await waitFor('the first to be pending', () => ends.forwarder.stats().pending === 1);
    assert.equal(await closedQuietly(await connectTo(forward.port!)), true);
    assert.equal(ends.forwarder.stats().limited, 1);
    silent.destroy();
    await waitFor('the slot to be released', () => ends.forwarder.stats().pending === 0 && ends.forwarder.stats().open === 0);
  } finally {
    await ends.close();
  }
});

test('Forwarder.close() stops local listeners and tsshd\'s listeners and cuts open connections', T, async () => {
  const ends = memoryEnds();
  const echo = await echoServer();
  try {
    const local = await ends.forwarder.localForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: echo.port } });
    const remote = await ends.forwarder.remoteForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: echo.port } });
    const open = await connectTo(local.port!);
    open.write('x');
    await waitFor('the connection to be up', () => ends.host.stats().open === 1);
    const cut = closedQuietly(open);
    await ends.forwarder.close();
    await cut;
    await assert.rejects(connectTo(local.port!), /ECONNREFUSED/);
    await waitFor('tsshd to close the -R listener', () => connectTo(remote.port!).then((s) => (s.destroy(), false), () => true));
    await assert.rejects(ends.forwarder.localForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: 1 } }), /the forwarder is closed/);
  } finally {
    await echo.close();
    await ends.close();
  }
});
