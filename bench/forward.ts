/**
 * `npm run bench -- forward [--quick]`: port forwarding through a real sshd on
 * 127.0.0.1 (test/support/sshd.ts), tssh against OpenSSH in the same run.
 *  (a) TCP throughput through `tssh -N -L` (KCP and QUIC) and `ssh -N -L`:
 *      one connection uploads N MB to a sink that answers when it has all,
 *      and one downloads N MB from a source; rounds alternate between the
 *      forwards, median MB/s per forward and direction and the ratio
 *      tssh / ssh (target: >= 0.25);
 *  (b) UDP forward datagrams/s through `tssh -N -L udp/...` to a UDP echo:
 *      a window of 64 datagrams in flight for a few seconds, echoes counted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { loadavg } from 'node:os';
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

/** Write `bytes` bytes of `chunk`'s pattern to `socket` as fast as it drains, then end it. */
function writeBytes(socket: Socket, bytes: number, chunk: Buffer): void {
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
}

/** A TCP source: sends `bytes` to each client, then ends. */
async function source(bytes: number): Promise<{ server: Server; port: number }> {
  const chunk = Buffer.alloc(64 * 1024, 0xa5);
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.resume();
    writeBytes(socket, bytes, chunk);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}

/** Download from 127.0.0.1:`port` until the source ends; returns MB/s (rejects if fewer than `bytes` arrived). */
function download(port: number, bytes: number, timeoutMs = 60_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`download through port ${port} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    let t0 = 0;
    let got = 0;
    socket.once('connect', () => (t0 = performance.now()));
    socket.on('data', (c: Buffer) => (got += c.length));
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (got !== bytes) reject(new Error(`only ${got} of ${bytes} bytes came through port ${port}`));
      else resolve(bytes / 1e6 / ((performance.now() - t0) / 1000));
    });
  });
}

/** Upload `bytes` through 127.0.0.1:`port` and wait for the sink's answer; returns MB/s. */
function upload(port: number, bytes: number, timeoutMs = 60_000): Promise<number> {
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
      writeBytes(socket, bytes, chunk);
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
  // Ratios in one run are what count; the load average says how much other work shared the machine.
  const loadAtStart = loadavg().map((x) => Math.round(x * 100) / 100);
  const sshd = await SshdFixture.start();
  const target = await sink();
  const origin = await source(mb * 1024 * 1024);
  const udpEcho = createSocket('udp4');
  await new Promise<void>((resolve) => udpEcho.bind(0, '127.0.0.1', resolve));
  udpEcho.on('message', (msg, from) => udpEcho.send(msg, from.port, from.address));
  const children: ChildProcess[] = [];
  try {
    const forwards: Array<{ name: string; port: number; downPort: number }> = [];
    for (const [name, program, extra] of [
      ['ssh -L', 'ssh', []],
      ['tssh --kcp -L', process.execPath, [TSSH_BIN, '--kcp']],
      ['tssh --quic -L', process.execPath, [TSSH_BIN, '--quic']],
    ] as const) {
      const [port, downPort] = [await freeTcpPort(), await freeTcpPort()];
      const forwardArgs = ['-L', `${port}:127.0.0.1:${target.port}`, '-L', `${downPort}:127.0.0.1:${origin.port}`];
      children.push(await startForward(program, [...extra, ...sshd.configArgs, '-N', ...forwardArgs, sshd.host], port));
      forwards.push({ name, port, downPort });
    }
    const up = new Map<string, number[]>(forwards.map((f) => [f.name, []]));
    const down = new Map<string, number[]>(forwards.map((f) => [f.name, []]));
    // Warm-up, then alternating rounds so machine load hits every forward alike.
    for (const f of forwards) {
      await upload(f.port, 2 * 1024 * 1024).catch((err: Error) => {
        throw new Error(`${f.name} (warm-up): ${err.message}`);
      });
    }
    for (let round = 0; round < rounds; round++) {
      for (const f of forwards) {
        const named = (err: Error): never => {
          throw new Error(`${f.name}: ${err.message}`);
        };
        up.get(f.name)!.push(await upload(f.port, mb * 1024 * 1024).catch(named));
        down.get(f.name)!.push(await download(f.downPort, mb * 1024 * 1024).catch(named));
      }
    }
    const r1 = (x: number): number => Math.round(x * 10) / 10;
    const sshUp = median(up.get('ssh -L')!);
    const sshDown = median(down.get('ssh -L')!);
    const tcp = forwards.map((f) => {
      const u = median(up.get(f.name)!);
      const d = median(down.get(f.name)!);
      return {
        forward: f.name,
        upload: { mbPerSecMedian: r1(u), samples: up.get(f.name)!.map(r1), ratioToSsh: Math.round((u / sshUp) * 100) / 100 },
        download: { mbPerSecMedian: r1(d), samples: down.get(f.name)!.map(r1), ratioToSsh: Math.round((d / sshDown) * 100) / 100 },
      };
    });
    const loadAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
    console.log(`TCP through a forward, ${mb} MB each way x ${rounds} rounds (loopback, same run; MB/s medians)`);
    console.log(`load average (1, 5, 15 min) at start ${loadAtStart.join(', ')}, after the TCP rounds ${loadAtEnd.join(', ')}`);
    console.log('forward          upload  x ssh   download  x ssh');
    for (const r of tcp) {
      console.log(
        `${r.forward.padEnd(16)} ${String(r.upload.mbPerSecMedian).padStart(6)}  ${r.upload.ratioToSsh.toFixed(2)}   ${String(r.download.mbPerSecMedian).padStart(8)}  ${r.download.ratioToSsh.toFixed(2)}`,
      );
    }

    // UDP: tssh only (ssh has no UDP forwarding).
    const udp: Array<{ transport: string; datagramsPerSec: number; lost: number }> = [];
    for (const flag of ['--kcp', '--quic']) {
      const port = await freeUdpPort();
      const child = spawn(process.execPath, [TSSH_BIN, flag, ...sshd.configArgs, '-N', '-L', `udp/${port}:127.0.0.1:${(udpEcho.address()).port}`, sshd.host], {
        stdio: ['ignore', 'ignore', 'ignore'],
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
    return { tcp: { megabytes: mb, rounds, loadAtStart, loadAtEnd, results: tcp }, udp };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    target.server.close();
    origin.server.close();
    udpEcho.close();
    await sshd.stop();
  }
}
