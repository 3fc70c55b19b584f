import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  addressBytes,
  addressMatchList,
  defaultSshdPolicy,
  effectiveConfig,
  envAccepted,
  loadSshdConfig,
  locateSshdConfig,
  MAX_SSHD_INCLUDE_DEPTH,
  parseSshdConfig,
  type SshdConnectionInfo,
  usesMatchGroup,
} from '../../src/server/sshd-config.js';
import type { ConfigText } from '../../src/protocol/config-files.js';

const PATH = '/etc/ssh/sshd_config';

function parse(text: string, files: Record<string, string> = {}) {
  const readInclude = (pattern: string): ConfigText[] => {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
    return Object.keys(files)
      .filter((p) => re.test(p))
      .sort()
      .map((path) => ({ path, text: files[path]! }));
  };
  return parseSshdConfig(text, { path: PATH, readInclude });
}

const ALICE: SshdConnectionInfo = { user: 'alice', groups: ['alice', 'staff'], host: 'laptop.lan', address: '192.168.1.20', localAddress: '10.0.0.1', localPort: 22 };

test('no config: OpenSSH defaults, AcceptEnv LANG LC_*', () => {
  const policy = effectiveConfig(undefined, ALICE);
  assert.deepEqual(policy, defaultSshdPolicy());
  assert.deepEqual(policy.acceptEnv, ['LANG', 'LC_*']);
  assert.equal(policy.allowTcpForwarding, 'yes');
  assert.equal(policy.allowStreamLocalForwarding, 'yes');
  assert.equal(policy.disableForwarding, false);
  assert.deepEqual(policy.permitOpen, ['any']);
  assert.deepEqual(policy.permitListen, ['any']);
  assert.equal(policy.gatewayPorts, 'no');
  assert.equal(policy.streamLocalBindMask, 0o177);
  assert.equal(policy.streamLocalBindUnlink, false);
  assert.equal(policy.allowAgentForwarding, true);
  assert.equal(policy.x11Forwarding, false);
  assert.equal(policy.x11DisplayOffset, 10);
  assert.equal(policy.x11UseLocalhost, true);
  assert.equal(policy.xauthLocation, '/usr/bin/xauth');
  assert.equal(policy.subsystems.size, 0);
});

test('typed values, case-insensitive keywords and values, first value wins', () => {
  const policy = effectiveConfig(
    parse(`
allowtcpforwarding LOCAL
AllowTcpForwarding no
AllowStreamLocalForwarding all
DisableForwarding yes
PermitOpen db:5432 [::1]:80 *:443
PermitOpen other:1
PermitListen 8080 localhost:*
GatewayPorts clientspecified
StreamLocalBindMask 0117
StreamLocalBindUnlink yes
AllowAgentForwarding no
X11Forwarding yes
X11DisplayOffset 20
X11UseLocalhost no
XAuthLocation /opt/X11/bin/xauth
`),
    ALICE,
  );
  assert.equal(policy.allowTcpForwarding, 'local');
  assert.equal(policy.allowStreamLocalForwarding, 'yes');
  assert.equal(policy.disableForwarding, true);
  assert.deepEqual(policy.permitOpen, ['db:5432', '[::1]:80', '*:443']);
  assert.deepEqual(policy.permitListen, ['8080', 'localhost:*']);
  assert.equal(policy.gatewayPorts, 'clientspecified');
  assert.equal(policy.streamLocalBindMask, 0o117);
  assert.equal(policy.streamLocalBindUnlink, true);
  assert.equal(policy.allowAgentForwarding, false);
  assert.equal(policy.x11Forwarding, true);
  assert.equal(policy.x11DisplayOffset, 20);
  assert.equal(policy.x11UseLocalhost, false);
  assert.equal(policy.xauthLocation, '/opt/X11/bin/xauth');
});

test('AcceptEnv accumulates over lines; Subsystem first definition per name wins', () => {
  const policy = effectiveConfig(parse('AcceptEnv LANG\nAcceptEnv LC_* TZ\nSubsystem sftp /usr/lib/sftp-server -l INFO\nSubsystem sftp other\nSubsystem x y\n'), ALICE);
  assert.deepEqual(policy.acceptEnv, ['LANG', 'LC_*', 'TZ']);
  assert.deepEqual([...policy.subsystems], [['sftp', '/usr/lib/sftp-server -l INFO'], ['x', 'y']]);
});

