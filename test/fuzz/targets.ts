/**
 * Property-based fuzz targets for every decoder that reads bytes or text from
 * outside: the sealed path datagram, UDP-over-TCP framing, KCP segments and
 * the KCP transport framing, mux frames, session and forward messages and
 * their codec, the bootstrap line, `#!!` options, ssh_config, sshd_config,
 * port specs and forward specs.
 *
 * Each property asserts the decoder's contract for any input: it throws only
 * its documented error type with a one-line message (or drops and counts),
 * finishes each case within PER_CASE_MS, and holds no more memory than the
 * input justifies (length fields that claim huge sizes are refused before
 * anything is allocated for them).
 *
 * test/fuzz/decoders.test.ts runs them with a fixed seed and a small budget;
 * scripts/fuzz-soak.mjs runs the compiled targets with a random seed and a
 * large budget.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { generateSessionSecret } from '../../src/crypto/session-secret.js';
import { DatagramCodec } from '../../src/path/datagram-codec.js';
import { DatagramType, MIN_PATH_DATAGRAM_BYTES } from '../../src/path/datagram-format.js';
import { emptyDrops, type PathDrops } from '../../src/path/path-stats.js';
import { candidatePorts, countPorts, parsePortSpec } from '../../src/path/port-spec.js';
import { TcpFrameDecoder } from '../../src/path/tcp-framing.js';
import { Kcp } from '../../src/transport/kcp/kcp.js';
import { decodeSegments, encodeSegments, KcpCommand, SEGMENT_HEADER } from '../../src/transport/kcp/segment.js';
import { FrameDecoder } from '../../src/transport/mux/decode.js';
import { writeHeader as writeMuxHeader } from '../../src/transport/mux/encode.js';
import { HEADER_SIZE as MUX_HEADER, MAX_CONTROL_PAYLOAD } from '../../src/transport/mux/frame.js';
import { encodeBootstrap, encodeBootstrapSecret, parseBootstrap } from '../../src/protocol/bootstrap.js';
import { encodeMessage, MAX_MESSAGE_SIZE, MessageReader } from '../../src/protocol/message-codec.js';
import { parseBusMessage, parseSessionReply, parseSessionRequest, parseStderrHeader, ProtocolError } from '../../src/protocol/messages.js';
import {
  parseControlReply,
  parseControlRequest,
  parseForwardHeader,
  parseForwardReply,
  parseUdpClientMessage,
  parseUdpServerMessage,
} from '../../src/protocol/forward-messages.js';
import { parseDynamicForwardSpec, parseForwardSpec } from '../../src/client/forward-spec.js';
import { evaluateSshConfig, parseSshConfig } from '../../src/client/ssh-config.js';
import { resolveUdpOptions, TSSH_OPTION_NAMES } from '../../src/client/udp-options.js';
import { effectiveConfig, parseSshdConfig } from '../../src/server/sshd-config.js';
import { PROTOCOL_VERSION } from '../../src/version.js';
import { REFERENCE_FUZZ_TARGETS } from './reference-targets.js';

/** One case may take this long on a loaded 2-core machine; a hang or a backtracking blow-up takes far longer. */
export const PER_CASE_MS = 2000;
/** Longest error message a parser may produce for a bad input (they quote input cut short). */
const MAX_MESSAGE_CHARS = 2000;

/** A named property and the number of runs it gets in CI. */
export interface FuzzTarget {
  name: string;
  ciRuns: number;
  property: () => fc.IPropertyWithHooks<unknown[]> | fc.IProperty<unknown[]>;
}

/** Run `fn`, failing if it takes longer than PER_CASE_MS (it cannot be interrupted, so a real hang trips the test runner's timeout). */
export function timed<T>(what: string, fn: () => T): T {
  const start = performance.now();
  const out = fn();
  const took = performance.now() - start;
  assert.ok(took < PER_CASE_MS, `${what} took ${took.toFixed(0)} ms for one input`);
  return out;
}

