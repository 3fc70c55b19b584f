import type { EventEmitter } from 'node:events';

/**
 * Wait for a condition with a bound: the only way tests synchronise. Polls
 * `check` (which may be async) every `intervalMs` until it returns a truthy
 * value, which is returned; throws with `what` once `timeoutMs` has passed.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolve when `emitter` emits `event`, or reject after `timeoutMs`. */
export function waitForEvent<T = unknown>(
  emitter: EventEmitter,
  event: string,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`)), timeoutMs);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}
