import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Kcp } from '../../../src/transport/kcp/kcp.js';
import { decodeSegments, encodeSegments, KcpCommand, SEGMENT_HEADER, type KcpSegment } from '../../../src/transport/kcp/segment.js';
import { FakeClock, pair, randomBytes, rng } from './sim.js';

const u32 = fc.nat({ max: 0xffffffff });
const segment = fc.record({
  conv: u32,
  cmd: fc.integer({ min: 0, max: 255 }),
  frg: fc.integer({ min: 0, max: 255 }),
  wnd: fc.integer({ min: 0, max: 0xffff }),
  ts: u32,
  sn: u32,
  una: u32,
  data: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
});

test('segment codec: encode then decode gives the same segments, little endian, 24-byte headers', () => {
  fc.assert(
    fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segs) => {
      const packet = encodeSegments(segs);
      assert.equal(packet.length, segs.reduce((n, s) => n + SEGMENT_HEADER + s.data.length, 0));
      const back = decodeSegments(packet);
      assert.ok(back);
      assert.deepEqual(
        back.map((s) => ({ ...s, data: Buffer.from(s.data) })),
        segs.map((s) => ({ ...s, data: Buffer.from(s.data) })),
      );
    }),
    { seed: 1234, numRuns: 300 },
  );
  // Field layout, checked once by hand.
  const one: KcpSegment = { conv: 0x04030201, cmd: KcpCommand.Push, frg: 0, wnd: 0x0201, ts: 5, sn: 6, una: 7, data: Buffer.from('hi') };
  const bytes = encodeSegments([one]);
  assert.equal(bytes.toString('hex'), '01020304' + '51' + '00' + '0102' + '05000000' + '06000000' + '07000000' + '02000000' + '6869');
});

test('segment codec: truncated or overlong packets decode to null, never throw', () => {
  fc.assert(
    fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.nat(), (segs, cut) => {
      const packet = encodeSegments(segs);
      const n = cut % packet.length;
      if (n === 0) return;
      const truncated = packet.subarray(0, n);
      const back = decodeSegments(truncated);
      // A cut exactly on a segment boundary is a valid shorter packet; anything else is malformed.
      let boundary = 0;
      const bounds = new Set([0]);
      for (const s of segs) bounds.add((boundary += SEGMENT_HEADER + s.data.length));
      assert.equal(back === null, !bounds.has(n));
    }),
    { seed: 99, numRuns: 300 },
  );
});

test('fuzz: random bytes into input() never throw, are counted as dropped, and hold no memory', () => {
  const clock = new FakeClock();
  let outputs = 0;
  const k = new Kcp({ conv: 7, mtu: 1400, clock: clock.view() }, () => void outputs++);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => {
      const before = k.stats().dropped.total;
      k.input(Buffer.from(bytes));
      // Random conv matches 7 with chance 2^-32: every random packet is dropped somewhere.
      assert.equal(k.stats().dropped.total, before + 1);
    }),
    { seed: 4242, numRuns: 2000 },
  );
  clock.advance(1000);
  assert.equal(k.stats().receiveBuffered, 0);
  assert.equal(outputs, 0, 'nothing answered');
  assert.ok(k.idle);
  k.close();
});

test('fuzz: well-framed segments with hostile fields never throw and stay within the windows', () => {
  const clock = new FakeClock();
  const view = clock.view();
  let outputs = 0;
  const rcvWnd = 64;
  const k = new Kcp({ conv: 7, mtu: 1400, rcvWnd, sndWnd: 64, clock: view }, () => void outputs++);
  k.onData = () => {};
  k.write(randomBytes(200_000, 1)); // something in flight for acks and una to hit
  clock.runDeferred();
  const hostile = fc.record({
    conv: fc.constantFrom(7, 7, 7, 8),
    cmd: fc.constantFrom(KcpCommand.Push, KcpCommand.Ack, KcpCommand.WindowAsk, KcpCommand.WindowTell, 0, 85, 255),
    frg: fc.integer({ min: 0, max: 255 }),
    wnd: fc.integer({ min: 0, max: 0xffff }),
    ts: u32,
    sn: fc.oneof(fc.integer({ min: 0, max: 200 }), u32),
    una: fc.oneof(fc.integer({ min: 0, max: 100 }), u32),
    data: fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a)),
  });
  let accepted = 0;
  const tick = rng(5);
  fc.assert(
    fc.property(fc.array(hostile, { minLength: 1, maxLength: 8 }), fc.boolean(), (segs, lie) => {
      const packet = encodeSegments(segs);
      // Sometimes claim a len beyond the packet.
      if (lie) packet.writeUInt32LE(0xfffffff0, 20);
      const before = k.stats();
      k.input(packet);
      if (tick() < 0.1) clock.advance(50);
      const after = k.stats();
      accepted += after.segmentsReceived - before.segmentsReceived;
      assert.ok(after.receiveBuffered <= 2 * rcvWnd, 'receive memory bounded by the window');
      assert.ok(k.inFlight <= 64, 'send memory bounded by the window');
      assert.ok(after.dropped.total >= before.dropped.total);
    }),
    { seed: 777, numRuns: 1500 },
  );
  const d = k.stats().dropped;
  for (const reason of ['conv', 'cmd', 'length', 'window', 'ack'] as const) assert.ok(d[reason] > 0, `some drops for ${reason}`);
  assert.ok(accepted > 0, 'some hostile PUSH segments were in the window and accepted');
  assert.ok(view.armed <= 1, 'still one timer at most');
  k.close();
  assert.equal(view.armed, 0, 'close() disarms');
  const dropsAfterClose = k.stats().dropped.closed;
  k.input(Buffer.alloc(24));
  assert.equal(k.stats().dropped.closed, dropsAfterClose + 1);
});

test('a peer with another conv is ignored entirely', () => {
  const p = pair();
  const strangerClock = new FakeClock();
  const stranger = new Kcp({ conv: 8, mtu: 1400, clock: strangerClock.view() }, (pkt) => p.b.input(Buffer.from(pkt)));
  let got = 0;
  p.b.onData = (c) => (got += c.length);
  stranger.write(Buffer.from('intrusion'));
  strangerClock.runDeferred();
  p.clock.advance(100);
  assert.equal(got, 0);
  assert.equal(p.b.stats().dropped.conv, 1);
  stranger.close();
  p.a.close();
  p.b.close();
});
