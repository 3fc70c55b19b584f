/**
 * UDP through a jump host (docs/CLIENT.md "Jump hosts"): three namespaces,
 * the target's UDP reachable only from the bastion, real sshd on both.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JumpNet, jumpNetUnavailable, TARGET_ADDR } from '../support/jump-net.js';
import { TSSH_BIN } from '../support/sshd.js';
import { GO_TSSHD, SKIP_WITHOUT_GO_TSSHD } from '../interop/go-peers.js';
import { waitFor } from '../support/wait.js';

const unavailable = jumpNetUnavailable();
if (unavailable !== null) console.log(`# jump-host tests skipped: ${unavailable}`);

let net: JumpNet;

before(async () => {
  if (unavailable !== null) return;
  net = new JumpNet(String(process.pid));
  await net.create();
});

after(async () => {
  if (unavailable === null) await net.destroy();
});

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run tssh in the client namespace; `during` gets the stdout seen so far as it grows. */
function tssh(args: string[], during?: (stdout: string) => void, timeoutMs = 90_000, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  const [file, argv] = net.inClient([process.execPath, TSSH_BIN, '-F', net.configPath, ...args]);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const out: Buffer[] = [];
  let stderr = '';
  let seen = '';
  child.stdout.on('data', (b: Buffer) => {
    out.push(b);
    if (during) {
      seen += b.toString('latin1');
      during(seen);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tssh ${args.join(' ')} did not finish in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

const skip = unavailable !== null ? unavailable : false;

test('jump host: the target is not reachable over UDP directly (UdpJump no fails)', { skip }, async () => {
  const r = await tssh(['--udp', '-o', 'UdpJump=no', 'target', 'echo direct']);
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.stdout.toString(), /direct/);
});

for (const transport of ['--kcp', '--quic'] as const) {
  test(`jump host (${transport}): 10 MB through the bastion's relay intact, and the relay gone after the session`, { skip }, async () => {
    const file = join(net.dir, `ten-mb${transport}`);
    const data = randomBytes(10 * 1024 * 1024);
    writeFileSync(file, data);
    const r = await tssh([transport, 'target', `cat ${file}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, data.length);
    assert.equal(createHash('sha256').update(r.stdout).digest('hex'), createHash('sha256').update(data).digest('hex'));
    await waitFor('the relay on the bastion to end', () => net.pidsIn(net.bastionNs, '--relay').length === 0, 15_000, 50);
  });
}

test('jump host: the client moves to a new address mid-session and the session goes on', { skip }, async () => {
  let moved = false;
  const lines = 60;
  const r = await tssh(['--udp', 'target', `for i in $(seq 1 ${lines}); do echo line$i; sleep 0.1; done`], (seen) => {
    if (!moved && seen.includes('line10\n')) {
      moved = true;
      net.moveClient();
    }
  });
  assert.ok(moved, 'the address was changed mid-session');
  assert.equal(r.code, 0, r.stderr);
  const got = r.stdout.toString().trim().split('\n');
  assert.deepEqual(got, Array.from({ length: lines }, (_, i) => `line${i + 1}`));
});

test('jump host: UdpProxyMode TCP goes through the relay too', { skip }, async () => {
  const r = await tssh(['--udp', '-o', 'UdpProxyMode=TCP', '-o', 'UdpAliveTimeout=3', 'target', 'echo over-tcp; hostname -I']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), /over-tcp/);
});

test('ProxyCommand: UdpProxyMode TCP goes through the command; UDP says it cannot follow it', { skip }, async () => {
  const tcp = await tssh(['--udp', '-o', 'UdpProxyMode=TCP', 'target-pc', 'echo via-proxycommand']);
  assert.equal(tcp.code, 0, tcp.stderr);
  assert.match(tcp.stdout.toString(), /via-proxycommand/);
  const udp = await tssh(['--udp', 'target-pc', 'echo never']);
  assert.match(udp.stderr, /UDP cannot follow ProxyCommand to 198\.18\.21\.1; .*UdpProxyMode TCP/);
  assert.notEqual(udp.code, 0);
});

test('jump host: a stdio forward (-W) through the relay reaches a port beside the target', { skip }, async () => {
  const r = await tssh(['--udp', '-W', `${TARGET_ADDR}:22`, 'target']);
  assert.match(r.stdout.toString(), /^SSH-2\.0-OpenSSH/);
});

test('two hops (-J bastion,bastion): relays chained, the session intact, both relays gone after the byes', { skip }, async () => {
  const file = join(net.dir, 'one-mb');
  const data = randomBytes(1024 * 1024);
  writeFileSync(file, data);
  const r = await tssh(['--udp', '-J', 'bastion,bastion', 'target', `cat ${file}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.equals(data));
  await waitFor('both relays on the bastion to end', () => net.pidsIn(net.bastionNs, '--relay').length === 0, 15_000, 50);
});

test('jump host: when the target login fails, the relay logins end and no relay is left', { skip }, async () => {
  const r = await tssh(['--udp', '-o', 'TsshdPath=/nonexistent/tsshd', 'target', 'true']);
  assert.equal(r.code, 255);
  assert.match(r.stderr, /tsshd was not found/);
  await waitFor('no relay process on the bastion', () => net.pidsIn(net.bastionNs, '--relay').length === 0, 15_000, 50);
});

test('jump host: agent forwarding (-A) through the relay: ssh-add -l on the target lists the client key', { skip }, async () => {
  const sock = join(net.dir, 'agent.sock');
  const out = execFileSync('ssh-agent', ['-s', '-a', sock], { encoding: 'utf8' });
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1]);
  try {
    const key = join(net.dir, 'agent-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'jump-agent-key', '-f', key]);
    execFileSync('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    const r = await tssh(['--udp', '-A', 'target', 'ssh-add -l'], undefined, 90_000, { ...process.env, SSH_AUTH_SOCK: sock });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /jump-agent-key/);
  } finally {
    process.kill(pid, 'SIGTERM');
  }
});

test('jump host: the target runs the reference Go tsshd; our tssh reaches it through our relay on the bastion', { skip: skip || SKIP_WITHOUT_GO_TSSHD }, async () => {
  const r = await tssh(['--kcp', '-o', `TsshdPath=${GO_TSSHD}`, 'target', 'echo from-go-tsshd; echo err >&2; exit 3']);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stdout.toString(), /from-go-tsshd/);
  assert.match(r.stderr, /err/);
  await waitFor('the relay on the bastion to end', () => net.pidsIn(net.bastionNs, '--relay').length === 0, 15_000, 50);
});