/** Per decoder: inputs it accepted and inputs it refused (a property that never gets past the first check proves little). */
export const reach = new Map<string, { accepted: number; refused: number }>();

export function count(what: string, accepted: boolean): void {
  let r = reach.get(what);
  if (r === undefined) reach.set(what, (r = { accepted: 0, refused: 0 }));
  if (accepted) r.accepted++;
  else r.refused++;
}

/** Assert that `fn` either returns or throws an error of exactly `type` with a one-line message. */
export function onlyThrows<T>(what: string, type: new (...args: never[]) => Error, fn: () => T): T | undefined {
  try {
    const out = timed(what, fn);
    count(what, true);
    return out;
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    count(what, false);
    assert.ok(err instanceof Error, `${what} threw a non-Error: ${String(err)}`);
    assert.equal(err.constructor, type, `${what} threw ${err.name}: ${err.message}\n${err.stack}`);
    assert.ok(err.message.length > 0 && !err.message.includes('\n'), `${what}: not a one-line message: ${JSON.stringify(err.message)}`);
    assert.ok(err.message.length <= MAX_MESSAGE_CHARS, `${what}: message of ${err.message.length} chars`);
    return undefined;
  }
}

/** Cut `bytes` at the given points (modulo its length). */
export function chunks(bytes: Buffer, cuts: readonly number[]): Buffer[] {
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

/** A mutation of a valid input: flip bytes, truncate, extend, splice. */
export const mutation = fc.record({
  flips: fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { maxLength: 4 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  tail: fc.uint8Array({ maxLength: 64 }),
});

export function mutate(valid: Buffer, m: { flips: { at: number; xor: number }[]; cut?: number; tail: Uint8Array }): Buffer {
  const out = Buffer.from(valid);
  for (const f of m.flips) if (out.length > 0) out[f.at % out.length] ^= f.xor;
  const cut = m.cut === undefined ? out.length : m.cut % (out.length + 1);
  return Buffer.concat([out.subarray(0, cut), m.tail]);
}

export const bytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

// ---------------------------------------------------------------------------
// Path: sealed datagrams and TCP framing

const zeroDrops = emptyDrops;

function totalDrops(d: PathDrops): number {
  let n = 0;
  for (const v of Object.values(d)) n += v as number;
  return n;
}

const pathDatagram: FuzzTarget = {
  name: 'path: sealed datagram open',
  ciRuns: 300,
  property: () =>
    fc.property(
      fc.array(
        fc.oneof(
          { arbitrary: bytes(1500).map((b) => ({ kind: 'random' as const, b })), weight: 2 },
          { arbitrary: fc.record({ type: fc.constantFrom(0, 1, 2), payload: bytes(1370), m: mutation }).map((x) => ({ kind: 'mutated' as const, ...x })), weight: 3 },
          { arbitrary: fc.record({ type: fc.constantFrom(0, 1, 2), payload: bytes(200), replay: fc.nat() }).map((x) => ({ kind: 'valid' as const, ...x })), weight: 1 },
        ),
        { maxLength: 40 },
      ),
      fc.constantFrom<'client' | 'server'>('client', 'server'),
      (inputs, receiving) => {
        const secret = generateSessionSecret();
        const sender = new DatagramCodec(secret, receiving === 'server' ? 'client' : 'server', zeroDrops());
        const drops = zeroDrops();
        const receiver = new DatagramCodec(secret, receiving, drops);
        const sent: Buffer[] = [];
        let opened = 0;
        for (const input of inputs) {
          let datagram: Buffer;
          let mustOpen = false;
          if (input.kind === 'random') datagram = input.b;
          else if (input.kind === 'valid') {
            // A fresh valid datagram, or a replay of an earlier one.
            if (sent.length > 0 && input.replay % 3 === 0) datagram = sent[input.replay % sent.length]!;
            else {
              datagram = sender.seal(input.type, input.payload, 0, 0);
              sent.push(datagram);
              mustOpen = true;
            }
          } else {
            const valid = sender.seal(input.type, input.payload, 0, 0);
            datagram = mutate(valid, input.m);
            mustOpen = datagram.equals(valid);
          }
          const before = totalDrops(drops);
          const payload = timed('DatagramCodec.open', () => receiver.open(Buffer.from(datagram), 0));
          count('DatagramCodec.open', payload !== null);
          if (payload === null) {
            assert.equal(totalDrops(drops), before + 1, 'a refused datagram is counted exactly once');
            assert.ok(!mustOpen, 'a fresh authentic datagram was refused');
          } else {
            opened++;
            assert.equal(totalDrops(drops), before);
            assert.ok(payload.length <= datagram.length - MIN_PATH_DATAGRAM_BYTES, 'payload bigger than its datagram');
            assert.ok(([DatagramType.Data, DatagramType.Keepalive, DatagramType.Goodbye] as number[]).includes(receiver.type), 'only the types this target seals can open');
          }
        }
        assert.ok(opened <= sent.length + inputs.length);
      },
    ),
};

const tcpFraming: FuzzTarget = {
  name: 'path: UDP-over-TCP framing',
  ciRuns: 500,
  property: () =>
    fc.property(
      fc.oneof(
        bytes(6000),
        fc.array(fc.record({ length: fc.integer({ min: 0, max: 65535 }), body: bytes(1500) }), { maxLength: 10 }).map((frames) =>
          Buffer.concat(
            frames.map(({ length, body }) => {
              const header = Buffer.alloc(2);
              header.writeUInt16BE(length % 7 === 0 ? length : Math.min(length, body.length), 0);
              return Buffer.concat([header, body]);
            }),
          ),
        ),
      ),
      fc.array(fc.nat(), { maxLength: 20 }),
      (stream, cuts) => {
        const min = MIN_PATH_DATAGRAM_BYTES;
        const max = 1400;
        let frames = 0;
        const decoder = new TcpFrameDecoder(min, max, (d) => {
          frames++;
          assert.ok(d.length >= min && d.length <= max, `frame of ${d.length} bytes passed`);
        });
        let alive = true;
        for (const piece of chunks(stream, cuts)) {
          if (!alive) break;
          alive = timed('TcpFrameDecoder.push', () => decoder.push(piece));
          count('TcpFrameDecoder.push', alive);
          const pending = (decoder as unknown as { pending: Buffer | null }).pending;
          assert.ok(pending === null || pending.length < max + 2, `holds ${pending?.length} bytes`);
        }
        assert.ok(frames <= stream.length / (min + 2));
      },
    ),
};

// ---------------------------------------------------------------------------
// KCP

/** A clock whose timers never fire: the fuzz drives input() only. */
const frozenClock = { now: () => 1000, setTimer: () => null, clearTimer: () => {}, defer: () => {} };

const segment = fc.record({
  conv: fc.oneof({ arbitrary: fc.constant(7), weight: 9 }, { arbitrary: fc.nat({ max: 0xffff_ffff }), weight: 1 }),
  cmd: fc.oneof({ arbitrary: fc.constantFrom(KcpCommand.Push, KcpCommand.Ack, KcpCommand.WindowAsk, KcpCommand.WindowTell), weight: 9 }, { arbitrary: fc.nat({ max: 255 }), weight: 1 }),
  frg: fc.nat({ max: 255 }),
  wnd: fc.nat({ max: 65535 }),
  ts: fc.nat({ max: 0xffff_ffff }),
  sn: fc.oneof(fc.nat({ max: 300 }), fc.nat({ max: 0xffff_ffff })),
  una: fc.oneof(fc.nat({ max: 300 }), fc.nat({ max: 0xffff_ffff })),
  data: bytes(300),
});

const kcpPacket = fc.oneof(
  { arbitrary: fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => encodeSegments(s.map((x) => ({ ...x, data: Buffer.from(x.data) })))), weight: 4 },
  { arbitrary: fc.tuple(fc.array(segment, { minLength: 1, maxLength: 3 }), mutation).map(([s, m]) => mutate(encodeSegments(s), m)), weight: 2 },
  { arbitrary: bytes(1400), weight: 1 },
);

const kcpSegments: FuzzTarget = {
  name: 'kcp: segment decoding and Kcp.input',
  ciRuns: 300,
  property: () =>
    fc.property(fc.array(kcpPacket, { maxLength: 60 }), (packets) => {
      let delivered = 0;
      let output = 0;
      const kcp = new Kcp({ conv: 7, mtu: 1369, rcvWnd: 128, clock: frozenClock }, () => void output++);
      kcp.onData = (chunk) => void (delivered += chunk.length);
      try {
        kcp.write(Buffer.alloc(5000, 1));
        for (const packet of packets) {
          const segs = timed('decodeSegments', () => decodeSegments(packet));
          count('decodeSegments', segs !== null);
          if (segs !== null) {
            let total = 0;
            for (const s of segs) total += SEGMENT_HEADER + s.data.length;
            assert.equal(total, packet.length);
          }
          const before = kcp.stats();
          timed('Kcp.input', () => kcp.input(packet));
          const after = kcp.stats();
          assert.equal(after.packetsReceived, before.packetsReceived + 1);
          count('Kcp.input', after.dropped.total === before.dropped.total);
        }
        const s = kcp.stats();
        // Data is delivered only in order from sn 0 and the receive buffer is bounded by the window.
        assert.ok(delivered <= packets.reduce((n, p) => n + p.length, 0));
        assert.ok(s.dropped.total <= packets.length * 5 + 1);
      } finally {
        kcp.close();
      }
    }),
};

// ---------------------------------------------------------------------------
// Mux frames

const muxFrames: FuzzTarget = {
  name: 'mux: frame decoder',
  ciRuns: 500,
  property: () =>
    fc.property(
      fc.oneof(
        bytes(4096),
        fc
          .array(fc.record({ version: fc.constantFrom(1, 1, 1, 0, 2), command: fc.nat({ max: 9 }), id: fc.nat({ max: 0xffff_ffff }), length: fc.nat({ max: 65535 }), body: bytes(200) }), { maxLength: 30 })
          .map((frames) =>
            Buffer.concat(
              frames.map((f) => {
                const h = Buffer.alloc(MUX_HEADER);
                writeMuxHeader(h, 0, f.command, f.id, f.length % 3 === 0 ? f.length : f.body.length);
                h[0] = f.version;
                return Buffer.concat([h, f.body]);
              }),
            ),
          ),
      ),
      fc.array(fc.nat(), { maxLength: 20 }),
      (stream, cuts) => {
        let errors = 0;
        const decoder = new FrameDecoder({
          controlFrame: () => {},
          dataHeader: (_id, length) => length % 2 === 0,
          dataPayload: () => {},
          unknownFrame: () => {},
          framingError: () => void errors++,
        });
        for (const piece of chunks(stream, cuts)) {
          timed('FrameDecoder.push', () => decoder.push(piece));
          count('FrameDecoder.push', errors === 0);
          assert.ok(decoder.bufferedBytes <= Math.max(MUX_HEADER, MAX_CONTROL_PAYLOAD));
        }
        assert.ok(errors <= 1, 'a framing error ends the decoder');
      },
    ),
};

// ---------------------------------------------------------------------------
// Session and forward messages, and their codec

const validMessages: object[] = [
  { type: 'hello', clientVersion: '0.1.0', aliveTimeoutMs: 10000, heartbeatTimeoutMs: 3000 },
  { type: 'resize', session: 1, cols: 80, rows: 24 },
  { type: 'exit', session: 1, code: 0 },
  { type: 'exit', session: 2, signal: 'KILL', coreDumped: true },
  { type: 'goodbye', reason: 'bye' },
  { type: 'redraw', session: 3 },
  { type: 'session', id: 1, pty: { term: 'xterm', cols: 80, rows: 24 }, env: { LANG: 'C' }, command: 'ls' },
  { type: 'session', id: 2, env: {}, subsystem: 'sftp' },
  { type: 'session-ok' },
  { type: 'session-error', message: 'no' },
  { type: 'stderr', session: 1 },
  { type: 'forward-open', target: { host: 'localhost', port: 22 }, originator: { host: '127.0.0.1', port: 5000 } },
  { type: 'forward-open', target: { path: '/tmp/s' } },
  { type: 'forward-incoming', id: 3 },
  { type: 'forward-control' },
  { type: 'udp-control' },
  { type: 'forward-ok' },
  { type: 'forward-error', reason: 'prohibited', message: 'no' },
  { type: 'listen', id: 1, bind: { host: 'localhost', port: 8080 }, idleMs: 1000 },
  { type: 'listen', id: 2, bind: { path: '/tmp/x' } },
  { type: 'cancel', id: 1 },
  { type: 'listen-ok', id: 1, port: 8080 },
  { type: 'listen-error', id: 1, message: 'in use' },
  { type: 'udp-open', channel: 0x8000, target: { host: 'localhost', port: 53 } },
  { type: 'udp-incoming', channel: 0xc000, id: 1, originator: { host: '127.0.0.1', port: 53 } },
  { type: 'udp-close', channel: 0x8000 },
];

/** A JSON value mutated at one spot: a field removed, replaced by anything, or a huge/odd number. */
const oddValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, 0, 1.5, 2 ** 53, -(2 ** 31), 0x1_0000_0000, Number.MAX_SAFE_INTEGER, '', 'x'.repeat(5000), '\n', null, [], {}),
);

