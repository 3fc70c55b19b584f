import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { connectTo, kcpEnds, payload } from './fixtures.js';

const SIZE = 20 * 1024 * 1024;
const lossy = { lossPct: 1 };

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

/** Hash everything `socket` sends until it ends, calling onProgress with the running byte count. */
function hashAll(socket: Socket, onProgress: (bytes: number) => void = () => undefined): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      onProgress(bytes);
    });
    socket.once('end', () => resolve({ bytes, sha256: hash.digest('hex') }));
    socket.once('error', reject);
  });
}

test('-L: 20 MB over KCP at 1 % loss with a rebind mid-transfer arrives intact; the reply after half-close comes back', { timeout: 300_000 }, async () => {
  const ends = await kcpEnds({ clientToServer: lossy, serverToClient: lossy, seed: 11 });
  let rebound = false;
  // The target hashes what it gets until the client's FIN, then answers on the still-open direction.
  const target = createServer({ allowHalfOpen: true }, (socket) => {
    void hashAll(socket, (bytes) => {
      if (!rebound && bytes >= SIZE / 2) {
        rebound = true;
        void ends.pair.proxy.rebind();
      }
    }).then((r) => socket.end(`${r.bytes} ${r.sha256}`));
  });
  try {
    const targetPort = await listen(target);
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { host: '127.0.0.1', port: 0 }, connect: { host: '127.0.0.1', port: targetPort } });
    assert.ok(forward.port !== undefined && forward.port > 0);
    const { data, sha256 } = payload(SIZE);
    const app = await connectTo(forward.port);
    const answer = new Promise<string>((resolve, reject) => {
      let text = '';
      app.setEncoding('utf8');
      app.on('data', (c: string) => (text += c));
      app.once('end', () => resolve(text));
      app.once('error', reject);
    });
    app.end(data);
    assert.equal(await answer, `${SIZE} ${sha256}`);
    assert.ok(rebound, 'the proxy rebound during the transfer');
    assert.ok(ends.pair.proxy.stats.rebinds >= 1);
    assert.ok(ends.pair.client.stats().retransmissions > 0, 'loss really happened and was repaired');
    app.destroy();
  } finally {
    target.close();
    await ends.close();
  }
});

test('-R: 20 MB from the client-side target to a remote app over KCP at 1 % loss with a rebind arrives intact', { timeout: 300_000 }, async () => {
  const ends = await kcpEnds({ clientToServer: lossy, serverToClient: lossy, seed: 12 });
  const { data, sha256 } = payload(SIZE);
  // The client-side target sends the payload as soon as a connection reaches it.
  const target = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.resume();
    socket.end(data);
  });
  try {
    const targetPort = await listen(target);
    const forward = await ends.forwarder.remoteForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: targetPort } });
    assert.ok(forward.port !== undefined && forward.port > 0, 'tsshd reports the port it allocated');
    const app = await connectTo(forward.port);
    let rebound = false;
    const got = await hashAll(app, (bytes) => {
      if (!rebound && bytes >= SIZE / 2) {
        rebound = true;
        void ends.pair.proxy.rebind();
      }
    });
    assert.equal(got.bytes, SIZE);
    assert.equal(got.sha256, sha256);
    assert.ok(rebound);
    // The data flows client -> server here, so the client is the side that repairs losses.
    assert.ok(ends.pair.client.stats().retransmissions > 0, 'loss really happened and was repaired');
    app.destroy();
  } finally {
    target.close();
    await ends.close();
  }
});
