import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SshdFixture, TSSHD_BIN } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { cleanEnv, killLeftovers, PtyTssh, runCollect, type RunResult } from './harness.js';

// Sessions that outlive their client (tssh --attach, tsshd --attachable --socket): real sshd, real ptys, real UDP.
let sshd: SshdFixture;
let runDir: string;
let env: Record<string, string>;
before(async () => {
  // The logins get the test's own runtime directory (XDG_RUNTIME_DIR), so the control sockets stay in the fixture.
  sshd = await SshdFixture.start({ sshdConfig: ['AcceptEnv XDG_RUNTIME_DIR'], clientConfig: ['SendEnv XDG_RUNTIME_DIR', '#!! UdpHeartbeatTimeout 1'] });
  runDir = join(sshd.dir, 'run');
  mkdirSync(runDir, { mode: 0o700 });
  env = cleanEnv({ TERM: 'xterm-256color', XDG_RUNTIME_DIR: runDir });
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

const PROMPT = /[$#>] ?$/m;

interface Listed {
  Pid: number;
  Info: string;
}

/** `tsshd --list` on the "server" (this machine) as the JSON the client reads. */
async function list(extraEnv: Record<string, string> = {}): Promise<Array<{ pid: number; name?: string; sessions: Array<Record<string, unknown>> }>> {
  const r = await runCollect(process.execPath, [TSSHD_BIN, '--list'], { env: { ...env, ...extraEnv } });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout.toString()) as Listed[]).map((item) => {
    const info = JSON.parse(item.Info) as { Name?: string; Sessions?: Array<Record<string, unknown>> };
    return { pid: item.Pid, ...(info.Name !== undefined ? { name: info.Name } : {}), sessions: info.Sessions ?? [] };
  });
}

async function daemonNamed(name: string): Promise<{ pid: number; sessions: Array<Record<string, unknown>> }> {
  return waitFor(`a tsshd named ${name} in tsshd --list`, async () => (await list()).find((d) => d.name === name), 20_000, 100);
}

function attachArgs(name: string, transport: string[] = []): string[] {
  return [...sshd.configArgs, ...transport, '--attach', '-o', `UdpSessionName=${name}`, sshd.host];
}

for (const [transport, name] of [[[], 'alpha'], [['--quic'], 'alpha-quic']] as const) {
test(`${transport.length > 0 ? 'QUIC: ' : ''}a named session survives kill -9 of its client; a new tssh attaches it by name and the shell still has its variable`, async (t) => {
  const first = new PtyTssh(attachArgs(name, [...transport]), { env });
  t.after(() => first.close());
  await first.waitForScreen('a shell prompt', PROMPT);
  first.type('export ATTACH_PROBE=kept-$((6*7)); echo probe-set\r');
  await first.waitForScreen('the variable set', /^probe-set$/m);
  const daemon = await daemonNamed(name);
  assert.equal(daemon.sessions.length, 1);
  assert.equal(daemon.sessions[0]!.Attached, true);

  process.kill(first.pid, 'SIGKILL');
  await first.waitForExit();

  const second = new PtyTssh(attachArgs(name, [...transport]), { env });
  t.after(() => second.close());
  // The shell gives its prompt back on attach (a repaint), before anything is typed.
  await second.waitForScreen('the prompt after attach', PROMPT);
  await second.typeUntilScreen('the variable from before', 'echo "got:$ATTACH_PROBE"\r', /^got:kept-42$/m, 10, 3000);
  // The same daemon, not a new one.
  assert.deepEqual((await list()).filter((d) => d.name === name).map((d) => d.pid), [daemon.pid]);
  second.type('exit\r');
  assert.equal(await second.waitForExit(), 0, second.text());
  await waitFor('the daemon to end with its last session', async () => !(await list()).some((d) => d.pid === daemon.pid), 20_000, 100);
});
}

test('attaching while another client is attached: the old client is told and ends with a clear message', async (t) => {
  const first = new PtyTssh(attachArgs('beta'), { env });
  t.after(() => first.close());
  await first.waitForScreen('a shell prompt', PROMPT);
  first.type('echo first-here\r');
  await first.waitForScreen('first client works', /^first-here$/m);

  const second = new PtyTssh(attachArgs('beta'), { env });
  t.after(() => second.close());
  assert.equal(await first.waitForExit(40_000), 255);
  assert.match(first.text(), /another client attached to this session from 127\.0\.0\.1; this tssh ends/);
  await second.typeUntilScreen('the second client works', 'echo second-$((1+1))\r', /^second-2$/m, 10, 3000);
  second.type('exit\r');
  assert.equal(await second.waitForExit(), 0);
});

test('tsshd --view PID.SID prints the session screen; ~d detaches and says how to come back', async (t) => {
  const first = new PtyTssh(attachArgs('gamma'), { env, cols: 90, rows: 20 });
  t.after(() => first.close());
  await first.waitForScreen('a shell prompt', PROMPT);
  first.type('echo view-$((3*5))-marker\r');
  await first.waitForScreen('the marker', /^view-15-marker$/m);
  const daemon = await daemonNamed('gamma');
  const sid = daemon.sessions[0]!.ID as number;
  const view = await waitFor('the marker in --view', async () => {
    const r = await runCollect(process.execPath, [TSSHD_BIN, '--view', `${daemon.pid}.${sid}`], { env });
    return r.status === 0 && /^view-15-marker$/m.test(r.stdout.toString()) ? r : null;
  }, 20_000, 200);
  assert.equal(view.stdout.toString().split('\n').length - 1, 20, 'one line per row of the 20-row terminal');

  first.type('\r~d');
  assert.equal(await first.waitForExit(), 208);
  assert.match(first.text().replace(/\n/g, ''), /Detached from session gamma on 127\.0\.0\.1; it keeps running\. Attach again with: tssh --attach -o UdpSessionName=gamma tsshd-test/);
  await waitFor('the session listed as detached', async () => (await list()).find((d) => d.pid === daemon.pid)?.sessions[0]?.Attached === false, 20_000, 100);
  const bad = await runCollect(process.execPath, [TSSHD_BIN, '--view', `${daemon.pid}.999`], { env });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^tsshd: --view failed: no terminal session 999 in this tsshd\n$/);

  const second = new PtyTssh(attachArgs('gamma'), { env });
  t.after(() => second.close());
  await second.typeUntilScreen('the attached shell', 'echo back-$((2*4))\r', /^back-8$/m, 10, 3000);
  second.type('exit\r');
  assert.equal(await second.waitForExit(), 0);
});

