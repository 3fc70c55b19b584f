import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { listenUnix } from '../../src/protocol/forward-listeners.js';
import { bindUnixDatagram } from '../../src/protocol/unix-datagram.js';
import { scratchDir } from './fixtures.js';

/** Calls of process.umask(mask) (switching it) while `run` runs. */
async function umaskSwitches(run: () => Promise<void>): Promise<number> {
  const original = process.umask;
  let switches = 0;
  process.umask = ((mask?: number | string) => {
    if (mask !== undefined) switches++;
    return (original as (...args: unknown[]) => number).apply(process, mask === undefined ? [] : [mask]);
  }) as typeof process.umask;
  try {
    await run();
  } finally {
    process.umask = original;
  }
  return switches;
}

test('Unix stream and datagram listeners get their mode without switching the process umask, and never replace a file', async () => {
  const scratch = scratchDir();
  try {
    const stream = join(scratch.dir, 'stream.sock');
    const dgram = join(scratch.dir, 'dgram.sock');
    let close: () => void = () => undefined;
    let closeDgram: () => void = () => undefined;
    const switches = await umaskSwitches(async () => {
      close = (await listenUnix(stream, (s) => s.destroy(), { mask: 0o077 })).close;
      closeDgram = (await bindUnixDatagram(dgram, () => undefined, { mask: 0o007 })).close;
    });
    assert.equal(switches, 0, 'process.umask was never switched');
    assert.equal(statSync(stream).mode & 0o777, 0o700);
    assert.equal(statSync(dgram).mode & 0o777, 0o770);
    // The listener answers at its path.
    await new Promise<void>((resolve, reject) => connect(stream).once('connect', resolve).once('error', reject));
    // Something already at the path: refused as bind(2) refuses, the file left alone.
    const taken = join(scratch.dir, 'taken');
    writeFileSync(taken, 'keep me');
    await assert.rejects(listenUnix(taken, () => undefined), { code: 'EADDRINUSE' });
    assert.equal(statSync(taken).size, 7);
    close();
    closeDgram();
    assert.ok(!existsSync(stream) && !existsSync(dgram), 'closing removes the socket files');
  } finally {
    scratch.cleanup();
  }
});
