/**
 * Faults with real processes: tssh killed with SIGKILL, tsshd killed with
 * SIGKILL, and tssh stopped (SIGSTOP, as a laptop sleeps) while the remote
 * side prints. tsshd gets a fixed TsshdPort so the test can find its daemon
 * by the socket bound to it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { SshdFixture, TSSH_BIN } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { alive, portOwner } from '../server/tsshd-fixture.js';
import { cleanEnv, freeUdpPort, killLeftovers, PtyTssh } from './harness.js';

let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start();
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

/**
 * How long tssh stays stopped: the minute. (It once lost the session in CI: tsshd said goodbye as soon as
 * its last bytes were acknowledged, and tssh dropped the output its stdout had not taken yet; see the test below
 * 'a reader slower than the network'.) TSSH_TEST_STOP_SECONDS changes it for a quicker local run.
 */
const STOP_SECONDS = Number(process.env.TSSH_TEST_STOP_SECONDS ?? 60);
const PROMPT = /[$#>] ?$/m;

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** An interactive tssh whose shell printed its PID and a background job's; returns them and tsshd's PID. */
async function interactive(extra: string[]): Promise<{ term: PtyTssh; tsshd: number; shell: number; job: number }> {
  const port = await freeUdpPort();
  const term = new PtyTssh([...sshd.configArgs, '--udp', '--tsshd-port', String(port), ...extra, sshd.host]);
  await term.waitForScreen('a shell prompt', PROMPT);
  term.type('sleep 1000 & echo "shell=$$ job=$!"\r');
  const m = await term.waitForScreen('the PIDs', /shell=(\d+) job=(\d+)/);
  const tsshd = await waitFor(`tsshd on udp port ${port}`, () => portOwner(port, 'udp'), 20_000);
  return { term, tsshd, shell: Number(m[1]), job: Number(m[2]) };
}

test('kill -9 of tssh: tsshd hangs up the shell and its job, and exits after UdpAliveTimeout', async (t) => {
  const { term, tsshd, shell, job } = await interactive(['-o', 'UdpAliveTimeout=6']);
  t.after(() => {
    term.close();
    for (const pid of [tsshd, shell, job]) kill(pid, 'SIGKILL');
  });
  assert.ok((await alive(shell)) && (await alive(job)));
  const killedAt = Date.now();
  term.close(); // SIGKILL to tssh, by PID
  await waitFor('tsshd to exit', async () => !(await alive(tsshd)), 60_000, 100);
  const tookMs = Date.now() - killedAt;
  assert.ok(tookMs >= 6000 - 500, `tsshd waited for UdpAliveTimeout (exited after ${tookMs} ms)`);
  // No orphans: the shell and its background job were hung up.
  await waitFor('the shell to be gone', async () => !(await alive(shell)), 10_000);
  await waitFor('the background job to be gone', async () => !(await alive(job)), 10_000);
});

test('kill -9 of tsshd: tssh shows the notice, then gives up with status 254 after UdpAliveTimeout', async (t) => {
  const { term, tsshd, shell, job } = await interactive(['-o', 'UdpReconnectTimeout=2', '-o', 'UdpAliveTimeout=8']);
  t.after(() => {
    term.close();
    for (const pid of [tsshd, shell, job]) kill(pid, 'SIGKILL');
  });
  kill(tsshd, 'SIGKILL');
  await term.waitForScreen('the outage notice', /^tssh: no reply from 127\.0\.0\.1:\d+ for \d+:\d\d; trying/m, 20_000);
  assert.equal(await term.waitForExit(60_000), 254);
  assert.match(term.text(), /tssh: no reply from 127\.0\.0\.1:\d+ for \d+:\d\d \(UdpAliveTimeout\); giving up/);
  // The shell lost its terminal when tsshd died (the kernel hangs up the pty).
  await waitFor('the shell to be gone', async () => !(await alive(shell)), 10_000);
  kill(job, 'SIGKILL');
});

test(`tssh stopped for ${STOP_SECONDS} s while the remote prints: every line arrives, in order, after SIGCONT`, async (t) => {
  const port = await freeUdpPort();
  // A slow printer (the whole stop fits in the buffers) followed by a fast one (the buffers fill and flow control holds the remote back).
  const slow = STOP_SECONDS * 20 + 200;
  const fast = 2_000_000;
  const command = `i=0; while [ $i -lt ${slow} ]; do i=$((i+1)); echo "slow $i"; sleep 0.05; done; seq 1 ${fast}`;
  const expected: string[] = [];
  for (let i = 1; i <= slow; i++) expected.push(`slow ${i}\n`);
  for (let i = 1; i <= fast; i++) expected.push(`${i}\n`);
  const want = expected.join('');

  const child = spawn(process.execPath, [TSSH_BIN, ...sshd.configArgs, '--udp', '--tsshd-port', String(port), sshd.host, command], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(),
  });
  t.after(() => kill(child.pid!, 'SIGKILL'));
  const out: Buffer[] = [];
  let outBytes = 0;
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => {
    out.push(b);
    outBytes += b.length;
  });
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

  await waitFor('the first lines', () => outBytes > 100, 30_000);
  const tsshd = await waitFor(`tsshd on udp port ${port}`, () => portOwner(port, 'udp'), 20_000);
  t.after(() => kill(tsshd, 'SIGKILL'));
  kill(child.pid!, 'SIGSTOP');
  const stoppedAt = outBytes;
  await new Promise((resolve) => setTimeout(resolve, STOP_SECONDS * 1000)); // the stop itself is what is tested
  assert.ok(await alive(tsshd), 'tsshd kept the session while tssh was stopped');
  kill(child.pid!, 'SIGCONT');
  let bound: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    exited,
    new Promise<never>((_, reject) => (bound = setTimeout(() => reject(new Error(`tssh did not finish; stderr: ${stderr}`)), 240_000))),
  ]).finally(() => clearTimeout(bound));
  assert.equal(code, 0, stderr);
  const got = Buffer.concat(out);
  assert.ok(stoppedAt < want.length / 2, 'the stop happened while the remote was printing');
  assert.equal(got.length, want.length, `bytes: got ${got.length}, want ${want.length}`);
  assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(want).digest('hex'), 'every line, in order');
});

test('a reader slower than the network: tssh reads nothing until tsshd has gone, and still delivers every byte and exit 0', async (t) => {
  const port = await freeUdpPort();
  // Less than the stream window, so tsshd can send it all, see it acknowledged, say goodbye and exit while tssh still holds it.
  const lines = 100_000;
  const want = Array.from({ length: lines }, (_, i) => `${i + 1}\n`).join('');
  const child = spawn(process.execPath, [TSSH_BIN, ...sshd.configArgs, '--udp', '--tsshd-port', String(port), sshd.host, `seq 1 ${lines}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(),
  });
  t.after(() => kill(child.pid!, 'SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  child.stdout.pause();
  const tsshd = await waitFor(`tsshd on udp port ${port}`, () => portOwner(port, 'udp'), 30_000);
  t.after(() => kill(tsshd, 'SIGKILL'));
  await waitFor('tsshd to finish the session and exit', async () => !(await alive(tsshd)), 60_000, 100);
  const out: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stdout.resume();
  assert.equal(await exited, 0, stderr);
  assert.equal(Buffer.concat(out).toString(), want, 'every line, in order');
});
