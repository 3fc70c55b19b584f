import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { memoryConnectionPair, type MemoryStream } from '../../support/stream-pair.js';
import { waitFor } from '../../support/wait.js';
import { ReferenceHost } from '../../../src/server/reference/reference-host.js';
import { SessionHost } from '../../../src/server/session-host.js';
import { encodeCommand, encodeCommandAndMessage, encodeMessage, StreamFrameReader } from '../../../src/protocol/reference/stream-codec.js';

// The reference stream host over in-memory streams: a session mapped onto SessionHost with a handler (no process),
// and hostile stream openings that must never throw, hang the host or get more than a one-message answer.

const loginEnv = { HOME: '/tmp', SHELL: '/bin/sh', PATH: '/usr/bin:/bin', USER: 'test' };

function setUp(handler = async (s: import('../../../src/server/session.js').Session) => {
  for await (const chunk of s) s.write(String(chunk).toUpperCase());
  s.stderr.write('to-stderr');
  s.exit(6);
}) {
  const [, serverConn] = memoryConnectionPair();
  const sessions = new SessionHost(serverConn, { envAccepted: (n) => n === 'LANG', subsystems: new Map(), loginEnv }, { handler });
  const host = new ReferenceHost(sessions, { installKey: () => undefined, path: loginEnv.PATH });
  /** A client-side stream pair: `client` is what the test writes and reads; the host serves `server`. */
  const open = (): MemoryStream => {
    const [clientConn] = memoryConnectionPair();
    const client = clientConn.openStream(0) as MemoryStream;
    host.accept(client.peer as MemoryStream);
    return client;
  };
  return { host, sessions, open };
}

/** Everything a stream received, read as the reference client would: messages and commands in order. */
function collect(stream: MemoryStream): { bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('error', () => undefined);
  return { bytes: () => Buffer.concat(chunks) };
}

test('a bus and a non-pty session with a stderr stream: output, stderr and the exit note apart', async () => {
  const { open } = setUp();
  const bus = open();
  const busOut = collect(bus);
  bus.write(encodeCommand('bus'));
  bus.write(encodeMessage({ ClientVer: '0.1.9', ProtoVer: 1, HeartbeatTimeout: 3e9 }));
  await waitFor('the bus reply', () => busOut.bytes().length > 0);
  const stderr = open();
  const errOut = collect(stderr);
  stderr.write(encodeCommandAndMessage('stderr', { ID: 1 }));
  await waitFor('the stderr acks', () => errOut.bytes().length >= 2 * 30);
  const session = open();
  const out = collect(session);
  session.write(encodeCommandAndMessage('session', { ID: 1, Name: 'anything', Envs: { LANG: 'C', SECRET: 'x' } }));
  session.end('typed');
  await waitFor('the exit note on the bus', () => busOut.bytes().includes('"ExitCode":6'));
  await waitFor('stderr', () => errOut.bytes().includes('to-stderr'));
  await waitFor('output', () => out.bytes().includes('TYPED'));
  const reader = new StreamFrameReader();
  reader.push(out.bytes());
  assert.deepEqual(reader.readMessage(), { Msg: '_TSSHD_NO_ERROR_' }, 'the hello');
  assert.deepEqual(reader.readMessage(), { Msg: '_TSSHD_NO_ERROR_' }, 'the session started');
  assert.equal(reader.takeRest().toString(), 'TYPED');
  assert.doesNotMatch(out.bytes().toString(), /to-stderr/);
});

test('property: hostile stream openings never throw, never hang the host, and get at most a short answer', async () => {
  const { open, sessions } = setUp(async (s) => s.exit(0));
  const command = fc.oneof(fc.constantFrom('bus', 'session', 'stderr', 'dial', 'listen', 'accept', 'dial-udp', 'nope'), fc.string({ maxLength: 20 }));
  const opening = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.tuple(command, fc.uint8Array({ maxLength: 200 })).map(([c, b]) => Buffer.concat([encodeCommand(c || 'x'), Buffer.from(b)])),
    fc.tuple(command, fc.jsonValue()).map(([c, v]) => encodeCommandAndMessage(c || 'x', v)),
    fc.tuple(command, fc.integer({ min: 0, max: 0xffffffff })).map(([c, n]) => {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(n);
      return Buffer.concat([encodeCommand(c || 'x'), head]);
    }),
  );
  await fc.assert(
    fc.asyncProperty(opening, fc.boolean(), async (bytes, end) => {
      const stream = open();
      const got = collect(stream);
      stream.write(bytes);
      if (end) stream.end();
      await new Promise((resolve) => setImmediate(resolve));
      // Answers are a hello and an error message or two: never more than a few hundred bytes.
      assert.ok(got.bytes().length <= 4096, `answer of ${got.bytes().length} bytes`);
      stream.destroy();
    }),
    { numRuns: 300 },
  );
  await waitFor('no session left running', () => sessions.sessionCount === 0, 10_000);
});
