import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder } from '../../../src/transport/mux/decode.js';
import { writeHeader } from '../../../src/transport/mux/encode.js';
import { HEADER_SIZE, MAX_CONTROL_PAYLOAD } from '../../../src/transport/mux/frame.js';
import { Mux } from '../../../src/transport/mux/mux.js';
import type { ReliablePipe } from '../../../src/transport/reliable-pipe.js';

/** A pipe that swallows writes; the test drives onData by hand. */
class SinkPipe implements ReliablePipe {
  onDrain: (() => void) | null = null;
  drainThreshold = 0;
  onData: ((chunk: Buffer) => void) | null = null;
  queuedBytes = 0;
  written = 0;
  write(chunk: Buffer): void {
    this.written += chunk.length;
  }
  pauseReceive(): void {}
  resumeReceive(): void {}
}

const MAX_STREAMS = 4;
const WINDOW = 64 * 1024;

/** A client Mux with two streams of its own, accepting up to MAX_STREAMS, none of them read. */
function target(): { mux: Mux; pipe: SinkPipe } {
  const pipe = new SinkPipe();
  const mux = new Mux(pipe, { role: 'client', maxStreams: MAX_STREAMS, streamWindow: WINDOW, maxBufferedBytes: 1 << 20 });
  const quiet = (): void => {};
  mux.on('stream', (s) => s.on('error', quiet));
  mux.on('close', quiet);
  for (let i = 0; i < 2; i++) mux.openStream(i).on('error', quiet);
  return { mux, pipe };
}

const PAYLOAD_FOR: readonly number[] = [1, -1, 0, 0, 4, 4, 4, 4];

/** Well-formed frames with small stream ids, so SYN, DATA, FIN, RST and credit reach real streams. */
const wellFormed = fc
  .record({
    command: fc.integer({ min: 0, max: 7 }),
    streamId: fc.constantFrom(0, 1, 2, 3, 4, 5, 8, 9, 12, 13),
    data: fc.oneof({ weight: 5, arbitrary: fc.uint8Array({ maxLength: 2000 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 16_384 }).map((n) => new Uint8Array(n)) }),
    word: fc.uint8Array({ minLength: 4, maxLength: 4 }),
  })
  .map(({ command, streamId, data, word }) => {
    const size = PAYLOAD_FOR[command];
    return { version: 1, command, streamId, payload: size < 0 ? data : word.subarray(0, size), lie: 0 };
  });

/** Anything a header can say: bad versions, unknown commands, lengths that lie. */
const messy = fc.record({
  version: fc.integer({ min: 0, max: 255 }),
  command: fc.integer({ min: 0, max: 255 }),
  streamId: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 0xffff_ffff })),
  payload: fc.uint8Array({ maxLength: 64 }),
  lie: fc.integer({ min: -5, max: 65535 }),
});

const frameBytes = fc.oneof({ weight: 30, arbitrary: wellFormed }, { weight: 1, arbitrary: messy }).map(({ version, command, streamId, payload, lie }) => {
  const frame = Buffer.alloc(HEADER_SIZE + payload.length);
  writeHeader(frame, 0, command, streamId, Math.max(0, Math.min(65535, payload.length + lie)));
  frame[0] = version;
  frame.set(payload, HEADER_SIZE);
  return frame;
});

const input = fc.oneof(
  fc.array(frameBytes, { maxLength: 60 }).map((frames) => Buffer.concat(frames)),
  fc.uint8Array({ maxLength: 4096 }).map((a) => Buffer.from(a)),
);

function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
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

describe('mux decoder fuzz', () => {
  it('the decoder never throws and never holds more than its fixed scratch', () => {
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
        let errors = 0;
        const decoder = new FrameDecoder({
          controlFrame: () => {},
          dataHeader: (_id, length) => length % 2 === 0,
          dataPayload: () => {},
          unknownFrame: () => {},
          framingError: () => void errors++,
        });
        for (const piece of chunks(bytes, cuts)) {
          decoder.push(piece);
          assert.ok(decoder.bufferedBytes <= Math.max(HEADER_SIZE, MAX_CONTROL_PAYLOAD));
        }
        assert.ok(errors <= 1);
      }),
      { seed: 424242, numRuns: 2000 },
    );
  });

  it('a Mux fed arbitrary bytes never throws from onData, and buffered memory stays within its windows', (t) => {
    const totals = { accepted: 0, bytesIn: 0, protocolErrors: 0, endedByInput: 0 };
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
        const { mux, pipe } = target();
        const onData = pipe.onData;
        assert.ok(onData !== null);
        for (const piece of chunks(bytes, cuts)) {
          assert.doesNotThrow(() => onData(piece));
          const s = mux.stats();
          // Flow control bounds what unread streams can hold: a window each, ours and the peer's.
          assert.ok(s.bufferedBytes <= (MAX_STREAMS + 2) * WINDOW, `buffered ${s.bufferedBytes}`);
          assert.ok(s.streamsOpen <= MAX_STREAMS + 2);
        }
        const s = mux.stats();
        totals.accepted += s.streamsOpenedTotal - 2;
        totals.bytesIn += s.bytesIn;
        totals.protocolErrors += s.protocolErrors;
        let closed = false;
        mux.once('close', () => (closed = true));
        assert.doesNotThrow(() => mux.destroy());
        if (!closed) totals.endedByInput++;
        assert.equal(mux.stats().bufferedBytes, 0);
      }),
      { seed: 1337, numRuns: 1500 },
    );
    t.diagnostic(`fuzz reached: ${JSON.stringify(totals)}`);
    // The generator must reach past the framing checks, or the property proves little.
    assert.ok(totals.accepted > 100 && totals.bytesIn > 100_000 && totals.endedByInput > 100);
  });
});
