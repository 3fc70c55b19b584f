import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder, type FrameSink } from '../../../src/transport/mux/decode.js';
import { encodeEmpty, encodeFrame, encodeSyn, encodeU32 } from '../../../src/transport/mux/encode.js';
import type { MuxProtocolError } from '../../../src/transport/mux/errors.js';
import { CONTROL_PAYLOAD, Command, HEADER_SIZE, MAX_FRAME_PAYLOAD } from '../../../src/transport/mux/frame.js';

interface Decoded {
  command: number;
  streamId: number;
  payload: Buffer;
}

/** A sink that reassembles frames (tests only: the Mux never reassembles DATA). */
function recorder(): { sink: FrameSink; frames: Decoded[]; errors: MuxProtocolError[]; unknown: number[] } {
  const frames: Decoded[] = [];
  const errors: MuxProtocolError[] = [];
  const unknown: number[] = [];
  let data: Decoded | null = null;
  let left = 0;
  const sink: FrameSink = {
    controlFrame(command, streamId, source, offset) {
      const length = CONTROL_PAYLOAD[command];
      frames.push({ command, streamId, payload: Buffer.from(source.subarray(offset, offset + length)) });
    },
    dataHeader(streamId, length) {
      data = { command: Command.Data, streamId, payload: Buffer.alloc(0) };
      left = length;
      if (length === 0) frames.push(data);
      return true;
    },
    dataPayload(piece) {
      assert.ok(data !== null);
      data.payload = Buffer.concat([data.payload, piece]);
      left -= piece.length;
      if (left === 0) frames.push(data);
    },
    unknownFrame(command) {
      unknown.push(command);
    },
    framingError(err) {
      errors.push(err);
    },
  };
  return { sink, frames, errors, unknown };
}

const streamId = fc.integer({ min: 1, max: 0xffff_ffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const frameArb: fc.Arbitrary<Decoded> = fc.oneof(
  fc.record({ command: fc.constant(Command.Syn), streamId, payload: fc.integer({ min: 0, max: 255 }).map((k) => Buffer.from([k])) }),
  fc.record({ command: fc.constant(Command.Data), streamId, payload: fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)) }),
  fc.record({ command: fc.constantFrom(Command.Fin, Command.Rst), streamId, payload: fc.constant(Buffer.alloc(0)) }),
  fc.record({ command: fc.constant(Command.WindowUpdate), streamId, payload: u32.map(be32) }),
  fc.record({ command: fc.constantFrom(Command.Ping, Command.Pong, Command.GoAway), streamId: fc.constant(0), payload: u32.map(be32) }),
);

function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

function encode(f: Decoded): Buffer {
  return encodeFrame(f.command, f.streamId, f.payload);
}

/** Cut `bytes` at the given (sorted, deduplicated) points. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

describe('mux frame codec', () => {
  it('lays out the header as version, command, u16 length, u32 stream id (big-endian)', () => {
    assert.deepEqual([...encodeSyn(0x01020304, 7)], [1, Command.Syn, 0, 1, 1, 2, 3, 4, 7]);
    assert.deepEqual([...encodeU32(Command.WindowUpdate, 5, 0x10000)], [1, Command.WindowUpdate, 0, 4, 0, 0, 0, 5, 0, 1, 0, 0]);
    assert.deepEqual([...encodeEmpty(Command.Fin, 2)], [1, Command.Fin, 0, 0, 0, 0, 0, 2]);
    assert.equal(HEADER_SIZE, 8);
  });

  it('round-trips any frame sequence split at arbitrary points', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 40 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map(encode));
        const { sink, frames: got, errors } = recorder();
        const decoder = new FrameDecoder(sink);
        for (const piece of split(bytes, cuts)) decoder.push(piece);
        assert.deepEqual(errors, []);
        // fast-check records have a null prototype; compare as plain objects.
        assert.deepEqual(got, frames.map((f) => ({ ...f })));
        assert.equal(decoder.bufferedBytes, 0);
      }),
      { seed: 20240611, numRuns: 300 },
    );
  });

  it('round-trips byte-at-a-time input', () => {
    const frames: Decoded[] = [
      { command: Command.Syn, streamId: 1, payload: Buffer.from([9]) },
      { command: Command.Data, streamId: 1, payload: Buffer.from('hello') },
      { command: Command.Data, streamId: 1, payload: Buffer.alloc(0) },
      { command: Command.WindowUpdate, streamId: 1, payload: be32(1234) },
      { command: Command.Fin, streamId: 1, payload: Buffer.alloc(0) },
    ];
    const bytes = Buffer.concat(frames.map(encode));
    const { sink, frames: got } = recorder();
    const decoder = new FrameDecoder(sink);
    for (let i = 0; i < bytes.length; i++) decoder.push(bytes.subarray(i, i + 1));
    assert.deepEqual(got, frames);
  });

  it('skips a frame with an unknown command, payload included, and goes on', () => {
    const { sink, frames, unknown, errors } = recorder();
    const decoder = new FrameDecoder(sink);
    decoder.push(Buffer.concat([encodeFrame(200, 3, Buffer.alloc(100, 0x55)), encodeEmpty(Command.Fin, 3)]));
    assert.deepEqual(unknown, [200]);
    assert.deepEqual(errors, []);
    assert.deepEqual(frames, [{ command: Command.Fin, streamId: 3, payload: Buffer.alloc(0) }]);
  });

  for (const [name, bytes, code] of [
    ['an unknown version', Buffer.from([2, Command.Fin, 0, 0, 0, 0, 0, 1]), 'bad-version'],
    ['a length beyond the maximum frame', Buffer.from([1, Command.Data, (MAX_FRAME_PAYLOAD + 1) >> 8, (MAX_FRAME_PAYLOAD + 1) & 0xff, 0, 0, 0, 1]), 'frame-too-large'],
    ['a control frame of the wrong length', Buffer.from([1, Command.WindowUpdate, 0, 3, 0, 0, 0, 1, 0, 0, 0]), 'bad-control-length'],
  ] as const) {
    it(`reports ${name} once and ignores everything after it`, () => {
      const { sink, frames, errors } = recorder();
      const decoder = new FrameDecoder(sink);
      decoder.push(Buffer.concat([bytes, encodeEmpty(Command.Fin, 1)]));
      decoder.push(encodeEmpty(Command.Fin, 1));
      assert.equal(errors.length, 1);
      assert.equal(errors[0].code, code);
      assert.equal(errors[0].name, 'MuxProtocolError');
      assert.deepEqual(frames, []);
      assert.ok(decoder.stopped);
    });
  }
});