const messageValue = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.tuple(fc.constantFrom(...validMessages), fc.array(fc.tuple(fc.nat(), fc.boolean(), oddValue), { maxLength: 3 })).map(([base, edits]) => {
    const copy = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
    for (const [at, remove, shared] of edits) {
      // constantFrom hands out the same objects each time: edit copies only.
      const value = shared === undefined ? shared : (JSON.parse(JSON.stringify(shared)) as unknown);
      const keys = Object.keys(copy);
      const key = keys[at % keys.length]!;
      if (remove) delete copy[key];
      else copy[key] = value;
      // Nested objects (target, pty, bind, originator) get edits too.
      const nested = Object.values(copy).find((v) => typeof v === 'object' && v !== null && !Array.isArray(v)) as Record<string, unknown> | undefined;
      if (nested && at % 2 === 0) {
        const nk = Object.keys(nested);
        if (nk.length > 0) nested[nk[at % nk.length]!] = value === undefined ? value : (JSON.parse(JSON.stringify(value)) as unknown);
      }
    }
    return copy;
  }),
  fc.constantFrom(...validMessages),
);

const MESSAGE_PARSERS: ReadonlyArray<[string, (v: unknown) => unknown]> = [
  ['parseBusMessage', parseBusMessage],
  ['parseSessionRequest', parseSessionRequest],
  ['parseSessionReply', parseSessionReply],
  ['parseStderrHeader', parseStderrHeader],
  ['parseForwardHeader', parseForwardHeader],
  ['parseForwardReply', parseForwardReply],
  ['parseControlRequest', parseControlRequest],
  ['parseControlReply', parseControlReply],
  ['parseUdpClientMessage', parseUdpClientMessage],
  ['parseUdpServerMessage', parseUdpServerMessage],
];

