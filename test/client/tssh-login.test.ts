import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBootstrap, type BootstrapInfo } from '../../src/protocol/bootstrap.js';
import { AGENT_X11_LETTERS, BootstrapError, interpret, loginSshArgs, LOGIN_FORCED_OPTIONS, shellQuote, tsshdCommandLine } from '../../src/client/bootstrap-over-ssh.js';
import { EXIT_FAILURE, exitCodeOf } from '../../src/client/exit-codes.js';
import { parseSshArgs } from '../../src/client/ssh-args.js';
import { afterMarker, ForcedCommandError, LOGIN_MARKER, markerLine, splitLoginMarker, withLoginMarker } from '../../src/client/login-marker.js';
import { parseSshG } from '../../src/client/ssh-effective-config.js';
import { PROTOCOL_VERSION } from '../../src/version.js';

// The pure parts of tssh's login: the remote command, the ssh arguments, reading ssh -G and the login's outcome.

const INFO: BootstrapInfo = {
  serverVersion: '0.1.0',
  protocolVersion: PROTOCOL_VERSION,
  port: 61001,
  mode: 'kcp',
  secret: 'A'.repeat(43),
  proxyMode: 'udp',
  mtu: 1400,
};
const WHO = { host: 'example.org', tsshdPath: 'tsshd' };
/** The login's outcome when our command line ran: the marker line first. */
const result = (over: Partial<Parameters<typeof interpret>[1]>): Parameters<typeof interpret>[1] => ({
  tooMuch: false,
  stderr: '',
  code: 0,
  signal: null,
  ...over,
  stdout: `${LOGIN_MARKER}\n${over.stdout ?? ''}`,
});

test('tsshdCommandLine quotes for the remote shell but leaves ~/ to expand there', () => {
  // The default TsshdPath also looks in ~/.local/bin, where --install-tsshd puts tsshd.
  const search = `exec sh -c 'if [ -x "$HOME"/.local/bin/tsshd ]; then exec "$HOME"/.local/bin/tsshd "$@"; fi; exec tsshd "$@"' sh`;
  assert.equal(tsshdCommandLine({ tsshdPath: 'tsshd', mtu: 1400, tcp: false }), `${search} --kcp --mtu 1400`);
  // UdpMTU unset: no --mtu, so tsshd may use the loopback size for a client on loopback.
  assert.equal(tsshdCommandLine({ tsshdPath: 'tsshd', tcp: false }), `${search} --kcp`);
  assert.equal(
    tsshdCommandLine({ tsshdPath: '~/my bin/tsshd', tsshdPort: '7000,7002-7010', mtu: 1200, tcp: true }),
    "~/'my bin/tsshd' --kcp --port 7000,7002-7010 --mtu 1200 --tcp",
  );
  assert.equal(shellQuote("it's; rm -rf /"), `'it'\\''s; rm -rf /'`);
  assert.equal(tsshdCommandLine({ tsshdPath: '/opt/$(x)/tsshd', mtu: 1400, tcp: false }), "'/opt/$(x)/tsshd' --kcp --mtu 1400");
  assert.equal(tsshdCommandLine({ tsshdPath: 'tsshd', mtu: 1400, tcp: false, transport: 'kcp' }), `${search} --kcp --mtu 1400`);
  assert.equal(tsshdCommandLine({ tsshdPath: '/usr/bin/tsshd', mtu: 1400, tcp: true, transport: 'quic' }), '/usr/bin/tsshd --quic --mtu 1400 --tcp');
});

test('loginSshArgs keeps options and destination, drops tssh options, pty/-N/-f/-s/-W letters and the command', () => {
  const argv = ['-tt', '-p', '2222', '--udp', '-o', 'UdpMTU=1200', '-i', 'key', '-N', 'user@host', '-o', 'Compression=yes', 'ls', '-l'];
  const parsed = parseSshArgs(argv);
  assert.deepEqual(loginSshArgs(argv, parsed), ['-p', '2222', '-i', 'key', 'user@host', '-o', 'Compression=yes']);
  const clustered = ['-4tA', 'host'];
  assert.deepEqual(loginSshArgs(clustered, parseSshArgs(clustered)), ['-4A', 'host']);
  // ssh takes the first value it obtains: the forced options come first.
  assert.equal(LOGIN_FORCED_OPTIONS[0], '-T');
  assert.ok(LOGIN_FORCED_OPTIONS.includes('ClearAllForwardings=yes'));
});

