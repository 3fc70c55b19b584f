import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSshArgs, TSSH_LONG_OPTIONS } from '../../src/client/ssh-args.js';
import { TSSH_CONFIG_OPTIONS, TSSH_FLAGS, tsshUsage } from '../../src/client/tssh-usage.js';
import { TSSH_OPTION_NAMES } from '../../src/client/udp-options.js';
import { tsshdManPage, tsshManPage } from '../../src/cli/manual.js';
import { RELAY_FLAGS, RELAY_USAGE } from '../../src/server/hop-relay-main.js';
import { BOOLEAN_FLAGS, FLAG_FORMS, parseTsshdArgs, TSSHD_FLAGS, TSSHD_USAGE } from '../../src/server/tsshd-args.js';
import { PROTOCOL_VERSION, VERSION } from '../../src/version.js';
import { CHECKOUT_ROOT, TSSH_BIN, TSSHD_BIN } from '../support/sshd.js';

// The help and the man page are rendered from tables; these tests hold the tables to the parsers.

const documentedTsshFlags = TSSH_FLAGS.flatMap((f) => f.names);

test('tssh --help documents every long option the parser takes, and the parser takes every documented flag', () => {
  const help = tsshUsage();
  for (const option of TSSH_LONG_OPTIONS) {
    assert.ok(documentedTsshFlags.includes(option), `${option} is parsed but not in TSSH_FLAGS`);
    assert.match(help, new RegExp(`^  (-\\S+, )?${option}\\b`, 'm'), `${option} missing from tssh --help`);
  }
  for (const flag of TSSH_FLAGS) {
    const args = flag.value !== undefined ? [flag.names[0]!, 'x1'] : [flag.names[0]!];
    // Only the option's own parse matters here (a value may be refused later, an unknown flag is refused here).
    try {
      parseSshArgs([...args, 'host']);
    } catch (err) {
      assert.doesNotMatch((err as Error).message, /unknown option/, `${flag.names[0]} is documented but not parsed`);
    }
  }
});

test('tssh --help lists every #!! option with its default', () => {
  const help = tsshUsage();
  const documented = TSSH_CONFIG_OPTIONS.map((o) => o.name);
  assert.deepEqual([...documented].sort(), [...TSSH_OPTION_NAMES].sort(), 'TSSH_CONFIG_OPTIONS and the option checker disagree');
  for (const o of TSSH_CONFIG_OPTIONS) {
    assert.match(help, new RegExp(`^  ${o.name} .*\\(default ${o.default.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`, 'm'), `${o.name} or its default missing`);
  }
  // ssh's letters are listed from the parser's own getopt string.
  for (const letter of 'AfNLRDW') assert.match(help, new RegExp(`-[A-Za-z0-9]*${letter}`), `-${letter} missing`);
});

test('tsshd --help documents every flag tsshd parses', () => {
  const documented = TSSHD_FLAGS.flatMap((f) => f.names);
  for (const flag of [...BOOLEAN_FLAGS, ...Object.keys(FLAG_FORMS)]) {
    assert.ok(documented.includes(flag), `${flag} parsed but undocumented`);
    assert.ok(TSSHD_USAGE.includes(flag), `${flag} missing from tsshd --help`);
  }
  for (const flag of ['--relay', '--alive-timeout']) assert.ok(RELAY_USAGE.includes(flag) && RELAY_FLAGS.some((f) => f.names.includes(flag)), flag);
});

test('tsshd -v prints the version; -V adds the protocol versions of both families (as with the Go tsshd)', () => {
  assert.deepEqual(parseTsshdArgs(['-v']), { action: 'version', detailed: false });
  assert.deepEqual(parseTsshdArgs(['-V']), { action: 'version', detailed: true });
  const short = spawnSync(process.execPath, [TSSHD_BIN, '-v'], { encoding: 'utf8' });
  assert.equal(short.status, 0, short.stderr);
  assert.equal(short.stdout, `tsshd ${VERSION}\n`);
  const r = spawnSync(process.execPath, [TSSHD_BIN, '-V'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^tsshd ${VERSION.replace(/\./g, '\\.')} \\(protocol ${PROTOCOL_VERSION}; also serves the reference tssh, protocol \\d+ `));
});

test('tssh --version and --help print and exit 0', () => {
  const v = spawnSync(process.execPath, [TSSH_BIN, '--version'], { encoding: 'utf8' });
  assert.equal(v.stdout, `tssh ${VERSION}\n`);
  const h = spawnSync(process.execPath, [TSSH_BIN, '--help'], { encoding: 'utf8' });
  assert.equal(h.status, 0);
  assert.equal(h.stdout, tsshUsage());
});

test('the man pages hold every flag and option, and are the ones the build installs', () => {
  const roff = (s: string): string => s.replace(/-/g, '\\-');
  const tssh = tsshManPage();
  for (const name of [...documentedTsshFlags, ...TSSH_CONFIG_OPTIONS.map((o) => o.name)]) assert.ok(tssh.includes(roff(name)), `${name} missing from tssh.1`);
  const tsshd = tsshdManPage();
  for (const name of [...TSSHD_FLAGS, ...RELAY_FLAGS].flatMap((f) => f.names)) assert.ok(tsshd.includes(roff(name)), `${name} missing from tsshd.1`);
  assert.match(tssh, /^\.TH TSSH 1 /);
  const pkg = JSON.parse(readFileSync(join(CHECKOUT_ROOT, 'package.json'), 'utf8')) as { man: string[] };
  assert.deepEqual(pkg.man, ['dist/man/tssh.1', 'dist/man/tsshd.1']);
  assert.equal(readFileSync(join(CHECKOUT_ROOT, 'dist/man/tssh.1'), 'utf8'), tssh);
  assert.equal(readFileSync(join(CHECKOUT_ROOT, 'dist/man/tsshd.1'), 'utf8'), tsshd);
  // No roff warnings where man is installed.
  for (const page of ['tssh.1', 'tsshd.1']) {
    const check = spawnSync('man', ['--warnings', '-l', join(CHECKOUT_ROOT, 'dist/man', page)], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80' } });
    if (check.error === undefined) assert.equal(check.stderr.trim(), '', `${page}: ${check.stderr}`);
  }
});

test('--tsshd-version (the reference tssh\'s flag) must name the version this tssh carries; install flags need --install-tsshd', () => {
  const wrong = spawnSync(process.execPath, [TSSH_BIN, '--install-tsshd', '--tsshd-version', '9.9.9', 'nohost.invalid'], { encoding: 'utf8' });
  assert.equal(wrong.status, 255);
  assert.equal(wrong.stderr, `tssh: this tssh installs tsshd ${VERSION}, the one it carries (not 9.9.9); for another version use that version's tssh, or --tsshd-bin-path\n`);
  const stray = spawnSync(process.execPath, [TSSH_BIN, '--install-path', '/opt/bin', 'nohost.invalid'], { encoding: 'utf8' });
  assert.equal(stray.status, 255);
  assert.equal(stray.stderr, 'tssh: --install-path goes with --install-tsshd (tssh --install-tsshd --install-path ... host)\n');
});
