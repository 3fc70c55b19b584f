import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { connectTo, echoServer, exchange, numberedUdpClient, payload, sha256, socksExchange, udpEcho } from '../forward/fixtures.js';
import { SshdFixture } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { cleanEnv, freeTcpPort, freeUdpPort, killLeftovers, runTssh, startTssh, untilDatagramForwardUp, untilListening } from '../e2e/harness.js';
import { overGoTsshd, SKIP_WITHOUT_GO_TSSHD } from './go-peers.js';

// Forwarding from our tssh through the reference Go tsshd (issue 16), over a real sshd.
const skip = SKIP_WITHOUT_GO_TSSHD;
let sshd: SshdFixture;
let echo: Awaited<ReturnType<typeof echoServer>>;
before(async () => {
  if (skip) return;
  sshd = await SshdFixture.start();
  echo = await echoServer();
});
after(async () => {
  killLeftovers();
  await echo?.close();
  await sshd?.stop();
});

async function roundTrip(where: number, bytes: number): Promise<void> {
  const { data, sha256: expected } = payload(bytes);
  const back = await exchange(await connectTo(where), data);
  assert.equal(back.length, data.length, 'every byte came back');
  assert.equal(sha256(back), expected, 'the bytes are intact');
}

const go = (options: string[], command: string[] = []): string[] => overGoTsshd(sshd.configArgs, sshd.host, options, command);

test('Go tsshd: -N -L carries 4 MB both ways intact, two connections at once', { skip }, async () => {
  const port = await freeTcpPort();
  const tssh = startTssh(go(['-N', '-L', `${port}:127.0.0.1:${echo.port}`]));
  try {
    await untilListening(tssh, port);
    await Promise.all([roundTrip(port, 4 * 1024 * 1024), roundTrip(port, 1024 * 1024)]);
  } finally {
    assert.equal(await tssh.stop(), 255);
  }
});

test('Go tsshd: -R reaches the client-side target intact', { skip }, async () => {
  const port = await freeTcpPort();
  const tssh = startTssh(go(['-N', '-R', `${port}:127.0.0.1:${echo.port}`]));
  try {
    await untilListening(tssh, port);
    await roundTrip(port, 2 * 1024 * 1024);
  } finally {
    await tssh.stop();
  }
});

test('Go tsshd: -D SOCKS5 CONNECT by name reaches the target through the Go tsshd', { skip }, async () => {
  const port = await freeTcpPort();
  const tssh = startTssh(go(['-N', '-D', `127.0.0.1:${port}`]));
  try {
    await untilListening(tssh, port);
    const s5 = await connectTo(port);
    const host = Buffer.from('localhost');
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16BE(echo.port);
    const reply = await socksExchange(s5, [Buffer.from([5, 1, 0]), Buffer.concat([Buffer.from([5, 1, 0, 3, host.length]), host, portBytes])], 12);
    assert.deepEqual([...reply.subarray(0, 2)], [5, 0]);
    assert.equal(reply[3], 0, 'SOCKS5 reply: succeeded');
    assert.equal((await exchange(s5, Buffer.from('through socks5'))).toString(), 'through socks5');
  } finally {
    await tssh.stop();
  }
});

test('Go tsshd: -W host:port joins stdin/stdout to the target', { skip }, async () => {
  const r = await runTssh(go(['-W', `127.0.0.1:${echo.port}`]), { input: 'hello through -W\n' });
  assert.equal(r.stdout.toString(), 'hello through -W\n', r.stderr);
});

test('Go tsshd: -L udp/... carries datagrams both ways, small ones out of band and a 4000-byte one on the stream', { skip }, async () => {
  const target = await udpEcho();
  const port = await freeUdpPort();
  const tssh = startTssh(go(['-N', '-L', `udp/127.0.0.1:${port}:127.0.0.1:${target.port}`]));
  const client = await numberedUdpClient(port);
  try {
    await untilDatagramForwardUp(tssh, client, `-L udp/${port}`);
    const sent = new Map<number, Buffer>();
    for (let i = 1; i <= 50; i++) sent.set(i, client.send(i, 300));
    sent.set(100, client.send(100, 4000));
    await waitFor('the echoes', () => [...sent.keys()].every((k) => client.replies.has(k)), 20_000);
    for (const [k, v] of sent) assert.deepEqual(client.replies.get(k), v);
  } finally {
    client.close();
    target.close();
    await tssh.stop();
  }
});

const NO_AGENT = skip || (['ssh-agent', 'ssh-add'].every((p) => spawnSync('which', [p]).status === 0) ? false : 'needs ssh-agent and ssh-add (openssh-client)');

test('Go tsshd: -A: ssh-add -l in the session lists the key of the client\'s real ssh-agent', { skip: NO_AGENT }, async () => {
  const out = execFileSync('ssh-agent', ['-s', '-a', join(sshd.dir, 'go-agent.sock')], { encoding: 'utf8' });
  const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(out)![1]!;
  const pid = Number(/SSH_AGENT_PID=([0-9]+);/.exec(out)![1]);
  try {
    const key = join(sshd.dir, 'go_agent_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'go-agent-test', '-f', key]);
    execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    const fingerprint = execFileSync('ssh-keygen', ['-lf', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
    const r = await runTssh(go(['-A'], ['ssh-add -l; echo "rc=$?"']), { env: cleanEnv({ SSH_AUTH_SOCK: sock }) });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.toString().includes(fingerprint), r.stdout.toString());
    assert.match(r.stdout.toString(), /rc=0/);
  } finally {
    process.kill(pid, 'SIGTERM');
  }
});
