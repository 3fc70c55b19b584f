import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseSshArgs } from '../../src/client/ssh-args.js';
import {
  isTsshOption,
  resolveUdpOptions,
  sshArgsWithoutTsshOptions,
  TSSH_OPTION_NAMES,
  UDP_OPTION_DEFAULTS,
  type ResolveUdpOptionsInput,
} from '../../src/client/udp-options.js';

const HOME = '/home/u';
const CONFIG = `${HOME}/.ssh/config`;

function resolve(text: string, extra: Partial<ResolveUdpOptionsInput> = {}) {
  return resolveUdpOptions({
    configTexts: [{ path: CONFIG, text }],
    home: HOME,
    destinationHost: 'h',
    localUser: 'me',
    readInclude: () => [],
    exec: () => false,
    ...extra,
  });
}

test('defaults with no config', () => {
  const o = resolve('');
  assert.deepEqual(o, {
    ...UDP_OPTION_DEFAULTS,
    udpLocalForwards: [],
    udpRemoteForwards: [],
    localForwards: [],
    remoteForwards: [],
    dynamicForwards: [],
    warnings: [],
  });
  assert.equal(o.udpMode, 'no');
  assert.equal(o.tsshdPath, 'tsshd');
  assert.equal(o.udpAliveTimeout, 86400);
  assert.equal(o.udpHeartbeatTimeout, 3);
  assert.equal(o.udpReconnectTimeout, 15);
  assert.equal(o.forwardUdpTimeout, 300);
  assert.equal(o.udpMtu, 1400);
  assert.equal(o.udpMtuSet, false, 'unset: a path over loopback may use the loopback size');
  assert.equal(o.escapeChar, 126);
  assert.equal(o.tsshdPort, undefined);
});

test('every option from #!! lines, case-insensitive keys', () => {
  const o = resolve(`
Host h
  #!! udpmode QUIC
  #!! TsshdPort 7000-7010 7020
  #!! TsshdPath "/opt/my tsshd"
  #!! UdpAliveTimeout 600
  #!! UdpHeartbeatTimeout 1.5
  #!! UdpReconnectTimeout 30
  #!! ShowNotificationOnTop no
  #!! ShowFullNotifications No
  #!! UdpProxyMode tcp
  #!! UDPMTU 1200
  #!! ForwardUdpTimeout 1h30m
  #!! UdpLocalForward 5353 dns:53
  #!! UdpLocalForward udp/127.0.0.1:5354:dns:53
  #!! UdpRemoteForward 9000 localhost:9000
  EscapeChar ^]
  LocalForward 8080 db:80
  RemoteForward 9090
  DynamicForward 1080
  ClearAllForwardings yes
  ExitOnForwardFailure yes
  GatewayPorts yes
`);
  assert.equal(o.udpMode, 'quic');
  assert.equal(o.tsshdPort, '7000-7010 7020');
  assert.equal(o.tsshdPath, '/opt/my tsshd');
  assert.equal(o.udpAliveTimeout, 600);
  assert.equal(o.udpHeartbeatTimeout, 1.5);
  assert.equal(o.udpReconnectTimeout, 30);
  assert.equal(o.showNotificationOnTop, false);
  assert.equal(o.showFullNotifications, false);
  assert.equal(o.udpProxyMode, 'tcp');
  assert.equal(o.udpMtu, 1200);
  assert.equal(o.udpMtuSet, true);
  assert.equal(o.forwardUdpTimeout, 5400);
  assert.deepEqual(o.udpLocalForwards, [
    { proto: 'udp', listen: { port: 5353 }, connect: { host: 'dns', port: 53 } },
    { proto: 'udp', listen: { host: '127.0.0.1', port: 5354 }, connect: { host: 'dns', port: 53 } },
  ]);
  assert.deepEqual(o.udpRemoteForwards, [{ proto: 'udp', listen: { port: 9000 }, connect: { host: 'localhost', port: 9000 } }]);
  assert.equal(o.escapeChar, 29);
  assert.deepEqual(o.localForwards, ['8080:db:80']);
  assert.deepEqual(o.remoteForwards, ['9090']);
  assert.deepEqual(o.dynamicForwards, ['1080']);
  assert.equal(o.clearAllForwardings, true);
  assert.equal(o.exitOnForwardFailure, true);
  assert.equal(o.gatewayPorts, true);
});

test('UdpMode yes means kcp; plain (non-#!!) lines are read too', () => {
  assert.equal(resolve('#!! UdpMode yes\n').udpMode, 'kcp');
  assert.equal(resolve('UdpMode kcp\n').udpMode, 'kcp');
  assert.equal(resolve('UdpMode no\n').udpMode, 'no');
});

