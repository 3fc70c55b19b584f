import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SshdFixture } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { freeTcpPort, killLeftovers, PtyTssh, runCollect, runTssh, untilListening } from './harness.js';

// A `-M -S ctl -f -N` tssh answers OpenSSH's control protocol at its ControlPath: `ssh -O check|forward|cancel|
// stop|exit` get what they get from a real `ssh -M -S ctl -f -N` master (compared side by side), sessions through
// it are refused as a master refuses (ssh then connects by itself), and `ps` shows the background tssh's arguments.
// Also here: ~P answers with a line.
let sshd: SshdFixture;
let dir: string;
let target: Server;
let targetPort: number;
before(async () => {
  sshd = await SshdFixture.start();
  dir = mkdtempSync(join(tmpdir(), 'tssh-ctl-'));
  target = createServer((socket) => socket.end('hello from the target\n'));
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetPort = (target.address() as { port: number }).port;
});
after(async () => {
  killLeftovers();
  for (const name of ['tssh.ctl', 'ssh.ctl']) {
    if (existsSync(join(dir, name))) await runCollect('ssh', [...sshd.configArgs, '-O', 'exit', '-S', join(dir, name), sshd.host]).catch(() => undefined);
  }
  target.close();
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Read what the target says through 127.0.0.1:port. */
async function through(port: number): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect(port, '127.0.0.1');
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => (text += s));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
}

/** The pid `ssh -O check` reports for the master at `ctl`. */
async function masterPid(ctl: string): Promise<number> {
  const r = await runCollect('ssh', [...sshd.configArgs, '-S', ctl, '-O', 'check', sshd.host]);
  const pid = Number(/pid=(\d+)/.exec(r.stderr)?.[1]);
  assert.ok(pid > 0, r.stderr);
  return pid;
}

/** ssh -O ... against a master at `ctl`: status and stderr with the pid taken out. */
async function control(ctl: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const r = await runCollect('ssh', [...sshd.configArgs, '-S', ctl, ...args, sshd.host]);
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.replace(/pid=\d+/, 'pid=N') };
}

