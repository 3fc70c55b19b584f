import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import {
  FRAME_HEADER_SIZE,
  MAX_MESSAGE_SIZE,
  MessageReader,
  encodeMessage,
  readFirstMessage,
  readMessages,
} from '../../src/protocol/message-codec.js';
import {
  ProtocolError,
  parseBusMessage,
  parseSessionReply,
  parseSessionRequest,
  parseStderrHeader,
} from '../../src/protocol/messages.js';

const samples = [
  { type: 'hello', clientVersion: 'tssh 0.1.0' },
  { type: 'resize', session: 1, cols: 132, rows: 43 },
  { type: 'exit', session: 1, signal: 'TERM' },
  { type: 'session', id: 2, env: { LANG: 'ü.UTF-8' }, pty: { term: 'xterm', cols: 80, rows: 24 } },
  { type: 'goodbye', reason: 'user asked ✓' },
];

test('messages round-trip through encode and a reader', () => {
  const reader = new MessageReader();
  const out = reader.push(Buffer.concat(samples.map((m) => encodeMessage(m))));
  assert.deepEqual(out, samples);
  assert.equal(reader.partial, false);
});

test('a reader reassembles frames split at every byte', () => {
  const bytes = Buffer.concat(samples.map((m) => encodeMessage(m)));
  const reader = new MessageReader();
  const out: unknown[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...reader.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(out, samples);
});

test('after its limit a reader hands back the raw bytes that followed, untouched', () => {
  const raw = Buffer.from([0, 1, 2, 0xff, 0xfe, 10, 13]);
  const bytes = Buffer.concat([encodeMessage(samples[3]), encodeMessage({ type: 'session-ok' }), raw]);
  const reader = new MessageReader(1);
  // Split inside the second frame so the rest spans chunks.
  const out = [...reader.push(bytes.subarray(0, 10)), ...reader.push(bytes.subarray(10, bytes.length - 3)), ...reader.push(bytes.subarray(bytes.length - 3))];
  assert.deepEqual(out, [samples[3]]);
  assert.equal(reader.done, true);
  assert.deepEqual(reader.takeRest(), Buffer.concat([encodeMessage({ type: 'session-ok' }), raw]));
});

test('an oversize length is refused from the prefix alone, and the reader stays failed', () => {
  const reader = new MessageReader();
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header.writeUInt32BE(MAX_MESSAGE_SIZE + 1);
  assert.throws(() => reader.push(header), (e: unknown) => e instanceof ProtocolError && e.code === 'oversize');
  assert.throws(() => reader.push(encodeMessage(samples[0])), ProtocolError);
  assert.throws(
    () => encodeMessage({ type: 'goodbye', reason: 'x'.repeat(MAX_MESSAGE_SIZE) }),
    (e: unknown) => e instanceof ProtocolError && e.code === 'oversize',
  );
});

test('a frame that is not UTF-8 JSON is refused as bad-json', () => {
  for (const payload of [Buffer.from('{not json'), Buffer.from([0x7b, 0xff, 0x7d])]) {
    const frame = Buffer.alloc(FRAME_HEADER_SIZE + payload.length);
    frame.writeUInt32BE(payload.length);
    payload.copy(frame, FRAME_HEADER_SIZE);
    assert.throws(() => new MessageReader().push(frame), (e: unknown) => e instanceof ProtocolError && e.code === 'bad-json');
  }
});

test('readFirstMessage returns the message and leaves the following bytes in the stream', async () => {
  const stream = new PassThrough();
  stream.write(Buffer.concat([encodeMessage({ type: 'stderr', session: 5 }), Buffer.from('raw-')]));
  stream.end(Buffer.from('tail'));
  assert.deepEqual(await readFirstMessage(stream), { type: 'stderr', session: 5 });
  const rest: Buffer[] = [];
  for await (const chunk of stream) rest.push(chunk as Buffer);
  assert.equal(Buffer.concat(rest).toString(), 'raw-tail');
});

test('readFirstMessage rejects a stream that ends first with truncated', async () => {
  const stream = new PassThrough();
  stream.end(encodeMessage(samples[0]).subarray(0, 6));
  await assert.rejects(readFirstMessage(stream), (e: unknown) => e instanceof ProtocolError && e.code === 'truncated');
});

test('readMessages delivers every message and reports a frame cut by the end', async () => {
  const stream = new PassThrough();
  const got: unknown[] = [];
  const errors: ProtocolError[] = [];
  const ended = new Promise((resolve) => stream.once('end', resolve));
  readMessages(stream, (m) => got.push(m), (e) => errors.push(e));
  stream.write(Buffer.concat(samples.map((m) => encodeMessage(m))));
  stream.end(encodeMessage(samples[0]).subarray(0, 3));
  await ended;
  assert.deepEqual(got, samples);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'truncated');
});

test('fuzz: decoding and parsing arbitrary bytes throws nothing but ProtocolError', () => {
  const parsers = [parseBusMessage, parseSessionRequest, parseSessionReply, parseStderrHeader];
  const frameOf = (payload: Uint8Array): Buffer => {
    const frame = Buffer.alloc(FRAME_HEADER_SIZE + payload.length);
    frame.writeUInt32BE(payload.length);
    frame.set(payload, FRAME_HEADER_SIZE);
    return frame;
  };
  const jsonish = fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v)));
  const messageLike = fc
    .record({
      type: fc.constantFrom('hello', 'resize', 'exit', 'goodbye', 'redraw', 'session', 'session-ok', 'session-error', 'stderr'),
      session: fc.oneof(fc.integer(), fc.double(), fc.string()),
      id: fc.oneof(fc.integer(), fc.string()),
      cols: fc.integer(),
      rows: fc.integer(),
      env: fc.oneof(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())), fc.string()),
      pty: fc.anything(),
      code: fc.anything(),
      signal: fc.anything(),
      command: fc.anything(),
    }, { requiredKeys: ['type'] })
    .map((v) => new TextEncoder().encode(JSON.stringify(v)));
  const chunk = fc.oneof(fc.uint8Array({ maxLength: 64 }), jsonish.map(frameOf), messageLike.map(frameOf));
  fc.assert(
    fc.property(fc.array(chunk, { maxLength: 8 }), fc.integer({ min: 1, max: 64 }), (chunks, split) => {
      const reader = new MessageReader();
      const bytes = Buffer.concat(chunks);
      try {
        for (let i = 0; i < bytes.length; i += split) {
          for (const value of reader.push(bytes.subarray(i, i + split))) {
            for (const parse of parsers) {
              try {
                parse(value);
              } catch (err) {
                if (!(err instanceof ProtocolError)) throw err;
              }
            }
          }
        }
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
      }
    }),
    { seed: 20240611, numRuns: 500 },
  );
});