test('output made while detached is delivered on attach up to the bound, the rest summarised as "N lines not shown"', async (t) => {
  const go = join(sshd.dir, 'delta-go');
  const done = join(sshd.dir, 'delta-done');
  const first = new PtyTssh(attachArgs('delta'), { env });
  t.after(() => first.close());
  await first.waitForScreen('a shell prompt', PROMPT);
  // 100000 numbered lines (688895 bytes through the pty) once GO exists, i.e. after the detach.
  first.type(`while [ ! -e ${go} ]; do sleep 0.1; done; seq 1 100000; touch ${done}\r`);
  // The shell has taken the line (its echo ended with the line break) before the detach, so all later output is the command's.
  await waitFor('the command line taken', () => {
    const buffer = first.screen.buffer.active;
    return first.lines().some((l) => l.includes('touch')) && buffer.getLine(buffer.baseY + buffer.cursorY)?.translateToString(true) === '' && buffer.cursorX === 0;
  }, 20_000, 25);
  first.type('~d');
  assert.equal(await first.waitForExit(), 208);
  const daemon = await daemonNamed('delta');
  await waitFor('the session listed as detached', async () => (await list()).find((d) => d.pid === daemon.pid)?.sessions[0]?.Attached === false, 20_000, 100);
  writeFileSync(go, '');
  await waitFor('the output to be made', () => existsSync(done), 60_000, 100);

  const second = new PtyTssh(attachArgs('delta'), { env });
  t.after(() => second.close());
  await second.waitForScreen('the last line', /^100000$/m, 60_000);
  const raw = second.output;
  const summary = /\[tsshd: (\d+) lines \((\d+) bytes\) of output while detached not shown\]/.exec(raw);
  assert.ok(summary, `no summary line in ${JSON.stringify(raw.slice(0, 400))}`);
  const after = raw.slice(summary.index + summary[0].length);
  const numbers = after.split('\r\n').filter((l) => /^[0-9]+$/.test(l)).map(Number);
  const firstKept = numbers[0]!;
  // Every line is accounted for: the ones not shown are counted, the rest arrive in order, none twice, none missing.
  assert.equal(Number(summary[1]), firstKept - 1);
  assert.deepEqual(numbers, Array.from({ length: 100000 - firstKept + 1 }, (_, i) => firstKept + i));
  // The kept tail is within the documented bound (256 KiB), and most of it.
  const keptBytes = numbers.reduce((n, v) => n + String(v).length + 2, 0);
  assert.ok(keptBytes <= 256 * 1024 && keptBytes > 200 * 1024, `kept ${keptBytes} bytes`);
  assert.equal(Number(summary[2]) + keptBytes, 688895);
  second.type('exit\r');
  assert.equal(await second.waitForExit(), 0);
});

