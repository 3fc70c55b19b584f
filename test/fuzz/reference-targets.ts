/**
 * Fuzz targets for the reference family's decoders: the ServerInfo line, the
 * stream command/message reader and the bus/stream message parsers, proxy
 * auth packets, kcp-go's framing (open + FEC unframe) and smux v2 frames fed
 * to a live session. Registered in FUZZ_TARGETS (targets.ts); they use its
 * helpers only inside properties (the two modules import each other).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { openAuthPacket, sealAuthPacket, AUTH_PACKET_BYTES } from '../../src/path/reference-auth.js';
import { ReferenceWireError } from '../../src/protocol/reference/errors.js';
import * as msg from '../../src/protocol/reference/messages.js';
import { encodeServerInfoLine, parseServerInfoLine, type ReferenceServerInfo } from '../../src/protocol/reference/server-info.js';
import { encodeCommandAndMessage, MAX_REFERENCE_MESSAGE, StreamFrameReader } from '../../src/protocol/reference/stream-codec.js';
import { ReferenceKcpCipher } from '../../src/transport/reference/kcp-cipher.js';
import { encodeShard, ReferenceKcpFraming } from '../../src/transport/reference/kcp-framing.js';
import { encodeSmuxFrame, SmuxFrameDecoder } from '../../src/transport/reference/smux-frame.js';
import { SmuxSession } from '../../src/transport/reference/smux.js';
import type { PausablePipe } from '../../src/transport/reference/smux.js';
import { bytes, chunks, count, mutate, mutation, onlyThrows, timed, type FuzzTarget } from './targets.js';

const KEY = Buffer.alloc(32, 3);
const PASS = Buffer.alloc(48, 5);
const SALT = Buffer.alloc(48, 6);

const validInfo: ReferenceServerInfo = {
  serverVersion: '0.1.9',
  protoVersion: 1,
  port: 61001,
  mode: 'KCP',
  pass: PASS,
  salt: SALT,
  proxyKey: KEY,
  clientId: 18446744073709551615n,
  serverId: 9007199254740993n,
  proxyMode: 'UDP',
  mtu: 0,
  native: { protocolVersion: 3 },
};

const serverInfoLine: FuzzTarget = {
  name: 'reference: ServerInfo line',
  ciRuns: 800,
  property: () => {
    const line = encodeServerInfoLine(validInfo);
    const odd = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 20 }), fc.constant('1'.repeat(25)), fc.constant(-1));
    const fields = ['ServerVer', 'ProtoVer', 'Port', 'Mode', 'Pass', 'Salt', 'ProxyKey', 'ClientID', 'ServerID', 'ProxyMode', 'MTU', 'TsshdNative', 'ServerCert'];
    return fc.property(
      fc.oneof(
        fc.string({ maxLength: 400 }),
        fc.tuple(fc.string({ maxLength: 30 }), mutation).map(([banner, m]) => banner + mutate(Buffer.from(line, 'latin1'), m).toString('latin1')),
        fc.dictionary(fc.constantFrom(...fields), odd).map((edits) => {
          let text = line.slice(1, -1);
          for (const [k, v] of Object.entries(edits)) text = text.replace(new RegExp(`"${k}":("[^"]*"|[0-9]+|\\{[^}]*\\})`), `"${k}":${JSON.stringify(v)}`);
          return `\x07${text}\n`;
        }),
      ),
      (output) => {
        const info = onlyThrows('parseServerInfoLine', ReferenceWireError, () => parseServerInfoLine(output));
        if (info !== undefined) assert.ok(info.clientId >= 0n && info.clientId < 1n << 64n);
      },
    );
  },
};

const PARSERS: ReadonlyArray<(m: Record<string, unknown>) => unknown> = [
  msg.parseErrorReply,
  msg.parseBusInit,
  msg.parseBusResponse,
  msg.parseStart,
  msg.parseExit,
  msg.parseResize,
  msg.parseAlive,
  msg.parseQuit,
  msg.parseDebug,
  msg.parseStderr,
  msg.parseChannel,
  msg.parseDial,
  msg.parseIdReply,
  msg.parseListen,
  msg.parseAccept,
  msg.parseDiscard,
  msg.parseSettings,
  msg.parseRekey,
];

const streamMessages: FuzzTarget = {
  name: 'reference: stream reader and message parsers',
  ciRuns: 500,
  property: () => {
    const value = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string({ maxLength: 30 }), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), fc.base64String({ maxLength: 100 }));
    const names = ['ID', 'Msg', 'Code', 'Pty', 'Shell', 'Name', 'Args', 'Cols', 'Rows', 'Envs', 'X11', 'Agent', 'Marker', 'Time', 'ExitCode', 'PubKey', 'DiscardMarker', 'Timeout', 'Net', 'Addr', 'IntervalTime', 'KeepPendingInput'];
    const message = fc.dictionary(fc.constantFrom(...names), value, { maxKeys: 6 });
    const item = fc.oneof(
      fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), message).map(([c, m]) => encodeCommandAndMessage(c, m)),
      bytes(64),
      fc.tuple(fc.nat({ max: 0xffffffff }), bytes(20)).map(([n, b]) => Buffer.concat([Buffer.from([n >>> 24, n >>> 16, n >>> 8, n]), b])),
    );
    return fc.property(fc.array(item, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (items, cuts) => {
      const r = new StreamFrameReader();
      let bad = false;
      for (const piece of chunks(Buffer.concat(items), cuts)) {
        r.push(piece);
        assert.ok(r.buffered <= MAX_REFERENCE_MESSAGE + 4 + piece.length + 64 * 8 + 4096);
        while (!bad) {
          const cmd = onlyThrows('StreamFrameReader.readCommand', ReferenceWireError, () => r.readCommand());
          if (cmd === undefined) break;
          const m = onlyThrows('StreamFrameReader.readMessage', ReferenceWireError, () => r.readMessage());
          if (m === undefined) {
            bad = true;
            break;
          }
          for (const parse of PARSERS) onlyThrows('reference message parse', ReferenceWireError, () => parse(m));
        }
      }
    });
  },
};

const authPackets: FuzzTarget = {
  name: 'reference: proxy auth packets',
  ciRuns: 400,
  property: () =>
    fc.property(
      fc.oneof(bytes(100), mutation.map((m) => mutate(sealAuthPacket(KEY, 1n, 2n), m)), fc.constant(sealAuthPacket(KEY, 5n, 6n))),
      (packet) => {
        const claim = timed('openAuthPacket', () => openAuthPacket(KEY, packet));
        count('openAuthPacket', claim !== null);
        if (claim !== null) assert.equal(packet.length, AUTH_PACKET_BYTES);
      },
    ),
};

const kcpFraming: FuzzTarget = {
  name: 'reference: kcp-go framing (AEAD open, FEC unframe)',
  ciRuns: 500,
  property: () => {
    const sender = new ReferenceKcpCipher(PASS, SALT);
    const shard = fc.tuple(fc.nat({ max: 0xffffffff }), fc.constantFrom(0xf1, 0xf2, 0xf3, 0x51, 0), bytes(200), fc.option(fc.nat({ max: 65535 }), { nil: undefined })).map(([id, type, body, size]) => {
      const s = encodeShard(id, type, body);
      if (size !== undefined) s.writeUInt16LE(size, 6);
      return s;
    });
    return fc.property(fc.array(fc.oneof(shard.map((s) => sender.seal(s)), shard.map((s) => ({ plain: s })), bytes(120), mutation.map((m) => mutate(sender.seal(Buffer.alloc(30)), m))), { maxLength: 30 }), (inputs) => {
      const f = new ReferenceKcpFraming(new ReferenceKcpCipher(PASS, SALT));
      for (const input of inputs) {
        const plain = Buffer.isBuffer(input) ? null : input.plain;
        const d = timed('ReferenceKcpFraming', () => (plain === null ? f.decode(input as Buffer) : f.unframe(plain)));
        count('ReferenceKcpFraming', d !== null);
        if (d !== null && d.kind === 'kcp') assert.ok(d.packet.length <= 200 + 8);
      }
    });
  },
};

/** A pipe that records what the session writes and feeds nothing back on its own. */
function sinkPipe(): PausablePipe & { written: number } {
  return { written: 0, queuedBytes: 0, onDrain: null, drainThreshold: 0, onData: null, pauseReceive() {}, resumeReceive() {}, write(c: Buffer) { this.written += c.length; } };
}

