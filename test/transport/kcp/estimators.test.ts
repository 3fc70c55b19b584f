/**
 * Issue 14, 4 (KCP estimators) and 1 (resends after a path change), on the
 * simulated clock: one RTT sample per received packet, the remote window
 * never taken from a stale segment, a path change forgetting what was measured
 * on the old path, and the probe after it sending an initial window, not the
 * whole window in flight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kcp, PROBE_WINDOW_PACKETS } from '../../../src/transport/kcp/kcp.js';
import { decodeSegments, KcpCommand, SEGMENT_HEADER, writeHeader } from '../../../src/transport/kcp/segment.js';
import { FakeClock, pair, randomBytes } from './sim.js';

const CONV = 7;
const MTU = 1400;

/** One Kcp on a fake clock whose output is kept, to be answered by hand-made packets. */
function lone(): { clock: FakeClock; kcp: Kcp; out: Buffer[]; sentSegments: () => { sn: number; ts: number }[] } {
  const clock = new FakeClock();
  const out: Buffer[] = [];
  const kcp = new Kcp({ conv: CONV, mtu: MTU, redundancy: false, rateControl: false, clock: clock.view() }, (p) => out.push(Buffer.from(p)));
  const sentSegments = () =>
    out.flatMap((p) => (decodeSegments(p) ?? []).filter((s) => s.cmd === KcpCommand.Push).map((s) => ({ sn: s.sn, ts: s.ts })));
  return { clock, kcp, out, sentSegments };
}

/** A packet of the peer's: one segment per entry (no data). */
function peerPacket(segments: { cmd: number; sn: number; ts: number; una: number; wnd: number }[]): Buffer {
  const b = Buffer.alloc(segments.length * SEGMENT_HEADER);
  segments.forEach((s, i) => writeHeader(b, i * SEGMENT_HEADER, CONV, s.cmd, 0, s.wnd, s.ts, s.sn, s.una, 0));
  return b;
}

test('RTT: a packet carrying 100 acks is one sample, so the variance (and the RTO above SRTT) survives an ack burst', () => {
  const { clock, kcp, sentSegments } = lone();
  kcp.write(Buffer.alloc(101 * (MTU - SEGMENT_HEADER), 1));
  clock.runDeferred();
  const segs = sentSegments();
  assert.equal(segs.length, 101);
  const ts = segs[0].ts;
  clock.nowMs += 100;
  kcp.input(peerPacket([{ cmd: KcpCommand.Ack, sn: 0, ts, una: 1, wnd: 1024 }]));
  const first = kcp.stats();
  assert.equal(first.srttMs, 100);
  assert.equal(first.rttVarMs, 50);
  // One packet acks the next 100 segments, all sent at the same instant: one observation of the path.
  const burst = [];
  for (let sn = 1; sn <= 100; sn++) burst.push({ cmd: KcpCommand.Ack, sn, ts, una: 1, wnd: 1024 });
  kcp.input(peerPacket(burst));
  const after = kcp.stats();
  assert.ok(after.rttVarMs >= 0.7 * first.rttVarMs, `variance ${after.rttVarMs} ms after the burst (was ${first.rttVarMs})`);
  assert.ok(after.rtoMs >= after.srttMs + 100, `RTO ${after.rtoMs} ms keeps room above SRTT ${after.srttMs} ms`);
  kcp.close();
});

test('the remote window is not taken from a reordered, older segment', () => {
  const { clock, kcp, sentSegments } = lone();
  kcp.write(Buffer.alloc(10 * (MTU - SEGMENT_HEADER), 1));
  clock.runDeferred();
  const segs = sentSegments();
  assert.equal(segs.length, 10);
  clock.nowMs += 50;
  // The newer packet: 0..4 arrived, window wide open.
  kcp.input(peerPacket([0, 1, 2, 3, 4].map((sn) => ({ cmd: KcpCommand.Ack, sn, ts: segs[sn].ts, una: 5, wnd: 200 }))));
  // A reordered older packet from when the peer had its window shut (una 2): stale, to be ignored.
  kcp.input(peerPacket([{ cmd: KcpCommand.WindowTell, sn: 0, ts: segs[0].ts, una: 2, wnd: 0 }]));
  clock.runDeferred();
  const before = sentSegments().length;
  kcp.write(Buffer.alloc(3 * (MTU - SEGMENT_HEADER), 2));
  clock.runDeferred();
  assert.equal(sentSegments().length - before, 3, 'new data goes out: the window is still the newer 200');
  kcp.close();
});

