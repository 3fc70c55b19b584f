/**
 * The lab's link emulator (bench/lab/linkemu.c) between two real network
 * namespaces: it must apply the delay, loss and rate cap it is told to, and
 * its NAT must give the server new source ports on rebind while traffic goes
 * on. Needs root, `ip`, `cc` and /dev/net/tun; skipped otherwise. Addresses
 * only from 198.18.0.0/15, in namespaces this test creates and removes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HelperProcess, NETCAT } from '../../bench/lab/helper-process.js';
import { NetLab, SERVER_ADDR } from '../../bench/lab/netlab.js';
import { compileEmulator } from '../../bench/lab/setup-check.js';

function skipReason(): string | false {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux (network namespaces, TUN)';
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  for (const cmd of ['ip', 'cc']) if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) return `needs ${cmd}`;
  return false;
}
const skip = skipReason();

interface Probe {
  sent: number;
  rtts: Array<number | null>;
  seenFrom: string[];
  localPort: number;
}

let lab: NetLab;
let dir: string;
let echo: HelperProcess;

async function probe(count: number, gapMs: number): Promise<Probe> {
  const p = new HelperProcess(lab.clientNs, [process.execPath, NETCAT, 'udp-probe', SERVER_ADDR, '7100', String(count), String(gapMs)]);
  try {
    assert.ok(await p.waitLines(1, count * gapMs + 15_000), `udp-probe printed nothing: ${p.stderr}`);
    return JSON.parse(p.lines[0]!) as Probe;
  } finally {
    p.kill();
  }
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'tsshd-labtest-'));
  lab = new NetLab(`t${process.pid}`);
  await lab.create(compileEmulator(dir));
  echo = new HelperProcess(lab.serverNs, [process.execPath, NETCAT, 'udp-echo', SERVER_ADDR, '7100']);
  assert.ok(await echo.waitLines(1, 10_000), `udp-echo did not start: ${echo.stderr}`);
});

after(async () => {
  if (skip) return;
  echo?.kill();
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.ok(!left.includes(lab.clientNs) && !left.includes(lab.serverNs), `the namespaces are gone: ${left}`);
});

test('link emulator: round trips take the set RTT', { skip }, async () => {
  await lab.link.apply({ label: 'RTT 60', rttMs: 60, lossPct: 0 });
  const r = await probe(40, 20);
  const rtts = r.rtts.filter((x): x is number => x !== null).sort((a, b) => a - b);
  assert.equal(rtts.length, 40, 'no loss was set, so every probe comes back');
  assert.ok(rtts[0]! >= 59, `no round trip is shorter than the RTT (shortest ${rtts[0]} ms)`);
  assert.ok(rtts[20]! < 60 + 40, `the median round trip is near the RTT (${rtts[20]} ms; the bound is generous for a loaded machine)`);
});

test('link emulator: jitter spreads the round trips around the RTT', { skip }, async () => {
  await lab.link.apply({ label: 'RTT 40 ± 15', rttMs: 40, lossPct: 0, jitterMs: 15 });
  const r = await probe(60, 10);
  const rtts = r.rtts.filter((x): x is number => x !== null).sort((a, b) => a - b);
  assert.equal(rtts.length, 60);
  assert.ok(rtts[0]! >= 9, `no round trip is shorter than RTT - 2 x jitter (shortest ${rtts[0]} ms)`);
  assert.ok(rtts[rtts.length - 1]! - rtts[0]! > 15, `round trips spread out (${rtts[0]} .. ${rtts[rtts.length - 1]} ms)`);
});

test('link emulator: Gilbert-Elliott loss comes in bursts', { skip }, async () => {
  await lab.link.apply({ label: 'bursty', rttMs: 0, lossPct: 0, burst: { enterPct: 2, exitPct: 25 } });
  const r = await probe(400, 3);
  const runs: number[] = [];
  let run = 0;
  for (const x of [...r.rtts, 0]) {
    if (x === null) run++;
    else if (run > 0) {
      runs.push(run);
      run = 0;
    }
  }
  const lost = runs.reduce((a, b) => a + b, 0);
  assert.ok(lost > 5, `some probes were lost (${lost})`);
  const meanRun = lost / runs.length;
  // Independent loss at this rate would give runs of about 1.2; bursts average 4 packets each way.
  assert.ok(meanRun > 1.8, `lost probes come in runs (mean run ${meanRun.toFixed(2)})`);
});

test('link emulator: random loss each way drops about the set share', { skip }, async () => {
  await lab.link.apply({ label: '20 % loss', rttMs: 0, lossPct: 20 });
  const r = await probe(300, 3);
  const back = r.rtts.filter((x) => x !== null).length / r.sent;
  // 20 % each way: 0.8 * 0.8 = 64 % come back.
  assert.ok(back > 0.5 && back < 0.78, `${Math.round(back * 100)} % came back; expected about 64 %`);
  const stats = await lab.link.stats();
  assert.ok(stats.c2s.lost > 0 && stats.s2c.lost > 0, 'both directions lose packets');
});

test('link emulator: the rate cap holds a TCP stream to the set rate', { skip }, async () => {
  await lab.link.apply({ label: '8 Mbit/s', rttMs: 10, lossPct: 0, rateMbit: 8 });
  const sink = new HelperProcess(lab.serverNs, [process.execPath, NETCAT, 'sink', SERVER_ADDR, '7101']);
  try {
    assert.ok(await sink.waitLines(1, 10_000));
    const source = new HelperProcess(lab.clientNs, [process.execPath, NETCAT, 'source', SERVER_ADDR, '7101', '3']);
    assert.ok(await source.waitExit(20_000), 'the source finished');
    assert.ok(await sink.waitLines(2, 10_000), 'the sink reported');
    const { bytes, ms } = JSON.parse(sink.lines[1]!) as { bytes: number; ms: number };
    const mbps = (bytes * 8) / 1000 / ms;
    assert.ok(mbps > 4 && mbps < 8.8, `${mbps.toFixed(2)} Mbit/s through an 8 Mbit/s cap`);
  } finally {
    sink.kill();
  }
});

test('link emulator: the NAT gives the server a new source port on rebind, and traffic goes on', { skip }, async () => {
  await lab.link.apply({ label: 'clean', rttMs: 0, lossPct: 0 });
  await lab.link.nat(true);
  try {
    const first = await probe(5, 10);
    assert.equal(first.rtts.filter((x) => x !== null).length, 5);
    assert.equal(first.seenFrom.length, 1);
    assert.notEqual(first.seenFrom[0], `${lab.clientAddr}:${first.localPort}`, 'the server sees a translated port');
    // One probe process per mapping would hide the rebind: keep one socket across it.
    const p = new HelperProcess(lab.clientNs, [process.execPath, NETCAT, 'udp-probe', SERVER_ADDR, '7100', '60', '25']);
    await new Promise((r) => setTimeout(r, 600));
    await lab.link.rebind();
    assert.ok(await p.waitLines(1, 20_000), `udp-probe printed nothing: ${p.stderr}`);
    const r = JSON.parse(p.lines[0]!) as Probe;
    assert.equal(r.seenFrom.length, 2, `the server saw the old and the new mapping: ${r.seenFrom.join(' ')}`);
    assert.ok(r.rtts.slice(-10).every((x) => x !== null), 'probes after the rebind come back');
  } finally {
    await lab.link.nat(false);
  }
});

test('lab network: the client can move to a new address and reach the server from it', { skip }, async () => {
  await lab.link.apply({ label: 'clean', rttMs: 0, lossPct: 0 });
  const old = lab.clientAddr;
  await lab.moveClientAddress(() => 0);
  assert.notEqual(lab.clientAddr, old);
  const r = await probe(5, 10);
  assert.equal(r.rtts.filter((x) => x !== null).length, 5);
  assert.ok(r.seenFrom.every((a) => a.startsWith(`${lab.clientAddr}:`)), `the server saw ${r.seenFrom.join(' ')}`);
});
