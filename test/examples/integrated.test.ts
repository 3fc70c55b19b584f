import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { cleanEnv, killLeftovers, PtyTssh, runCollect, runTssh } from '../e2e/harness.js';
import { waitFor } from '../support/wait.js';
import { serverProcesses } from '../../examples/integrated/processes.js';
import { exampleScript } from './example-fixture.js';

// examples/integrated: one program that is an ssh2 TCP SSH server and tsshd. No OpenSSH server: only the ssh client.
let dir: string;
let server: ChildProcess;
let port: number;
let clientArgs: string[];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsshd-integrated-'));
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519');
  const userKey = ssh2.utils.generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'host_key'), hostKey.private, { mode: 0o600 });
  writeFileSync(join(dir, 'authorized_keys'), userKey.public, { mode: 0o600 });
  writeFileSync(join(dir, 'id_ed25519'), userKey.private, { mode: 0o600 });
  writeFileSync(join(dir, 'ssh_config'), '', { mode: 0o600 });
  server = spawn(process.execPath, [exampleScript('integrated/integrated.js'), 'serve', '--host-key', join(dir, 'host_key'), '--authorized-keys', join(dir, 'authorized_keys'), '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: cleanEnv(),
  });
  let out = '';
  server.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  port = Number(await waitFor('the server to listen', () => /port (\d+);/.exec(out)?.[1], 30_000));
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey.public}\n`, { mode: 0o600 });
  clientArgs = [
    '-F', join(dir, 'ssh_config'), '-p', String(port), '-l', userInfo().username, '-i', join(dir, 'id_ed25519'),
    '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
  ];
});

after(async () => {
  killLeftovers();
  const pid = server?.pid;
  if (pid !== undefined && server.exitCode === null) {
    server.kill('SIGTERM');
    await waitFor('the server to stop', () => server.exitCode !== null, 10_000);
  }
  if (pid !== undefined) {
    const left = await waitFor('the tsshd daemons to end', () => serverProcesses(pid).length === 0, 15_000).then(() => [], () => serverProcesses(pid));
    for (const p of left) process.kill(p, 'SIGKILL');
    assert.deepEqual(left, [], 'tsshd daemons outlived their sessions');
  }
  rmSync(dir, { recursive: true, force: true });
});

/** What the command's parent process is: the tsshd daemon (UDP) or the TCP server. */
const WHO = "tr '\\0' ' ' < /proc/$PPID/cmdline | grep -o 'integrated.js [a-z]*'";

test('tssh --udp: tsshd starts through the ssh2 server; a command runs under it with stdout, stderr, stdin and exit code', async () => {
  const r = await runTssh([...clientArgs, '--udp', '127.0.0.1', `${WHO}; echo to-err >&2; tr a-z A-Z; echo "$SSH_CONNECTION"; exit 3`], { input: 'typed\n' });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout.toString(), new RegExp(`^integrated.js tsshd\\nTYPED\\n127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${port}\\n$`));
  assert.equal(r.stderr, 'to-err\n');
});

test('plain ssh over TCP: the same business logic runs the command in the TCP server', async () => {
  const r = await runCollect('ssh', [...clientArgs, '127.0.0.1', `${WHO}; echo to-err >&2; tr a-z A-Z; exit 4`], { input: 'typed\n' });
  assert.equal(r.status, 4, r.stderr);
  assert.equal(r.stdout.toString(), 'integrated.js serve\nTYPED\n');
  assert.equal(r.stderr, 'to-err\n');
});

for (const how of ['udp', 'tcp'] as const) {
  test(`a login shell in a terminal over ${how}: the welcome middleware, the size after a resize, the exit code`, async (t) => {
    const tssh = new PtyTssh([...clientArgs, ...(how === 'udp' ? ['--udp'] : []), '127.0.0.1'], { cols: 100, rows: 30, env: cleanEnv({ TERM: 'xterm-256color' }) });
    t.after(() => tssh.close());
    await tssh.waitForScreen('the welcome', /\[integrated example\] shell for \S+; client 127\.0\.0\.1 port \d+/, 60_000);
    tssh.resize(110, 33);
    // The quotes keep the echoed command line from matching the output.
    tssh.type(`echo "size:$(stty size)" "$(${WHO})"\r`);
    await tssh.waitForScreen('the size and the server', new RegExp(`^size:33 110 integrated.js ${how === 'udp' ? 'tsshd' : 'serve'}$`, 'm'), 60_000);
    tssh.type('exit 6\r');
    assert.equal(await tssh.waitForExit(60_000), 6);
  });
}

test('a key that is not authorized is refused', async () => {
  const other = ssh2.utils.generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'other_key'), other.private, { mode: 0o600 });
  const args = clientArgs.map((a) => (a === join(dir, 'id_ed25519') ? join(dir, 'other_key') : a));
  const r = await runTssh([...args, '--udp', '127.0.0.1', 'true']);
  assert.equal(r.status, 255);
  assert.match(r.stderr, /Permission denied/);
});
