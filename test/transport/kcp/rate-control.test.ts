import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateControl, FLOOR_SEGMENTS } from '../../../src/transport/kcp/rate-control.js';
import { SEGMENT_HEADER } from '../../../src/transport/kcp/segment.js';
import { pair, type LinkOptions, type Pair } from './sim.js';

const MTU = 1369;
const MSS = MTU - SEGMENT_HEADER;

/** A bottleneck link: rate in bytes/ms, one-way delay, tail-drop queue, random loss. */
function link(rate: number, rttMs: number, loss: number, queueBytes: number, seed: number): LinkOptions {
  return { rateBytesPerMs: rate, delayMs: rttMs / 2, loss, queueBytes, overheadBytes: 59, seed };
}

interface Run {
  p: Pair;
  got: () => number;
  /** Run until `ms` more have passed (the sender never runs dry). */
  runFor: (ms: number) => void;
}

/** a sends bulk to b for as long as the run lasts. */
function bulk(ab: LinkOptions, ba: LinkOptions): Run {
  const p = pair({ mtu: MTU }, ab, ba);
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let got = 0;
  p.b.onData = (c) => {
    got += c.length;
  };
  p.a.drainThreshold = 256 * 1024;
  const more = (): void => {
    while (p.a.queuedBytes <= p.a.drainThreshold) p.a.write(chunk);
  };
  p.a.onDrain = more;
  more();
  return {
    p,
    got: () => got,
    runFor: (ms) => void p.clock.runUntil(() => false, p.clock.nowMs + ms),
  };
}

function model(p: Pair) {
  const rc = p.a.stats().rateControl;
  assert.ok(rc, 'rate control is on by default');
  return rc;
}

test('the bandwidth estimate follows the bottleneck when its rate changes', () => {
  const r = bulk(link(2500, 40, 0, 64 * 1024, 1), link(0, 40, 0, 64 * 1024, 2));
  r.runFor(3000);
  const before = model(r.p);
  // Bandwidth is in KCP bytes per second; the link also carries 59 bytes of overhead per datagram.
  const wire = (b: number) => (b * (MTU + 59)) / MTU;
  assert.ok(Math.abs(wire(before.bandwidth) - 2_500_000) < 0.1 * 2_500_000, `estimate ${before.bandwidth} near 2.5 MB/s`);
  assert.equal(before.state, 'probe-bw', 'startup ended');
  r.p.ab.options.rateBytesPerMs = 1000;
  r.runFor(3000);
  const down = model(r.p);
  assert.ok(Math.abs(wire(down.bandwidth) - 1_000_000) < 0.1 * 1_000_000, `estimate ${down.bandwidth} follows the drop to 1 MB/s`);
  r.p.ab.options.rateBytesPerMs = 4000;
  r.runFor(4000);
  const up = model(r.p);
  assert.ok(Math.abs(wire(up.bandwidth) - 4_000_000) < 0.1 * 4_000_000, `estimate ${up.bandwidth} follows the rise to 4 MB/s`);
  r.p.a.close();
  r.p.b.close();
});

test('random loss does not cut the rate', () => {
  const rates: number[] = [];
  for (const loss of [0, 0.02, 0.1]) {
    const r = bulk(link(2500, 40, loss, 64 * 1024, 3), link(0, 40, loss, 64 * 1024, 4));
    r.runFor(2000);
    const start = r.got();
    r.runFor(4000);
    const rate = (r.got() - start) / 4000;
    rates.push(rate);
    const m = model(r.p);
    // Goodput can be at most (1 - loss) of the link, less headers.
    const ceiling = (2500 * MSS) / (MTU + 59);
    assert.ok(rate > 0.85 * (1 - loss) * ceiling, `${loss * 100} % loss: goodput ${rate.toFixed(0)} B/ms of a ${ceiling.toFixed(0)} B/ms ceiling`);
    assert.ok(m.bandwidth * (MTU + 59) > 0.85 * (1 - loss) * 2_500_000 * MTU, `${loss * 100} % loss: estimate ${m.bandwidth} stays near the link rate`);
    r.p.a.close();
    r.p.b.close();
  }
});

