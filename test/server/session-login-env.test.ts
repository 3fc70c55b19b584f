import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_ROOT_PATH,
  DEFAULT_USER_PATH,
  buildLoginEnv,
  currentLogin,
  envAcceptedBy,
  loginShellArgv0,
  sessionEnv,
} from '../../src/server/login-env.js';

test('the login env has what sshd sets and nothing from tsshd\'s own environment', () => {
  process.env.TSSHD_SECRET_TEST = 'do-not-leak';
  try {
    const env = buildLoginEnv({ user: 'alice', home: '/home/alice', shell: '/bin/zsh', uid: 1000, sshConnection: '10.0.0.1 5000 10.0.0.2 22', sshClient: '10.0.0.1 5000 22' });
    assert.deepEqual(env, {
      USER: 'alice',
      LOGNAME: 'alice',
      HOME: '/home/alice',
      PATH: DEFAULT_USER_PATH,
      MAIL: '/var/mail/alice',
      SHELL: '/bin/zsh',
      SSH_CLIENT: '10.0.0.1 5000 22',
      SSH_CONNECTION: '10.0.0.1 5000 10.0.0.2 22',
    });
    const session = sessionEnv(env, { TSSHD_SECRET_TEST: 'x' }, () => false, 'xterm');
    assert.equal('TSSHD_SECRET_TEST' in session, false);
    assert.equal(Object.values(session).includes('do-not-leak'), false);
  } finally {
    delete process.env.TSSHD_SECRET_TEST;
  }
});

test('root gets the superuser PATH; an explicit path wins', () => {
  assert.equal(buildLoginEnv({ user: 'root', home: '/root', shell: '/bin/sh', uid: 0 }).PATH, DEFAULT_ROOT_PATH);
  assert.equal(buildLoginEnv({ user: 'root', home: '/root', shell: '/bin/sh', uid: 0, path: '/opt/bin' }).PATH, '/opt/bin');
});

test('the current login comes from the password database', () => {
  const me = currentLogin({ sshConnection: 'a b c d' });
  assert.ok(me.user.length > 0);
  assert.ok(me.home.startsWith('/'));
  assert.ok(me.shell.startsWith('/'));
  assert.equal(me.sshConnection, 'a b c d');
});

test('session env: accepted client variables, then server-owned ones and TERM from the pty win', () => {
  const base = buildLoginEnv({ user: 'bob', home: '/h', shell: '/bin/sh', uid: 5, sshConnection: 'real' });
  const accepted = envAcceptedBy(['LANG', 'LC_*', 'SSH_*', 'TERM', 'X?']);
  const env = sessionEnv(base, { LANG: 'C.UTF-8', LC_TIME: 'de_DE', FOO: 'bar', XY: '1', XYZ: '2', SSH_CONNECTION: 'forged', TERM: 'dumb' }, accepted, 'xterm-256color');
  assert.equal(env.LANG, 'C.UTF-8');
  assert.equal(env.LC_TIME, 'de_DE');
  assert.equal(env.XY, '1');
  assert.equal('XYZ' in env, false);
  assert.equal('FOO' in env, false);
  assert.equal(env.SSH_CONNECTION, 'real');
  assert.equal(env.TERM, 'xterm-256color');
  assert.equal(env.HOME, '/h');
});

test('AcceptEnv patterns match whole names, case-sensitively, with regex characters taken literally', () => {
  const accepted = envAcceptedBy(['A.B', 'LC_*']);
  assert.equal(accepted('A.B'), true);
  assert.equal(accepted('AxB'), false);
  assert.equal(accepted('lc_all'), false);
  assert.equal(accepted('LC_ALL'), true);
  assert.equal(accepted('XLC_ALL'), false);
  assert.equal(envAcceptedBy([])('LANG'), false);
});

test('a login shell is named "-" plus the basename of the shell', () => {
  assert.equal(loginShellArgv0('/usr/bin/bash'), '-bash');
  assert.equal(loginShellArgv0('/bin/sh'), '-sh');
});
