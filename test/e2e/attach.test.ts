import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SshdFixture, TSSHD_BIN } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { cleanEnv, killLeftovers, PtyTssh, runCollect } from './harness.js';

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

function attachArgs(name: string): string[] {
  return [...sshd.configArgs, '--attach', '-o', `UdpSessionName=${name}`, sshd.host];
}

test('a named session survives kill -9 of its client; a new tssh attaches it by name and the shell still has its variable', async (t) => {
  const first = new PtyTssh(attachArgs('alpha'), { env });
  t.after(() => first.close());
  await first.waitForScreen('a shell prompt', PROMPT);
  first.type('export ATTACH_PROBE=kept-$((6*7)); echo probe-set\r');
  await first.waitForScreen('the variable set', /^probe-set$/m);
  const daemon = await daemonNamed('alpha');
  assert.equal(daemon.sessions.length, 1);
  assert.equal(daemon.sessions[0]!.Attached, true);

  process.kill(first.pid, 'SIGKILL');
  await first.waitForExit();

  const second = new PtyTssh(attachArgs('alpha'), { env });
  t.after(() => second.close());
  // The shell gives its prompt back on attach (a repaint), before anything is typed.
  await second.waitForScreen('the prompt after attach', PROMPT);
  await second.typeUntilScreen('the variable from before', 'echo "got:$ATTACH_PROBE"\r', /^got:kept-42$/m, 10, 3000);
  // The same daemon, not a new one.
  assert.deepEqual((await list()).filter((d) => d.name === 'alpha').map((d) => d.pid), [daemon.pid]);
  second.type('exit\r');
  assert.equal(await second.waitForExit(), 0, second.text());
  await waitFor('the daemon to end with its last session', async () => !(await list()).some((d) => d.pid === daemon.pid), 20_000, 100);
});

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
