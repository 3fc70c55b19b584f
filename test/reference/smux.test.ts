import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { CloseType, encodeSmuxFrame, encodeSmuxUpdate, SmuxCmd, SmuxFrameDecoder, type SmuxFrame } from '../../src/transport/reference/smux-frame.js';
import { SmuxSession, type SmuxStream } from '../../src/transport/reference/smux.js';
import { waitFor, waitForEvent } from '../support/wait.js';
import { createMemoryPipePair } from '../transport/mux/memory-pipe.js';

function collect(stream: SmuxStream): { data: Buffer[]; ended: boolean } {
  const got = { data: [] as Buffer[], ended: false };
  stream.on('data', (c: Buffer) => got.data.push(c));
  stream.on('end', () => (got.ended = true));
  return got;
}

describe('smux v2 frames', () => {
  it('encodes the layout little-endian, FIN close type in the length field', () => {
    assert.deepEqual([...encodeSmuxFrame(SmuxCmd.Psh, 3, Buffer.from('hi'))], [2, 2, 2, 0, 3, 0, 0, 0, 0x68, 0x69]);
    assert.deepEqual([...encodeSmuxFrame(SmuxCmd.Fin, 5, undefined, CloseType.Write)], [2, 1, 2, 0, 5, 0, 0, 0]);
    assert.deepEqual([...encodeSmuxUpdate(7, 0x01020304, 524288)], [2, 4, 8, 0, 7, 0, 0, 0, 4, 3, 2, 1, 0, 0, 8, 0]);
  });

  it('decodes frames split anywhere, and refuses another version', () => {
    const all = Buffer.concat([encodeSmuxFrame(SmuxCmd.Syn, 3), encodeSmuxFrame(SmuxCmd.Psh, 3, Buffer.from('abc')), encodeSmuxUpdate(3, 9, 10), encodeSmuxFrame(SmuxCmd.Fin, 3, undefined, 2)]);
    for (let cut = 0; cut <= all.length; cut++) {
      const frames: SmuxFrame[] = [];
      const d = new SmuxFrameDecoder((f) => frames.push({ ...f, data: Buffer.from(f.data) }));
      assert.equal(d.push(all.subarray(0, cut)), null);
      assert.equal(d.push(all.subarray(cut)), null);
      assert.deepEqual(frames.map((f) => [f.cmd, f.sid, f.data.length, f.closeType]), [
        [0, 3, 0, 0],
        [2, 3, 3, 0],
        [4, 3, 8, 0],
        [1, 3, 0, 2],
      ]);
    }
    assert.match(new SmuxFrameDecoder(() => {}).push(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]))!, /version 1/);
  });
});

describe('smux v2 session', () => {
  it('client ids are odd from 3; data both ways with half-close', async () => {
    const [a, b] = createMemoryPipePair({ maxChunk: 7 });
    const client = new SmuxSession(a, { role: 'client' });
    const server = new SmuxSession(b, { role: 'server' });
    const accepted = waitForEvent<SmuxStream>(server, 'stream');
    const s = client.openStream();
    assert.equal(s.id, 3);
    assert.equal(client.openStream().id, 5);
    const t = await accepted;
    assert.equal(t.id, 3);
    const atServer = collect(t);
    const atClient = collect(s);
    s.end('hello');
    await waitFor('server sees EOF', () => atServer.ended);
    assert.equal(Buffer.concat(atServer.data).toString(), 'hello');
    t.end('world');
    await waitFor('client sees EOF', () => atClient.ended);
    assert.equal(Buffer.concat(atClient.data).toString(), 'world');
    client.close();
    server.close();
  });

  it('a stalled reader holds the writer at the window; 3 MB arrive intact once it reads', async () => {
    const [a, b] = createMemoryPipePair({ maxChunk: 3000 });
    const client = new SmuxSession(a, { role: 'client', streamWindow: 128 * 1024 });
    const server = new SmuxSession(b, { role: 'server', streamWindow: 128 * 1024 });
    const accepted = waitForEvent<SmuxStream>(server, 'stream');
    const s = client.openStream();
    const t = await accepted;
    t.pause();
    const data = randomBytes(3 * 1024 * 1024);
    let written = 0;
    const writer = (async () => {
      for (let o = 0; o < data.length; o += 16384) {
        if (!s.write(data.subarray(o, o + 16384))) await waitForEvent(s, 'drain', 30_000);
        written = o + 16384;
      }
      s.end();
    })();
    await waitFor('writer blocked at the window', () => a.bytesDelivered >= 262144 && a.queuedBytes === 0, 10_000);
    await new Promise((r) => setTimeout(r, 50));
    // Without reads no more than the initial window (plus frame headers) crosses.
    assert.ok(a.bytesDelivered <= 262144 + 8 * 64, `delivered ${a.bytesDelivered}`);
    assert.ok(written < data.length);
    const hash = createHash('sha256');
    let n = 0;
    t.on('data', (c: Buffer) => {
      hash.update(c);
      n += c.length;
    });
    t.resume();
    await writer;
    await waitFor('all read', () => n === data.length, 30_000);
    assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
    client.close();
    server.close();
  });

  it('a full close from the peer ends the stream; a bad frame closes the session with an error', async () => {
    const [a, b] = createMemoryPipePair();
    const client = new SmuxSession(a, { role: 'client' });
    const server = new SmuxSession(b, { role: 'server' });
    const accepted = waitForEvent<SmuxStream>(server, 'stream');
    const s = client.openStream();
    const t = await accepted;
    const got = collect(s);
    t.write('bye');
    t.destroy();
    await waitFor('client EOF after full close', () => got.ended);
    assert.equal(Buffer.concat(got.data).toString(), 'bye');
    const failed = waitForEvent<Error>(client, 'error');
    b.write(Buffer.from([9, 9, 9, 9, 9, 9, 9, 9]));
    assert.match((await failed).message, /version 9/);
    server.close();
  });
});