test('while attached, delivery stays lossless: 200000 lines (1.3 MB) arrive whole and in order, with no summary', async (t) => {
  const term = new PtyTssh(attachArgs('iota'), { env });
  t.after(() => term.close());
  await term.waitForScreen('a shell prompt', PROMPT);
  term.type('seq 1 200000; echo seq-$((1+1))-done\r');
  await term.waitForScreen('the end marker', /^seq-2-done$/m, 120_000);
  // A line is what follows the last CR before its CR LF (the shell's bracketed-paste switch precedes the first).
  const numbers = term.output.split('\r\n').map((l) => l.slice(l.lastIndexOf('\r') + 1)).filter((l) => /^[0-9]+$/.test(l)).map(Number);
  assert.equal(numbers.length, 200000);
  assert.ok(numbers.every((n, i) => n === i + 1), 'every line once, in order');
  assert.doesNotMatch(term.output, /not shown/);
  term.type('exit\r');
  assert.equal(await term.waitForExit(), 0);
});

test('vim is redrawn at the new client\'s size after an attach', { skip: existsSync('/usr/bin/vim') ? false : 'vim is not installed' }, async (t) => {
  const file = join(sshd.dir, 'vim-lines.txt');
  writeFileSync(file, Array.from({ length: 60 }, (_, i) => `line-${i + 1}`).join('\n') + '\n');
  const first = new PtyTssh(attachArgs('epsilon'), { env, cols: 80, rows: 24 });
  t.after(() => first.close());
  await first.waitForScreen('a shell prompt', PROMPT);
  first.type(`vim -u NONE -N ${file}\r`);
  await first.waitForScreen('vim at 24 rows', /^line-23\n/m);
  process.kill(first.pid, 'SIGKILL');
  await first.waitForExit();

  const second = new PtyTssh(attachArgs('epsilon'), { env, cols: 120, rows: 40 });
  t.after(() => second.close());
  // 40 rows: 39 lines of the file, then vim's command line.
  await second.waitForScreen('vim repainted at 40 rows', /^line-1\n(line-\d+\n){37}line-39\n/, 30_000);
  assert.equal(second.lines()[0], 'line-1');
  second.type(':qa!\r');
  await second.typeUntilScreen('the new size in the pty', 'clear; stty size\r', /^40 120$/m, 5, 3000);
  second.type('exit\r');
  assert.equal(await second.waitForExit(), 0);
});

test('without a name, tssh --attach lists the sessions in a picker and attaches the one chosen', async (t) => {
  const first = new PtyTssh(attachArgs('zeta'), { env });
  t.after(() => first.close());
  await first.waitForScreen('a shell prompt', PROMPT);
  first.type('ZVAR=picked-$((5*5)); echo zvar-set\r');
  await first.waitForScreen('the variable set', /^zvar-set$/m);
  first.type('~d');
  assert.equal(await first.waitForExit(), 208);

  const picker = new PtyTssh([...sshd.configArgs, '--attach', sshd.host], { env });
  t.after(() => picker.close());
  const row = await picker.waitForScreen('zeta in the picker', /^ {2}(\d+)\) +zeta +bash +started (\S+ ago|now) +seen (\S+ ago|now) +100x30 +detached$/m);
  await picker.waitForScreen('the question', /Attach which one \[1-\d+, default 1\]\? $/m);
  picker.type(`${row[1]}\r`);
  await picker.typeUntilScreen('the chosen session', 'echo "z:$ZVAR"\r', /^z:picked-25$/m, 10, 3000);
  picker.type('exit\r');
  assert.equal(await picker.waitForExit(), 0);
});

