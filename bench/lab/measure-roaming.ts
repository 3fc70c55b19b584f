/**
 * Roaming: every client runs two sessions at once on the same link, one
 * echoing keys typed every 125 ms and one that only prints (a counter every
 * 100 ms, nobody typing). After a steady start the client's network changes,
 * several times, `gapMs` apart:
 *  - 'address': the client's address is deleted and a new one added;
 *  - 'nat': the emulator, a port-translating NAT at the client's end from the
 *    start, takes a new mapping (the server sees new source ports; replies to
 *    the old ones are dropped), as a home router that reboots or times out does.
 * For each change: time to the first echo of any key, and to the first new
 * output; each client's figure is the median over the changes.
 */
import { performance } from 'node:perf_hooks';
import { median } from '../stats.js';
import { closeSessions, openSessions, sleep, type LabContext, type OpenSession } from './lab-context.js';
import { ROAMING_LINK, type RoamingResult, type RoamingToolResult } from './lab-results.js';
import { ECHO_REMOTE, TICK_REMOTE } from './screen-session.js';
import type { ToolId } from './tools.js';

const BEFORE_MS = 3000;

export async function measureRoaming(ctx: LabContext, tools: readonly ToolId[], variant: 'address' | 'nat'): Promise<RoamingResult> {
  const gapMs = 8000;
  const changes = ctx.quick ? 2 : 5;
  const emu = ctx.lab.link;
  await emu.apply(ROAMING_LINK);
  if (variant === 'nat') await emu.nat(true);
  const echo = await openSessions(ctx, tools, ECHO_REMOTE);
  const ticks = await openSessions(ctx, tools, TICK_REMOTE);
  for (const s of ticks) s.session.watchTicks();
  let typing = true;
  const typer = (async (): Promise<void> => {
    let i = 0;
    const start = performance.now();
    while (typing) {
      for (const s of echo) s.session.typeKey();
      i++;
      const wait = start + i * 125 - performance.now();
      if (wait > 0) await sleep(wait);
    }
  })();
  try {
    await sleep(BEFORE_MS);
    const at: number[] = [];
    for (let k = 0; k < changes; k++) {
      if (k > 0) await sleep(gapMs - (performance.now() - at[k - 1]!));
      if (variant === 'address') at.push(await ctx.lab.moveClientAddress(() => performance.now()));
      else {
        await emu.rebind();
        at.push(performance.now());
      }
    }
    await sleep(gapMs - (performance.now() - at[changes - 1]!));
    typing = false;
    await typer;
    const t0 = at[0]!;
    const rel = (t: number): number => Math.round((t - t0) * 10) / 10;
    /** Per change, ms from it to the first event before the next change (null: none). */
    const perChange = (times: number[]): Array<number | null> =>
      at.map((tc, k) => {
        const next = k + 1 < at.length ? at[k + 1]! : tc + gapMs;
        const t = times.find((x) => x > tc && x <= next);
        return t === undefined ? null : Math.round(t - tc);
      });
    const med = (xs: Array<number | null>): number | null => {
      const ok = xs.filter((x): x is number => x !== null);
      return ok.length === xs.length ? median(ok) : null;
    };
    const find = (list: readonly OpenSession[], tool: ToolId): OpenSession | undefined => list.find((s) => s.tool === tool);
    const results: RoamingToolResult[] = tools.map((tool) => {
      const e = find(echo, tool);
      const o = find(ticks, tool);
      const echoTimes = e ? e.session.echoedAt.filter((t) => !Number.isNaN(t)) : [];
      const outTimes = o ? o.session.ticks.map((x) => x.t) : [];
      const echoPer = perChange(echoTimes);
      const outPer = perChange(outTimes);
      const r: RoamingToolResult = {
        tool,
        firstEchoMs: med(echoPer),
        firstOutputMs: med(outPer),
        echoPerChange: echoPer,
        outputPerChange: outPer,
        echoEvents: echoTimes.filter((t) => t - t0 >= -BEFORE_MS).map(rel),
        outputEvents: outTimes.filter((t) => t - t0 >= -BEFORE_MS).map(rel),
      };
      if (!e || !o) r.note = 'session did not start';
      else if (e.session.exited || o.session.exited) r.note = 'session ended';
      else if (echoPer.some((x) => x === null) || outPer.some((x) => x === null)) r.note = 'did not recover from every change';
      ctx.log(`  ${tool.padEnd(10)} first echo ${echoPer.map((x) => x ?? '—').join('/')} ms, first output ${outPer.map((x) => x ?? '—').join('/')} ms${r.note ? ` (${r.note})` : ''}`);
      return r;
    });
    return { variant, link: ROAMING_LINK, gapMs, changesAtMs: at.map(rel), tools: results, date: new Date().toISOString() };
  } finally {
    typing = false;
    await typer;
    await closeSessions(ctx, [...echo, ...ticks]);
    if (variant === 'nat') await emu.nat(false);
  }
}
