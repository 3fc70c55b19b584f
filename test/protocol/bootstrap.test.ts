import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeBootstrapSecret,
  encodeBootstrap,
  encodeBootstrapSecret,
  parseBootstrap,
  type BootstrapInfo,
} from '../../src/protocol/bootstrap.js';
import { PROTOCOL_VERSION } from '../../src/version.js';

const SECRET = encodeBootstrapSecret(new Uint8Array(32).fill(7));

function info(overrides: Partial<BootstrapInfo> = {}): BootstrapInfo {
  return {
    serverVersion: '0.1.0',
    protocolVersion: PROTOCOL_VERSION,
    port: 61001,
    mode: 'kcp',
    secret: SECRET,
    proxyMode: 'udp',
    mtu: 1400,
    ...overrides,
  };
}

function line(fields: Record<string, unknown>): string {
  return `\x07${JSON.stringify(fields)}\n`;
}

test('encodeBootstrap writes BEL, JSON and a newline, and parseBootstrap reads it back', () => {
  const text = encodeBootstrap(info({ conv: 42 }));
  assert.equal(text[0], '\x07');
  assert.ok(text.endsWith('}\n'));
  assert.deepEqual(parseBootstrap(text), info({ conv: 42 }));
});

test('parseBootstrap skips MOTD noise before the BEL and junk after the line', () => {
  const text = `Welcome to host\r\nLast login: yesterday\r\n${encodeBootstrap(info())}bash: junk\n`;
  assert.equal(parseBootstrap(text).port, 61001);
});

test('parseBootstrap uses the last BEL (a shell bell earlier is ignored)', () => {
  const text = `\x07 a bell from the shell\n${encodeBootstrap(info({ port: 7000 }))}`;
  assert.equal(parseBootstrap(text).port, 7000);
});

test('parseBootstrap accepts a line without a trailing newline and with CRLF', () => {
  assert.equal(parseBootstrap(encodeBootstrap(info()).trimEnd()).mtu, 1400);
  assert.equal(parseBootstrap(encodeBootstrap(info()).replace('\n', '\r\n')).mtu, 1400);
});

test('parseBootstrap keeps the optional quic object', () => {
  const parsed = parseBootstrap(encodeBootstrap(info({ mode: 'quic', quic: { certFingerprints: ['ab:cd'] } })));
  assert.deepEqual(parsed.quic, { certFingerprints: ['ab:cd'] });
});

test('parseBootstrap ignores unknown extra fields', () => {
  assert.equal(parseBootstrap(line({ ...info(), future: 1 })).mode, 'kcp');
});

test('no BEL: the error names TsshdPath', () => {
  assert.throws(() => parseBootstrap('bash: tsshd: command not found\n'), {
    message: 'tsshd printed no bootstrap line; is TsshdPath right?',
  });
});

test('bad JSON, non-object JSON', () => {
  assert.throws(() => parseBootstrap('\x07{"port": \n'), /tsshd bootstrap line is not valid JSON \(.*\); is TsshdPath a compatible tsshd\?$/);
  assert.throws(() => parseBootstrap('\x07[1,2]\n'), /not a JSON object/);
});

test('missing field names the field', () => {
  const { port: _port, ...rest } = info();
  assert.throws(() => parseBootstrap(line(rest)), { message: 'tsshd bootstrap line has no "port" field; is TsshdPath a compatible tsshd?' });
  const { protocolVersion: _pv, ...noVersion } = info();
  assert.throws(() => parseBootstrap(line(noVersion)), /no "protocolVersion" field/);
});

test('protocol version mismatch names both versions and which side to upgrade', () => {
  const newer = line({ ...info(), protocolVersion: PROTOCOL_VERSION + 1, serverVersion: '9.9.9' });
  assert.throws(
    () => parseBootstrap(newer, { clientVersion: '0.1.0' }),
    { message: `tsshd 9.9.9 speaks protocol version ${PROTOCOL_VERSION + 1} but tssh 0.1.0 speaks protocol version ${PROTOCOL_VERSION}; upgrade tssh on this machine` },
  );
  assert.throws(() => parseBootstrap(line({ ...info(), protocolVersion: 1 }), { protocolVersion: 2 }), /protocol version 1 but tssh .* protocol version 2; upgrade tsshd on the server$/);
});

