import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';

/** A stream whose reader is waited for: its Readable buffer, plus what the transport still holds for it. */
export type DrainableStream = Readable & { readonly receiveQueued?: number };

/**
 * Shared by both transports (KCP's multiplexer and QUIC): one rule for how
 * long a reader is waited for once the peer has closed cleanly.
 *
 * After the connection ended under them: wait until every stream in
 * `streams` has emitted 'end' (its reader took every byte) or closed, then
 * destroy them and call `done` once (at once if the returned function is called). A reader that takes nothing for
 * `stallMs` is given up on (its streams are destroyed with what they hold);
 * a slow one that keeps taking bytes is waited for. A check that runs more
 * than `stallMs` late finds a process that was stopped or asleep, which says
 * nothing about its reader: it waits another `stallMs`.
 */
export function drainThenDestroy(streams: readonly DrainableStream[], stallMs: number, done: () => void): () => void {
  let left = streams.length;
  let finished = false;
  let timer: NodeJS.Timeout | null = null;
  const queued = (): number => streams.reduce((sum, s) => sum + (s.destroyed ? 0 : s.readableLength + (s.receiveQueued ?? 0)), 0);
  let lastQueued = queued();
  let dueAt = 0;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    if (timer !== null) clearTimeout(timer);
    for (const s of streams) s.destroy();
    done();
  };
  const arm = (): void => {
    dueAt = performance.now() + stallMs;
    timer = setTimeout(check, stallMs);
  };
  const check = (): void => {
    const late = performance.now() - dueAt > stallMs;
    const now = queued();
    if (!late && now >= lastQueued) return finish();
    lastQueued = now;
    arm();
  };
  for (const s of streams) {
    const one = (): void => {
      s.off('end', one);
      s.off('close', one);
      // After the 'end' listeners of the stream's reader have run.
      if (--left === 0) setImmediate(finish);
    };
    s.once('end', one);
    s.once('close', one);
  }
  if (left > 0) arm();
  return finish;
}
