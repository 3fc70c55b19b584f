/**
 * Start-up to a prompt: from starting the client until the remote side's
 * first output (READY>) is on its screen; one session at a time, the tools
 * taking turns in each round.
 */
import { median } from '../stats.js';
import { closeSessions, openSession, type LabContext, type OpenSession } from './lab-context.js';
import { STARTUP_LINKS, type StartupResult } from './lab-results.js';
import { ECHO_REMOTE } from './screen-session.js';
import type { ToolId } from './tools.js';

export async function measureStartup(ctx: LabContext, tools: readonly ToolId[], rounds: number): Promise<StartupResult[]> {
  const out: StartupResult[] = [];
  for (const link of STARTUP_LINKS) {
    await ctx.lab.link.apply(link);
    const samples = new Map<ToolId, number[]>(tools.map((t) => [t, []]));
    for (let round = 0; round < rounds; round++) {
      for (const tool of tools) {
        let s: OpenSession | null = null;
        try {
          s = await openSession(ctx, tool, ECHO_REMOTE, 30_000);
          samples.get(tool)!.push(Math.round(s.startupMs));
        } catch (err) {
          ctx.log(`  ! start-up ${tool}: ${(err as Error).message}`);
        } finally {
          await closeSessions(ctx, s ? [s] : []);
        }
      }
    }
    for (const tool of tools) {
      const ms = samples.get(tool)!;
      const r: StartupResult = { link, tool, samples: ms, medianMs: ms.length > 0 ? median(ms) : NaN, date: new Date().toISOString() };
      ctx.log(`  ${link.label}: ${tool.padEnd(10)} median ${r.medianMs} ms (${ms.join(', ')})`);
      out.push(r);
    }
  }
  await ctx.lab.link.apply({ label: 'clean', rttMs: 0, lossPct: 0 });
  return out;
}
