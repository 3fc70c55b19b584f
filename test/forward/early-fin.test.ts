import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { connectTo, kcpEnds, memoryEnds, type ForwardEnds } from './fixtures.js';

for (const [name, make] of [
  ['memory', async (): Promise<ForwardEnds> => memoryEnds()],
  ['KCP', async (): Promise<ForwardEnds> => kcpEnds({})],
] as const) test(`-L over ${name}: a client that half-closes at once (before tsshd connected) still receives the whole answer`, { timeout: 60_000 }, async () => {
  const ends = await make();
  const answer = Buffer.alloc(3_000_000, 7);
  const target = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.resume();
    socket.end(answer);
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  try {
    const forward = await ends.forwarder.localForward({ proto: 'tcp', listen: { port: 0 }, connect: { host: '127.0.0.1', port: (target.address() as { port: number }).port } });
    const app = await connectTo(forward.port!);
    app.end();
    let got = 0;
    let error: Error | undefined;
    app.on('data', (c: Buffer) => (got += c.length));
    app.on('error', (err) => (error = err));
    await new Promise((resolve) => app.once('close', resolve));
    assert.equal(error, undefined, `no reset (${error?.message}); ${ends.clientLog.join(' | ')} ${ends.serverLog.join(' | ')}`);
    assert.equal(got, answer.length);
  } finally {
    target.close();
    await ends.close();
  }
});
