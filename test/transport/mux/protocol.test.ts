import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameDecoder } from '../../../src/transport/mux/decode.js';
import { encodeEmpty, encodeFrame, encodeSyn, encodeU32 } from '../../../src/transport/mux/encode.js';
import { Command, GoAwayCode, MAX_FRAME_PAYLOAD } from '../../../src/transport/mux/frame.js';
import { Mux, MuxProtocolError, type MuxStream } from '../../../src/transport/mux/mux.js';
import { waitFor, waitForEvent } from '../../support/wait.js';
import { createMemoryPipePair, type MemoryPipe } from './memory-pipe.js';

interface Seen {
  command: number;
  streamId: number;
  value: number;
}

/** A server Mux facing a hand-driven client: the test writes raw frames and sees what the Mux answers. */
function rawClient() {
  const [raw, pipe] = createMemoryPipePair();
  const mux = new Mux(pipe, { role: 'server' });
  const accepted: MuxStream[] = [];
  const errors = new Map<number, Error>();
  mux.on('stream', (s) => {
    accepted.push(s);
    s.on('error', (err) => errors.set(s.id, err));
  });
  const seen: Seen[] = [];
  const decoder = new FrameDecoder({
    controlFrame: (command, streamId, source, offset) =>
      seen.push({ command, streamId, value: command === Command.Syn ? source[offset] : command <= Command.Rst ? 0 : source.readUInt32BE(offset) }),
    dataHeader: (streamId, length) => (seen.push({ command: Command.Data, streamId, value: length }), false),
    dataPayload: () => {},
    unknownFrame: () => {},
    framingError: (err) => assert.fail(err),
  });
  raw.onData = (chunk) => decoder.push(chunk);
  const send = (...frames: Buffer[]): void => raw.write(Buffer.concat(frames));
  const dispose = (): void => {
    mux.destroy();
    raw.close();
  };
  return { raw: raw as MemoryPipe, mux, accepted, errors, seen, send, dispose };
}

const data = (id: number, n: number): Buffer => encodeFrame(Command.Data, id, Buffer.alloc(n, 0x61));

describe('mux protocol errors', () => {
  it('DATA beyond the granted window resets only that stream', async () => {
    const c = rawClient();
    try {
      c.send(encodeSyn(1, 0), encodeSyn(5, 0));
      const window = c.mux.config.streamWindow;
      const frames: Buffer[] = [];
      for (let sent = 0; sent < window; sent += MAX_FRAME_PAYLOAD) frames.push(data(1, MAX_FRAME_PAYLOAD));
      frames.push(data(1, 1), data(5, 5));
      c.send(...frames);
      await waitFor('stream 1 errored', () => c.errors.get(1));
      const err = c.errors.get(1);
      assert.ok(err instanceof MuxProtocolError);
      assert.equal(err.code, 'window-exceeded');
      assert.equal(err.streamId, 1);
      await waitFor('RST sent for stream 1', () => c.seen.some((f) => f.command === Command.Rst && f.streamId === 1));
      await waitFor('stream 5 still receives', () => c.accepted[1]?.readableLength === 5);
      assert.equal(c.mux.stats().protocolErrors, 1);
      assert.ok(!c.accepted[1].destroyed);
    } finally {
      c.dispose();
    }
  });

  it('DATA after FIN resets the stream', async () => {
    const c = rawClient();
    try {
      c.send(encodeSyn(1, 0), data(1, 3), encodeEmpty(Command.Fin, 1), data(1, 3));
      const err = await waitFor('stream errored', () => c.errors.get(1));
      assert.equal((err as MuxProtocolError).code, 'data-after-fin');
    } finally {
      c.dispose();
    }
  });

  it('drops and counts frames for streams never opened, bad SYN ids and unknown commands, and carries on', async () => {
    const c = rawClient();
    try {
      c.send(
        data(9, 10), // never opened
        encodeU32(Command.WindowUpdate, 8, 100), // our parity, never opened
        encodeSyn(2, 0), // server parity: not the client's to open
        encodeSyn(5, 0),
        encodeSyn(1, 0), // below an id already used
        encodeSyn(7, 0), // an id of lane 1 sent to a lane-0 Mux
        encodeEmpty(Command.Fin, 0), // stream command on the session id
        encodeFrame(99, 5, Buffer.alloc(20)), // unknown command
        data(5, 4),
      );
      await waitFor('stream 5 gets its bytes', () => c.accepted[0]?.readableLength === 4);
      assert.deepEqual(c.accepted.map((s) => s.id), [5]);
      const stats = c.mux.stats();
      assert.equal(stats.protocolErrors, 6);
      assert.equal(stats.framesDropped, 7);
    } finally {
      c.dispose();
    }
  });

  it('answers PING with PONG carrying the same value', async () => {
    const c = rawClient();
    try {
      c.send(encodeU32(Command.Ping, 0, 0xdeadbeef));
      await waitFor('pong', () => c.seen.find((f) => f.command === Command.Pong));
      assert.deepEqual(c.seen.find((f) => f.command === Command.Pong), { command: Command.Pong, streamId: 0, value: 0xdeadbeef });
    } finally {
      c.dispose();
    }
  });

  it('a peer that sends PINGs but never reads cannot grow our queue of replies', async () => {
    const c = rawClient();
    try {
      c.raw.pauseReceive();
      const pings = 20_000;
      c.send(...Array.from({ length: pings }, (_, i) => encodeU32(Command.Ping, 0, i)));
      await waitFor('all pings read', () => c.mux.stats().framesIn === pings);
      // Replies that fit under sendThreshold went to the pipe, 4096 more may queue, the rest are dropped.
      const fitInPipe = Math.ceil(c.mux.config.sendThreshold / 12) + 1;
      assert.ok(c.mux.stats().framesDropped >= pings - 4096 - fitInPipe, `dropped ${c.mux.stats().framesDropped}`);
    } finally {
      c.dispose();
    }
  });

  it('a framing error ends the Mux with MuxProtocolError and tells the peer with GOAWAY', async () => {
    const c = rawClient();
    try {
      c.send(encodeSyn(1, 0));
      await waitFor('accepted', () => c.accepted[0]);
      const closed = waitForEvent<Error>(c.mux, 'close');
      c.send(Buffer.from([7, Command.Data, 0, 1, 0, 0, 0, 1, 0]));
      const err = await closed;
      assert.ok(err instanceof MuxProtocolError);
      assert.equal(err.code, 'bad-version');
      await waitFor('stream errored with it', () => c.errors.get(1) === err);
      await waitFor('GOAWAY(protocol error)', () => c.seen.some((f) => f.command === Command.GoAway && f.value === GoAwayCode.ProtocolError));
      assert.equal(c.mux.stats().protocolErrors, 1);
      assert.doesNotThrow(() => c.send(encodeSyn(3, 0)), 'later input is ignored');
    } finally {
      c.dispose();
    }
  });
});
