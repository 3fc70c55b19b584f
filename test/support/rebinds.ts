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
