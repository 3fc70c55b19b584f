/**
 * `npm run bench -- forward [--quick]`: port forwarding through a real sshd on
 * 127.0.0.1 (test/support/sshd.ts), tssh against OpenSSH in the same run.
 *  (a) TCP throughput through `tssh -N -L` (KCP and QUIC) and `ssh -N -L`:
 *      one connection uploads N MB to a sink that answers when it has all;
 *      rounds alternate between the forwards, median MB/s per forward and the
 *      ratio tssh / ssh (target: >= 0.25);
 *  (b) UDP forward datagrams/s through `tssh -N -L udp/...` to a UDP echo:
 *      a window of 64 datagrams in flight for a few seconds, echoes counted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { cleanEnv, freeTcpPort, freeUdpPort } from '../test/e2e/harness.js';
import { SshdFixture, TSSH_BIN } from '../test/support/sshd.js';
import { waitFor } from '../test/support/wait.js';
import { median } from './stats.js';

/** A TCP sink: reads until its client ends, then writes "ok" and closes. */
async function sink(): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('end', () => socket.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

/** Upload `bytes` through 127.0.0.1:`port` and wait for the sink's answer; returns MB/s. */
function upload(port: number, bytes: number, timeoutMs = 120_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`upload through port ${port} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    let t0 = 0;
    let answer = '';
    socket.once('connect', () => {
      t0 = performance.now();
      let left = bytes;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.end();
      };
      pump();
    });
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => (answer += s));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (answer !== 'ok') reject(new Error(`the sink did not confirm the upload through port ${port}`));
      else resolve(bytes / 1e6 / ((performance.now() - t0) / 1000));
    });
  });
}

/** Start a forwarding program and wait until its local TCP port accepts connections. */
async function startForward(program: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv() });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => (stderr += s));
  try {
    await waitFor(
      `${program} to forward port ${port}`,
      () => {
        if (child.exitCode !== null) throw new Error(`${program} exited: ${stderr}`);
        return new Promise<boolean>((resolve) => {
          const s = connect({ port, host: '127.0.0.1' });
          s.once('connect', () => (s.destroy(), resolve(true)));
          s.once('error', () => resolve(false));
        });
      },
      60_000,
      100,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** Echoed datagrams per second with a window of `window` in flight, for `seconds`. */
async function udpRate(port: number, seconds: number, size = 512, window = 64): Promise<{ perSec: number; lost: number }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const payload = Buffer.alloc(size, 0x33);
  let inFlight = 0;
  let echoed = 0;
  let sent = 0;
  let lastProgress = performance.now();
  const send = (): void => {
    while (inFlight < window) {
      inFlight++;
      sent++;
      socket.send(payload, port, '127.0.0.1');
    }
  };
  socket.on('message', () => {
    echoed++;
    inFlight--;
    lastProgress = performance.now();
    send();
  });
  const t0 = performance.now();
  send();
  // A lost datagram never comes back: refill the window when it stalls.
  while (performance.now() - t0 < seconds * 1000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (performance.now() - lastProgress > 50) {
      inFlight = 0;
      lastProgress = performance.now();
      send();
    }
  }
  const elapsed = (performance.now() - t0) / 1000;
  socket.close();
  return { perSec: Math.round(echoed / elapsed), lost: Math.max(0, sent - echoed - window) };
}

export async function run(args: string[]): Promise<unknown> {
  const quick = args.includes('--quick');
  const mb = quick ? 8 : 32;
  const rounds = quick ? 3 : 5;
  const sshd = await SshdFixture.start();
  const target = await sink();
  const udpEcho = createSocket('udp4');
  await new Promise<void>((resolve) => udpEcho.bind(0, '127.0.0.1', resolve));
  udpEcho.on('message', (msg, from) => udpEcho.send(msg, from.port, from.address));
  const children: ChildProcess[] = [];
  try {
    const forwards: Array<{ name: string; port: number }> = [];
    for (const [name, program, extra] of [
      ['ssh -L', 'ssh', []],
      ['tssh --kcp -L', process.execPath, [TSSH_BIN, '--kcp']],
      ['tssh --quic -L', process.execPath, [TSSH_BIN, '--quic']],
    ] as const) {
      const port = await freeTcpPort();
      children.push(await startForward(program, [...extra, ...sshd.configArgs, '-N', '-L', `${port}:127.0.0.1:${target.port}`, sshd.host], port));
      forwards.push({ name, port });
    }
    const samples = new Map<string, number[]>(forwards.map((f) => [f.name, []]));
    // Warm-up, then alternating rounds so machine load hits every forward alike.
    for (const f of forwards) await upload(f.port, 2 * 1024 * 1024);
    for (let round = 0; round < rounds; round++) {
      for (const f of forwards) samples.get(f.name)!.push(await upload(f.port, mb * 1024 * 1024));
    }
    const ssh = median(samples.get('ssh -L')!);
    const tcp = forwards.map((f) => {
      const m = median(samples.get(f.name)!);
      return { forward: f.name, mbPerSecMedian: Math.round(m * 10) / 10, samples: samples.get(f.name)!.map((x) => Math.round(x * 10) / 10), ratioToSsh: Math.round((m / ssh) * 100) / 100 };
    });
    console.log(`TCP upload through a forward, ${mb} MB x ${rounds} rounds (loopback, same run)`);
    console.log('forward          median MB/s   x ssh');
    for (const r of tcp) console.log(`${r.forward.padEnd(16)} ${String(r.mbPerSecMedian).padStart(11)}   ${r.ratioToSsh.toFixed(2)}`);

    // UDP: tssh only (ssh has no UDP forwarding).
    const udp: Array<{ transport: string; datagramsPerSec: number; lost: number }> = [];
    for (const flag of ['--kcp', '--quic']) {
      const port = await freeUdpPort();
      const child = spawn(process.execPath, [TSSH_BIN, flag, ...sshd.configArgs, '-N', '-L', `udp/${port}:127.0.0.1:${(udpEcho.address()).port}`, sshd.host], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: cleanEnv(),
      });
      children.push(child);
      const probe = createSocket('udp4');
      await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
      let up = false;
      probe.on('message', () => (up = true));
      await waitFor('the UDP forward', () => {
        probe.send(Buffer.from('probe'), port, '127.0.0.1');
        return up;
      }, 60_000, 200);
      probe.close();
      const r = await udpRate(port, quick ? 3 : 5);
      udp.push({ transport: flag.slice(2), datagramsPerSec: r.perSec, lost: r.lost });
      child.kill('SIGTERM');
    }
    console.log('\nUDP forward, 512-byte datagrams echoed, 64 in flight');
    for (const r of udp) console.log(`tssh --${r.transport.padEnd(5)} -L udp  ${String(r.datagramsPerSec).padStart(7)} datagrams/s (round trips), ~${r.lost} lost`);
    return { tcp: { megabytes: mb, rounds, results: tcp }, udp };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    target.server.close();
    udpEcho.close();
    await sshd.stop();
  }
}
