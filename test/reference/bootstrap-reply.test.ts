import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeBootstrap, encodeBootstrapSecret, type BootstrapInfo } from '../../src/protocol/bootstrap.js';
import { chooseProtocol, parseBootstrapReply } from '../../src/protocol/bootstrap-reply.js';
import { encodeServerInfoLine, type ReferenceServerInfo } from '../../src/protocol/reference/server-info.js';
import { PROTOCOL_VERSION } from '../../src/version.js';

const native: BootstrapInfo = { serverVersion: '0.1.0', protocolVersion: PROTOCOL_VERSION, port: 61001, mode: 'kcp', secret: encodeBootstrapSecret(Buffer.alloc(32, 7)), proxyMode: 'udp', mtu: 1400 };
const reference: ReferenceServerInfo = {
  serverVersion: '0.1.9',
  protoVersion: 1,
  port: 61002,
  mode: 'KCP',
  pass: Buffer.alloc(48, 1),
  salt: Buffer.alloc(48, 2),
  proxyKey: Buffer.alloc(32, 3),
  clientId: 2n ** 63n + 5n,
  serverId: 7n,
  proxyMode: 'UDP',
  mtu: 0,
};

describe('bootstrap reply of either tsshd', () => {
  it('our old native line: native only', () => {
    const r = parseBootstrapReply(`motd\n${encodeBootstrap(native)}`);
    assert.deepEqual(r, { native });
    assert.equal(chooseProtocol(r, 'auto', 'h').kind, 'native');
    assert.throws(() => chooseProtocol(r, 'reference', 'h'), /TsshdProtocol reference, but the tsshd on h answered only in the native protocol/);
  });

  it('the Go tsshd line: reference only; pinned native is one line naming the fix', () => {
    const r = parseBootstrapReply(encodeServerInfoLine(reference));
    assert.equal(r.native, undefined);
    assert.equal(r.reference!.clientId, 2n ** 63n + 5n);
    assert.equal(chooseProtocol(r, 'auto', 'h').kind, 'reference');
    assert.throws(() => chooseProtocol(r, 'native', 'h'), /^ReferenceWireError: TsshdProtocol native, but the tsshd on h is the Go tsshd 0\.1\.9, which speaks only the reference protocol; set TsshdProtocol auto or reference$/);
  });

  it('our new line (ServerInfo + TsshdNative): native by default, reference when pinned', () => {
    const { version: _v, ...nativeFields } = { version: 0, ...native };
    const r = parseBootstrapReply(encodeServerInfoLine({ ...reference, native: nativeFields as unknown as Record<string, unknown> }));
    assert.deepEqual(r.native, native);
    assert.equal(chooseProtocol(r, 'auto', 'h').kind, 'native');
    assert.equal(chooseProtocol(r, 'native', 'h').kind, 'native');
    assert.equal(chooseProtocol(r, 'reference', 'h').kind, 'reference');
  });
});
