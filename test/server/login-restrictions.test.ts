import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAuthorizedKey } from '../../src/server/authorized-keys.js';
import { effectiveConfig, parseSshdConfig } from '../../src/server/sshd-config.js';
import { applyKeyOptions, loginExpired, parseExpiryTime, readLoginRestrictions, unrestrictedLogin } from '../../src/server/login-restrictions.js';

const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIHBhc3N3b3JkLWlzLW5vdC1hLWtleS1qdXN0LWJ5dGVz';

test('authorized_keys options: quoted values with commas and escaped quotes, options before the key type', () => {
  const line = parseAuthorizedKey(`no-pty,permitopen="h:1",environment="A=x,\\"y\\"",command="echo a,b" ssh-ed25519 ${KEY} me@host`);
  assert.ok(line);
  assert.equal(line.keyType, 'ssh-ed25519');
  assert.deepEqual(line.options, [
    { name: 'no-pty' },
    { name: 'permitopen', value: 'h:1' },
    { name: 'environment', value: 'A=x,"y"' },
    { name: 'command', value: 'echo a,b' },
  ]);
  assert.equal(parseAuthorizedKey(`ssh-ed25519 ${KEY}`)?.options.length, 0);
  assert.equal(parseAuthorizedKey('# a comment'), null);
  assert.equal(parseAuthorizedKey(`no-pty,="x" ssh-ed25519 ${KEY}`), null, 'a malformed line is skipped, as sshd does');
});

test('options apply in order: restrict then pty gives the pty back and nothing else', () => {
  const r = unrestrictedLogin();
  applyKeyOptions(r, parseAuthorizedKey(`restrict,pty ssh-ed25519 ${KEY}`)!.options, 'ak');
  assert.equal(r.pty, null);
  assert.match(r.forwarding ?? '', /port forwarding is disabled for this key \(restrict in ak\)/);
  assert.ok(r.agent !== null && r.x11 !== null);
  const s = unrestrictedLogin();
  applyKeyOptions(s, parseAuthorizedKey(`pty,restrict ssh-ed25519 ${KEY}`)!.options, 'ak');
  assert.ok(s.pty !== null, 'restrict after pty takes it away again');
});

test('expiry-time: dates with and without time and Z; the login is refused from then on', () => {
  assert.equal(parseExpiryTime('20300102Z'), Date.UTC(2030, 0, 2));
  assert.equal(parseExpiryTime('203001021530Z'), Date.UTC(2030, 0, 2, 15, 30));
  assert.equal(parseExpiryTime('20300102153045Z'), Date.UTC(2030, 0, 2, 15, 30, 45));
  assert.equal(parseExpiryTime('2030-01-02'), null);
  const r = unrestrictedLogin();
  applyKeyOptions(r, [{ name: 'expiry-time', value: '20300102Z' }], 'ak');
  assert.equal(loginExpired(r, Date.UTC(2030, 0, 1)), null);
  assert.match(loginExpired(r, Date.UTC(2030, 0, 2)) ?? '', /the key expired \(expiry-time in ak\)/);
});

test('SSH_USER_AUTH: the key used is found in AuthorizedKeysFile (%h expanded) and its line applies; other lines do not', () => {
  const files: Record<string, string> = {
    '/auth': `publickey ssh-ed25519 ${KEY}\n`,
    '/home/u/.ssh/authorized_keys': `no-agent-forwarding ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVyLWtleS1vdGhlci1rZXktb3RoZXIta2V5LXh4\nno-port-forwarding,permitlisten="8080" ssh-ed25519 ${KEY}\n`,
  };
  const ctx = { authorizedKeysFiles: ['%h/.ssh/authorized_keys'], user: { name: 'u', home: '/home/u', uid: 1000 }, readFile: (p: string) => files[p] };
  const r = readLoginRestrictions({ SSH_USER_AUTH: '/auth' }, ctx);
  assert.match(r.forwarding ?? '', /no-port-forwarding in \/home\/u\/.ssh\/authorized_keys/);
  assert.deepEqual(r.permitListen, ['8080']);
  assert.equal(r.agent, null, "another key's line does not apply");
  assert.match(readLoginRestrictions({}, ctx).source, /ExposeAuthInfo/);
  assert.match(readLoginRestrictions({ SSH_USER_AUTH: '/none' }, ctx).source, /cannot read/);
});

test('without SSH_USER_AUTH, when only authorized keys can log in: what every line forbids applies', () => {
  const other = 'AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVyLWtleS1vdGhlci1rZXktb3RoZXIta2V5LXh4';
  const files: Record<string, string> = {
    '/ak': `no-pty,no-agent-forwarding,permitopen="a:1" ssh-ed25519 ${KEY}\nno-pty,permitopen="b:2" ssh-ed25519 ${other}\n`,
  };
  const ctx = { authorizedKeysFiles: ['/ak'], user: { name: 'u', home: '/home/u', uid: 1000 }, readFile: (p: string) => files[p], onlyAuthorizedKeys: true };
  const r = readLoginRestrictions({}, ctx);
  assert.match(r.pty ?? '', /pty allocation is disabled for every authorized key/);
  assert.equal(r.agent, null, 'one line allows agent forwarding');
  assert.deepEqual(r.permitOpen, ['a:1', 'b:2']);
  assert.equal(readLoginRestrictions({}, { ...ctx, onlyAuthorizedKeys: false }).pty, null, 'other ways in: nothing learned');
});

test('sshd_config: onlyAuthorizedKeys when no other method can log in, or AuthenticationMethods requires publickey', () => {
  const only = (text: string): boolean => effectiveConfig(parseSshdConfig(text, { path: 't' }), { user: 'u', groups: [] }).onlyAuthorizedKeys;
  assert.equal(only(''), false, "OpenSSH's defaults allow passwords");
  assert.equal(only('PasswordAuthentication no\nKbdInteractiveAuthentication no\n'), true);
  assert.equal(only('PasswordAuthentication no\nKbdInteractiveAuthentication no\nTrustedUserCAKeys /etc/ssh/ca.pub\n'), false);
  assert.equal(only('AuthenticationMethods publickey,password publickey\n'), true);
  assert.equal(only('AuthenticationMethods publickey password\n'), false);
});