test('a path change resets SRTT/RTO and the loss estimate, and the new path is learnt afresh', () => {
  // A slow lossy path: RTT 600 ms, 20 % loss each way.
  const p = pair({}, { delayMs: 300, loss: 0.2, seed: 3 }, { delayMs: 300, loss: 0.2, seed: 4 });
  let got = 0;
  p.b.onData = (c) => {
    got += c.length;
    p.b.write(Buffer.from(c));
  };
  let echoed = 0;
  p.a.onData = (c) => (echoed += c.length);
  for (let i = 0; i < 40; i++) {
    p.a.write(Buffer.from('k'));
    p.clock.advance(100);
  }
  p.clock.runUntil(() => echoed === 40, p.clock.nowMs + 60_000);
  const old = p.a.stats();
  assert.ok(old.srttMs > 500, `old SRTT ${old.srttMs}`);
  assert.ok(old.rtoMs > 600, `old RTO ${old.rtoMs}`);
  assert.ok(old.lossEstimate > 0.1, `old loss estimate ${old.lossEstimate}`);
  // Roam to a fast clean path.
  for (const link of [p.ab, p.ba]) {
    link.options.delayMs = 10;
    link.options.loss = 0;
  }
  p.a.pathChanged();
  const fresh = p.a.stats();
  assert.ok(Number.isNaN(fresh.srttMs), 'no SRTT from the old path');
  assert.ok(fresh.rtoMs <= 200, `RTO ${fresh.rtoMs} back to the initial one`);
  assert.ok(fresh.lossEstimate < 0.05, `loss estimate ${fresh.lossEstimate} back to the prior`);
  for (let i = 0; i < 10; i++) {
    p.a.write(Buffer.from('k'));
    p.clock.advance(50);
  }
  p.clock.runUntil(() => echoed === 50, p.clock.nowMs + 10_000);
  const learnt = p.a.stats();
  assert.ok(learnt.srttMs < 40, `SRTT ${learnt.srttMs} is the new path's`);
  assert.equal(got, 50);
  p.a.close();
  p.b.close();
});

test('after a path change the probe resends an initial window, not the whole window in flight, and the transfer completes', () => {
  // A 2.5 MB/s bottleneck at 40 ms RTT: the rate control keeps about 1.5 BDP (150 KB) in flight.
  const p = pair({}, { delayMs: 20, rateBytesPerMs: 2500 }, { delayMs: 20, seed: 2 });
  const total = 4 * 1024 * 1024;
  let got = 0;
  p.b.onData = (c) => (got += c.length);
  p.a.write(randomBytes(total, 9));
  p.clock.advance(300);
  // The old address goes dark with most of a window in flight; the path moves.
  p.ab.down = true;
  p.ba.down = true;
  p.clock.advance(100);
  const inFlightBytes = p.a.stats().rateControl!.inFlightBytes;
  assert.ok(inFlightBytes > 8 * PROBE_WINDOW_PACKETS * MTU, `${inFlightBytes} bytes in flight`);
  p.ab.down = false;
  p.ba.down = false;
  const bytesBefore = p.ab.bytes;
  p.a.pathChanged();
  p.clock.runDeferred();
  const burst = p.ab.bytes - bytesBefore;
  assert.ok(burst <= (PROBE_WINDOW_PACKETS + 2) * MTU, `${burst} bytes at once after the path change (of ${inFlightBytes} in flight)`);
  assert.ok(burst >= PROBE_WINDOW_PACKETS * (MTU - SEGMENT_HEADER), `the probe itself went at once (${burst} bytes)`);
  assert.ok(p.clock.runUntil(() => got === total, p.clock.nowMs + 60_000), `${got} of ${total} delivered`);
  p.a.close();
  p.b.close();
});
