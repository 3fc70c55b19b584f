import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { seqText } from '../forward/fixtures.js';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listSockets } from '../../src/server/attach-dir.js';
import { SshdFixture, TSSHD_BIN } from '../support/sshd.js';
import { waitFor } from '../support/wait.js';
import { killLeftovers, PtyTssh, runTssh } from '../e2e/harness.js';
import { GO_TSSH, goConfig, goEnv, NO_GO_TSSH, runGoTssh } from './server-go-peer.js';

// The reference Go tssh (trzsz-ssh v0.1.26) against our tsshd, over a real sshd: shells and commands.
let sshd: SshdFixture;
let config: string;
before(async () => {
  if (NO_GO_TSSH) return;
  sshd = await SshdFixture.start();
  config = goConfig(sshd, 'go_config');
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

/** Arguments for the Go tssh: our config, a mode flag, the host, the command. */
const go = (mode: string, ...command: string[]): string[] => ['-F', config, mode, sshd.host, ...command];
const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const PROMPT = /[$#>] ?$/m;


// --udp asks for QUIC (the Go client's default): our tsshd answers KCP and the client follows ServerInfo.Mode.
for (const mode of ['--kcp', '--udp']) {
  test(`${mode}: an interactive shell: prompt, a typed command, a resize, exit 7 gives 7`, { skip: NO_GO_TSSH }, async (t) => {
    const term = new PtyTssh(go(mode), { program: GO_TSSH, cols: 100, rows: 30, env: goEnv(sshd, { TERM: 'xterm-256color' }) });
    t.after(() => term.close());
    await term.waitForScreen('a shell prompt', PROMPT);
    term.type('echo $((6*7))-typed\r');
    await term.waitForScreen('the command output', /^42-typed$/m);
    term.type('stty size\r');
    await term.waitForScreen('the first size', /^30 100$/m);
    term.resize(123, 41);
    // The window change (bus) and the typed line (session stream) race: ask again, bounded, until the new size shows.
    await term.typeUntilScreen('the new size', 'clear; stty size\r', /^41 123$/m);
    term.type('exit 7\r');
    assert.equal(await term.waitForExit(), 7);
  });

  test(`${mode}: a command's stdout and stderr stay apart and its exit status is the client's`, { skip: NO_GO_TSSH }, async () => {
    const r = await runGoTssh(sshd, go(mode, "sh -c 'echo to-out; echo to-err >&2; exit 3'"));
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout.toString(), 'to-out\n');
    assert.match(r.stderr, /^to-err\n/);
  });
}

test('a command killed by a signal gives 255, as with the Go tsshd', { skip: NO_GO_TSSH }, async () => {
  const r = await runGoTssh(sshd, go('--kcp', "sh -c 'kill -KILL $$'"));
  assert.equal(r.status, 255, r.stderr);
});

test('stdin reaches the command and its EOF ends it', { skip: NO_GO_TSSH }, async () => {
  const r = await runGoTssh(sshd, go('--kcp', "sh -c 'tr a-z A-Z; echo done'"), { input: 'typed line\nsecond\n' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'TYPED LINE\nSECOND\ndone\n');
});

test('words of the command are taken literally, as the reference tsshd execs them', { skip: NO_GO_TSSH }, async () => {
  // The Go tssh splits the command into words; the Go tsshd runs echo with them, so ; and $ stay literal.
  const r = await runGoTssh(sshd, go('--kcp', 'echo a;b $HOME'));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'a;b $HOME\n');
});

test('environment: LC_* is sent (SendEnv) and kept by AcceptEnv; other variables are not', { skip: NO_GO_TSSH }, async () => {
  const cfg = goConfig(sshd, 'go_config_env', ['SendEnv LC_* TSSH_NOT_ACCEPTED']);
  const env = goEnv(sshd, { LC_TSSH_TEST: 'yes', TSSH_NOT_ACCEPTED: 'no' });
  const r = await runGoTssh(sshd, ['-F', cfg, '--kcp', sshd.host, "sh -c 'echo ${LC_TSSH_TEST:-unset}/${TSSH_NOT_ACCEPTED:-unset}'"], { env });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.toString(), 'yes/unset\n');
});

test('10 MB of output arrives intact and in order', { skip: NO_GO_TSSH }, async () => {
  const n = 1_400_000;
  const expected = seqText(n);
  assert.ok(expected.length > 10_000_000);
  const r = await runGoTssh(sshd, go('--kcp', 'seq', '1', String(n)), { timeoutMs: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.length, expected.length);
  assert.equal(sha256(r.stdout), sha256(expected));
});

test('our tssh pinned to TsshdProtocol reference is served by our tsshd\'s reference family too', { skip: NO_GO_TSSH }, async () => {
  // Both of our reference halves against each other; tsshd's debug log says which family it served.
  const cache = join(sshd.dir, 'cache-reference');
  const wrapper = join(sshd.dir, 'tsshd-debug');
  writeFileSync(wrapper, `#!/bin/sh\nXDG_CACHE_HOME='${cache}' exec '${process.execPath}' '${TSSHD_BIN}' --debug "$@"\n`, { mode: 0o700 });
  const config = sshd.writeClientConfig('ssh_config_reference', [], wrapper);
  const r = await runTssh(['-F', config, '--kcp', '-o', 'TsshdProtocol=reference', sshd.host, 'echo out; echo err >&2; exit 4']);
  assert.equal(r.status, 4, r.stderr);
  assert.equal(r.stdout.toString(), 'out\n');
  assert.match(r.stderr, /err\n$/);
  const logDir = join(cache, 'tsshd');
  await waitFor('the log to end', () => readdirSync(logDir).some((f) => /exiting with status/.test(readFileSync(join(logDir, f), 'utf8'))), 20_000);
  const log = readFileSync(join(logDir, readdirSync(logDir)[0]!), 'utf8');
  assert.match(log, /the port is served to the reference tssh/);
});

test('--attach (UdpSessionAttach): our tsshd --list gives [] and the --attachable --socket tsshd serves the Go tssh a working shell', { skip: NO_GO_TSSH }, async (t) => {
  // Its own runtime directory (SendEnv), so the control sockets of other runs are not listed.
  const runDir = mkdtempSync(join(tmpdir(), 'tsshd-go-attach-'));
  chmodSync(runDir, 0o700);
  const own = await SshdFixture.start({ sshdConfig: ['AcceptEnv XDG_RUNTIME_DIR'] });
  t.after(async () => {
    await own.stop();
    rmSync(runDir, { recursive: true, force: true });
  });
  const term = new PtyTssh(['-F', goConfig(own, 'go_attach', ['SendEnv XDG_RUNTIME_DIR']), '--kcp', '--attach', own.host], {
    program: GO_TSSH,
    cols: 100,
    rows: 30,
    env: goEnv(own, { TERM: 'xterm-256color', XDG_RUNTIME_DIR: runDir }),
  });
  t.after(() => term.close());
  // It lists our sessions (tsshd --list: []), so its picker offers only a new one.
  await term.waitForScreen('the Go tssh\'s session picker', /Create a new session/);
  assert.doesNotMatch(term.text(), /\[\d+\]|Pid|attach failed|list failed/);
  term.type('\r');
  await term.waitForScreen('a shell prompt', PROMPT);
  term.type('echo $((6*7))-attachable\r');
  await term.waitForScreen('the command output', /^42-attachable$/m);
  // The tsshd it started is the attachable one (its control socket is in the runtime directory).
  assert.equal(listSockets(join(runDir, 'tsshd')).length, 1);
  term.type('exit 7\r');
  assert.equal(await term.waitForExit(), 7);
});