test('parseSshG reads host, port, RequestTTY, SendEnv, SetEnv and ConnectTimeout', () => {
  const g = parseSshG(
    ['user alice', 'hostname 192.0.2.7', 'port 2222', 'requesttty false', 'sendenv LANG', 'sendenv LC_*', 'setenv A=x y', 'connecttimeout 5', ''].join('\n'),
  );
  assert.deepEqual(
    {
      hostname: g.hostname,
      port: g.port,
      user: g.user,
      requestTty: g.requestTty,
      sendEnv: g.sendEnv,
      setEnv: g.setEnv,
      connectTimeoutSec: g.connectTimeoutSec,
      forwardAgent: g.forwardAgent,
      forwardX11: g.forwardX11,
      forwardX11Trusted: g.forwardX11Trusted,
      forwardX11TimeoutSec: g.forwardX11TimeoutSec,
      xauthLocation: g.xauthLocation,
    },
    {
      hostname: '192.0.2.7',
      port: 2222,
      user: 'alice',
      requestTty: 'no',
      sendEnv: ['LANG', 'LC_*'],
      setEnv: { A: 'x y' },
      connectTimeoutSec: 5,
      forwardAgent: 'no',
      forwardX11: false,
      forwardX11Trusted: false,
      forwardX11TimeoutSec: 1200,
      xauthLocation: '/usr/bin/xauth',
    },
  );
  assert.equal(parseSshG('hostname h\nport 22\nrequesttty true\nconnecttimeout none\n').requestTty, 'yes');
  assert.equal(parseSshG('hostname h\nport 22\n').connectTimeoutSec, undefined);
  assert.throws(() => parseSshG('port 22\n'), /^Error: tssh: ssh -G printed no usable hostname and port/);
});

test('interpret: a bootstrap line after shell noise is parsed', () => {
  const stdout = `motd noise\n${encodeBootstrap(INFO)}`;
  assert.deepEqual(interpret(WHO, result({ stdout })), INFO);
});