test('every field is type- and range-checked', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['serverVersion', 3, /"serverVersion" must be a string/],
    ['port', 0, /"port" must be an integer from 1 to 65535 \(got 0\)/],
    ['port', 65536, /"port" must be an integer from 1 to 65535/],
    ['port', 22.5, /"port"/],
    ['port', '22', /"port"/],
    ['mode', 'tcp', /"mode" must be "kcp" or "quic"/],
    ['secret', 'short', /"secret" must be 32 bytes in base64url/],
    ['secret', SECRET.slice(0, 42) + 'B', /"secret"/],
    ['secret', Buffer.alloc(32).toString('base64'), /"secret"/],
    ['proxyMode', 'UDP', /"proxyMode" must be "udp" or "tcp"/],
    ['mtu', 575, /"mtu" must be an integer from 576 to 9000/],
    ['mtu', 9001, /"mtu"/],
    ['conv', -1, /"conv" must be an unsigned 32-bit integer/],
    ['conv', 2 ** 32, /"conv"/],
    ['quic', [], /"quic" must be an object/],
    ['quic', { certFingerprints: 'x' }, /"quic.certFingerprints" must be a list/],
  ];
  for (const [field, value, message] of cases) {
    assert.throws(() => parseBootstrap(line({ ...info(), [field]: value })), message, `${field}=${JSON.stringify(value)}`);
  }
});

test('output over 1 MiB and JSON over 64 KiB are refused', () => {
  assert.throws(() => parseBootstrap('x'.repeat(1024 * 1024 + 1) + encodeBootstrap(info())), /more than 1 MiB/);
  assert.throws(() => parseBootstrap(`\x07{"pad":"${'x'.repeat(65 * 1024)}"}\n`), /longer than 64 KiB/);
});

test('encodeBootstrap refuses invalid info', () => {
  assert.throws(() => encodeBootstrap(info({ mtu: 100 })), /"mtu"/);
});

test('secret helpers round-trip 32 bytes and reject other sizes', () => {
  const bytes = new Uint8Array(32).map((_, i) => i * 7);
  assert.deepEqual([...decodeBootstrapSecret(encodeBootstrapSecret(bytes))], [...bytes]);
  assert.throws(() => encodeBootstrapSecret(new Uint8Array(16)), /must be 32 bytes \(got 16\)/);
  assert.throws(() => decodeBootstrapSecret('abc'), /32 bytes/);
});

test('property: any 32-byte secret and valid fields round-trip', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 576, max: 9000 }),
      fc.constantFrom<'kcp' | 'quic'>('kcp', 'quic'),
      fc.string({ maxLength: 8 }),
      (bytes, port, mtu, mode, noise) => {
        const original = info({ secret: encodeBootstrapSecret(bytes), port, mtu, mode });
        assert.deepEqual(parseBootstrap(noise.replaceAll('\x07', '') + encodeBootstrap(original)), original);
      },
    ),
    { seed: 1, numRuns: 200 },
  );
});

test('property: random output either parses or throws a one-line Error', () => {
  const arbitraryOutput = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.json().map((j) => `\x07${j}\n`),
    fc.dictionary(fc.constantFrom('serverVersion', 'protocolVersion', 'port', 'mode', 'secret', 'proxyMode', 'mtu', 'conv', 'quic'), fc.jsonValue()).map(
      (d) => line({ ...info(), ...d }),
    ),
  );
  fc.assert(
    fc.property(arbitraryOutput, (output) => {
      try {
        parseBootstrap(output);
      } catch (err) {
        assert.ok(err instanceof Error, 'an Error');
        assert.equal(err.constructor, Error);
        assert.doesNotMatch(err.message, /[\n\r\u2028\u2029\u0085]/);
      }
    }),
    { seed: 2, numRuns: 500 },
  );
});
