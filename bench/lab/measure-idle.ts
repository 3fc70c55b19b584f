/**
 * Idle cost: one interactive session per client, all at once, sitting idle
 * (remote `cat` waiting for input). Over the window: packets through the
 * emulator per session (by the session's server port) and CPU time of the
 * client process tree and of the server-side process that holds the
 * session's socket (tsshd, mosh-server, the sshd session processes).
 */
import { closeSessions, openSessions, sleep, type LabContext } from './lab-context.js';
import { IDLE_LINK, type IdleResult, type IdleToolResult } from './lab-results.js';
import { cpuSeconds, processTree, socketOwners, tcpLocalPorts } from './proc-usage.js';
import { ECHO_REMOTE } from './screen-session.js';
import type { ToolId } from './tools.js';

export async function measureIdle(ctx: LabContext, tools: readonly ToolId[], seconds: number): Promise<IdleResult> {
  const emu = ctx.lab.link;
  await emu.apply(IDLE_LINK);
  const sessions = await openSessions(ctx, tools, ECHO_REMOTE);
  try {
    await sleep(3000);
    const serverPids = ctx.lab.pidsIn(ctx.lab.serverNs);
    const sides = sessions.map((s) => {
      const client = processTree(s.session.pid);
      const proto = s.tool === 'ssh' ? 'tcp' : 'udp';
      const server = socketOwners(serverPids, ctx.sshd.pid, s.port, proto).filter((p) => p !== ctx.sshd.pid);
      // ssh sessions all use server port 22 (so do the logins of tssh and mosh): count ssh by its own client port.
      const clientPort = proto === 'tcp' ? (tcpLocalPorts(s.session.pid)[0] ?? -1) : -1;
      return { s, client, server, clientPort };
    });
    const cpu = (pids: number[]): number => pids.reduce((sum, p) => sum + cpuSeconds(p), 0);
    const before = sides.map((x) => ({ client: cpu(x.client), server: cpu(x.server) }));
    await emu.reset();
    await sleep(seconds * 1000);
    const counts = await emu.ports();
    if (process.env.LAB_DEBUG) ctx.log(`  ports: ${JSON.stringify(counts)}`);
    const perMin = 60 / seconds;
    const r2 = (x: number): number => Math.round(x * 100) / 100;
    const tools_: IdleToolResult[] = sides.map((x, i) => {
      const r: IdleToolResult = {
        tool: x.s.tool,
        c2sPerMin: r2((x.clientPort > 0 ? counts.clientC2s[String(x.clientPort)] ?? 0 : counts.c2s[String(x.s.port)] ?? 0) * perMin),
        s2cPerMin: r2((x.clientPort > 0 ? counts.clientS2c[String(x.clientPort)] ?? 0 : counts.s2c[String(x.s.port)] ?? 0) * perMin),
        clientCpuSecPerMin: r2((cpu(x.client) - before[i]!.client) * perMin),
        serverCpuSecPerMin: r2((cpu(x.server) - before[i]!.server) * perMin),
      };
      ctx.log(`  ${r.tool.padEnd(10)} packets/min c2s ${r.c2sPerMin} s2c ${r.s2cPerMin}; CPU s/min client ${r.clientCpuSecPerMin} (pids ${x.client.join(',')}) server ${r.serverCpuSecPerMin} (pids ${x.server.join(',')})`);
      return r;
    });
    return { link: IDLE_LINK, seconds, tools: tools_, date: new Date().toISOString() };
  } finally {
    await closeSessions(ctx, sessions);
  }
}