test('the in-flight cap follows the BDP and keeps a shallow queue from overflowing', () => {
  for (const rtt of [20, 80, 200]) {
    // A queue of a quarter of the BDP (at least 48 KiB): what the 1.25 x probe phase needs.
    const queue = Math.max(48 * 1024, (2500 * rtt) / 4);
    const r = bulk(link(2500, rtt, 0, queue, 5), link(0, rtt, 0, queue, 6));
    r.runFor(3000 + 20 * rtt);
    const dropsAfterStartup = r.p.ab.queueDropped;
    const m = model(r.p);
    const bdp = (2500 * MTU * rtt) / (MTU + 59);
    // 1.5 x BDP, plus an allowance for acks that arrive in bursts; after a probe overflowed the queue, the loss bound
    // may trim it, but never below the BDP.
    assert.ok(m.capBytes >= bdp && m.capBytes <= 2 * bdp, `RTT ${rtt}: cap ${m.capBytes.toFixed(0)} between the BDP ${bdp.toFixed(0)} and 2 x`);
    assert.ok(Math.abs(m.minRttMs - rtt) < 3, `RTT ${rtt}: min RTT ${m.minRttMs}`);
    const sentBefore = r.p.a.stats().segmentsSent;
    let maxInFlight = 0;
    for (let i = 0; i < 100; i++) {
      r.runFor(rtt / 2);
      const s = model(r.p);
      if (s.inFlightBytes > maxInFlight) maxInFlight = s.inFlightBytes;
    }
    assert.ok(maxInFlight <= 2 * bdp + FLOOR_SEGMENTS * MTU, `RTT ${rtt}: in flight ${maxInFlight} stays near the cap`);
    // Steady state: the queue barely overflows, if at all, when probing for more.
    const sent = r.p.a.stats().segmentsSent - sentBefore;
    const drops = r.p.ab.queueDropped - dropsAfterStartup;
    assert.ok(drops <= 0.01 * sent, `RTT ${rtt}: ${drops} queue drops of ${sent} segments after startup`);
    r.p.a.close();
    r.p.b.close();
  }
});

test('a few bytes are never held back by the rate control', () => {
  // A controller that believes in a tiny bandwidth, with its pacing tokens spent.
  const rc = new RateControl(MSS, 1024, SEGMENT_HEADER);
  let now = 1000;
  for (let i = 0; i < 4; i++) rc.onSend(i, MSS, now);
  now += 1000;
  for (let i = 0; i < 4; i++) rc.onAck(i, now, true);
  rc.onAckEnd(now);
  assert.ok(rc.pacingRate < 20, `the model thinks the path is slow (${rc.pacingRate} B/ms)`);
  for (let i = 4; i < 8; i++) rc.onSend(i, MSS, now);
  assert.ok(rc.inFlightBytes < FLOOR_SEGMENTS * MTU);
  assert.equal(rc.canSend(now), true, 'under the floor a new segment may always go');
  assert.equal(rc.mayResend(now), true, 'under the floor a resend may always go');
  // Above the floor, the same controller holds data back and says when pacing lets it go.
  for (let i = 8; i < 8 + FLOOR_SEGMENTS; i++) rc.onSend(i, MSS, now);
  assert.equal(rc.canSend(now), false, 'above the floor and the cap, new data waits');
});

