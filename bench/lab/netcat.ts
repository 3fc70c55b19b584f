/**
 * The lab's tiny TCP helper, run inside a namespace (`ip netns exec NS node
 * dist/bench/lab/netcat.js MODE ...`); prints one JSON line when done.
 *   serve HOST PORT FILE          send FILE to each connection, then close it (runs until killed)
 *   sink HOST PORT                count bytes of each connection; prints per connection
 *   source HOST PORT SECONDS      send as fast as possible for SECONDS
 *   fetch HOST PORT BOUND_MS      connect, count bytes until EOF or the bound
 *   udp-echo HOST PORT            answer each datagram with itself plus " from ADDR:PORT" (runs until killed)
 *   udp-probe HOST PORT COUNT GAP_MS   send COUNT numbered datagrams GAP_MS apart; report
 *                                 round trips and the source addresses the echo saw
 */
import dgram from 'node:dgram';
import { createReadStream } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const [mode, host, portText, extra] = process.argv.slice(2);
const port = Number(portText);
if (!mode || !host || !(port > 0)) {
  console.error('usage: netcat serve|sink|source|fetch HOST PORT [FILE|SECONDS|BOUND_MS]');
  process.exit(2);
}

if (mode === 'serve') {
  net
    .createServer((socket) => {
      socket.on('error', () => socket.destroy());
      createReadStream(extra!).pipe(socket);
    })
    .listen(port, host, () => console.log(JSON.stringify({ listening: port })));
} else if (mode === 'sink') {
  net
    .createServer((socket) => {
      let bytes = 0;
      let first = 0;
      socket.on('data', (d: Buffer) => {
        if (bytes === 0) first = performance.now();
        bytes += d.length;
      });
      socket.on('error', () => socket.destroy());
      socket.on('close', () => console.log(JSON.stringify({ bytes, ms: performance.now() - first })));
    })
    .listen(port, host, () => console.log(JSON.stringify({ listening: port })));
} else if (mode === 'source') {
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const socket = net.connect(port, host, () => {
    const end = performance.now() + Number(extra) * 1000;
    const pump = (): void => {
      while (performance.now() < end) {
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
    };
    pump();
  });
  socket.on('error', (err) => {
    console.error(`netcat source: ${err.message}`);
    process.exit(1);
  });
  socket.on('close', () => process.exit(0));
} else if (mode === 'fetch') {
  const t0 = performance.now();
  let bytes = 0;
  let first = NaN;
  let last = NaN;
  const socket = net.connect(port, host);
  const done = (): void => {
    console.log(JSON.stringify({ bytes, firstByteMs: first - t0, transferMs: last - first }));
    process.exit(0);
  };
  setTimeout(() => {
    socket.destroy();
    done();
  }, Number(extra)).unref();
  socket.on('data', (d: Buffer) => {
    const now = performance.now();
    if (bytes === 0) first = now;
    bytes += d.length;
    last = now;
  });
  socket.on('error', (err) => {
    console.error(`netcat fetch: ${err.message}`);
    done();
  });
  socket.on('close', done);
} else if (mode === 'udp-echo') {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, from) => socket.send(Buffer.concat([msg, Buffer.from(` from ${from.address}:${from.port}`)]), from.port, from.address));
  socket.bind(port, host, () => console.log(JSON.stringify({ listening: port })));
} else if (mode === 'udp-probe') {
  const count = Number(extra);
  const gapMs = Number(process.argv[6] ?? '20');
  const socket = dgram.createSocket('udp4');
  const sentAt: number[] = [];
  const rtts: Array<number | null> = [];
  const seenFrom = new Set<string>();
  socket.on('message', (msg) => {
    const m = /^probe (\d+) from (\S+)$/.exec(msg.toString());
    if (!m) return;
    const i = Number(m[1]);
    if (rtts[i] === null) rtts[i] = performance.now() - sentAt[i]!;
    seenFrom.add(m[2]!);
  });
  socket.connect(port, host, () => {
    let i = 0;
    const tick = (): void => {
      if (i < count) {
        sentAt[i] = performance.now();
        rtts[i] = null;
        socket.send(`probe ${i}`);
        i++;
        setTimeout(tick, gapMs);
        return;
      }
      // Late answers get 1 s, then the report.
      setTimeout(() => {
        console.log(JSON.stringify({ sent: count, rtts, seenFrom: [...seenFrom], localPort: socket.address().port }));
        process.exit(0);
      }, 1000);
    };
    tick();
  });
} else {
  console.error(`netcat: unknown mode '${mode}'`);
  process.exit(2);
}
