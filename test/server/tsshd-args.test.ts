import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseTsshdArgs, TSSHD_USAGE, type TsshdCommand, type TsshdOptions } from '../../src/server/tsshd-args.js';

function run(argv: string[]): TsshdOptions {
  const command: TsshdCommand = parseTsshdArgs(argv);
  assert.equal(command.action, 'run');
  return (command as { options: TsshdOptions }).options;
}

test('defaults: kcp, udp, 61001-61999, mtu 1400 (larger for a client on loopback), connect timeout 10', () => {
  assert.deepEqual(run([]), { mode: 'kcp', proxyMode: 'udp', port: '61001-61999', mtu: 1400, largeOnLoopback: true, connectTimeout: 10, debug: false, family: 'any', attachable: false, socket: false });
});

test('flags with separate and attached values', () => {
  assert.deepEqual(run(['--quic', '--tcp', '--port', '7000,7002-7010', '--mtu=1200', '--connect-timeout', '2.5', '--debug']), {
    mode: 'quic',
    proxyMode: 'tcp',
    port: '7000,7002-7010',
    mtu: 1200,
    largeOnLoopback: false,
    connectTimeout: 2.5,
    debug: true,
    family: 'any',
    attachable: false,
    socket: false,
  });
  assert.equal(run(['--port=61001 61005']).port, '61001 61005');
  assert.equal(run(['--kcp']).mode, 'kcp');
});

test('attach flags: --attachable --socket run a daemon; --list, --view PID.SID and --attach PID are commands', () => {
  const options = run(['--kcp', '--attachable', '--socket']);
  assert.equal(options.attachable, true);
  assert.equal(options.socket, true);
  assert.deepEqual(parseTsshdArgs(['--list']), { action: 'list' });
  assert.deepEqual(parseTsshdArgs(['--view', '4242.3']), { action: 'view', pid: 4242, session: 3 });
  const attach = parseTsshdArgs(['--quic', '--tcp', '--attach=77']);
  assert.equal(attach.action, 'attach');
  assert.equal((attach as { pid: number }).pid, 77);
  assert.equal((attach as { options: TsshdOptions }).options.mode, 'quic');
  assert.throws(() => parseTsshdArgs(['--view', '4242']), /^Error: tsshd: --view needs PID\.SID, e\.g\. 4242\.1 \(got "4242"\); tsshd --list shows them$/);
  assert.throws(() => parseTsshdArgs(['--attach', 'x']), /^Error: tsshd: --attach needs a tsshd process id \(got "x"\)/);
  assert.throws(() => parseTsshdArgs(['--list', '--attach', '1']), /cannot be used together/);
  assert.throws(() => parseTsshdArgs(['--socket']), /^Error: tsshd: --socket needs --attachable/);
});

test('version and help', () => {
  assert.deepEqual(parseTsshdArgs(['-v']), { action: 'version', detailed: false });
  assert.deepEqual(parseTsshdArgs(['--version']), { action: 'version', detailed: false });
  assert.deepEqual(parseTsshdArgs(['-V']), { action: 'version', detailed: true });
  assert.deepEqual(parseTsshdArgs(['-h']), { action: 'help', usage: TSSHD_USAGE });
  assert.deepEqual(parseTsshdArgs(['--kcp', '--help']), { action: 'help', usage: TSSHD_USAGE });
  assert.match(TSSHD_USAGE, /--connect-timeout/);
});

test('every flag the reference Go tssh v0.1.26 passes (tssh/udp.go getTsshdCommand, attach.go) is accepted', () => {
  // KCP mode, UdpProxyMode TCP, --debug, AddressFamily, UdpMTU, TsshdPort (normalised), a connect timeout, UdpSessionAttach.
  const options = run(['--kcp', '--tcp', '--debug', '--ipv4', '--mtu', '1200', '--port', '61001-61100,62000', '--connect-timeout', '5', '--attachable', '--socket']);
  assert.deepEqual(options, {
    mode: 'kcp', proxyMode: 'tcp', port: '61001-61100,62000', mtu: 1200, largeOnLoopback: false, connectTimeout: 5, debug: true, family: 'ipv4', attachable: true, socket: true,
  });
  // Its QUIC default passes no mode flag at all.
  assert.equal(run(['--ipv6']).family, 'ipv6');
  assert.equal(run(['--ipv4', '--ipv6']).family, 'any');
  // Its attach (UdpSessionAttach) runs --list first, then --attach PID or a new --attachable --socket daemon.
  assert.deepEqual(parseTsshdArgs(['--list']), { action: 'list' });
  assert.equal(parseTsshdArgs(['--attach', '123']).action, 'attach');
});

test('errors name the flag and the expected form', () => {
  const cases: Array<[string[], string | RegExp]> = [
    [['--mtu', 'abc'], 'tsshd: --mtu must be an integer from 576 to 9000 (got "abc")'],
    [['--mtu=575'], 'tsshd: --mtu must be an integer from 576 to 9000 (got "575")'],
    [['--mtu', '9001'], /--mtu must be an integer from 576 to 9000/],
    [['--mtu'], 'tsshd: --mtu needs a value: --mtu N (an integer from 576 to 9000)'],
    [['--port', 'abc'], 'tsshd: --port must be ports or ranges like 61001-61999 (got "abc")'],
    [['--port', '--'], /--port must be ports or ranges/],
    [['--connect-timeout', '0'], 'tsshd: --connect-timeout must be a positive number of seconds (got "0")'],
    [['--connect-timeout', '-1'], /--connect-timeout must be a positive number/],
    [['--kcp', '--quic'], 'tsshd: --kcp and --quic cannot be used together; pick one'],
    [['--debug=1'], 'tsshd: --debug takes no value (got "--debug=1")'],
    [['--verbose'], 'tsshd: unknown flag "--verbose"; run tsshd --help for the list'],
    [['-x'], /unknown flag "-x"/],
    [['stray'], 'tsshd: unexpected argument "stray"; tsshd takes only flags (run tsshd --help)'],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseTsshdArgs(argv), typeof message === 'string' ? { message } : message, argv.join(' '));
  }
});

test('property: random argv parses or throws a one-line Error', () => {
  const word = fc.oneof(
    fc.constantFrom('--kcp', '--quic', '--tcp', '--port', '--mtu', '--connect-timeout', '--debug', '-v', '-h', '--mtu=1500', '61001-61002'),
    fc.string({ maxLength: 12 }),
  );
  fc.assert(
    fc.property(fc.array(word, { maxLength: 6 }), (argv) => {
      try {
        parseTsshdArgs(argv);
      } catch (err) {
        assert.equal((err as Error).constructor, Error);
        assert.doesNotMatch((err as Error).message, /[\n\r]/);
      }
    }),
    { seed: 4, numRuns: 500 },
  );
});
