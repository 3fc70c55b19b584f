/** What every measurement gets: the network, the sshd, port plan, and session helpers. */
import { performance } from 'node:perf_hooks';
import type { LabSshd } from './lab-sshd.js';
import type { NetLab } from './netlab.js';
import { READY_MARK, ScreenSession } from './screen-session.js';
import { clientEnv, interactiveArgv, type PortPlan, type ToolId } from './tools.js';

export interface LabContext {
  lab: NetLab;
  sshd: LabSshd;
  ports: PortPlan;
  quick: boolean;
  log(line: string): void;
}

export interface OpenSession {
  tool: ToolId;
  port: number;
  session: ScreenSession;
  /** ms from spawn to READY> on screen. */
  startupMs: number;
}

/** Start one interactive session and wait (bounded) until it shows READY>. */
export async function openSession(ctx: LabContext, tool: ToolId, remote: string, timeoutMs = 60_000): Promise<OpenSession> {
  const port = ctx.ports.take(tool);
  const [file, args] = interactiveArgv(tool, ctx.sshd, ctx.lab.clientNs, remote, port);
  const session = new ScreenSession(file, args, clientEnv());
  try {
    const shownAt = await session.waitForText(READY_MARK, timeoutMs);
    return { tool, port, session, startupMs: shownAt - session.startedAt };
  } catch (err) {
    session.kill();
    throw new Error(`${tool}: ${(err as Error).message}`);
  }
}

/** Open one session per tool at once; a tool that fails is reported and left out. */
export async function openSessions(ctx: LabContext, tools: readonly ToolId[], remote: string): Promise<OpenSession[]> {
  const settled = await Promise.allSettled(tools.map((t) => openSession(ctx, t, remote)));
  const open: OpenSession[] = [];
  for (const s of settled) {
    if (s.status === 'fulfilled') open.push(s.value);
    else ctx.log(`  ! ${(s.reason as Error).message}`);
  }
  return open;
}

/** Close sessions and end whatever they left in the namespaces (sshd stays). */
export async function closeSessions(ctx: LabContext, sessions: readonly OpenSession[]): Promise<void> {
  await Promise.all(sessions.map((s) => s.session.close(3000)));
  await ctx.lab.endProcesses([ctx.sshd.pid]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Open-loop typing at human speed: each session types `keys` keys, 125 ms
 * apart on average (85-165 ms, a fixed pseudo-random sequence), session j
 * offset by 25·j ms so the clients do not all wake at once. Keys are typed
 * whether or not earlier ones were echoed. Resolves after the last key.
 */
export async function typeOpenLoop(sessions: readonly OpenSession[], keys: number): Promise<void> {
  const start = performance.now() + 50;
  await Promise.all(
    sessions.map(async (s, j) => {
      let seed = 12345 + j;
      let due = start + 25 * j;
      for (let i = 0; i < keys; i++) {
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        s.session.typeKey();
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        due += 85 + (seed % 81);
      }
    }),
  );
}
