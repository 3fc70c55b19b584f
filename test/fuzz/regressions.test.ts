import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveUdpOptions } from '../../src/client/udp-options.js';
import { MessageReader } from '../../src/protocol/message-codec.js';
import { ProtocolError } from '../../src/protocol/messages.js';
import { effectiveConfig, parseSshdConfig } from '../../src/server/sshd-config.js';

// Inputs the decoder fuzz (test/fuzz/targets.ts) found crashing, kept as plain cases.

test('a zero-length message frame is bad JSON, not a TypeError', () => {
  const reader = new MessageReader();
  assert.throws(() => reader.push(Buffer.from([0, 0, 0, 0])), (err: unknown) => err instanceof ProtocolError && err.code === 'bad-json');
  const split = new MessageReader();
  assert.deepEqual(split.push(Buffer.from([0, 0])), []);
  assert.throws(() => split.push(Buffer.from([0, 0])), ProtocolError);
});

test('keywords named like Object.prototype members are unknown keywords, not crashes', () => {
  for (const word of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    const file = parseSshdConfig(`${word} yes\nAllowTcpForwarding no`, { path: '/etc/ssh/sshd_config', readInclude: () => [] });
    assert.equal(effectiveConfig(file, { user: 'u' }).allowTcpForwarding, 'no');
    const base = { home: '/h', destinationHost: 'h', localUser: 'me', readInclude: () => [], exec: () => false };
    assert.doesNotThrow(() => resolveUdpOptions({ ...base, configTexts: [{ path: 'c', text: `${word} x` }] }));
    assert.throws(() => resolveUdpOptions({ ...base, configTexts: [{ path: 'c', text: `#!! ${word} x` }] }), /unknown tssh option/);
    assert.doesNotThrow(() => resolveUdpOptions({ ...base, cliOptions: { options: [{ key: word, value: 'x' }] } }));
  }
});
