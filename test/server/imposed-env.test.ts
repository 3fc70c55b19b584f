import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorizedKeysEnvNames, environmentFileNames, expandKeysFile, imposedEnv } from '../../src/server/imposed-env.js';
import { configFromArgv, listenerArgv, runningSshdConfig } from '../../src/server/running-sshd.js';
import { effectiveConfig, locateSshdConfig, parseSshdConfig } from '../../src/server/sshd-config.js';

const LOGIN = { user: 'alice', home: '/home/alice' };

test('SetEnv, PermitUserEnvironment, AuthorizedKeysFile and ChannelTimeout are read with sshd\'s rules (first line wins)', () => {
  const parsed = parseSshdConfig(
    ['SetEnv A=1 B="two words"', 'SetEnv C=3', 'PermitUserEnvironment LANG,DROPIN_*', 'AuthorizedKeysFile %h/keys /etc/keys/%u', 'ChannelTimeout session=5m *=1h'].join('\n'),
    { path: 'cfg' },
  );
  const p = effectiveConfig(parsed, { user: 'alice', groups: [] });
  assert.deepEqual(p.setEnv, ['A', 'B']);
  assert.deepEqual(p.permitUserEnvironment, ['LANG', 'DROPIN_*']);
  assert.deepEqual(p.authorizedKeysFiles, ['%h/keys', '/etc/keys/%u']);
  assert.deepEqual(p.channelTimeouts, [{ type: 'session', seconds: 300 }, { type: '*', seconds: 3600 }]);
  const defaults = effectiveConfig(undefined, { user: 'alice', groups: [] });
  assert.equal(defaults.permitUserEnvironment, 'no');
  assert.deepEqual(defaults.authorizedKeysFiles, ['.ssh/authorized_keys', '.ssh/authorized_keys2']);
  assert.throws(() => parseSshdConfig('ChannelTimeout session\n', { path: 'cfg' }) && effectiveConfig(parseSshdConfig('ChannelTimeout session\n', { path: 'cfg' }), { user: 'a', groups: [] }), /ChannelTimeout entries are type=interval/);
});

test('the names come from the files, the values from the login\'s own environment (what sshd allowed)', () => {
  const files: Record<string, string> = {
    '/home/alice/.ssh/environment': '# comment\nDROPIN_FILE=x\n\nOTHER=y\n',
    '/home/alice/.ssh/authorized_keys': 'environment="DROPIN_KEY=k",no-pty ssh-ed25519 AAAA\n# environment="DROPIN_COMMENTED=1" x\n',
  };
  const loginEnv = { DROPIN_FILE: 'x', DROPIN_KEY: 'k', OTHER: 'y', SET_BY_ADMIN: 'v', UNRELATED: 'u' };
  const read = (path: string): string | undefined => files[path];
  const base = { setEnv: ['SET_BY_ADMIN', 'NOT_IN_LOGIN'], authorizedKeysFiles: ['.ssh/authorized_keys'] };
  assert.deepEqual(imposedEnv({ ...base, permitUserEnvironment: 'no' }, LOGIN, loginEnv, read), { SET_BY_ADMIN: 'v' });
  assert.deepEqual(imposedEnv({ ...base, permitUserEnvironment: 'yes' }, LOGIN, loginEnv, read), { DROPIN_FILE: 'x', OTHER: 'y', DROPIN_KEY: 'k', SET_BY_ADMIN: 'v' });
  assert.deepEqual(imposedEnv({ ...base, permitUserEnvironment: ['DROPIN_*'] }, LOGIN, loginEnv, read), { DROPIN_FILE: 'x', DROPIN_KEY: 'k', SET_BY_ADMIN: 'v' });
  assert.deepEqual(environmentFileNames('A=1\n  B=2\n#C=3\n=bad\n'), ['A', 'B']);
  assert.deepEqual(authorizedKeysEnvNames('restrict,environment="X=1",environment="Y=a b" ssh-ed25519 K\n'), ['X', 'Y']);
  assert.equal(expandKeysFile('%h/.ssh/k_%u%%', LOGIN), '/home/alice/.ssh/k_alice%');
  assert.equal(expandKeysFile('.ssh/authorized_keys', LOGIN), '/home/alice/.ssh/authorized_keys');
});

test("the running sshd's -f: OpenSSH 9's titled listener, an older real argv, a relative path, no sshd", () => {
  assert.deepEqual(listenerArgv('sshd: /usr/sbin/sshd -D -e -f /srv/alt_config [listener] 0 of 10-100 startups\0\0\0'), ['-D', '-e', '-f', '/srv/alt_config']);
  assert.deepEqual(listenerArgv('/usr/sbin/sshd\0-D\0-f/srv/x\0'), ['-D', '-f/srv/x']);
  assert.equal(listenerArgv('sshd: root@notty\0\0'), null);
  assert.equal(listenerArgv('/usr/sbin/sshd\0-R\0'), null, 'a per-connection child');
  assert.equal(listenerArgv('bash\0-c\0x'), null);
  assert.equal(configFromArgv(['-D', '-f', '/srv/a'], '/etc/ssh/sshd_config'), '/srv/a');
  assert.equal(configFromArgv(['-Def/srv/b'], '/etc/ssh/sshd_config'), '/srv/b');
  assert.equal(configFromArgv(['-D', '-p', '22'], '/etc/ssh/sshd_config'), '/etc/ssh/sshd_config');
  assert.equal(configFromArgv(['-f', 'rel/config'], '/etc/ssh/sshd_config'), undefined);
  // tsshd (40) <- shell (30) <- sshd session (20) <- listener (10)
  const proc: Record<string, string> = {
    '/proc/30/cmdline': 'bash\0-c\0tsshd\0',
    '/proc/30/stat': '30 (bash) S 20 30 30 0',
    '/proc/20/cmdline': 'sshd: alice@notty\0\0\0',
    '/proc/20/stat': '20 (sshd) S 10 20 20 0',
    '/proc/10/cmdline': 'sshd: /usr/sbin/sshd -D -f /srv/alt_config [listener] 0 of 10-100 startups\0',
    '/proc/10/stat': '10 (sshd) S 1 10 10 0',
  };
  assert.equal(runningSshdConfig('/etc/ssh/sshd_config', 30, (p) => proc[p]), '/srv/alt_config');
  assert.equal(runningSshdConfig('/etc/ssh/sshd_config', 30, (p) => (p.startsWith('/proc/10') ? undefined : proc[p])), undefined);
  // The rule's order: the user's tsshd file, then the running sshd's, then the system's.
  const exists = (p: string): boolean => ['/home/alice/.config/tsshd/sshd_config', '/srv/alt_config', '/etc/ssh/sshd_config'].includes(p);
  assert.equal(locateSshdConfig({ HOME: '/home/alice' }, exists, () => '/srv/alt_config'), '/home/alice/.config/tsshd/sshd_config');
  assert.equal(locateSshdConfig({ HOME: '/nobody' }, exists, () => '/srv/alt_config'), '/srv/alt_config');
  assert.equal(locateSshdConfig({ HOME: '/nobody' }, exists, () => undefined), '/etc/ssh/sshd_config');
  assert.equal(locateSshdConfig({ HOME: '/nobody' }, exists, () => '/srv/missing'), '/etc/ssh/sshd_config');
});