test('ssh -O check/forward/cancel/exit on a -M -S -f -N tssh, side by side with an ssh master', async () => {
  const first = await freeTcpPort();
  const masters: Record<'ssh' | 'tssh', string> = { ssh: join(dir, 'ssh.ctl'), tssh: join(dir, 'tssh.ctl') };
  const common = ['-M', '-f', '-N', '-L', `${first}:127.0.0.1:${targetPort}`];
  const viaTssh = await runTssh([...sshd.configArgs, '--udp', '-S', masters.tssh, ...common, sshd.host]);
  assert.equal(viaTssh.status, 0, viaTssh.stderr);
  assert.equal(await through(first), 'hello from the target\n');
  // The ssh master gets its own ports; what the control clients see must be the same.
  const sshFirst = await freeTcpPort();
  const viaSsh = await runCollect('ssh', [...sshd.configArgs, '-S', masters.ssh, '-M', '-f', '-N', '-L', `${sshFirst}:127.0.0.1:${targetPort}`, sshd.host]);
  assert.equal(viaSsh.status, 0, viaSsh.stderr);

  // The socket is private, as ssh makes it.
  assert.equal(statSync(masters.tssh).mode & 0o777, 0o600);
  // ps shows what the background tssh is for (its arguments, never a secret).
  const tsshPid = await masterPid(masters.tssh);
  const cmdline = readFileSync(`/proc/${tsshPid}/cmdline`, 'utf8').split('\0');
  assert.ok(cmdline.includes('-N') && cmdline.includes(sshd.host) && cmdline.includes(`${first}:127.0.0.1:${targetPort}`), cmdline.join(' '));

  const checks = { ssh: await control(masters.ssh, '-O', 'check'), tssh: await control(masters.tssh, '-O', 'check') };
  assert.deepEqual(checks.tssh, checks.ssh);
  assert.equal(checks.tssh.stderr, 'Master running (pid=N)\r\n');

  // A forward added through the master works, and cancelling it (or one from the command line) closes it.
  const added = await freeTcpPort();
  const sshAdded = await freeTcpPort();
  const forward = {
    tssh: await control(masters.tssh, '-O', 'forward', '-L', `${added}:127.0.0.1:${targetPort}`),
    ssh: await control(masters.ssh, '-O', 'forward', '-L', `${sshAdded}:127.0.0.1:${targetPort}`),
  };
  assert.deepEqual(forward.tssh, forward.ssh);
  assert.equal(await through(added), 'hello from the target\n');
  const cancel = {
    tssh: await control(masters.tssh, '-O', 'cancel', '-L', `${added}:127.0.0.1:${targetPort}`),
    ssh: await control(masters.ssh, '-O', 'cancel', '-L', `${sshAdded}:127.0.0.1:${targetPort}`),
  };
  assert.deepEqual(cancel.tssh, cancel.ssh);
  await assert.rejects(through(added), /ECONNREFUSED/);
  const initial = await control(masters.tssh, '-O', 'cancel', '-L', `${first}:127.0.0.1:${targetPort}`);
  assert.equal(initial.status, 0, initial.stderr);
  await assert.rejects(through(first), /ECONNREFUSED/);
  // A remote forward to a port the server picks: ssh prints the port.
  const remote = await control(masters.tssh, '-O', 'forward', '-R', `0:127.0.0.1:${targetPort}`);
  assert.equal(remote.status, 0, remote.stderr);
  assert.match(remote.stdout, /^\d+\n$/);

  // A session through the master: refused as a master refuses it; ssh then connects by itself.
  const session = await runCollect('ssh', [...sshd.configArgs, '-S', masters.tssh, sshd.host, 'echo direct']);
  assert.equal(session.status, 0, session.stderr);
  assert.equal(session.stdout.toString(), 'direct\n');
  assert.match(session.stderr, /^Master refused session request: .*file descriptor passing/m);

  // tssh -O exit (tssh passes -O to ssh): the background tssh ends and its socket goes.
  const exit = { tssh: await runTssh([...sshd.configArgs, '-S', masters.tssh, '-O', 'exit', sshd.host]), ssh: await runCollect('ssh', [...sshd.configArgs, '-S', masters.ssh, '-O', 'exit', sshd.host]) };
  assert.equal(exit.tssh.status, exit.ssh.status);
  assert.equal(exit.tssh.stderr, exit.ssh.stderr);
  assert.equal(exit.tssh.stderr, 'Exit request sent.\r\n');
  await waitFor('the background tssh to exit', () => !existsSync(`/proc/${tsshPid}`), 15_000, 50);
  assert.ok(!existsSync(masters.tssh), 'the control socket is removed');
});

test('ssh -O stop: the tssh master stops listening and keeps its forwards', async () => {
  const ctl = join(dir, 'stop.ctl');
  const port = await freeTcpPort();
  const r = await runTssh([...sshd.configArgs, '--udp', '-o', 'ControlMaster=yes', '-o', `ControlPath=${ctl}`, '-f', '-N', '-L', `${port}:127.0.0.1:${targetPort}`, sshd.host]);
  assert.equal(r.status, 0, r.stderr);
  const pid = await masterPid(ctl);
  const stop = await control(ctl, '-O', 'stop');
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal(stop.stderr, 'Stop listening request sent.\r\n');
  await waitFor('the socket to go', () => !existsSync(ctl), 5000, 20);
  await untilListening({ exitStatus: () => undefined, stderr: () => '' } as never, port);
  assert.equal(await through(port), 'hello from the target\n');
  process.kill(pid, 'SIGTERM');
  await waitFor('the background tssh to exit', () => !existsSync(`/proc/${pid}`), 15_000, 50);
});

test('~P answers with a line naming the new UDP path', async () => {
  const term = new PtyTssh([...sshd.configArgs, '--udp', sshd.host, '-t', 'echo ready; exec cat']);
  try {
    await term.waitForScreen('the command to start', /^ready$/m);
    term.type('\r~P');
    const m = await term.waitForScreen('the confirmation', /tssh: new UDP path from local port (\d+) \(was (\d+)\)/);
    assert.notEqual(m[1], m[2]);
    term.type('still-here\r');
    await term.waitForScreen('the session going on', /^still-here$/m);
    term.type('\r~.');
    await term.waitForExit();
  } finally {
    term.close();
  }
});