test('precedence: our flags beat -o, -o beats config, config first value wins', () => {
  const text = 'Host h\n  #!! UdpMode kcp\n  #!! TsshdPath /a\n  #!! UdpMTU 1300\nHost *\n  #!! UdpMode quic\n  #!! UdpMTU 1000\n  EscapeChar %\n';
  assert.equal(resolve(text).udpMode, 'kcp');
  assert.equal(resolve(text).udpMtu, 1300);
  const withO = resolve(text, { cliOptions: { options: [{ key: 'udpmode', value: 'quic' }, { key: 'udpmtu', value: '1500' }] } });
  assert.equal(withO.udpMode, 'quic');
  assert.equal(withO.udpMtu, 1500);
  const withFlags = resolve(text, {
    cliOptions: { options: [{ key: 'udpmode', value: 'quic' }], udpMode: 'no', tsshdPath: '/b', tsshdPort: '1-2', escapeChar: 'none' },
  });
  assert.equal(withFlags.udpMode, 'no');
  assert.equal(withFlags.tsshdPath, '/b');
  assert.equal(withFlags.tsshdPort, '1-2');
  assert.equal(withFlags.escapeChar, 'none');
  assert.equal(resolve(text, { cliOptions: { udpMode: 'yes' } }).udpMode, 'kcp');
});

test('forwards accumulate in order: -o first, then config', () => {
  const o = resolve('#!! UdpLocalForward 2 h:2\nLocalForward 20 h:20\n', {
    cliOptions: { options: [{ key: 'udplocalforward', value: '1 h:1' }, { key: 'localforward', value: '10 h:10' }] },
  });
  assert.deepEqual(o.udpLocalForwards.map((f) => 'port' in f.listen && f.listen.port), [1, 2]);
  assert.deepEqual(o.localForwards, ['10:h:10', '20:h:20']);
});

test('values are checked with file and line, even in blocks that do not apply', () => {
  const cases: Array<[string, string | RegExp]> = [
    ['\n\n#!! UdpMode maybe\n', '~/.ssh/config line 3: UdpMode must be yes, kcp, quic or no (got "maybe")'],
    ['Host never\n  #!! UdpMTU 100\n', '~/.ssh/config line 2: UdpMTU must be an integer from 576 to 9000 (got "100")'],
    ['#!! UdpAliveTimeout 0\n', '~/.ssh/config line 1: UdpAliveTimeout must be a positive number of seconds (got "0")'],
    ['#!! UdpHeartbeatTimeout x\n', /UdpHeartbeatTimeout must be a positive number of seconds \(got "x"\)/],
    ['#!! UdpReconnectTimeout -5\n', /UdpReconnectTimeout must be a positive number of seconds/],
    ['#!! ShowNotificationOnTop maybe\n', '~/.ssh/config line 1: ShowNotificationOnTop must be yes or no (got "maybe")'],
    ['#!! ShowFullNotifications 1\n', /ShowFullNotifications must be yes or no/],
    ['#!! UdpProxyMode quic\n', '~/.ssh/config line 1: UdpProxyMode must be UDP or TCP (got "quic")'],
    ['#!! ForwardUdpTimeout 5x\n', '~/.ssh/config line 1: ForwardUdpTimeout must be a time like 300, 5m or 1h30m (got "5x")'],
    ['#!! TsshdPort abc\n', "~/.ssh/config line 1: TsshdPort: port spec 'abc': 'abc' is not a port number; write it like 61001-61999, 6022,7022 or 8010-8020,9020-9030"],
    ['#!! TsshdPath\n', '~/.ssh/config line 1: TsshdPath takes one value: TsshdPath PATH'],
    ['#!! UdpMode yes no\n', /UdpMode takes one value: UdpMode yes\|kcp\|quic\|no/],
    ['#!! UdpLocalForward nonsense\n', /^Error: ~\/\.ssh\/config line 1: bad UdpLocalForward specification "nonsense": expected/],
    ['#!! UdpRemoteForward a b c\n', /UdpRemoteForward takes \[bind_address:\]port host:hostport/],
    ['EscapeChar ab\n', '~/.ssh/config line 1: EscapeChar must be one character, ^X or none (got "ab")'],
    ['GatewayPorts maybe\n', /GatewayPorts must be yes or no/],
    ['LocalForward 8080\n', /LocalForward takes \[bind_address:\]port host:hostport/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => resolve(text), typeof message === 'string' ? { message } : message, text);
  }
});

test('-o values are checked and named as -o', () => {
  assert.throws(() => resolve('', { cliOptions: { options: [{ key: 'udpmode', value: 'maybe' }] } }), {
    message: '-o udpmode: UdpMode must be yes, kcp, quic or no (got "maybe")',
  });
});

test('unknown #!! keyword: error with the line and the closest known name', () => {
  assert.throws(() => resolve('Host h\n  #!! UdpMod yes\n'), {
    message: '~/.ssh/config line 2: unknown tssh option "UdpMod" in a #!! line; did you mean UdpMode?',
  });
  assert.throws(() => resolve('#!! TsshdPaht x\n'), /did you mean TsshdPath\?$/);
  // Unknown keywords on normal lines belong to ssh and are ignored.
  assert.equal(resolve('SomeFutureSshOption yes\n').udpMode, 'no');
});