test('a session whose client died ends at UdpAliveTimeout', async (t) => {
  const config = sshd.writeClientConfig('alive-config', ['SendEnv XDG_RUNTIME_DIR', '#!! UdpHeartbeatTimeout 1', '#!! UdpAliveTimeout 6']);
  const first = new PtyTssh(['-F', config, '--attach', '-o', 'UdpSessionName=eta', sshd.host], { env });
  t.after(() => first.close());
  await first.waitForScreen('a shell prompt', PROMPT);
  const daemon = await daemonNamed('eta');
  process.kill(first.pid, 'SIGKILL');
  await first.waitForExit();
  const killedAt = Date.now();
  await waitFor('the daemon to end after UdpAliveTimeout', async () => !(await list()).some((d) => d.pid === daemon.pid), 40_000, 200);
  // Not before the alive timeout (6 s, minus the heartbeat's granularity).
  assert.ok(Date.now() - killedAt >= 4000, `ended ${Date.now() - killedAt} ms after the kill`);
});

test('another user can neither list nor attach the session', { skip: process.getuid?.() === 0 ? false : 'needs root to create a throwaway user' }, async (t) => {
  // A runtime directory the other user can traverse, so only tsshd's own 0700 directory stands in the way.
  const shared = mkdtempSync(join(tmpdir(), 'tsshd-attach-'));
  chmodSync(shared, 0o755);
  t.after(() => rmSync(shared, { recursive: true, force: true }));
  const user = `tsshdat${process.pid % 100000}`;
  const added = spawnSync('useradd', ['-M', '-d', '/nonexistent', '-s', '/bin/sh', user], { encoding: 'utf8' });
  if (added.status !== 0) {
    t.skip(`useradd failed: ${added.stderr.trim()}`);
    return;
  }
  t.after(() => void spawnSync('userdel', [user]));
  const sharedEnv = { ...env, XDG_RUNTIME_DIR: shared };
  const first = new PtyTssh(attachArgs('theta'), { env: sharedEnv });
  t.after(() => first.close());
  await first.waitForScreen('a shell prompt', PROMPT);
  const pid = await waitFor('the daemon in the shared directory', async () => {
    const r = await runCollect(process.execPath, [TSSHD_BIN, '--list'], { env: sharedEnv });
    return (JSON.parse(r.stdout.toString()) as Listed[])[0]?.Pid;
  }, 20_000, 100);
  const asOther = (args: string[]): Promise<RunResult> =>
    runCollect('runuser', ['-u', user, '--', 'env', `XDG_RUNTIME_DIR=${shared}`, 'HOME=/nonexistent', process.execPath, TSSHD_BIN, ...args], { env: sharedEnv });
  const listed = await asOther(['--list']);
  assert.equal(listed.status, 1);
  assert.match(listed.stderr, /^tsshd: --list failed: the socket directory \S+ belongs to uid 0, not to you \(uid \d+\)/);
  const attached = await asOther(['--attach', String(pid)]);
  assert.equal(attached.status, 1);
  assert.equal(attached.stdout.length, 0, 'no bootstrap line for another user');
  // Even going straight for the socket file: the 0700 directory refuses.
  const direct = await runCollect('runuser', ['-u', user, '--', process.execPath, '-e', `require('net').connect(${JSON.stringify(join(shared, 'tsshd', `socket-${pid}`))}).on('error', (e) => { console.log(e.code); process.exit(3); })`], { env: sharedEnv });
  assert.equal(direct.status, 3);
  assert.equal(direct.stdout.toString().trim(), 'EACCES');
  first.type('exit\r');
  assert.equal(await first.waitForExit(), 0);
});

test('SIGTERM to a tsshd whose session is detached ends it and its session', async (t) => {
  const first = new PtyTssh(attachArgs('kappa'), { env });
  t.after(() => first.close());
  await first.waitForScreen('a shell prompt', PROMPT);
  first.type('~d');
  assert.equal(await first.waitForExit(), 208);
  const daemon = await daemonNamed('kappa');
  process.kill(daemon.pid, 'SIGTERM');
  await waitFor('the daemon to exit', () => {
    try {
      process.kill(daemon.pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 20_000, 50);
  assert.ok(!(await list()).some((d) => d.pid === daemon.pid));
});
