/**
 * `npm run bench -- jump [--quick]` (as root): tssh through a jump host beside
 * `ssh -J` in the same run, in three network namespaces (test/support/jump-net.ts:
 * client, bastion, target; the target's UDP reachable only from the bastion):
 *  (a) start-up: `tssh --udp -J bastion target true` against `ssh -J bastion
 *      target true`, alternating, median;
 *  (b) keystroke echo seen in the local terminal (remote `cat` in a pty),
 *      over the namespaces' veth links (no added delay).
 */
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { cleanEnv } from '../test/e2e/harness.js';
import { JumpNet, jumpNetUnavailable } from '../test/support/jump-net.js';
import { TSSH_BIN } from '../test/support/sshd.js';
import { EchoProbe, typeKeys } from './session.js';
import { median, summarize } from './stats.js';

function timed(net: JumpNet, argv: string[]): Promise<{ ms: number; code: number | null; stderr: string }> {
  const [file, args] = net.inClient(argv);
  const t0 = performance.now();
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => (stderr += s));
  return new Promise((resolve) => child.once('close', (code) => resolve({ ms: performance.now() - t0, code, stderr })));
}

export async function run(args: string[]): Promise<unknown> {
  const why = jumpNetUnavailable();
  if (why !== null) {
    console.log(`bench jump: skipped: ${why}`);
    return { skipped: why };
  }
  const quick = args.includes('--quick');
  const net = new JumpNet(`b${process.pid}`);
  await net.create();
  try {
    const ssh: number[] = [];
    const tssh: number[] = [];
    const runs = quick ? 3 : 7;
    for (let i = 0; i < runs; i++) {
      const a = await timed(net, ['ssh', '-F', net.configPath, 'target', 'true']);
      const b = await timed(net, [process.execPath, TSSH_BIN, '-F', net.configPath, '--udp', 'target', 'true']);
      if (a.code !== 0 || b.code !== 0) throw new Error(`start-up failed: ssh ${a.code}, tssh ${b.code}: ${b.stderr}`);
      ssh.push(a.ms);
      tssh.push(b.ms);
    }
    const r = (x: number): number => Math.round(x);
    const startup = { sshJumpMs: r(median(ssh)), tsshJumpMs: r(median(tssh)), samples: { ssh: ssh.map(r), tssh: tssh.map(r) } };
    console.log(`start-up to \`true\` through one jump host: ssh -J ${startup.sshJumpMs} ms, tssh --udp -J ${startup.tsshJumpMs} ms (median of ${runs})`);
    const keys = quick ? 40 : 150;
    const echo: Record<string, ReturnType<typeof summarize>> = {};
    for (const [name, argv] of [
      ['ssh -J', ['ssh', '-F', net.configPath, '-tt', 'target', 'echo READY; exec cat']],
      ['tssh --kcp -J', [process.execPath, TSSH_BIN, '-F', net.configPath, '--kcp', '-tt', 'target', 'echo READY; exec cat']],
      ['tssh --quic -J', [process.execPath, TSSH_BIN, '-F', net.configPath, '--quic', '-tt', 'target', 'echo READY; exec cat']],
    ] as const) {
      const [file, a] = net.inClient([...argv]);
      const probe = new EchoProbe(file, a, cleanEnv({ TERM: 'xterm-256color' }));
      try {
        await probe.ready('READY');
        echo[name] = summarize(await typeKeys(probe, keys));
      } finally {
        probe.type('\x04');
        probe.kill();
      }
    }
    console.log('\nkeystroke echo through one jump host, veth links, no added delay (ms):');
    console.log('client           |   n |  p50 |  p90 |  p99 |  max');
    for (const [name, s] of Object.entries(echo)) {
      console.log(`${name.padEnd(16)} | ${String(s.n).padStart(3)} | ${[s.p50, s.p90, s.p99, s.max].map((x) => String(x).padStart(5)).join(' | ')}`);
    }
    return { startup, echo };
  } finally {
    await net.destroy();
  }
}