test('Match blocks and Include files take part (through ssh-config)', () => {
  const o = resolveUdpOptions({
    configTexts: [{ path: CONFIG, text: 'Match user admin\n  #!! UdpMode quic\nInclude more\n' }],
    home: HOME,
    destinationHost: 'h',
    user: 'admin',
    localUser: 'me',
    readInclude: (pattern) => (pattern === `${HOME}/.ssh/more` ? [{ path: pattern, text: '#!! UdpMTU 1280\n' }] : []),
  });
  assert.equal(o.udpMode, 'quic');
  assert.equal(o.udpMtu, 1280);
});

test('isTsshOption and the option name list', () => {
  assert.ok(isTsshOption('UDPMODE'));
  assert.ok(!isTsshOption('Port'));
  assert.ok(!isTsshOption('constructor'));
  for (const name of ['UdpMode', 'TsshdPath', 'UdpJump', 'UdpSessionAttach', 'UdpSessionName', 'UdpReconnectExitKey', 'PredictiveEcho']) assert.ok(TSSH_OPTION_NAMES.includes(name), name);
});

test('property: random option lines resolve or throw a one-line Error', () => {
  const keyword = fc.constantFrom(...TSSH_OPTION_NAMES, 'EscapeChar', 'LocalForward', 'GatewayPorts', 'Bogus');
  const value = fc.oneof(fc.constantFrom('yes', 'no', 'kcp', '1400', '5m', '8080 h:80', '"a b"', '^]'), fc.string({ maxLength: 12 }));
  const line = fc.tuple(fc.constantFrom('#!! ', '', '  #!!'), keyword, value).map(([p, k, v]) => `${p}${k} ${v}`);
  fc.assert(
    fc.property(fc.array(line, { maxLength: 6 }), (lines) => {
      try {
        const o = resolve(lines.join('\n'));
        assert.ok(o.udpMtu >= 576 && o.udpMtu <= 9000);
      } catch (err) {
        assert.equal((err as Error).constructor, Error);
        assert.doesNotMatch((err as Error).message, /[\n\r]/);
      }
    }),
    { seed: 8, numRuns: 500 },
  );
});

test('sshArgsWithoutTsshOptions removes -o pairs that only tssh understands', () => {
  const argv = ['--quic', '-o', 'UdpMode=quic', '-oServerAliveInterval=5', '-o', 'tsshdpath /x', 'host'];
  assert.deepEqual(sshArgsWithoutTsshOptions(argv, parseSshArgs(argv)), ['-oServerAliveInterval=5', 'host']);
});

test('ssh flags accept true/false as well as yes/no', () => {
  assert.equal(resolve('ExitOnForwardFailure true\n').exitOnForwardFailure, true);
  assert.equal(resolve('#!! ShowFullNotifications false\n').showFullNotifications, false);
});

test('attach options: --attach and UdpSessionAttach imply UDP; UdpSessionName and UdpReconnectExitKey are checked', () => {
  const resolve = (texts: string[], cli: Parameters<typeof resolveUdpOptions>[0]['cliOptions'] = {}) =>
    resolveUdpOptions({ configTexts: texts, destinationHost: 'h', localUser: 'u', home: '/home/u', cliOptions: cli });
  const viaFlag = resolve([], { attach: true });
  assert.equal(viaFlag.udpSessionAttach, true);
  assert.equal(viaFlag.udpMode, 'kcp');
  const viaConfig = resolve(['#!! UdpSessionAttach yes\n#!! UdpMode quic\n#!! UdpSessionName work-1\n#!! UdpReconnectExitKey ctrl+x\n']);
  assert.equal(viaConfig.udpSessionAttach, true);
  assert.equal(viaConfig.udpMode, 'quic');
  assert.equal(viaConfig.udpSessionName, 'work-1');
  assert.equal(viaConfig.udpReconnectExitKey, 0x18);
  assert.equal(resolve([]).udpReconnectExitKey, 0x04);
  assert.equal(resolve(['#!! UdpReconnectExitKey none\n']).udpReconnectExitKey, null);
  assert.equal(resolve(['#!! UdpReconnectExitKey ^Q\n']).udpReconnectExitKey, 0x11);
  assert.throws(() => resolve(['#!! UdpReconnectExitKey ctrl+a\n']), /UdpReconnectExitKey must be ctrl\+LETTER, \^LETTER \(not A\) or none \(got "ctrl\+a"\)/);
  assert.throws(() => resolve(['#!! UdpSessionName a/b\n']), /UdpSessionName must be 1 to 64 of the characters A-Z a-z 0-9 \. _ @ \+ - \(got "a\/b"\)/);
  assert.throws(() => resolve([], { attach: true, udpMode: 'no' }), /^Error: tssh: --attach works over UDP and cannot be combined with --tcp$/);
  assert.equal(parseSshArgs(['--attach', 'host']).ourOptions.attach, true);
});
