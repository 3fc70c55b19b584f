import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ImpairmentProxy } from './impairment-proxy.js';
import { waitFor } from './wait.js';

/**
 * Rebind the proxy's address towards the server `count` times while data
 * flows: each time another `every` datagrams reached the client. Stops early
 * once `finished()` says the transfer is over.
 */
export async function rebindWhileFlowing(proxy: ImpairmentProxy, finished: () => boolean, count = 10, every = 300, timeoutMs = 60_000): Promise<void> {
  for (let i = 0; i < count; i++) {
    const mark = proxy.stats.toClient + every;
    await waitFor(`datagram ${mark} to the client`, () => proxy.stats.toClient >= mark || finished(), timeoutMs, 5);
    if (finished()) return;
    await proxy.rebind();
  }
}

/** A bulk run through the lossy, rebinding proxy ended well: status 0, all rebinds made, loss seen both ways, output intact. */
export function assertIntactThroughRebinds(r: { status: number | null; stderr: string; stdout: Buffer }, proxy: ImpairmentProxy, expected: string, rebinds = 10): void {
  const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(proxy.stats.rebinds, rebinds, 'all rebinds happened while the output was flowing');
  assert.ok(proxy.stats.c2s.lost > 0 && proxy.stats.s2c.lost > 0, 'the link did lose packets');
  assert.equal(r.stdout.length, expected.length);
  assert.equal(sha256(r.stdout), sha256(expected));
}
