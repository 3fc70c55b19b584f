import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kcp } from '../../../src/transport/kcp/kcp.js';
import { decodeSegments, KcpCommand } from '../../../src/transport/kcp/segment.js';
import { FakeClock, pair, randomBytes, rng } from './sim.js';

const MSS = 1400 - 24;

function cmds(packet: Buffer): number[] {
  return (decodeSegments(packet) ?? []).map((s) => s.cmd);
}

test('a keystroke goes out at the end of the turn, before any timer, and writes of one turn share a packet', () => {
  const p = pair({}, { delayMs: 10 });
  const t0 = p.clock.nowMs;
  const seen: Buffer[] = [];
  p.ab.filter = (pkt) => (seen.push(Buffer.from(pkt)), true);
  for (const ch of 'ls -l') p.a.write(Buffer.from(ch));
  assert.equal(seen.length, 0, 'nothing is sent inside write() itself');
  p.clock.runDeferred();
  assert.equal(p.clock.nowMs, t0, 'no time passed');
  assert.equal(seen.length, 1, 'one packet for the five writes');
  const segs = decodeSegments(seen[0])!;
  assert.equal(segs.length, 1);
  assert.equal(segs[0].data.toString(), 'ls -l');
  p.a.close();
  p.b.close();
});

test('with the real clock a write is out after one setImmediate, not a 10 ms tick', async () => {
  const out: Buffer[] = [];
  const k = new Kcp({ conv: 1, mtu: 1400 }, (pkt) => void out.push(Buffer.from(pkt)));
  try {
    k.write(Buffer.from('a'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(out.length, 1);
    assert.deepEqual(cmds(out[0]), [KcpCommand.Push]);
  } finally {
    k.close();
  }
});

test('the ack rides with the echo in one packet', () => {
  // Copies off: this is about piggybacking, and a fresh connection would otherwise send its echo twice.
  const p = pair({ redundancy: false }, { delayMs: 25 });
  const fromB: Buffer[] = [];
  p.ba.filter = (pkt) => (fromB.push(Buffer.from(pkt)), true);
  p.b.onData = (c) => p.b.write(Buffer.from(c));
  let echoed = '';
  p.a.onData = (c) => (echoed += c.toString());
  p.a.write(Buffer.from('q'));
  assert.ok(p.clock.runUntil(() => echoed === 'q', p.clock.nowMs + 1000));
  assert.equal(fromB.length, 1, 'b sent a single packet');
  assert.deepEqual(cmds(fromB[0]), [KcpCommand.Ack, KcpCommand.Push]);
  p.a.close();
  p.b.close();
});

test('one timer at most while busy, none once idle', () => {
  const p = pair({}, { delayMs: 10, loss: 0.05, seed: 2 });
  assert.equal(p.aClock.armed + p.bClock.armed, 0, 'no timer before any traffic');
  let got = 0;
  p.b.onData = (c) => (got += c.length);
  p.a.write(randomBytes(200_000, 1));
  p.clock.runDeferred();
  // Rate control lets a fresh connection start with 64 segments, and grows from there.
  assert.ok(p.a.inFlight >= 64, 'many segments in flight');
  assert.equal(p.aClock.armed, 1, 'exactly one timer for all of them');
  let maxArmed = 0;
  assert.ok(p.clock.runUntil(() => {
    maxArmed = Math.max(maxArmed, p.aClock.armed, p.bClock.armed);
    return got === 200_000 && p.a.idle && p.b.idle;
  }, p.clock.nowMs + 60_000));
  assert.equal(maxArmed, 1);
  assert.equal(p.aClock.armed, 0, 'sender idle: no timer');
  assert.equal(p.bClock.armed, 0, 'receiver idle: no timer');
  p.a.close();
  p.b.close();
});

test('fast retransmit once 2 later segments are acked, in the same turn, counted per segment', () => {
  const clock = new FakeClock();
  const aOut: Buffer[] = [];
  const bOut: Buffer[] = [];
  const a = new Kcp({ conv: 1, mtu: 1400, clock: clock.view() }, (pkt) => void aOut.push(Buffer.from(pkt)));
  const b = new Kcp({ conv: 1, mtu: 1400, clock: clock.view() }, (pkt) => void bOut.push(Buffer.from(pkt)));
  let got = 0;
  b.onData = (c) => (got += c.length);
  a.write(randomBytes(4 * MSS, 3));
  clock.runDeferred();
  assert.equal(aOut.length, 4, 'one full segment per packet');
  clock.advance(20);
  // Segment 0 is lost; the other three arrive in one turn, so b acks them in one packet.
  for (const pkt of aOut.slice(1)) b.input(pkt);
  clock.runDeferred();
  assert.equal(bOut.length, 1, 'acks of one turn share one packet');
  assert.deepEqual(cmds(bOut[0]), [KcpCommand.Ack, KcpCommand.Ack, KcpCommand.Ack]);
  aOut.length = 0;
  clock.advance(20);
  a.input(bOut[0]);
  clock.runDeferred();
  const s = a.stats();
  assert.equal(s.fastRetransmissions, 1, 'segment 0 resent on the ack packet');
  assert.equal(s.timeoutRetransmissions, 0);
  assert.ok(clock.nowMs - 1000 < s.rtoMs, 'before its RTO');
  assert.equal(decodeSegments(aOut[0])![0].sn, 0);
  b.input(aOut[0]);
  assert.equal(got, 4 * MSS, 'the hole is filled');
  a.close();
  b.close();
});

test('fast retransmit does not fire on a single later ack', () => {
  const clock = new FakeClock();
  const aOut: Buffer[] = [];
  const bOut: Buffer[] = [];
  const a = new Kcp({ conv: 1, mtu: 1400, clock: clock.view() }, (pkt) => void aOut.push(Buffer.from(pkt)));
  const b = new Kcp({ conv: 1, mtu: 1400, clock: clock.view() }, (pkt) => void bOut.push(Buffer.from(pkt)));
  a.write(randomBytes(2 * MSS, 4));
  clock.runDeferred();
  b.input(aOut[1]);
  clock.runDeferred();
  aOut.length = 0;
  a.input(bOut[0]);
  clock.runDeferred();
  assert.equal(a.stats().fastRetransmissions, 0);
  assert.equal(aOut.length, 0, 'nothing resent yet');
  a.close();
  b.close();
});

test('pauseReceive stalls the sender at a bounded queue; resumeReceive restarts it at once', () => {
  const p = pair({}, { delayMs: 20 });
  const total = 3 * 1024 * 1024;
  const data = randomBytes(total, 5);
  let got = 0;
  const parts: Buffer[] = [];
  p.b.onData = (c) => {
    parts.push(c);
    got += c.length;
  };
  let drains = 0;
  p.a.drainThreshold = 64 * 1024;
  p.a.onDrain = () => drains++;
  p.b.pauseReceive();
  p.a.write(data);
  p.clock.advance(3_000);
  assert.equal(got, 0, 'nothing delivered while paused');
  const held = p.b.stats().receiveBuffered;
  assert.ok(held <= 2 * 1024, `receiver holds at most two windows (${held} segments)`);
  assert.ok(p.a.queuedBytes > 1024 * 1024, 'the rest waits in the sender queue');
  assert.equal(drains, 0);
  const probes = p.a.stats().windowProbesSent;
  assert.ok(probes > 0, 'the sender probes the zero window');
  const sentBefore = p.a.stats().segmentsSent;
  p.clock.advance(2_000);
  assert.equal(p.a.stats().segmentsSent, sentBefore, 'no new data while the window is 0');

  const resumedAt = p.clock.nowMs;
  p.b.resumeReceive();
  assert.ok(p.clock.runUntil(() => p.a.stats().segmentsSent > sentBefore, resumedAt + 1_000));
  assert.ok(p.clock.nowMs - resumedAt <= 2 * 20 + 5, 'new data within a round trip of the resume (no probe wait)');
  assert.ok(p.clock.runUntil(() => got === total && p.a.idle && p.b.idle, p.clock.nowMs + 60_000));
  assert.ok(Buffer.concat(parts).equals(data), 'in order and intact');
  assert.ok(drains >= 1, 'onDrain fired after the stall');
  p.a.close();
  p.b.close();
});

test('probeNow resends at once after an outage instead of waiting for the backed-off RTO', () => {
  const recover = (probe: boolean) => {
    const p = pair({}, { delayMs: 30 });
    let got = 0;
    p.b.onData = (c) => (got += c.length);
    p.ab.down = true;
    p.ba.down = true;
    p.a.write(randomBytes(20_000, 6));
    p.clock.advance(8_000);
    const timeouts = p.a.stats().timeoutRetransmissions;
    p.ab.down = false;
    p.ba.down = false;
    const restoredAt = p.clock.nowMs;
    if (probe) p.a.probeNow();
    p.clock.runDeferred();
    const resentAtOnce = p.a.stats().probeRetransmissions;
    const done = p.clock.runUntil(() => got === 20_000 && p.a.inFlight === 0, restoredAt + 60_000);
    const ms = p.clock.nowMs - restoredAt;
    p.a.close();
    p.b.close();
    return { timeouts, resentAtOnce, done, ms };
  };
  const probed = recover(true);
  assert.ok(probed.timeouts > 0, 'the RTO fired during the outage');
  assert.ok(probed.resentAtOnce > 0, 'everything unacked resent in the same turn');
  assert.ok(probed.done);
  assert.ok(probed.ms <= 2 * 30 + 5, `recovered in one round trip (${probed.ms} ms)`);
  const waited = recover(false);
  assert.ok(waited.done);
  assert.ok(waited.ms > 300, `without probeNow the backed-off RTO decides (${waited.ms} ms)`);
});

test("acks of copies that waited out a stop in the peer's socket give no RTT sample (the RTO stays a round trip)", () => {
  const p = pair({}, { delayMs: 10 });
  let got = 0;
  p.b.onData = (c) => (got += c.length);
  p.a.write(randomBytes(4000, 8));
  assert.ok(p.clock.runUntil(() => got === 4000 && p.a.idle, p.clock.nowMs + 10_000));
  const rttBefore = p.a.stats().srttMs;
  assert.ok(rttBefore < 100);
  // b is stopped for 30 s: what a sends (and resends) waits in b's socket buffer.
  const waiting: Buffer[] = [];
  p.ab.filter = (packet) => {
    waiting.push(Buffer.from(packet));
    return false;
  };
  p.a.write(randomBytes(20_000, 9));
  p.clock.advance(30_000);
  assert.ok(waiting.length > 0);
  // b runs again: its first datagram restores contact (the path calls probeNow), then b reads its backlog, oldest first.
  p.ab.filter = null;
  p.a.probeNow();
  for (const packet of waiting) p.b.input(packet);
  assert.ok(p.clock.runUntil(() => got === 24_000 && p.a.idle, p.clock.nowMs + 10_000));
  const { srttMs, rtoMs } = p.a.stats();
  assert.ok(srttMs < 1000, `srtt ${srttMs} ms, not the 30 s the backlog waited`);
  assert.ok(rtoMs < 1000, `rto ${rtoMs} ms`);
  p.a.close();
  p.b.close();
});

/** Type `keys` keystrokes through an echo at b, each waiting for its echo; returns latencies and both ends' stats. */
function typeAndEcho(p: ReturnType<typeof pair>, keys: number, seed: number): number[] {
  p.b.onData = (c) => p.b.write(Buffer.from(c));
  const latencies: number[] = [];
  let sentAt = 0;
  p.a.onData = () => latencies.push(p.clock.nowMs - sentAt);
  const r = rng(seed);
  for (let i = 0; i < keys; i++) {
    sentAt = p.clock.nowMs;
    p.a.write(Buffer.from([i & 0xff]));
    const n = latencies.length;
    p.clock.runUntil(() => latencies.length > n, p.clock.nowMs + 30_000);
    p.clock.advance(100 + r() * 200);
  }
  return latencies;
}

function p99(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(0.99 * s.length)];
}

test('echo p99 <= 1.5 x RTT through 100 ms RTT with 10 % loss each way (and > 1.5 x RTT without redundancy)', () => {
  const link = { delayMs: 50, loss: 0.1 };
  const run = (redundancy: boolean) => {
    const p = pair(redundancy ? {} : { redundancy: false }, { ...link, seed: 21 }, { ...link, seed: 22 });
    typeAndEcho(p, 200, 1); // warm-up: the loss estimate settles
    const bytes0 = p.ab.bytes + p.ba.bytes;
    const lat = typeAndEcho(p, 1000, 2);
    const result = { p99: p99(lat), count: lat.length, bytesPerKey: (p.ab.bytes + p.ba.bytes - bytes0) / 1000, a: p.a.stats(), b: p.b.stats() };
    p.a.close();
    p.b.close();
    return result;
  };
  const on = run(true);
  const off = run(false);
  assert.equal(on.count, 1000);
  assert.ok(on.p99 <= 150, `p99 ${on.p99} ms with redundancy`);
  assert.ok(off.p99 > 150, `p99 ${off.p99} ms without: the test can tell`);
  assert.equal(on.a.redundancy, 3, 'three copies at 10 % loss');
  // Cost, for docs/KCP.md: KCP bytes per keystroke (both directions) with and without copies.
  assert.ok(on.bytesPerKey < 3 * off.bytesPerKey, `${on.bytesPerKey} vs ${off.bytesPerKey} bytes per keystroke`);
});

test('a fresh connection starts with copies; without loss they stop; at 10 % loss only small packets are copied', () => {
  const quiet = pair({}, { delayMs: 20, seed: 1 });
  assert.equal(quiet.a.stats().redundancy, 2, 'pessimistic start: the first keystrokes are protected');
  typeAndEcho(quiet, 400, 3);
  assert.equal(quiet.a.stats().redundancy, 1, 'no loss seen: copies off');
  const copiesAfterWarmUp = quiet.a.stats().redundantPacketsSent + quiet.b.stats().redundantPacketsSent;
  typeAndEcho(quiet, 200, 6);
  assert.equal(quiet.a.stats().redundantPacketsSent + quiet.b.stats().redundantPacketsSent, copiesAfterWarmUp, 'no loss, no more copies');
  quiet.a.close();
  quiet.b.close();

  const lossy = pair({}, { delayMs: 20, loss: 0.1, seed: 4 });
  let biggestCopy = 0;
  lossy.ab.filter = (pkt) => {
    const segs = decodeSegments(pkt)!;
    if (segs.some((s) => s.cmd === KcpCommand.Push && s.frg > 0)) biggestCopy = Math.max(biggestCopy, segs.reduce((n, s) => n + s.data.length, 0));
    return true;
  };
  typeAndEcho(lossy, 300, 5);
  assert.ok(lossy.a.stats().redundancy >= 2, 'loss measured: copies on');
  assert.ok(lossy.a.stats().redundantPacketsSent > 0);
  // Then a bulk transfer: full packets are never copied.
  let got = 0;
  lossy.b.onData = (c) => (got += c.length);
  lossy.a.write(randomBytes(1_000_000, 9));
  assert.ok(lossy.clock.runUntil(() => got === 1_000_000 && lossy.a.idle, lossy.clock.nowMs + 120_000));
  assert.ok(biggestCopy > 0 && biggestCopy <= 256, `largest copied payload ${biggestCopy} bytes`);
  lossy.a.close();
  lossy.b.close();
});

test('copies are dropped by the receiver without an ack of their own', () => {
  const p = pair({ redundancy: { fixedCopies: 3 } }, { delayMs: 20 });
  const fromB: Buffer[] = [];
  p.ba.filter = (pkt) => (fromB.push(Buffer.from(pkt)), true);
  let got = '';
  p.b.onData = (c) => (got += c.toString());
  p.a.write(Buffer.from('k'));
  assert.ok(p.clock.runUntil(() => p.a.idle && p.b.idle && p.b.stats().duplicatesReceived === 2, p.clock.nowMs + 1000));
  assert.equal(got, 'k', 'delivered once');
  assert.equal(p.a.stats().redundantPacketsSent, 2);
  const acks = fromB.flatMap((pkt) => decodeSegments(pkt)!).filter((s) => s.cmd === KcpCommand.Ack);
  assert.equal(acks.length, 1, 'one ack for three copies');
  p.a.close();
  p.b.close();
});

test('during an outage each replay carries everything in flight and queued, and the peer answers it with everything it owes at once', () => {
  // Copies off: the point is what one replay holds, not redundancy.
  const p = pair({ redundancy: false }, { delayMs: 50 });
  p.b.onData = (c) => p.b.write(Buffer.from(c));
  let typed = 0;
  let echoed = 0;
  p.a.onData = (c) => (echoed += c.length);
  let typing = true;
  const type = (): void => {
    if (!typing) return;
    p.a.write(Buffer.from('k'));
    typed++;
    p.clock.at(10, type);
  };
  type();
  p.clock.advance(500);
  p.ab.down = true;
  p.ba.down = true;
  p.clock.advance(2000);
  typing = false;
  p.clock.runDeferred();
  assert.equal(p.a.stats().outages, 1, 'the silence was taken for an outage');
  const replaysDuringOutage = p.a.stats().replaysSent;
  // About 2 s / 50 ms replays, not one packet per keystroke: bounded.
  assert.ok(replaysDuringOutage >= 20 && replaysDuringOutage <= 45, `${replaysDuringOutage} replays in 2 s`);
  // Back up, but only the packets of one instant get through each way: a's next replay, then b's answer to it.
  p.ab.down = false;
  p.ba.down = false;
  let abAt = -1;
  p.ab.filter = () => {
    if (abAt < 0) abAt = p.clock.nowMs;
    return p.clock.nowMs === abAt;
  };
  const bHeardBefore = p.b.stats().packetsReceived;
  let baAt = -1;
  p.ba.filter = () => {
    if (p.b.stats().packetsReceived === bHeardBefore) return false;
    if (baAt < 0) baAt = p.clock.nowMs;
    return p.clock.nowMs === baAt;
  };
  assert.ok(p.clock.runUntil(() => echoed === typed, p.clock.nowMs + 5000), `echoed ${echoed} of ${typed} from one replay and one answer`);
  assert.ok(p.a.stats().replayedSegments > 0);
  p.a.close();
  p.b.close();
});
