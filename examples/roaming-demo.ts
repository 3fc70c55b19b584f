/**
 * `npm start`: a local demonstration of what the stack does today, with no
 * remote host. A tsshd-style server and a client talk KCP over the sealed
 * roaming path through the impairment proxy (5 % loss each way, 40 ms RTT);
 * while 20 MB flow, the client's address changes five times and the link goes
 * dark for 2 s, and the transfer carries on intact.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { generateSessionSecret } from '../src/crypto/session-secret.js';
import { ClientPath } from '../src/path/client-path.js';
import { ServerPath } from '../src/path/server-path.js';
import type { Stream } from '../src/transport/connection.js';
import { KcpConnection } from '../src/transport/kcp-connection.js';
import { ImpairmentProxy } from '../test/support/impairment-proxy.js';

const MIB = 20;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const secret = generateSessionSecret();
const serverPath = await ServerPath.create({ portSpec: '61001-61999', secret, host: '127.0.0.1' });
const server = new KcpConnection(serverPath, { role: 'server' });
const link = { lossPct: 5, delayMs: 20 };
const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: serverPath.port, clientToServer: link, serverToClient: link, seed: Date.now() >>> 0 });
const clientPath = await ClientPath.create({ host: '127.0.0.1', port: proxy.port, secret });
const client = new KcpConnection(clientPath, { role: 'client' });

say(`tsshd demo: server on UDP 127.0.0.1:${serverPath.port}, client through an emulated link (5 % loss each way, 40 ms RTT) on port ${proxy.port}`);
serverPath.on('peer-moved', (address: string, port: number) => say(`  server: client moved to ${address}:${port}; followed on its first authenticated datagram`));

// The server sends 20 MiB of a known pattern on the first stream the client opens.
server.on('stream', (s: Stream) => {
  void (async () => {
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < MIB * 16; i++) {
      chunk.fill(i & 0xff);
      if (!s.write(Buffer.from(chunk))) await once(s, 'drain');
    }
    s.end();
  })();
});

const expected = createHash('sha256');
for (let i = 0; i < MIB * 16; i++) expected.update(Buffer.alloc(64 * 1024, i & 0xff));

const t0 = performance.now();
const stream = client.openStream(2);
stream.write('go');
const hash = createHash('sha256');
let bytes = 0;
let events = 0;
stream.on('data', (d: Buffer) => {
  hash.update(d);
  bytes += d.length;
  // Disturb the link as the transfer progresses: five rebinds and one 2 s outage.
  const due = Math.floor((bytes / (MIB * 1024 * 1024)) * 6);
  while (events < due && events < 5) {
    events++;
    if (events === 3) {
      say('  link: dropping everything for 2 s');
      proxy.c2s.outage(2000);
      proxy.s2c.outage(2000);
    }
    say(`  link: the client's address changes (rebind ${events} of 5)`);
    void proxy.rebind();
  }
});
await once(stream, 'end');
const seconds = (performance.now() - t0) / 1000;
const ok = hash.digest('hex') === expected.digest('hex');
const st = client.stats();
say(`received ${(bytes / 1048576).toFixed(0)} MiB in ${seconds.toFixed(1)} s, SHA-256 ${ok ? 'identical' : 'DIFFERENT'}; ` +
  `RTT ${st.srttMs.toFixed(0)} ms, ${server.stats().retransmissions} retransmissions repaired ${proxy.c2s.stats.lost + proxy.s2c.stats.lost} lost datagrams`);
say('tssh/tsshd sessions build on this; see README.md for the status and `npm test` for the test suite.');
await client.close();
proxy.close();
server.destroy();
process.exit(ok ? 0 : 1);