test('a config without AcceptEnv keeps our default; PermitOpen none/any', () => {
  assert.deepEqual(effectiveConfig(parse('PermitOpen none\n'), ALICE).acceptEnv, ['LANG', 'LC_*']);
  assert.deepEqual(effectiveConfig(parse('PermitOpen none\n'), ALICE).permitOpen, ['none']);
});

test('Match blocks override global lines regardless of order', () => {
  const config = parse('AllowTcpForwarding yes\nAcceptEnv LANG\nMatch User alice\n  AllowTcpForwarding no\n  AcceptEnv FOO\n  Subsystem sftp internal-sftp\nMatch User *\n  AllowTcpForwarding remote\n  X11Forwarding yes\nSubsystem sftp /global\n');
  const alice = effectiveConfig(config, ALICE);
  assert.equal(alice.allowTcpForwarding, 'no');
  assert.deepEqual(alice.acceptEnv, ['FOO']);
  assert.equal(alice.x11Forwarding, true);
  assert.equal(alice.subsystems.get('sftp'), 'internal-sftp');
  const bob = effectiveConfig(config, { ...ALICE, user: 'bob' });
  assert.equal(bob.allowTcpForwarding, 'remote');
  assert.deepEqual(bob.acceptEnv, ['LANG']);
  // Lines after a Match belong to it: this Subsystem is inside "Match User *".
  assert.equal(bob.subsystems.get('sftp'), '/global');
});

test('Match criteria: User, Group, Host, Address (CIDR, negation, lists), LocalAddress, LocalPort, RDomain, All', () => {
  const check = (criteria: string, info: SshdConnectionInfo = ALICE) =>
    effectiveConfig(parse(`Match ${criteria}\n  X11Forwarding yes\n`), info).x11Forwarding;
  assert.equal(check('User alice'), true);
  assert.equal(check('User bob,al*'), true);
  assert.equal(check('User *,!alice'), false);
  assert.equal(check('Group staff'), true);
  assert.equal(check('Group wheel'), false);
  assert.equal(check('Group *,!staff'), false);
  assert.equal(check('Host *.LAN'), true);
  assert.equal(check('Address 192.168.1.0/24'), true);
  assert.equal(check('Address 192.168.2.0/24'), false);
  assert.equal(check('Address 10.0.0.0/8,192.168.*'), true);
  assert.equal(check('Address 192.168.0.0/16,!192.168.1.20'), false);
  assert.equal(check('LocalAddress 10.0.0.1'), true);
  assert.equal(check('LocalPort 22'), true);
  assert.equal(check('LocalPort 2222'), false);
  assert.equal(check('RDomain x'), false);
  assert.equal(check('RDomain x', { ...ALICE, rdomain: 'x' }), true);
  assert.equal(check('All'), true);
  assert.equal(check('User alice Address 172.16.0.0/12'), false);
  assert.equal(check('user alice address 192.168.1.0/24'), true);
  assert.equal(check('Group staff', { user: 'alice' }), false);
  assert.equal(check('Address 2001:db8::/32', { address: '2001:db8::5' }), true);
  assert.equal(check('Address 10.0.0.0/8', { address: '::ffff:10.1.2.3' }), true);
});

test('Include: globs under /etc/ssh, Match inside includes stays in the include', () => {
  const files = {
    '/etc/ssh/sshd_config.d/10-a.conf': 'X11Forwarding yes\nMatch User nobody\n  AllowAgentForwarding no\n',
    '/etc/ssh/sshd_config.d/20-b.conf': 'X11Forwarding no\nAllowAgentForwarding no\n',
  };
  const policy = effectiveConfig(parse('Include sshd_config.d/*.conf\nGatewayPorts yes\n', files), ALICE);
  assert.equal(policy.x11Forwarding, true);
  assert.equal(policy.allowAgentForwarding, false);
  assert.equal(policy.gatewayPorts, 'yes');
});

test('Include inside a non-matching Match contributes nothing', () => {
  const files = { '/etc/ssh/inc': 'X11Forwarding yes\nMatch All\n  GatewayPorts yes\n' };
  const config = parse('Match User bob\n  Include inc\n', files);
  assert.equal(effectiveConfig(config, ALICE).x11Forwarding, false);
  assert.equal(effectiveConfig(config, ALICE).gatewayPorts, 'no');
  assert.equal(effectiveConfig(config, { ...ALICE, user: 'bob' }).gatewayPorts, 'yes');
});

