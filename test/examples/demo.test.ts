import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECKOUT_ROOT } from '../support/sshd.js';
import { cleanEnv, PtyTssh } from '../e2e/harness.js';
import { waitFor } from '../support/wait.js';
import { serverProcesses } from '../../examples/integrated/processes.js';
import { exampleScript } from './example-fixture.js';

// `npm start`: the demo under a real terminal, as a newcomer runs it. No OpenSSH server involved.

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('npm start runs the demo program', () => {
  const pkg = JSON.parse(readFileSync(join(CHECKOUT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.start ?? '', /node dist\/examples\/integrated\/demo\.js$/);
});

test('the demo lands in a real shell over UDP, runs a command, and stops everything when the shell exits', async (t) => {
  const temp = mkdtempSync(join(tmpdir(), 'tsshd-demo-test-'));
  const demo = new PtyTssh([], { script: exampleScript('integrated/demo.js'), cols: 120, rows: 30, env: cleanEnv({ TERM: 'xterm-256color', TMPDIR: temp }) });
  t.after(() => {
    demo.close();
    for (const pid of serverProcesses(demo.pid)) process.kill(pid, 'SIGKILL');
    rmSync(temp, { recursive: true, force: true });
  });
  await demo.waitForScreen('the banner', /tsshd demo: a real shell over UDP[\s\S]*~\?[\s\S]*~P/);
  await demo.waitForScreen('the welcome from the server', /\[integrated example\] shell for \S+; client \S+ port \d+/, 60_000);
  // The quotes keep the echoed command line from matching the output.
  demo.type('echo "pid:$$" "tsshd""=$(ps -o comm= $PPID)"; echo "demo-$((6*7))"\r');
  const shown = await demo.waitForScreen('the command output', /^pid:(\d+) tsshd=(\S+)\s*\ndemo-42$/m, 60_000);
  const shellPid = Number(shown[1]);
  // The shell is a child of the tsshd daemon (this example in tsshd mode), not of a TCP SSH channel.
  assert.equal(shown[2], 'node');
  assert.equal(alive(shellPid), true);
  const daemons = serverProcesses(demo.pid);
  assert.ok(daemons.length >= 1, 'the tsshd daemon runs, marked by the server');
  demo.type('exit\r');
  assert.equal(await demo.waitForExit(60_000), 0);
  assert.equal(alive(shellPid), false, 'the shell is gone');
  assert.deepEqual(serverProcesses(demo.pid), [], 'the tsshd daemon is gone');
  await waitFor('the demo process to be reaped', () => !alive(demo.pid), 10_000);
  assert.deepEqual(readdirSync(temp), [], 'the temp dir with the keys is removed');
});
