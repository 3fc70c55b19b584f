import assert from 'node:assert/strict';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { deriveTrafficKey, ReferenceKcpCipher } from '../../src/transport/reference/kcp-cipher.js';
import { FEC_TYPE_DATA, FEC_TYPE_PARITY, encodeShard, ReferenceKcpFraming } from '../../src/transport/reference/kcp-framing.js';

const pass = randomBytes(48);
const salt = randomBytes(48);

function openWith(secret: Buffer, datagram: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', deriveTrafficKey(secret, salt), datagram.subarray(0, 12));
  d.setAuthTag(datagram.subarray(datagram.length - 16));
  const out = d.update(datagram.subarray(12, datagram.length - 16));
  d.final();
  return out;
}

describe('reference KCP framing', () => {
  it('seals with HKDF-SHA384(pass, salt) and a random nonce; lays out seqid, type and size little-endian', () => {
    const f = new ReferenceKcpFraming(new ReferenceKcpCipher(pass, salt), { parityMaxBytes: 100 });
    const out: Buffer[] = [];
    const seg = randomBytes(40);
    f.encodeKcp(seg, (d) => out.push(d));
    f.encodeKcp(randomBytes(500), (d) => out.push(d));
    assert.equal(out.length, 3, 'small packet: data + parity; big packet: data only');
    const [d0, p0, d1] = out.map((d) => openWith(pass, d));
    assert.deepEqual([d0.readUInt32LE(0), d0.readUInt16LE(4), d0.readUInt16LE(6)], [0, FEC_TYPE_DATA, 42]);
    assert.deepEqual(d0.subarray(8), seg);
    assert.deepEqual([p0.readUInt32LE(0), p0.readUInt16LE(4)], [1, FEC_TYPE_PARITY]);
    assert.deepEqual(p0.subarray(8), seg, 'RS(1,1) parity is a copy');
    assert.equal(d1.readUInt32LE(0), 2, 'data ids stay even');
    assert.notDeepEqual(out[0].subarray(0, 12), out[1].subarray(0, 12));
  });

  it('delivers parity only when its data shard was lost, and drops foreign datagrams', () => {
    const tx = new ReferenceKcpFraming(new ReferenceKcpCipher(pass, salt));
    const rx = new ReferenceKcpFraming(new ReferenceKcpCipher(pass, salt));
    const out: Buffer[] = [];
    tx.encodeKcp(Buffer.from('a'.repeat(30)), (d) => out.push(d));
    tx.encodeKcp(Buffer.from('b'.repeat(30)), (d) => out.push(d));
    assert.equal(out.length, 4);
    assert.equal(rx.decode(out[0])?.kind, 'kcp');
    assert.equal(rx.decode(out[1]), null, 'parity of a received shard');
    assert.equal(rx.drops.parityUnneeded, 1);
    // Lose the second data shard: its parity delivers it.
    const rec = rx.decode(out[3]);
    assert.ok(rec !== null && rec.kind === 'kcp');
    assert.equal(rec.packet.toString(), 'b'.repeat(30));
    assert.equal(rx.decode(out[2]), null, 'the late data shard is then a duplicate at the framing');
    assert.equal(rx.decode(randomBytes(60)), null);
    assert.equal(rx.drops.auth, 1);
    assert.equal(new ReferenceKcpFraming(new ReferenceKcpCipher(pass, salt)).unframe(encodeShard(1, 0x1234, Buffer.alloc(4))), null);
  });

  it('carries out-of-band datagrams with the conversation id', () => {
    const tx = new ReferenceKcpFraming(new ReferenceKcpCipher(pass, salt));
    const rx = new ReferenceKcpFraming(new ReferenceKcpCipher(pass, salt));
    const d = rx.decode(tx.encodeOob(0xdeadbeef, Buffer.from('dgram')));
    assert.deepEqual(d, { kind: 'oob', conv: 0xdeadbeef, payload: Buffer.from('dgram') });
  });

  it('rotates keys as the reference: client sends with the new key at once, server once the client does', () => {
    const client = new ReferenceKcpCipher(pass, salt);
    const server = new ReferenceKcpCipher(pass, salt);
    const secret = randomBytes(32);
    server.install(secret, false);
    client.install(secret, true);
    // Server still seals with the old key; the client opens it with its older key.
    assert.ok(client.open(server.seal(Buffer.from('old'))));
    assert.equal(client.keyCount, 2);
    // The client's new-key datagram promotes the new key on the server.
    assert.deepEqual(server.open(client.seal(Buffer.from('new'))), Buffer.from('new'));
    assert.equal(server.keyCount, 1);
    assert.deepEqual(openWith(secret, server.seal(Buffer.from('x'))), Buffer.from('x'));
    assert.ok(client.open(server.seal(Buffer.from('y'))));
    assert.equal(client.keyCount, 1);
    assert.equal(client.open(new ReferenceKcpCipher(pass, salt).seal(Buffer.from('z'))), null, 'the old key is gone');
  });
});