test('Include loops are an error, not a hang', () => {
  assert.throws(() => parse('Include /etc/ssh/loop\n', { '/etc/ssh/loop': 'Include loop\n' }), {
    message: `/etc/ssh/loop line 1: Include nested more than ${MAX_SSHD_INCLUDE_DEPTH} deep; check for a file that includes itself`,
  });
});

test('bad values: one-line errors naming file, line and the expected form', () => {
  const cases: Array<[string, string | RegExp]> = [
    ['AllowTcpForwarding maybe', `${PATH} line 1: AllowTcpForwarding must be yes, no, all, local or remote (got "maybe")`],
    ['AllowStreamLocalForwarding 1', /AllowStreamLocalForwarding must be yes, no, all, local or remote/],
    ['DisableForwarding', `${PATH} line 1: DisableForwarding is missing its value`],
    ['X11Forwarding yes no', `${PATH} line 1: X11Forwarding takes one value (got 2); remove the extra words`],
    ['GatewayPorts sometimes', /GatewayPorts must be yes, no or clientspecified/],
    ['StreamLocalBindMask 0999', `${PATH} line 1: StreamLocalBindMask must be an octal mask from 0 to 0777 (got "0999")`],
    ['StreamLocalBindMask 1777', /StreamLocalBindMask must be an octal mask/],
    ['X11DisplayOffset -1', /X11DisplayOffset must be a whole number from 0 to 9999/],
    ['PermitOpen db', `${PATH} line 1: PermitOpen entry "db" must be host:port (port may be *), any or none`],
    ['PermitOpen host:99999', /PermitOpen entry "host:99999"/],
    ['PermitListen a:b', /PermitListen entry "a:b" must be \[host:\]port/],
    ['AcceptEnv A=B', `${PATH} line 1: AcceptEnv takes variable names or patterns, not "A=B"`],
    ['AcceptEnv', /AcceptEnv is missing its value/],
    ['Subsystem sftp', /Subsystem needs a name and a command/],
    ['Match', /Match needs criteria/],
    ['Match User', /line 1: Match User needs an argument/],
    ['Match Bogus x', `${PATH} line 1: unsupported Match criterion "Bogus"; use User, Group, Host, LocalAddress, LocalPort, Address, RDomain or All`],
    ['Match All User x', /Match All must appear alone/],
    ['Match Address 10.0.0.0/33', /bad address list "10.0.0.0\/33"/],
    ['Match Address x/8', /bad address list/],
    ['Match LocalPort ssh', /Match LocalPort must be a port number \(got "ssh"\)/],
    ['Include', /Include needs a file name or pattern/],
    ['Banner "unterminated', /line 1: unterminated double quote/],
  ];
  for (const [text, message] of cases) assert.throws(() => parse(text), typeof message === 'string' ? { message } : message, text);
});

test('unknown keywords are sshd business and ignored', () => {
  assert.deepEqual(effectiveConfig(parse('PasswordAuthentication no\nSomethingNew 1 2 3\n'), ALICE), defaultSshdPolicy());
});

test('envAccepted: * and ? wildcards', () => {
  assert.ok(envAccepted('LC_ALL', ['LANG', 'LC_*']));
  assert.ok(envAccepted('LANG', ['LANG']));
  assert.ok(!envAccepted('LANGUAGE', ['LANG']));
  assert.ok(envAccepted('X1', ['X?']));
  assert.ok(!envAccepted('PATH', []));
});

test('addressBytes and addressMatchList', () => {
  assert.deepEqual(addressBytes('10.1.2.3'), [10, 1, 2, 3]);
  assert.deepEqual(addressBytes('::1'), [...Array(15).fill(0), 1]);
  assert.deepEqual(addressBytes('::ffff:1.2.3.4')!.slice(10), [255, 255, 1, 2, 3, 4]);
  assert.equal(addressBytes('1:2:3:4:5:6:7:8')!.length, 16);
  for (const bad of ['256.1.1.1', '1::2::3', '1:2:3', 'x', '1:2:3:4:5:6:7:8:9']) assert.equal(addressBytes(bad), null, bad);
  assert.equal(addressMatchList('10.0.0.1', '10.0.0.0/8'), 1);
  assert.equal(addressMatchList('10.0.0.1', '!10.0.0.0/8'), -1);
  assert.equal(addressMatchList('10.0.0.1', '11.0.0.0/8'), 0);
  assert.equal(addressMatchList('10.0.0.1', '0.0.0.0/0'), 1);
  assert.equal(addressMatchList('fe80::1', 'FE80::/10'), 1);
});

