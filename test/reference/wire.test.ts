import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ClientAuthState, openAuthPacket, sealAuthPacket, AUTH_PACKET_BYTES } from '../../src/path/reference-auth.js';
import { ReferenceWireError } from '../../src/protocol/reference/errors.js';
import {
  encodeBusInit,
  encodeDiscard,
  encodeResize,
  encodeStart,
  parseBusInit,
  parseDiscard,
  parseExit,
  parseRekey,
  parseResize,
  parseStart,
} from '../../src/protocol/reference/messages.js';
import { decodeServerInfo, encodeServerInfoLine, parseServerInfoLine } from '../../src/protocol/reference/server-info.js';
import { encodeCommand, encodeCommandAndMessage, encodeMessage, StreamFrameReader } from '../../src/protocol/reference/stream-codec.js';

// A ServerInfo as the Go tsshd v0.1.9 prints it in KCP mode (values made up; IDs above 2^53).
const GO_LINE =
  'Last login: today\r\n\x07{"ServerVer":"0.1.9","ProtoVer":1,"Port":61234,"Mode":"KCP",' +
  `"Pass":"${'ab'.repeat(48)}","Salt":"${'cd'.repeat(48)}","ProxyKey":"${'01'.repeat(32)}",` +
  '"ClientID":18446744073709551615,"ServerID":9007199254740993}\r\n';

describe('reference ServerInfo', () => {
  it('parses the Go line with 64-bit IDs exact', () => {
    const info = parseServerInfoLine(GO_LINE);
    assert.equal(info.clientId, 18446744073709551615n);
    assert.equal(info.serverId, 9007199254740993n);
    assert.equal(info.mode, 'KCP');
    assert.equal(info.port, 61234);
    assert.equal(info.proxyMode, 'UDP');
    assert.equal(info.pass!.length, 48);
    assert.equal(info.proxyKey.length, 32);
    assert.equal(info.native, undefined);
  });

  it('round-trips through encodeServerInfoLine, carrying TsshdNative', () => {
    const info = parseServerInfoLine(GO_LINE);
    info.native = { protocolVersion: 3, port: 5 };
    info.proxyMode = 'TCP';
    const again = parseServerInfoLine(encodeServerInfoLine(info));
    assert.deepEqual(again, info);
  });

  it('does not touch ClientID text inside strings or nested objects', () => {
    const json = `{"Mode":"KCP","Port":1,"Pass":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","ProxyKey":"${'02'.repeat(32)}","ServerVer":"x\\"ClientID\\":5","TsshdNative":{"ClientID":7},"ClientID":12345678901234567890}`;
    const info = decodeServerInfo(json);
    assert.equal(info.clientId, 12345678901234567890n);
    assert.deepEqual(info.native, { ClientID: 7 });
  });

  it('refuses bad input with one line', () => {
    assert.throws(() => parseServerInfoLine('no bel here'), /no bootstrap line/);
    assert.throws(() => decodeServerInfo('{"Port":1}'), /too old/);
    assert.throws(() => decodeServerInfo('{"Mode":"KCP","Port":1,"Pass":"zz","ProxyKey":"00"}'), ReferenceWireError);
    assert.throws(() => decodeServerInfo(`{"Mode":"KCP","Port":1,"Pass":"${'00'.repeat(16)}","ProxyKey":"${'00'.repeat(32)}","ClientID":18446744073709551616}`), /ClientID/);
  });
});

