import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decidePty, NO_PTY_WARNING, parseEscapeChar, parseOptionPair, parseSshArgs, SSH_GETOPT, sshArgsWithout } from '../../src/client/ssh-args.js';

test('destination, user and command words', () => {
  const a = parseSshArgs(['alice@example.com', 'ls', '-l', '/tmp']);
  assert.equal(a.destination, 'alice@example.com');
  assert.equal(a.host, 'example.com');
  assert.equal(a.user, 'alice');
  assert.deepEqual(a.command, ['ls', '-l', '/tmp']);
  assert.equal(a.commandLine, 'ls -l /tmp');
  assert.deepEqual(a.sshArgs, ['alice@example.com', 'ls', '-l', '/tmp']);
});

test('the last @ splits user and host', () => {
  const a = parseSshArgs(['me@corp@host']);
  assert.equal(a.user, 'me@corp');
  assert.equal(a.host, 'host');
});

test('attached and separate option arguments, clustered flags', () => {
  const a = parseSshArgs(['-p22', '-l', 'bob', '-At', '-tv', 'host']);
  assert.equal(a.port, 22);
  assert.equal(a.user, 'bob');
  assert.equal(a.agent, true);
  assert.equal(a.tCount, 2);
  assert.equal(a.verbose, 1);
  const b = parseSshArgs(['-tp', '2222', 'host']);
  assert.equal(b.tCount, 1);
  assert.equal(b.port, 2222);
});

test('options after the destination are still options (ssh re-parses), until the first non-option', () => {
  const a = parseSshArgs(['host', '-p', '2200', '-L', '8080:db:80', 'uptime', '-p', '1']);
  assert.equal(a.port, 2200);
  assert.deepEqual(a.localForwards, ['8080:db:80']);
  assert.deepEqual(a.command, ['uptime', '-p', '1']);
});

test('-- ends options; after the destination it makes the rest the command', () => {
  const a = parseSshArgs(['host', '--', '-p', '1']);
  assert.deepEqual(a.command, ['-p', '1']);
  assert.equal(a.port, undefined);
  const b = parseSshArgs(['-v', '--', 'host', '-p', '1']);
  assert.equal(b.host, 'host');
  assert.deepEqual(b.command, ['-p', '1']);
});

test('first -l / user@ wins and first -p / URI port wins, like ssh', () => {
  assert.equal(parseSshArgs(['-l', 'first', 'second@host']).user, 'first');
  assert.equal(parseSshArgs(['first@host', '-l', 'second']).user, 'first');
  assert.equal(parseSshArgs(['-p', '1', '-p', '2', 'h']).port, 1);
  assert.equal(parseSshArgs(['-p', '1', 'ssh://h:2']).port, 1);
});