test('locateSshdConfig: XDG path if it exists (even empty), else the system file, else none', () => {
  const env = { HOME: '/home/u', XDG_CONFIG_HOME: '/xdg' };
  assert.equal(locateSshdConfig(env, (p) => p === '/xdg/tsshd/sshd_config' || p === PATH), '/xdg/tsshd/sshd_config');
  assert.equal(locateSshdConfig({ HOME: '/home/u' }, (p) => p === '/home/u/.config/tsshd/sshd_config'), '/home/u/.config/tsshd/sshd_config');
  assert.equal(locateSshdConfig({ HOME: '/home/u', XDG_CONFIG_HOME: 'relative' }, (p) => p.startsWith('/home/u/.config')), '/home/u/.config/tsshd/sshd_config');
  assert.equal(locateSshdConfig(env, (p) => p === PATH), PATH);
  assert.equal(locateSshdConfig(env, () => false), undefined);
});

test('loadSshdConfig reads through the supplied reader; an empty file gives defaults', () => {
  assert.equal(loadSshdConfig(undefined), undefined);
  assert.equal(loadSshdConfig('/x', { readFile: () => undefined }), undefined);
  const empty = loadSshdConfig('/x', { readFile: () => '' });
  assert.deepEqual(empty, { path: '/x', entries: [] });
  assert.deepEqual(effectiveConfig(empty, ALICE), defaultSshdPolicy());
  assert.equal(effectiveConfig(loadSshdConfig('/x', { readFile: () => 'X11Forwarding yes\n' }), ALICE).x11Forwarding, true);
});

test('property: random sshd_config text parses or throws a one-line Error; evaluation never throws', () => {
  const line = fc.oneof(
    fc.constantFrom('Match All', 'Match User a*', 'Match Address 10.0.0.0/8,!10.1.*', 'AcceptEnv X', 'PermitOpen h:1', 'X11Forwarding yes', 'Subsystem a b', 'Include x'),
    fc.tuple(fc.constantFrom('AllowTcpForwarding', 'GatewayPorts', 'StreamLocalBindMask', 'X11DisplayOffset', 'PermitListen', 'Match Address', 'Match LocalPort'), fc.string({ maxLength: 10 })).map(
      ([k, v]) => `${k} ${v}`,
    ),
    fc.string({ maxLength: 30 }),
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 8 }), fc.ipV4(), (lines, address) => {
      let config;
      try {
        config = parse(lines.join('\n'), { '/etc/ssh/x': 'X11Forwarding yes\n' });
      } catch (err) {
        assert.equal((err as Error).constructor, Error);
        assert.doesNotMatch((err as Error).message, /[\n\r]/);
        return;
      }
      const policy = effectiveConfig(config, { ...ALICE, address });
      assert.ok(Array.isArray(policy.acceptEnv));
    }),
    { seed: 9, numRuns: 500 },
  );
});

test('usesMatchGroup: true only when a Match (also in an Include) tests Group, so tsshd runs `id -Gn` only then', () => {
  assert.equal(usesMatchGroup(undefined), false);
  assert.equal(usesMatchGroup(parse('AcceptEnv LANG\nMatch User alice\n  AcceptEnv LC_*\n')), false);
  assert.equal(usesMatchGroup(parse('Match Group staff\n  AcceptEnv LC_*\n')), true);
  assert.equal(usesMatchGroup(parse('Match User bob Group wheel\n  AcceptEnv LC_*\n')), true);
  assert.equal(usesMatchGroup(parse('Include /etc/ssh/sshd_config.d/*.conf\n', { '/etc/ssh/sshd_config.d/a.conf': 'Match Group staff\n  AcceptEnv X\n' })), true);
  assert.equal(usesMatchGroup(parse('Include /etc/ssh/sshd_config.d/*.conf\n', { '/etc/ssh/sshd_config.d/a.conf': 'Match Address 10.0.0.0/8\n  AcceptEnv X\n' })), false);
});