const messageParsers: FuzzTarget = {
  name: 'protocol: message parsers',
  ciRuns: 1000,
  property: () =>
    fc.property(messageValue, (value) => {
      for (const [name, parse] of MESSAGE_PARSERS) {
        const out = onlyThrows(name, ProtocolError, () => parse(value));
        // A parsed message survives its own codec (it is a plain, JSON-safe object).
        if (out !== undefined) assert.doesNotThrow(() => encodeMessage(out as object));
      }
    }),
};

const messageCodec: FuzzTarget = {
  name: 'protocol: message codec (length-prefixed JSON)',
  ciRuns: 500,
  property: () =>
    fc.property(
      fc.oneof(
        bytes(3000),
        fc.array(fc.oneof(messageValue.map((v) => encodeMessage({ v })), fc.tuple(fc.nat({ max: 0xffff_ffff }), bytes(100)).map(([n, b]) => {
          const h = Buffer.alloc(4);
          h.writeUInt32BE(n, 0);
          return Buffer.concat([h, b]);
        })), { maxLength: 8 }).map((frames) => Buffer.concat(frames)),
      ),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.integer({ min: 1, max: 10 }),
      (stream, cuts, limit) => {
        const reader = new MessageReader(limit);
        let failed = false;
        for (const piece of chunks(stream, cuts)) {
          const got = onlyThrows('MessageReader.push', ProtocolError, () => reader.push(piece));
          if (got === undefined) {
            failed = true;
            // A failed reader stays failed with the same error.
            assert.throws(() => reader.push(Buffer.alloc(1)), ProtocolError);
            break;
          }
          const buffered = (reader as unknown as { buffered: number }).buffered;
          // Before the limit, never more than one frame (prefix + MAX_MESSAGE_SIZE) plus the chunk being parsed.
          if (!reader.done) assert.ok(buffered <= 4 + MAX_MESSAGE_SIZE + piece.length, `buffered ${buffered}`);
        }
        if (!failed && reader.done) assert.ok(reader.takeRest().length <= stream.length);
      },
    ),
};