test('echo through a Kcp pair while the other direction is bulk: a keystroke is not delayed by pacing', () => {
  // b -> a carries bulk; a's keystrokes travel a -> b (its own send side is idle).
  const ab = link(2500, 40, 0, 64 * 1024, 7);
  const ba = link(2500, 40, 0, 64 * 1024, 8);
  const p = pair({ mtu: MTU }, ab, ba);
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  p.b.drainThreshold = 256 * 1024;
  const more = (): void => {
    while (p.b.queuedBytes <= p.b.drainThreshold) p.b.write(chunk);
  };
  p.b.onDrain = more;
  more();
  let keys = 0;
  let sentAt = 0;
  let worst = 0;
  p.b.onData = (c) => {
    keys += c.length;
    worst = Math.max(worst, p.clock.nowMs - sentAt);
  };
  p.a.onData = () => undefined;
  p.clock.runUntil(() => false, p.clock.nowMs + 2000);
  for (let i = 0; i < 50; i++) {
    sentAt = p.clock.nowMs;
    p.a.write(Buffer.from('x'));
    const want = i + 1;
    assert.ok(
      p.clock.runUntil(() => keys === want, p.clock.nowMs + 1000),
      `keystroke ${i} arrived`,
    );
    p.clock.runUntil(() => false, p.clock.nowMs + 37);
  }
  assert.ok(worst <= 21, `worst one-way keystroke delay ${worst} ms on a 20 ms path`);
  p.a.close();
  p.b.close();
});

test('a path change forgets the old model: the rate control starts up again and learns the new path', () => {
  const r = bulk(link(4000, 20, 0, 64 * 1024, 11), link(0, 20, 0, 64 * 1024, 12));
  r.runFor(3000);
  const before = model(r.p);
  assert.equal(before.state, 'probe-bw', 'startup ended on the first path');
  // Roaming to a slower path with a longer RTT (Wi-Fi to cellular).
  r.p.ab.options.rateBytesPerMs = 1000;
  r.p.ab.options.delayMs = 50;
  r.p.ba.options.delayMs = 50;
  r.p.a.pathChanged();
  const after = model(r.p);
  assert.equal(after.state, 'startup');
  assert.equal(after.bandwidth, 0, 'the old bandwidth is forgotten');
  r.runFor(4000);
  const learnt = model(r.p);
  const wire = (b: number) => (b * (MTU + 59)) / MTU;
  assert.ok(Math.abs(wire(learnt.bandwidth) - 1_000_000) < 0.1 * 1_000_000, `estimate ${learnt.bandwidth} near the new 1 MB/s`);
  assert.ok(learnt.minRttMs >= 100, `min RTT ${learnt.minRttMs} ms is the new path's`);
  r.p.a.close();
  r.p.b.close();
});

test('a shallow buffer: after startup the loss-driven in-flight bound keeps queue drops (and so resends) rare, at full rate', () => {
  // 2.5 MB/s at 80 ms RTT (BDP 200 KB) into a 16 KiB queue: the 1.25 probe phase overflowed it every cycle.
  const r = bulk(link(2500, 80, 0, 16 * 1024, 21), link(0, 80, 0, 16 * 1024, 22));
  r.runFor(3000);
  const start = r.got();
  const before = r.p.a.stats();
  const dropsBefore = r.p.ab.queueDropped;
  r.runFor(6000);
  const after = r.p.a.stats();
  const sent = after.segmentsSent - before.segmentsSent;
  const drops = r.p.ab.queueDropped - dropsBefore;
  const resent = after.retransmissions - before.retransmissions;
  assert.ok(drops <= 0.01 * sent, `${drops} queue drops of ${sent} segments`);
  assert.ok(resent <= 0.01 * sent, `${resent} resends of ${sent} segments`);
  const ceiling = (2500 * MSS) / (MTU + 59);
  const rate = (r.got() - start) / 6000;
  assert.ok(rate > 0.95 * ceiling, `goodput ${rate.toFixed(0)} B/ms of a ${ceiling.toFixed(0)} B/ms ceiling`);
  assert.ok(model(r.p).inflightHi < Infinity, 'the bound is set');
  r.p.a.close();
  r.p.b.close();
});
