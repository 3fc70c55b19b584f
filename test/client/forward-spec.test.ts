import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDynamicForwardSpec, parseForwardSpec } from '../../src/client/forward-spec.js';

const L = (spec: string) => parseForwardSpec(spec, { kind: 'L' });
const R = (spec: string) => parseForwardSpec(spec, { kind: 'R' });

test('-L TCP forms: port:host:hostport and bind:port:host:hostport', () => {
  assert.deepEqual(L('8080:example.com:80'), { proto: 'tcp', listen: { port: 8080 }, connect: { host: 'example.com', port: 80 } });
  assert.deepEqual(L('127.0.0.1:8080:db:5432'), { proto: 'tcp', listen: { host: '127.0.0.1', port: 8080 }, connect: { host: 'db', port: 5432 } });
  assert.deepEqual(L('*:8080:db:5432').listen, { host: '*', port: 8080 });
  assert.deepEqual(L(':8080:db:5432').listen, { host: '', port: 8080 });
});

test('IPv6 addresses in brackets', () => {
  assert.deepEqual(L('[::1]:8080:host:80'), { proto: 'tcp', listen: { host: '::1', port: 8080 }, connect: { host: 'host', port: 80 } });
  assert.deepEqual(L('8080:[2001:db8::1]:443').connect, { host: '2001:db8::1', port: 443 });
});

test('unix socket forms', () => {
  assert.deepEqual(L('8080:/run/app.sock'), { proto: 'tcp', listen: { port: 8080 }, connect: { path: '/run/app.sock' } });
  assert.deepEqual(L('localhost:8080:/run/app.sock'), { proto: 'tcp', listen: { host: 'localhost', port: 8080 }, connect: { path: '/run/app.sock' } });
  assert.deepEqual(L('/tmp/local.sock:db:5432'), { proto: 'tcp', listen: { path: '/tmp/local.sock' }, connect: { host: 'db', port: 5432 } });
  assert.deepEqual(L('/tmp/l.sock:/tmp/r.sock'), { proto: 'tcp', listen: { path: '/tmp/l.sock' }, connect: { path: '/tmp/r.sock' } });
});

test('backslash escapes a colon in a field', () => {
  assert.deepEqual(L('/tmp/a\\:b.sock:/tmp/r.sock').listen, { path: '/tmp/a:b.sock' });
});

test('UDP forms with every separator and any case', () => {
  for (const prefix of ['udp/', 'udp:', 'udp_', 'udp-', 'UDP/', 'Udp:']) {
    assert.deepEqual(L(`${prefix}5353:dns:53`), { proto: 'udp', listen: { port: 5353 }, connect: { host: 'dns', port: 53 } }, prefix);
  }
  assert.deepEqual(L('udp/127.0.0.1:5353:dns:53').listen, { host: '127.0.0.1', port: 5353 });
  assert.deepEqual(L('udp_/tmp/l.sock:dns:53'), { proto: 'udp', listen: { path: '/tmp/l.sock' }, connect: { host: 'dns', port: 53 } });
  assert.deepEqual(L('udp-/tmp/l.sock:/tmp/r.sock'), { proto: 'udp', listen: { path: '/tmp/l.sock' }, connect: { path: '/tmp/r.sock' } });
  assert.equal(parseForwardSpec('5353:dns:53', { kind: 'L', udp: true }).proto, 'udp');
});

test('-R allows listening port 0 (server picks), -L does not', () => {
  assert.deepEqual(R('0:localhost:22').listen, { port: 0 });
  assert.throws(() => L('0:localhost:22'), { message: `bad -L specification "0:localhost:22": port "0" must be a number from 1 to 65535` });
  assert.deepEqual(R('udp/0.0.0.0:9000:localhost:9000'), { proto: 'udp', listen: { host: '0.0.0.0', port: 9000 }, connect: { host: 'localhost', port: 9000 } });
});

test('bad specs give one-line errors with the expected form', () => {
  const expected = 'expected [bind_address:]port:host:hostport (a side may be a /unix/socket path)';
  assert.throws(() => L('x'), { message: `bad -L specification "x": ${expected}` });
  assert.throws(() => R('8080'), { message: `bad -R specification "8080": ${expected}` });
  assert.throws(() => L('a:b:c:d:e'), /bad -L specification "a:b:c:d:e": expected/);
  assert.throws(() => L('8080:host'), /expected/);
  assert.throws(() => L(''), /expected/);
  assert.throws(() => L('[::1:8080:h:80'), /expected/);
  assert.throws(() => L('8080:host:http'), /port "http" must be a number from 1 to 65535/);
  assert.throws(() => L('8080:host:0'), /port "0" must be a number from 1 to 65535/);
  assert.throws(() => L('8080::80'), /the host to connect to is empty/);
  assert.throws(() => L('99999:h:80'), /port "99999"/);
  assert.throws(() => parseForwardSpec('x', { kind: 'L', label: 'UdpLocalForward' }), /^Error: bad UdpLocalForward specification "x"/);
});

test('-D: [bind:]port', () => {
  assert.deepEqual(parseDynamicForwardSpec('1080'), { listen: { port: 1080 } });
  assert.deepEqual(parseDynamicForwardSpec('127.0.0.1:1080'), { listen: { host: '127.0.0.1', port: 1080 } });
  assert.deepEqual(parseDynamicForwardSpec('[::1]:1080'), { listen: { host: '::1', port: 1080 } });
  assert.throws(() => parseDynamicForwardSpec('a:b:c'), { message: 'bad -D specification "a:b:c": expected [bind_address:]port' });
  assert.throws(() => parseDynamicForwardSpec('0'), /port "0"/);
  assert.throws(() => parseDynamicForwardSpec('/tmp/s'), /expected/);
  assert.throws(() => parseDynamicForwardSpec('udp/1080'), /SOCKS forwarding is TCP only/);
});

test('property: random specs parse or throw a one-line Error', () => {
  const piece = fc.oneof(fc.constantFrom(':', '/', '[', ']', '\\', 'udp/', '8080', '::1', '*', 'h'), fc.string({ maxLength: 6 }));
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 8 }).map((p) => p.join('')), fc.constantFrom<'L' | 'R'>('L', 'R'), (spec, kind) => {
      for (const parse of [() => parseForwardSpec(spec, { kind }), () => parseDynamicForwardSpec(spec)]) {
        try {
          const result = parse();
          assert.equal(typeof result, 'object');
        } catch (err) {
          assert.equal((err as Error).constructor, Error);
          assert.doesNotMatch((err as Error).message, /[\n\r]/);
        }
      }
    }),
    { seed: 5, numRuns: 1000 },
  );
});