test('ssh:// URIs', () => {
  const a = parseSshArgs(['ssh://carol@example.org:2222']);
  assert.equal(a.user, 'carol');
  assert.equal(a.host, 'example.org');
  assert.equal(a.port, 2222);
  const b = parseSshArgs(['ssh://[::1]:22/']);
  assert.equal(b.host, '::1');
  assert.equal(b.port, 22);
  assert.equal(parseSshArgs(['ssh://h']).port, undefined);
  assert.equal(parseSshArgs(['ssh://a%40b@h']).user, 'a@b');
  assert.throws(() => parseSshArgs(['ssh://h/path']), /an ssh:\/\/ URI takes no path/);
  assert.throws(() => parseSshArgs(['ssh://h:99999']), /bad port "99999"/);
  assert.throws(() => parseSshArgs(['ssh://@h']), /empty user/);
  assert.throws(() => parseSshArgs(['ssh://[::1']), /unclosed \[/);
  assert.throws(() => parseSshArgs(['ssh://']), /missing host/);
});

test('tssh own options are removed from sshArgs', () => {
  const a = parseSshArgs(['--udp', '--tsshd-path', '/opt/tsshd', '--tsshd-port=7000-7010', '-p', '22', 'host', 'cmd']);
  assert.deepEqual(a.ourOptions, { help: false, udpMode: 'yes', tsshdPath: '/opt/tsshd', tsshdPort: '7000-7010' });
  assert.deepEqual(a.sshArgs, ['-p', '22', 'host', 'cmd']);
  assert.equal(parseSshArgs(['--kcp', 'h']).ourOptions.udpMode, 'kcp');
  assert.equal(parseSshArgs(['--quic', '--udp', 'h']).ourOptions.udpMode, 'quic');
  assert.equal(parseSshArgs(['--tcp', 'h']).ourOptions.udpMode, 'no');
  assert.deepEqual(parseSshArgs(['h', '--udp']).sshArgs, ['h']);
  assert.deepEqual(parseSshArgs(['h', 'echo', '--udp']).command, ['echo', '--udp']);
});

test('help needs no destination and -V/-Q pass through to ssh', () => {
  assert.equal(parseSshArgs(['--help']).ourOptions.help, true);
  const h = parseSshArgs(['-h']);
  assert.equal(h.ourOptions.help, true);
  assert.deepEqual(h.sshArgs, []);
  const v = parseSshArgs(['-V', '-z']);
  assert.equal(v.passThrough, true);
  assert.equal(parseSshArgs(['-Q', 'cipher']).passThrough, true);
  assert.equal(parseSshArgs(['-G', 'host']).passThrough, true);
});

test('collected options: -o pairs, forwards, -W, -N, -e, -F, -A/-a, -X/-Y/-x, -s, -q', () => {
  const a = parseSshArgs([
    '-o', 'UdpMode=yes', '-oServerAliveInterval 30', '-o', 'ProxyJump = "jump host"',
    '-L', '1:h:2', '-R', '3:h:4', '-D', '1080', '-W', 'h:22', '-N', '-e', '^]', '-F', '/cfg',
    '-A', '-a', '-X', '-Y', '-x', '-s', '-q', 'host',
  ]);
  assert.deepEqual(a.options, [
    { key: 'udpmode', value: 'yes' },
    { key: 'serveraliveinterval', value: '30' },
    { key: 'proxyjump', value: '"jump host"' },
  ]);
  assert.deepEqual([a.localForwards, a.remoteForwards, a.dynamicForwards], [['1:h:2'], ['3:h:4'], ['1080']]);
  assert.equal(a.stdioForward, 'h:22');
  assert.equal(a.noCommand, true);
  assert.equal(a.escapeChar, 29);
  assert.equal(a.configFile, '/cfg');
  assert.equal(a.agent, false);
  assert.equal(a.x11, 'off');
  assert.equal(a.subsystem, true);
  assert.equal(a.quiet, true);
  assert.equal(a.letters.length, 17);
});

test('-t/-T: last wins, -t after -T counts from zero', () => {
  assert.deepEqual(pick(parseSshArgs(['-T', 'h'])), [0, true]);
  assert.deepEqual(pick(parseSshArgs(['-t', '-T', 'h'])), [0, true]);
  assert.deepEqual(pick(parseSshArgs(['-T', '-t', 'h'])), [1, false]);
  assert.deepEqual(pick(parseSshArgs(['-tt', 'h'])), [2, false]);
  function pick(a: { tCount: number; forceNoTty: boolean }) {
    return [a.tCount, a.forceNoTty];
  }
});

test('errors: unknown option, missing argument, bad port, bad escape, bad -o, no destination', () => {
  assert.throws(() => parseSshArgs(['-z', 'h']), { message: 'tssh: unknown option -- z; run tssh --help for usage' });
  assert.throws(() => parseSshArgs(['-tz', 'h']), /unknown option -- z/);
  assert.throws(() => parseSshArgs(['h', '-p']), { message: 'tssh: option requires an argument -- p; run tssh --help for usage' });
  assert.throws(() => parseSshArgs(['-p', 'x', 'h']), { message: `tssh: bad port "x" for -p; use a number from 1 to 65535` });
  assert.throws(() => parseSshArgs(['-p', '0', 'h']), /bad port "0"/);
  assert.throws(() => parseSshArgs(['-e', 'ab', 'h']), { message: 'tssh: bad escape character "ab" for -e; use one character, ^X or none' });
  assert.throws(() => parseSshArgs(['-o', 'Key', 'h']), { message: 'tssh: -o "Key" has no value; use -o Key=Value' });
  assert.throws(() => parseSshArgs(['-o', '=v', 'h']), /has no option name/);
  assert.throws(() => parseSshArgs([]), { message: 'tssh: missing destination; usage: tssh [options] [user@]host [command]' });
  assert.throws(() => parseSshArgs(['-v']), /missing destination/);
  assert.throws(() => parseSshArgs(['@h']), /empty user/);
  assert.throws(() => parseSshArgs(['u@']), /missing host/);
  assert.throws(() => parseSshArgs(['--frobnicate', 'h']), /tssh: unknown option "--frobnicate"; tssh's own options are --udp/);
  assert.throws(() => parseSshArgs(['--udp=1', 'h']), /--udp takes no value/);
  assert.throws(() => parseSshArgs(['--tsshd-path']), /--tsshd-path needs a value/);
  assert.throws(() => parseSshArgs(['--tsshd-port', 'x', 'h']), /--tsshd-port: port spec 'x'/);
  assert.throws(() => parseSshArgs(['--kcp', '--quic', 'h']), /--kcp and --quic cannot be used together/);
  assert.throws(() => parseSshArgs(['--tcp', '--udp', 'h']), /--tcp turns UDP off/);
});

test('parseEscapeChar and parseOptionPair', () => {
  assert.equal(parseEscapeChar('~'), 126);
  assert.equal(parseEscapeChar('^A'), 1);
  assert.equal(parseEscapeChar('none'), 'none');
  assert.equal(parseEscapeChar('^'), 94);
  assert.equal(parseEscapeChar('^\x01'), null);
  assert.equal(parseEscapeChar(''), null);
  assert.deepEqual(parseOptionPair('  Port   22 '), { key: 'port', value: '22' });
  assert.deepEqual(parseOptionPair('SendEnv=LANG LC_*'), { key: 'sendenv', value: 'LANG LC_*' });
});

test('decidePty follows ssh', () => {
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  const base = { tCount: 0, forceNoTty: false, command: [] as string[], stdinIsTty: true, warn };
  assert.equal(decidePty(base), true);
  assert.equal(decidePty({ ...base, command: ['ls'] }), false);
  assert.equal(decidePty({ ...base, forceNoTty: true }), false);
  assert.equal(decidePty({ ...base, tCount: 1, command: ['top'] }), true);
  assert.equal(decidePty({ ...base, noCommand: true }), false);
  assert.equal(decidePty({ ...base, command: 'ls', requestTty: 'yes' }), true);
  assert.equal(decidePty({ ...base, tCount: 1, requestTty: 'no' }), true);
  assert.deepEqual(warnings, []);
  assert.equal(decidePty({ ...base, tCount: 2, command: ['top'], stdinIsTty: false }), true);
  assert.deepEqual(warnings, []);
  assert.equal(decidePty({ ...base, tCount: 1, command: ['top'], stdinIsTty: false }), false);
  assert.deepEqual(warnings, [NO_PTY_WARNING]);
  assert.equal(decidePty({ ...base, stdinIsTty: false }), false);
  assert.equal(warnings.length, 2);
  assert.equal(decidePty({ ...base, command: ['ls'], stdinIsTty: false }), false);
  assert.equal(decidePty({ ...base, stdinIsTty: false, quiet: true }), false);
  assert.equal(warnings.length, 2);
  assert.equal(NO_PTY_WARNING, 'Pseudo-terminal will not be allocated because stdin is not a terminal.');
});

test('property: random argv parses or throws a one-line Error, and sshArgs never holds our long options', () => {
  const letters = SSH_GETOPT.replaceAll(':', '');
  const word = fc.oneof(
    fc.constantFrom('--udp', '--kcp', '--quic', '--tcp', '--tsshd-path', '--tsshd-port', '--', '-h', 'host', 'u@h', 'ssh://u@h:22'),
    fc.stringMatching(new RegExp(`^-[${letters.replace('-', '')}]{1,3}$`)),
    fc.string({ maxLength: 10 }),
  );
  fc.assert(
    fc.property(fc.array(word, { maxLength: 8 }), (argv) => {
      try {
        const a = parseSshArgs(argv);
        assert.ok(a.sshArgs.length <= argv.length);
        assert.ok(a.passThrough || a.ourOptions.help || a.host !== '');
        assert.deepEqual(sshArgsWithout(argv, a, () => false), a.sshArgs);
        const dropped = sshArgsWithout(argv, a, (use) => use.letter === 'v');
        assert.equal(dropped.length <= a.sshArgs.length, true);
      } catch (err) {
        assert.equal((err as Error).constructor, Error);
        assert.doesNotMatch((err as Error).message, /[\n\r]/);
      }
    }),
    { seed: 6, numRuns: 1000 },
  );
});

test('sshArgsWithout drops chosen option uses, keeping the rest of a cluster', () => {
  const argv = ['--udp', '-to', 'UdpMode=yes', '-oPort=2', '-A', '-o', 'X=1', 'host', '-o', 'Y=2', 'ls'];
  const parsed = parseSshArgs(argv);
  assert.deepEqual(parsed.sshArgs, argv.slice(1));
  const dropO = sshArgsWithout(argv, parsed, (use) => use.letter === 'o');
  assert.deepEqual(dropO, ['-t', '-A', 'host', 'ls']);
  const dropA = sshArgsWithout(argv, parsed, (use) => use.letter === 'A' || use.letter === 't');
  assert.deepEqual(dropA, ['-o', 'UdpMode=yes', '-oPort=2', '-o', 'X=1', 'host', '-o', 'Y=2', 'ls']);
  assert.deepEqual(sshArgsWithout(argv, parsed, () => false), parsed.sshArgs);
  const cluster = ['-tAp22', 'h'];
  assert.deepEqual(sshArgsWithout(cluster, parseSshArgs(cluster), (use) => use.letter === 'A'), ['-tp22', 'h']);
  assert.deepEqual(sshArgsWithout(cluster, parseSshArgs(cluster), (use) => use.letter === 'p'), ['-tA', 'h']);
});
