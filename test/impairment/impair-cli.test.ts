import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { parseImpairCliArgs, UsageError } from '../support/impair-cli.js';
import { waitFor } from '../support/wait.js';

const CLI = fileURLToPath(new URL('../support/impair-cli.js', import.meta.url));

test('impair-cli parses flags into impairment options', () => {
  const args = parseImpairCliArgs([
    '--listen', '127.0.0.1:0', '--target', '127.0.0.1:6000', '--loss', '5', '--delay', '50', '--jitter', '10',
    '--reorder', '1', '--dup', '1', '--rate', '1000000', '--burst', '1,25', '--seed', '9', '--rebind-every', '3',
  ]);
  assert.equal(args.listenPort, 0);
  assert.equal(args.targetPort, 6000);
  assert.equal(args.seed, 9);
  assert.equal(args.rebindEverySec, 3);
  assert.deepEqual(args.impairment, {
    lossPct: 5,
    delayMs: 50,
    jitterMs: 10,
    reorderPct: 1,
    duplicatePct: 1,
    rateBytesPerSec: 1_000_000,
    burstLoss: { enterPct: 1, exitPct: 25 },
  });
});

test('impair-cli rejects bad flags with one-line messages', () => {
  const base = ['--listen', '127.0.0.1:0', '--target', '127.0.0.1:6000'];
  const cases: [string[], RegExp][] = [
    [[...base, '--loss', 'lots'], /--loss expects a number between 0 and 100, got "lots"/],
    [[...base, '--loss', '150'], /--loss expects a number between 0 and 100/],
    [[...base, '--delay', '-5'], /--delay expects a number >= 0/],
    [[...base, '--burst', '1'], /--burst expects ENTER,EXIT/],
    [[...base, '--frobnicate', '1'], /unknown flag --frobnicate/],
    [[...base, '--seed', '1.5'], /--seed expects an integer/],
    [[...base, '--delay'], /--delay needs a value/],
    [['--target', '127.0.0.1:6000'], /--listen HOST:PORT is required/],
    [['--listen', 'localhost:1', '--target', '127.0.0.1:6000'], /--listen expects IP:PORT/],
    [['--listen', '127.0.0.1:0', '--target', '127.0.0.1:0'], /--target expects IP:PORT/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseImpairCliArgs(argv), (err: Error) => err instanceof UsageError && message.test(err.message) && !err.message.includes('\n'));
  }
});

test('impair-cli exits 2 with a one-line error for a bad flag', async () => {
  const child = spawn(process.execPath, [CLI, '--listen', '127.0.0.1:0', '--target', '127.0.0.1:6000', '--jitter', 'x'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 2);
  assert.match(stderr, /^impair-cli: --jitter expects a number >= 0, got "x"\n$/);
});

test('impair-cli relays datagrams and stops cleanly on SIGTERM', async () => {
  const server = dgram.createSocket('udp4');
  server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  const client = dgram.createSocket('udp4');
  const replies: string[] = [];
  client.on('message', (msg) => replies.push(msg.toString()));
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  const child = spawn(process.execPath, [CLI, '--listen', '127.0.0.1:0', '--target', `127.0.0.1:${server.address().port}`, '--delay', '5', '--stats-every', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  let exitCode: number | null | undefined;
  child.on('exit', (code) => (exitCode = code));
  try {
    const m = await waitFor('the listening line', () => /listening on 127\.0\.0\.1:(\d+)/.exec(stdout), 20_000);
    const port = Number(m[1]);
    client.send('through the cli', port, '127.0.0.1');
    await waitFor('the echo through the cli', () => replies.length === 1);
    assert.equal(replies[0], 'through the cli');
    child.kill('SIGTERM');
    await waitFor('the cli to exit', () => exitCode !== undefined, 20_000);
    assert.equal(exitCode, 0);
    assert.match(stdout, /c2s in=1 out=1/);
  } finally {
    if (exitCode === undefined) child.kill('SIGKILL');
    client.close();
    server.close();
  }
});
