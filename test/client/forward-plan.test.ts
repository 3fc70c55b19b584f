import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardPlan, isUdpForwardSpec, udpForwardsWithoutUdpMode } from '../../src/client/forward-plan.js';
import { parseSshArgs } from '../../src/client/ssh-args.js';
import { parseSshG } from '../../src/client/ssh-effective-config.js';
import { loginSshArgs } from '../../src/client/bootstrap-over-ssh.js';
import { resolveUdpOptions } from '../../src/client/udp-options.js';

// What OpenSSH 9.2's `ssh -G -L 8080:db:80 -L 127.0.0.1:8081:/tmp/x.sock -L /tmp/a:/tmp/b -R 9000:localhost:22
// -R '[::1]:9002:[::1]:22' -D 1080 -D '*:1081' -g -o ExitOnForwardFailure=yes host` prints (forward lines verbatim).
const G = [
  'hostname h',
  'port 22',
  'clearallforwardings no',
  'exitonforwardfailure yes',
  'gatewayports yes',
  'sessiontype default',
  'forkafterauthentication no',
  'streamlocalbindunlink no',
  'streamlocalbindmask 0177',
  'dynamicforward [127.0.0.1]:8081',
  'dynamicforward /tmp/a',
  'dynamicforward 1080',
  'dynamicforward [*]:1081',
  'localforward 8080 [db]:80',
  'localforward [127.0.0.1]:8081 /tmp/x.sock',
  'localforward /tmp/a /tmp/b',
  'remoteforward 9000 [localhost]:22',
  'remoteforward [::1]:9002 [::1]:22',
  '',
].join('\n');

const udpOptions = (extra: Parameters<typeof resolveUdpOptions>[0]['configs'] = []) =>
  resolveUdpOptions({ configs: extra, destinationHost: 'h', localUser: 'me', home: '/nonexistent' });

test('parseSshG reads the forwards, dropping the "dynamicforward" lines ssh -G adds for LocalForwards to a Unix socket', () => {
  const g = parseSshG(G);
  assert.deepEqual(g.localForwards, ['8080:[db]:80', '[127.0.0.1]:8081:/tmp/x.sock', '/tmp/a:/tmp/b']);
  assert.deepEqual(g.remoteForwards, ['9000:[localhost]:22', '[::1]:9002:[::1]:22']);
  assert.deepEqual(g.dynamicForwards, ['1080', '[*]:1081']);
  assert.equal(g.exitOnForwardFailure, true);
  assert.equal(g.gatewayPorts, true);
  assert.equal(g.streamLocalBindMask, 0o177);
  assert.equal(g.sessionType, 'default');
  assert.equal(parseSshG('hostname h\nport 22\nsessiontype none\nforkafterauthentication yes\n').forkAfterAuthentication, true);
});

test('forwardPlan: TCP forwards from ssh -G, UDP ones from the command line; ClearAllForwardings clears UDP too', () => {
  const parsed = parseSshArgs(['-L', 'udp/5353:10.0.0.2:53', '-R', 'UDP-7000:127.0.0.1:7', 'h']);
  const plan = forwardPlan(parseSshG(G), parsed, udpOptions());
  assert.deepEqual(plan.local.map((s) => [s.proto, s.listen, s.connect]), [
    ['tcp', { port: 8080 }, { host: 'db', port: 80 }],
    ['tcp', { host: '127.0.0.1', port: 8081 }, { path: '/tmp/x.sock' }],
    ['tcp', { path: '/tmp/a' }, { path: '/tmp/b' }],
    ['udp', { port: 5353 }, { host: '10.0.0.2', port: 53 }],
  ]);
  assert.deepEqual(plan.remote.map((s) => [s.proto, s.listen, s.connect]), [
    ['tcp', { port: 9000 }, { host: 'localhost', port: 22 }],
    ['tcp', { host: '::1', port: 9002 }, { host: '::1', port: 22 }],
    ['udp', { port: 7000 }, { host: '127.0.0.1', port: 7 }],
  ]);
  assert.deepEqual(plan.dynamic, [{ listen: { port: 1080 } }, { listen: { host: '*', port: 1081 } }]);
  assert.equal(plan.udpTimeoutMs, 300_000);
  const cleared = forwardPlan(parseSshG('hostname h\nport 22\nclearallforwardings yes\n'), parsed, udpOptions());
  assert.equal(cleared.local.length + cleared.remote.length + cleared.dynamic.length, 0);
});

test('forwardPlan refuses a remote SOCKS forward (-R port) in one line', () => {
  assert.throws(
    () => forwardPlan(parseSshG('hostname h\nport 22\nremoteforward 9001 [socks]:0\n'), parseSshArgs(['h']), udpOptions()),
    /^Error: tssh: remote dynamic forwarding \(-R 9001\) is not available over UDP/,
  );
});

test('UDP forwards: recognised by prefix, kept away from the login ssh, refused outside UDP mode', () => {
  for (const s of ['udp/1:h:2', 'udp:1:h:2', 'udp_/a:h:2', 'UDP-1:h:2']) assert.ok(isUdpForwardSpec(s), s);
  assert.ok(!isUdpForwardSpec('1:udp:2'));
  const argv = ['-L', 'udp/5353:h:53', '-L', '8080:h:80', '-R', 'udp:7:h:7', 'h'];
  const parsed = parseSshArgs(argv);
  assert.deepEqual(loginSshArgs(argv, parsed), ['-L', '8080:h:80', 'h']);
  assert.match(udpForwardsWithoutUdpMode(parsed, udpOptions()) ?? '', /^tssh: UDP forwarding \(-L udp\/5353:h:53\) needs UDP mode; use --udp/);
  assert.equal(udpForwardsWithoutUdpMode(parseSshArgs(['-L', '1:h:2', 'h']), udpOptions()), undefined);
});