// ---------------------------------------------------------------------------
// Bootstrap line

const validBootstrap = encodeBootstrap({
  serverVersion: '0.1.0',
  protocolVersion: PROTOCOL_VERSION,
  port: 61001,
  mode: 'kcp',
  secret: encodeBootstrapSecret(Buffer.alloc(32, 7)),
  proxyMode: 'udp',
  mtu: 1400,
  conv: 12345,
});

const bootstrapLine: FuzzTarget = {
  name: 'protocol: bootstrap line',
  ciRuns: 1000,
  property: () =>
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 500 }),
        fc.string({ unit: 'binary', maxLength: 500 }),
        fc.tuple(fc.string({ maxLength: 50 }), mutation).map(([banner, m]) => banner + mutate(Buffer.from(validBootstrap), m).toString('latin1')),
        fc.tuple(fc.string({ maxLength: 50 }), messageValue, fc.dictionary(fc.constantFrom('serverVersion', 'protocolVersion', 'port', 'mode', 'secret', 'proxyMode', 'mtu', 'conv', 'quic'), oddValue)).map(
          ([banner, _v, edits]) => {
            const fields = { ...(JSON.parse(validBootstrap.slice(1)) as Record<string, unknown>), ...edits };
            return `${banner}\x07${JSON.stringify(fields)}\n`;
          },
        ),
      ),
      (output) => {
        onlyThrows('parseBootstrap', Error, () => parseBootstrap(output));
      },
    ),
};