describe('reference stream framing and messages', () => {
  it('reads commands and messages split at every byte', () => {
    const all = Buffer.concat([encodeCommand('bus'), encodeMessage({ Msg: 'x' }), encodeCommandAndMessage('alive', { Time: 5 }), Buffer.from('raw')]);
    for (let cut = 0; cut <= all.length; cut++) {
      const r = new StreamFrameReader();
      r.push(all.subarray(0, cut));
      const got: unknown[] = [];
      const steps: Array<() => unknown> = [() => r.readCommand(), () => r.readMessage(), () => r.readCommand(), () => r.readMessage()];
      let i = 0;
      const drain = (): void => {
        while (i < steps.length) {
          const v = steps[i]();
          if (v === undefined) return;
          got.push(v);
          i++;
        }
      };
      drain();
      r.push(all.subarray(cut));
      drain();
      assert.deepEqual(got, ['bus', { Msg: 'x' }, 'alive', { Time: 5 }]);
      assert.equal(r.takeRest().toString(), 'raw');
    }
  });

  it('refuses a message longer than the limit before buffering it', () => {
    const r = new StreamFrameReader();
    r.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    assert.throws(() => r.readMessage(), /exceeds/);
  });

  it('encodes Go field names, durations in ns and bytes in base64', () => {
    assert.deepEqual(encodeBusInit({ clientVersion: '0.1.9', protoVersion: 1, aliveTimeoutMs: 0, intervalMs: 1000, heartbeatTimeoutMs: 3000 }), {
      ClientVer: '0.1.9',
      ProtoVer: 1,
      IntervalTime: 1_000_000_000,
      HeartbeatTimeout: 3_000_000_000,
    });
    assert.equal(parseBusInit({ IntervalTime: 1_500_000_000 }).intervalMs, 1500);
    const start = { id: 3, pty: true, shell: false, name: 'sh', args: ['-c', 'exit 7'], cols: 80, rows: 24, envs: { TERM: 'xterm' } };
    assert.deepEqual(parseStart(encodeStart(start)), start);
    const resize = { id: 1, cols: 100, rows: 30, redraw: true, marker: Buffer.from('[TSSHD-MARKER-x]') };
    assert.deepEqual(encodeResize(resize).Marker, Buffer.from('[TSSHD-MARKER-x]').toString('base64'));
    assert.deepEqual(parseResize(encodeResize(resize)), resize);
    const discard = { marker: Buffer.from('m'), discardedInput: Buffer.from('ls\r'), discardedOutputLines: 2, discardedOutputBytes: 9 };
    assert.deepEqual(parseDiscard(encodeDiscard(discard)), discard);
    assert.deepEqual(parseExit({ ID: 2, ExitCode: -1 }), { id: 2, exitCode: -1 });
    assert.throws(() => parseRekey({ PubKey: 'AAAA' }), /P-256/);
    assert.throws(() => parseStart({ Args: [1] }), /Args/);
  });
});

describe('reference proxy authentication', () => {
  it('seals and opens auth packets, and refuses another key or a flipped bit', () => {
    const key = randomBytes(32);
    const p = sealAuthPacket(key, 0xfedcba9876543210n, 7n);
    assert.equal(p.length, AUTH_PACKET_BYTES);
    assert.deepEqual(openAuthPacket(key, p), { id: 0xfedcba9876543210n, serial: 7n });
    assert.equal(openAuthPacket(randomBytes(32), p), null);
    const bad = Buffer.from(p);
    bad[20] ^= 1;
    assert.equal(openAuthPacket(key, bad), null);
    assert.equal(openAuthPacket(key, p.subarray(1)), null);
  });

  it('client accepts only the server id with its current serial, and learns a higher serial', () => {
    const key = randomBytes(32);
    const state = new ClientAuthState(key, 11n, 22n);
    const sent = openAuthPacket(key, state.nextPath())!;
    assert.deepEqual(sent, { id: 11n, serial: 1n });
    assert.equal(state.accepts(sealAuthPacket(key, 99n, 1n)), false, 'another server id');
    assert.equal(state.accepts(sealAuthPacket(key, 22n, 0n)), false, 'an older serial');
    assert.equal(state.accepts(sealAuthPacket(key, 22n, 1n)), true);
    assert.equal(state.accepts(sealAuthPacket(key, 22n, 5n)), false, 'a higher serial is learnt, not accepted');
    assert.equal(openAuthPacket(key, state.nextPath())!.serial, 6n);
  });
});
