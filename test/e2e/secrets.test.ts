/**
 * The session secret travels only in the bootstrap line over SSH. During a
 * real tssh session (with tsshd --debug), the secret must appear in no
 * process's command line or environment (tssh, ssh, tsshd, the shell and
 * everything else of ours, sampled from start-up on) and not in the debug log,
 * which must be 0600 in a 0700 directory.
 *
 * Test seam: TsshdPath is a wrapper that copies tsshd's stdout (the bootstrap
 * line) to a file in the test's private directory; that is how the test learns
 * the secret without any help from the product.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBootstrapSecret } from '../../src/protocol/bootstrap.js';
import { parseBootstrapReply } from '../../src/protocol/bootstrap-reply.js';
import { SshdFixture, TSSHD_BIN } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { portOwner } from '../server/tsshd-fixture.js';
import { cleanEnv, freeUdpPort, killLeftovers, PtyTssh } from './harness.js';

let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start();
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

const PROMPT = /[$#>] ?$/m;

/** cmdline and environ of every process we may read, keyed by "pid name". */
function snapshot(into: Map<string, Set<string>>): void {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    for (const file of ['cmdline', 'environ']) {
      try {
        const text = readFileSync(`/proc/${name}/${file}`, 'latin1');
        const key = `${name} ${file}`;
        let seen = into.get(key);
        if (seen === undefined) into.set(key, (seen = new Set()));
        seen.add(text);
      } catch {
        // Gone, or another user's.
      }
    }
  }
}

/** PIDs of `root` and all its descendants. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const visit = (pid: number): void => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) visit(c);
  };
  visit(root);
  return out;
}

test('the session secrets (ours and the reference family\'s) are in no command line, environment or log, and the log is private', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tssh-secrets-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bootstrapCopy = join(dir, 'bootstrap.out');
  const cacheHome = join(dir, 'cache');
  const wrapper = join(dir, 'tsshd');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nXDG_CACHE_HOME='${cacheHome}' '${process.execPath}' '${TSSHD_BIN}' --debug "$@" | tee '${bootstrapCopy}'\n`,
    { mode: 0o700 },
  );
  const config = sshd.writeClientConfig('ssh_config_secrets', [], wrapper);

  // Sample every process from before tssh starts, so short-lived ones (ssh, the tsshd parent) are seen too.
  const seen = new Map<string, Set<string>>();
  const sampler = setInterval(() => snapshot(seen), 20);
  t.after(() => clearInterval(sampler));

  const port = await freeUdpPort();
  const term = new PtyTssh(['-F', config, '--udp', '--tsshd-port', String(port), sshd.host], { env: cleanEnv({ TERM: 'xterm-256color' }) });
  t.after(() => term.close());
  await term.waitForScreen('a shell prompt', PROMPT);
  term.type('echo "shell=$$"\r');
  const shell = Number((await term.waitForScreen('the shell PID', /shell=(\d+)/))[1]);
  const tsshd = await waitFor(`tsshd on udp port ${port}`, () => portOwner(port, 'udp'), 20_000);
  snapshot(seen);
  clearInterval(sampler);

  // The line is the reference ServerInfo with our bootstrap inside: neither family's keys may leak.
  const reply = parseBootstrapReply(readFileSync(bootstrapCopy, 'utf8'));
  const info = reply.native!;
  const raw = decodeBootstrapSecret(info.secret);
  const forms = [info.secret, raw.toString('base64'), raw.toString('hex'), raw.toString('latin1')];
  for (const key of [reply.reference!.proxyKey, reply.reference!.pass!]) forms.push(key.toString('hex'), key.toString('base64'));

  // The processes that matter were among those sampled: tssh, ssh, tsshd and its session.
  const sampled = (pid: number): boolean => seen.has(`${pid} cmdline`) && seen.has(`${pid} environ`);
  const tsshdTree = descendants(tsshd);
  assert.ok(tsshdTree.includes(shell), 'the shell runs under tsshd');
  for (const pid of tsshdTree) assert.ok(sampled(pid), `tsshd's process ${pid} was sampled`);
  const cmdlines = [...seen].filter(([k]) => k.endsWith('cmdline')).flatMap(([k, v]) => [...v].map((text) => ({ pid: k.split(' ')[0], text })));
  assert.ok(cmdlines.some((c) => c.text.includes(config) && /(^|\/)ssh\0/.test(c.text)), 'an ssh process of this login was sampled');
  assert.ok(cmdlines.some((c) => c.text.includes(config) && c.text.includes('tssh')), 'the tssh process was sampled');

  for (const [key, texts] of seen) {
    for (const text of texts) {
      for (const form of forms) assert.ok(!text.includes(form), `the secret appears in /proc/${key.replace(' ', '/')}`);
    }
  }

  // The debug log: one file, 0600, in a 0700 directory, without the secret.
  const logDir = join(cacheHome, 'tsshd');
  assert.equal(statSync(logDir).mode & 0o777, 0o700);
  const logs = readdirSync(logDir);
  assert.equal(logs.length, 1);
  const logPath = join(logDir, logs[0]!);
  assert.equal(statSync(logPath).mode & 0o777, 0o600);

  term.type('exit\r');
  assert.equal(await term.waitForExit(30_000), 0);
  await waitFor('tsshd to exit and finish its log', () => /exiting with status/.test(readFileSync(logPath, 'utf8')), 30_000);
  const log = readFileSync(logPath, 'latin1');
  assert.match(log, /client authenticated from/);
  for (const form of forms) assert.ok(!log.includes(form), 'the secret appears in the debug log');
});