// ---------------------------------------------------------------------------
// Config texts: ssh_config with #!! lines, sshd_config

const configToken = fc.oneof(
  fc.constantFrom('yes', 'no', 'ask', 'tcp', 'udp', 'kcp', 'quic', '0', '1', '-1', '65536', '1.5', '10s', '1h', '5m30', 'auto', '*', '!*', 'a*b?', '"', "'", '""', '"a b"', '=', '\\', '#', '~', '~/x', '%h', '/tmp/x', 'localhost:22', '[::1]:22', '1-2', '1,2', 'a,,b', ''),
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -5, max: 70000 }).map(String),
);

const sshKeywords = ['Host', 'Match', 'Include', 'HostName', 'User', 'Port', 'LocalForward', 'RemoteForward', 'DynamicForward', 'ProxyJump', 'Tag', ...TSSH_OPTION_NAMES];
const matchWords = ['all', 'canonical', 'final', 'host', 'originalhost', 'user', 'localuser', 'tagged', 'localnetwork', 'command', 'sessiontype', 'version', 'exec', '!host'];

const sshConfigLine = fc
  .tuple(
    fc.constantFrom('', '#!! ', '#!!', '  ', '\t', '# '),
    fc.oneof({ arbitrary: fc.constantFrom(...sshKeywords), weight: 5 }, { arbitrary: fc.string({ maxLength: 10 }), weight: 1 }),
    fc.constantFrom(' ', '=', ' = ', '\t'),
    fc.array(fc.oneof(configToken, fc.constantFrom(...matchWords)), { maxLength: 5 }),
  )
  .map(([prefix, keyword, sep, args]) => `${prefix}${keyword}${sep}${args.join(' ')}`);