const smuxFrames: FuzzTarget = {
  name: 'reference: smux v2 frames into a session',
  ciRuns: 400,
  property: () => {
    const frame = fc.record({ ver: fc.constantFrom(2, 2, 2, 1), cmd: fc.nat({ max: 6 }), sid: fc.constantFrom(2, 3, 4, 0, 0xffffffff), len: fc.nat({ max: 65535 }), body: bytes(100) }).map(({ ver, cmd, sid, len, body }) => {
      const f = encodeSmuxFrame(cmd, sid, body, cmd === 1 ? len % 4 : undefined);
      f[0] = ver;
      return f;
    });
    return fc.property(fc.array(fc.oneof(frame, bytes(40)), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (frames, cuts) => {
      const stream = Buffer.concat(frames);
      let decoded = 0;
      const decoder = new SmuxFrameDecoder(() => void decoded++);
      let problem: string | null = null;
      for (const piece of chunks(stream, cuts)) {
        if (problem !== null) break;
        problem = timed('SmuxFrameDecoder.push', () => decoder.push(piece));
        if (problem !== null) assert.ok(!problem.includes('\n'));
      }
      count('SmuxFrameDecoder.push', problem === null);
      assert.ok(decoded <= stream.length / 8 + 1);
      const pipe = sinkPipe();
      const session = new SmuxSession(pipe, { role: 'client', receiveBufferBytes: 4096 });
      session.on('error', () => {});
      session.on('stream', (s: import('node:stream').Duplex) => s.on('error', () => {}));
      for (const piece of chunks(stream, cuts)) timed('SmuxSession input', () => pipe.onData?.(piece));
      session.close();
    });
  },
};

/** Reference-family targets, appended to FUZZ_TARGETS. */
export const REFERENCE_FUZZ_TARGETS: readonly FuzzTarget[] = [serverInfoLine, streamMessages, authPackets, kcpFraming, smuxFrames];
