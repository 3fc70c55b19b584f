/**
 * Keystroke echo latency per link: all clients type at once on the same
 * emulated link (echo traffic is tiny and the link has no rate cap here, so
 * they do not disturb each other). Sessions start on the link without loss;
 * the loss is switched on 2 s before typing starts.
 */
import { performance } from 'node:perf_hooks';
import { summarize } from '../stats.js';
import { closeSessions, openSessions, sleep, typeOpenLoop, type LabContext } from './lab-context.js';
import type { LinkSetting } from './link-emulator.js';
import { ECHO_REMOTE } from './screen-session.js';
import type { ToolId } from './tools.js';

export interface EchoResult {
  link: LinkSetting;
  tool: ToolId;
  typed: number;
  /** Echo latency per echoed key, ms, in typing order (missing keys left out). */
  latencies: number[];
  summary: ReturnType<typeof summarize>;
  date: string;
}

/** Wait after the last key for outstanding echoes. */
const DRAIN_MS = 10_000;

export async function measureEcho(ctx: LabContext, link: LinkSetting, tools: readonly ToolId[], keys: number): Promise<EchoResult[]> {
  await ctx.lab.link.apply({ label: `${link.label} (start)`, rttMs: link.rttMs, lossPct: 0 });
  const sessions = await openSessions(ctx, tools, ECHO_REMOTE);
  try {
    await ctx.lab.link.apply(link);
    await sleep(2000);
    await typeOpenLoop(sessions, keys);
    const deadline = performance.now() + DRAIN_MS;
    while (performance.now() < deadline && sessions.some((s) => s.session.echoedCount < keys)) await sleep(50);
    return sessions.map((s) => {
      const latencies = s.session.latencies().filter((x) => !Number.isNaN(x)).map((x) => Math.round(x * 10) / 10);
      return { link, tool: s.tool, typed: keys, latencies, summary: summarize(latencies), date: new Date().toISOString() };
    });
  } finally {
    await ctx.lab.link.apply({ label: 'clean', rttMs: 0, lossPct: 0 });
    await closeSessions(ctx, sessions);
  }
}