const sshConfigText = fc.oneof(fc.array(sshConfigLine, { maxLength: 25 }).map((l) => l.join('\n')), fc.string({ maxLength: 400 }));

const sshConfig: FuzzTarget = {
  name: 'client: ssh_config parser and evaluation',
  ciRuns: 500,
  property: () =>
    fc.property(sshConfigText, fc.constantFrom('h', 'example.com', ''), (text, host) => {
      const file = onlyThrows('parseSshConfig', Error, () =>
        parseSshConfig(text, { path: '/home/u/.ssh/config', home: '/home/u', readInclude: () => [{ path: '/home/u/.ssh/inc', text }] }),
      );
      if (file === undefined) return;
      onlyThrows('evaluateSshConfig', Error, () => evaluateSshConfig([file], { host, localUser: 'me', home: '/home/u', exec: () => false }));
    }),
};

const udpOptions: FuzzTarget = {
  name: 'client: #!! options (resolveUdpOptions)',
  ciRuns: 500,
  property: () =>
    fc.property(
      sshConfigText,
      fc.array(fc.tuple(fc.constantFrom(...TSSH_OPTION_NAMES, 'Port', 'User'), configToken), { maxLength: 3 }),
      (text, pairs) => {
        onlyThrows('resolveUdpOptions', Error, () =>
          resolveUdpOptions({
            configTexts: [{ path: '/home/u/.ssh/config', text }],
            home: '/home/u',
            destinationHost: 'h',
            localUser: 'me',
            readInclude: () => [],
            exec: () => false,
            cliOptions: { options: pairs.map(([key, value]) => ({ key, value })) },
          }),
        );
      },
    ),
};

const sshdKeywords = [
  'AllowTcpForwarding',
  'AllowStreamLocalForwarding',
  'DisableForwarding',
  'PermitOpen',
  'PermitListen',
  'GatewayPorts',
  'StreamLocalBindMask',
  'StreamLocalBindUnlink',
  'AllowAgentForwarding',
  'X11Forwarding',
  'X11DisplayOffset',
  'X11UseLocalhost',
  'XAuthLocation',
  'AcceptEnv',
  'Subsystem',
  'Match',
  'Include',
  'Port',
  'PasswordAuthentication',
];
const sshdMatchWords = ['All', 'User', 'Group', 'Host', 'Address', 'LocalAddress', 'LocalPort', 'RDomain', '10.0.0.0/8', '::1', '192.168.1.20/33', 'any', 'none', '*:*', 'localhost:*'];

const sshdConfigText = fc.oneof(
  fc
    .array(
      fc
        .tuple(
          fc.constantFrom('', '  ', '# '),
          fc.oneof({ arbitrary: fc.constantFrom(...sshdKeywords), weight: 5 }, { arbitrary: fc.string({ maxLength: 10 }), weight: 1 }),
          fc.constantFrom(' ', '=', '\t'),
          fc.array(fc.oneof(configToken, fc.constantFrom(...sshdMatchWords)), { maxLength: 5 }),
        )
        .map(([p, k, s, a]) => `${p}${k}${s}${a.join(' ')}`),
      { maxLength: 25 },
    )
    .map((l) => l.join('\n')),
  fc.string({ maxLength: 400 }),
);