test('interpret: each failure is one line naming the problem and the fix', () => {
  const cases: Array<[Partial<Parameters<typeof interpret>[1]>, RegExp]> = [
    [{ code: 127, stderr: 'bash: line 1: tsshd: command not found\n' }, /^tssh: tsshd was not found on example\.org \(TsshdPath "tsshd"\); install it with tssh --install-tsshd example\.org, or set TsshdPath$/],
    [{ code: 126 }, /^tssh: TsshdPath "tsshd" on example\.org is not executable; /],
    [{ code: 255, stderr: 'ssh: connect to host example.org port 22: Connection refused\n' }, /^tssh: the ssh login to example\.org failed \(exit status 255\); see ssh's message above$/],
    [{ code: null, signal: 'SIGTERM' }, /^tssh: the ssh login to example\.org was ended by SIGTERM; /],
    [{ code: 1, stderr: 'tsshd: no free UDP port in 61001-61999\n' }, /^tssh: tsshd on example\.org failed: no free UDP port in 61001-61999$/],
    [{ code: 0, stdout: '--kcp --mtu 1400\n' }, /^tssh: TsshdPath "tsshd" on example\.org printed no bootstrap line \(it printed "--kcp --mtu 1400"\); is TsshdPath a compatible tsshd\?$/],
    [{ code: 3 }, /^tssh: TsshdPath "tsshd" on example\.org exited with status 3 before printing its bootstrap line \(it printed nothing\)$/],
    [{ tooMuch: true }, /printed more than 1 MiB/],
    [{ stdout: '\x07{"protocolVersion":1,"port":"x"' }, /^tssh: tsshd bootstrap line/],
  ];
  for (const [over, expected] of cases) {
    assert.throws(() => interpret(WHO, result(over)), (err: Error) => {
      assert.match(err.message, expected);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    });
  }
});

test("interpret keeps what tsshd itself said, so tssh can tell a refused --quic from other failures", () => {
  assert.throws(
    () => interpret(WHO, result({ code: 1, stderr: 'ssh noise\ntsshd: QUIC engine unavailable: @matrixai/quic-x is not installed; use --kcp\n' })),
    (err: BootstrapError) => err.tsshdSaid === 'QUIC engine unavailable: @matrixai/quic-x is not installed; use --kcp',
  );
  assert.throws(() => interpret(WHO, result({ code: 127 })), (err: BootstrapError) => err.tsshdSaid === undefined);
});

test('interpret never echoes what follows a BEL (the secret would be there)', () => {
  const line = encodeBootstrap(INFO).trimEnd().slice(0, -2);
  assert.throws(() => interpret(WHO, result({ stdout: line })), (err: Error) => !err.message.includes(INFO.secret));
});

test('exitCodeOf: the code, or 255 for a signal', () => {
  assert.equal(exitCodeOf({ code: 0 }), 0);
  assert.equal(exitCodeOf({ code: 7 }), 7);
  assert.equal(exitCodeOf({ signal: 'KILL' }), EXIT_FAILURE);
});

test('parseSshG reads ForwardAgent, ForwardX11, ForwardX11Trusted, ForwardX11Timeout and XAuthLocation', () => {
  const g = parseSshG(
    ['hostname h', 'port 22', 'forwardagent $MY_AGENT', 'forwardx11 yes', 'forwardx11trusted yes', 'forwardx11timeout 60', 'xauthlocation /opt/xauth', ''].join('\n'),
  );
  assert.equal(g.forwardAgent, '$MY_AGENT');
  assert.equal(g.forwardX11, true);
  assert.equal(g.forwardX11Trusted, true);
  assert.equal(g.forwardX11TimeoutSec, 60);
  assert.equal(g.xauthLocation, '/opt/xauth');
});

test('the login that starts tsshd forwards no agent and no X11; ssh -G still sees -A and -Y', () => {
  const argv = ['-A', '-Y', '-p', '22', 'h', 'cmd'];
  const parsed = parseSshArgs(argv);
  assert.deepEqual(loginSshArgs(argv, parsed, AGENT_X11_LETTERS), ['-p', '22', 'h']);
  assert.deepEqual(loginSshArgs(argv, parsed), ['-A', '-Y', '-p', '22', 'h']);
  assert.ok(LOGIN_FORCED_OPTIONS.includes('ForwardAgent=no'));
  assert.ok(LOGIN_FORCED_OPTIONS.includes('ForwardX11=no'));
});

test('a login whose stdout lacks the marker ran a forced command, whatever its status; ssh failures stay ssh failures', () => {
  const forced = (over: Partial<Parameters<typeof interpret>[1]>): Parameters<typeof interpret>[1] => ({ ...result({}), stdout: '', ...over });
  for (const over of [{ code: 0, stdout: 'This account is for backups only\n' }, { code: 0 }, { code: 128, stderr: "fatal: unrecognized command 'echo'\n" }, { code: 127 }]) {
    assert.throws(() => interpret(WHO, forced(over)), (err: Error) => err instanceof ForcedCommandError && /continuing as plain ssh$/.test(err.message));
  }
  assert.throws(() => interpret(WHO, forced({ code: 255 })), (err: Error) => !(err instanceof ForcedCommandError));
  assert.throws(() => interpret(WHO, forced({ code: null, signal: 'SIGTERM' })), (err: Error) => !(err instanceof ForcedCommandError));
});

test('the marker is a whole line: LocalCommand output before it is the client\'s, text after it the remote side\'s', () => {
  assert.equal(withLoginMarker('tsshd --kcp'), `echo ${LOGIN_MARKER}; tsshd --kcp`);
  assert.equal(markerLine(`local\n${LOGIN_MARKER}`), null, 'not complete yet');
  assert.deepEqual(markerLine(`local\n${LOGIN_MARKER}\nrest`), { start: 6, end: 6 + LOGIN_MARKER.length + 1 });
  assert.equal(markerLine(`say ${LOGIN_MARKER}\n`), null, 'only at a line start');
  assert.equal(afterMarker(`x\n${LOGIN_MARKER}\r\nnoise\n`), 'noise\n');
});

test('splitLoginMarker: a server running tsshd itself takes the prefix off', () => {
  assert.deepEqual(splitLoginMarker(withLoginMarker('tsshd --kcp')), { marked: true, command: 'tsshd --kcp' });
  assert.deepEqual(splitLoginMarker('tsshd --kcp'), { marked: false, command: 'tsshd --kcp' });
});
