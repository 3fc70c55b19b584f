import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdir, readFile } from 'node:fs/promises';
import { VERSION } from '../../src/version.js';
import { waitFor } from '../support/wait.js';
import { QUIC_PACKAGE_TEST_ENV } from '../../src/transport/quic/engine.js';
import { runTsshd, startTsshd, testDirs } from './tsshd-fixture.js';

/** One line, naming tsshd, and nothing on stdout. */
function assertOneLineError(result: { code: number | null; stdout: string; stderr: string }, pattern: RegExp, what: string): void {
  assert.notEqual(result.code, 0, `${what}: exit status`);
  assert.equal(result.stdout, '', `${what}: stdout`);
  assert.match(result.stderr, /^tsshd: [^\n]+\n$/, `${what}: one line on stderr`);
  assert.match(result.stderr, pattern, what);
}

test('-v and --version print the version and exit 0', async (t) => {
  const { env } = testDirs(t);
  for (const flag of ['-v', '--version']) {
    const result = await runTsshd([flag], env);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `tsshd ${VERSION}\n`);
    assert.equal(result.stderr, '');
  }
});

test('--help prints the usage and exits 0', async (t) => {
  const { env } = testDirs(t);
  const result = await runTsshd(['--help'], env);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^usage: tsshd/);
  assert.match(result.stdout, /--connect-timeout/);
});

test('bad flags and values give one clear line and exit status 2', async (t) => {
  const { env } = testDirs(t);
  const cases: [string[], RegExp][] = [
    [['--bogus'], /unknown flag "?--bogus"?/],
    [['--mtu', '5'], /--mtu must be an integer from 576 to 9000/],
    [['--port'], /--port needs a value/],
    [['--port', '70000'], /--port: .*70000 is outside 1\.\.65535/],
    [['--port', '9-3'], /--port: .*reversed/],
    [['--connect-timeout', '0'], /--connect-timeout must be a positive number/],
    [['--kcp', '--quic'], /cannot be used together/],
    [['extra'], /unexpected argument/],
  ];
  for (const [args, pattern] of cases) {
    const result = await runTsshd(args, env);
    assertOneLineError(result, pattern, args.join(' '));
    assert.equal(result.code, 2, `${args.join(' ')}: exit status`);
  }
});

test('--quic prints a bootstrap line with mode quic and the certificate fingerprint, and no conv', async (t) => {
  const { env } = testDirs(t);
  const { info, pid, result } = await startTsshd(t, ['--quic', '--connect-timeout', '60'], env);
  assert.equal(result.code, 0);
  assert.equal(result.stderr, '');
  assert.equal(info.mode, 'quic');
  assert.equal(info.conv, undefined);
  assert.equal(info.quic?.certFingerprints.length, 1);
  assert.match(info.quic!.certFingerprints[0]!, /^[0-9a-f]{64}$/);
  // The private key is made in the daemon and stays in its memory.
  for (const file of ['cmdline', 'environ']) {
    const bytes = await readFile(`/proc/${pid}/${file}`, 'latin1');
    assert.ok(!bytes.includes('PRIVATE KEY'), `/proc/${pid}/${file} holds a key`);
  }
  // A second run gets a new certificate: the identity is per session.
  const second = await startTsshd(t, ['--quic', '--connect-timeout', '60'], env);
  assert.notEqual(second.info.quic?.certFingerprints[0], info.quic!.certFingerprints[0]);
});

test('--quic without a QUIC engine gives one clear line and exit status 1, and no daemon stays behind', async (t) => {
  const { env } = testDirs(t, '', { [QUIC_PACKAGE_TEST_ENV]: '@matrixai/quic-missing-for-test' });
  const result = await runTsshd(['--quic', '--port', '61001-61999', '--connect-timeout', '31'], env);
  assertOneLineError(result, /^tsshd: QUIC engine unavailable: @matrixai\/quic-missing-for-test is not installed; use --kcp\n$/, '--quic');
  assert.equal(result.code, 1);
  await waitFor('no tsshd daemon with --connect-timeout 31', async () => {
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes('tsshd') && cmdline.includes('--quic\0--port\x0061001-61999\0--connect-timeout\x0031')) return false;
    }
    return true;
  });
});

test('a port range whose ports are all busy gives one clear line, and no daemon stays behind', async (t) => {
  const { env } = testDirs(t);
  const sockets: dgram.Socket[] = [];
  t.after(() => {
    for (const s of sockets) s.close();
  });
  for (let i = 0; i < 3; i++) {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    sockets.push(socket);
  }
  const spec = sockets.map((s) => s.address().port).join(',');
  const result = await runTsshd(['--port', spec, '--connect-timeout', '30'], env);
  assertOneLineError(result, /^tsshd: no free port in .*; widen TsshdPort or free a port in it \(tried 3 of its 3 ports\)\n$/, 'busy ports');
  assert.equal(result.code, 1);
  // The daemon half reported the failure and must be gone: no process runs with this command line.
  await waitFor('no tsshd daemon with the busy port spec', async () => {
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes('tsshd') && cmdline.includes(spec)) return false;
    }
    return true;
  });
});