const sshdConfig: FuzzTarget = {
  name: 'server: sshd_config parser and policy',
  ciRuns: 500,
  property: () =>
    fc.property(sshdConfigText, (text) => {
      const file = onlyThrows('parseSshdConfig', Error, () => parseSshdConfig(text, { path: '/etc/ssh/sshd_config', readInclude: () => [] }));
      if (file === undefined) return;
      onlyThrows('effectiveConfig', Error, () =>
        effectiveConfig(file, { user: 'alice', groups: ['staff'], host: 'laptop', address: '192.168.1.20', localAddress: '10.0.0.1', localPort: 22 }),
      );
    }),
};

// ---------------------------------------------------------------------------
// Port specs and forward specs

const portSpecText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc
    .tuple(
      fc.array(
        fc.oneof(
          fc.integer({ min: -2, max: 70000 }).map(String),
          fc.tuple(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 70000 })).map(([a, b]) => `${a}-${b}`),
          fc.constantFrom('', ' ', '-', '1-', '-2', 'x', '1 - 5'),
        ),
        { maxLength: 6 },
      ),
      fc.constantFrom(',', ', ', ' ,'),
    )
    .map(([p, sep]) => p.join(sep)),
);

const portSpec: FuzzTarget = {
  name: 'path: port specs (TsshdPort)',
  ciRuns: 1000,
  property: () =>
    fc.property(portSpecText, (spec) => {
      const ranges = onlyThrows('parsePortSpec', Error, () => parsePortSpec(spec));
      if (ranges === undefined) return;
      const count = countPorts(ranges);
      assert.ok(count >= 1 && count <= 65535 * ranges.length);
      const picked = timed('candidatePorts', () => candidatePorts(ranges, 256));
      assert.ok(picked.length <= 256 && picked.length <= count);
      for (const p of picked) assert.ok(ranges.some((r) => p >= r.first && p <= r.last), `port ${p} outside the spec`);
    }),
};

const specPart = fc.oneof(
  fc.constantFrom('', '*', 'localhost', '127.0.0.1', '[::1]', '::1', '[', ']', '/tmp/sock', 'udp', 'udp/', 'tcp/', '0', '22', '65535', '65536', '-1', 'x', ' '),
  fc.string({ maxLength: 8 }),
  fc.nat({ max: 70000 }).map(String),
);

const forwardSpecText = fc.oneof(fc.string({ maxLength: 60 }), fc.array(specPart, { maxLength: 6 }).map((p) => p.join(':')), fc.array(specPart, { maxLength: 4 }).map((p) => p.join('/')));

const forwardSpec: FuzzTarget = {
  name: 'client: forward specs (-L -R -D, UdpLocalForward)',
  ciRuns: 1000,
  property: () =>
    fc.property(forwardSpecText, fc.constantFrom<'L' | 'R'>('L', 'R'), fc.boolean(), (spec, kind, udp) => {
      const f = onlyThrows('parseForwardSpec', Error, () => parseForwardSpec(spec, { kind, udp }));
      if (f !== undefined) assert.ok(typeof f === 'object');
      onlyThrows('parseDynamicForwardSpec', Error, () => parseDynamicForwardSpec(spec));
    }),
};

/** Every target, in the order the test file and the soak script run them. */
export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  pathDatagram,
  tcpFraming,
  kcpSegments,
  muxFrames,
  messageParsers,
  messageCodec,
  bootstrapLine,
  udpOptions,
  sshConfig,
  sshdConfig,
  portSpec,
  forwardSpec,
  ...REFERENCE_FUZZ_TARGETS,
];
