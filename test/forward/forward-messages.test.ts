import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLIENT_UDP_CHANNELS,
  describeTarget,
  parseControlReply,
  parseControlRequest,
  parseForwardHeader,
  parseForwardReply,
  parseUdpClientMessage,
  parseUdpServerMessage,
  SERVER_UDP_CHANNELS,
} from '../../src/protocol/forward-messages.js';
import { ProtocolError } from '../../src/protocol/messages.js';
import { ChannelAllocator, EarlyDatagrams } from '../../src/protocol/udp-channels.js';

function rejects(parse: (v: unknown) => unknown, value: unknown, code: string, pattern?: RegExp): void {
  assert.throws(
    () => parse(value),
    (err: unknown) => {
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.code, code);
      if (pattern) assert.match(err.message, pattern);
      return true;
    },
  );
}

test('forward headers: valid forms parse to fresh objects without unknown fields', () => {
  assert.deepEqual(parseForwardHeader({ type: 'forward-open', target: { host: 'db.internal', port: 5432 }, extra: 1 }), {
    type: 'forward-open',
    target: { host: 'db.internal', port: 5432 },
  });
  assert.deepEqual(parseForwardHeader({ type: 'forward-open', target: { path: '/run/x.sock' }, originator: { host: '127.0.0.1', port: 40000 } }), {
    type: 'forward-open',
    target: { path: '/run/x.sock' },
    originator: { host: '127.0.0.1', port: 40000 },
  });
  assert.deepEqual(parseForwardHeader({ type: 'forward-incoming', id: 3 }), { type: 'forward-incoming', id: 3 });
  assert.deepEqual(parseForwardHeader({ type: 'forward-control' }), { type: 'forward-control' });
  assert.deepEqual(parseForwardHeader({ type: 'udp-control' }), { type: 'udp-control' });
});

test('forward headers: bad fields are refused with the field named', () => {
  rejects(parseForwardHeader, { type: 'forward-open', target: { host: 'a', port: 0 } }, 'bad-message', /port is not an integer in 1\.\.65535/);
  rejects(parseForwardHeader, { type: 'forward-open', target: { host: '', port: 80 } }, 'bad-message', /host is empty/);
  rejects(parseForwardHeader, { type: 'forward-open', target: { host: 'a b', port: 80 } }, 'bad-message', /host contains spaces or control characters/);
  rejects(parseForwardHeader, { type: 'forward-open', target: { path: 'a\0b' } }, 'bad-message', /path contains NUL/);
  rejects(parseForwardHeader, { type: 'forward-open', target: { host: 'x'.repeat(256), port: 1 } }, 'bad-message', /longer than 255/);
  rejects(parseForwardHeader, { type: 'forward-open' }, 'bad-message', /target is not an object/);
  rejects(parseForwardHeader, { type: 'forward-incoming', id: -1 }, 'bad-message');
  rejects(parseForwardHeader, { type: 'session' }, 'unknown-type');
  rejects(parseForwardHeader, [], 'bad-message');
});

test('replies and control messages', () => {
  assert.deepEqual(parseForwardReply({ type: 'forward-ok' }), { type: 'forward-ok' });
  assert.deepEqual(parseForwardReply({ type: 'forward-error', reason: 'prohibited', message: 'no' }), { type: 'forward-error', reason: 'prohibited', message: 'no' });
  rejects(parseForwardReply, { type: 'forward-error', reason: 'because', message: 'no' }, 'bad-message', /reason/);
  assert.deepEqual(parseControlRequest({ type: 'listen', id: 1, bind: { port: 0 } }), { type: 'listen', id: 1, bind: { port: 0 } });
  assert.deepEqual(parseControlRequest({ type: 'listen', id: 1, bind: { host: '', port: 80 } }), { type: 'listen', id: 1, bind: { host: '', port: 80 } });
  assert.deepEqual(parseControlRequest({ type: 'cancel', id: 9 }), { type: 'cancel', id: 9 });
  rejects(parseControlRequest, { type: 'listen', id: 1, bind: { port: 70000 } }, 'bad-message');
  assert.deepEqual(parseControlReply({ type: 'listen-ok', id: 1, port: 8080 }), { type: 'listen-ok', id: 1, port: 8080 });
  assert.deepEqual(parseControlReply({ type: 'listen-ok', id: 1 }), { type: 'listen-ok', id: 1 });
  assert.deepEqual(parseControlReply({ type: 'listen-error', id: 1, message: 'in use' }), { type: 'listen-error', id: 1, message: 'in use' });
  rejects(parseControlReply, { type: 'listen' }, 'unknown-type');
});

test('UDP control: channels must be in the sender\'s range; targets and listeners may be Unix socket paths', () => {
  const c = CLIENT_UDP_CHANNELS.first;
  const s = SERVER_UDP_CHANNELS.first;
  assert.deepEqual(parseUdpClientMessage({ type: 'udp-open', channel: c, target: { host: '127.0.0.1', port: 53 } }), {
    type: 'udp-open',
    channel: c,
    target: { host: '127.0.0.1', port: 53 },
  });
  rejects(parseUdpClientMessage, { type: 'udp-open', channel: s, target: { host: 'a', port: 53 } }, 'bad-message', /channel/);
  assert.deepEqual(parseUdpClientMessage({ type: 'udp-open', channel: c, target: { path: '/run/x.sock' } }), { type: 'udp-open', channel: c, target: { path: '/run/x.sock' } });
  rejects(parseUdpClientMessage, { type: 'udp-open', channel: c, target: { path: '' } }, 'bad-message');
  assert.deepEqual(parseUdpClientMessage({ type: 'udp-close', channel: s, message: 'refused' }), { type: 'udp-close', channel: s, message: 'refused' });
  assert.deepEqual(parseUdpClientMessage({ type: 'listen', id: 2, bind: { port: 0 }, idleMs: 1000 }), { type: 'listen', id: 2, bind: { port: 0 }, idleMs: 1000 });
  assert.deepEqual(parseUdpClientMessage({ type: 'listen', id: 2, bind: { path: '/x' } }), { type: 'listen', id: 2, bind: { path: '/x' } });
  assert.deepEqual(parseUdpServerMessage({ type: 'udp-incoming', channel: s, id: 2 }), { type: 'udp-incoming', channel: s, id: 2 }, 'no originator for a Unix listener');
  assert.deepEqual(parseUdpServerMessage({ type: 'udp-incoming', channel: s, id: 2, originator: { host: '::1', port: 5 } }), {
    type: 'udp-incoming',
    channel: s,
    id: 2,
    originator: { host: '::1', port: 5 },
  });
  rejects(parseUdpServerMessage, { type: 'udp-incoming', channel: c, id: 2, originator: { host: '::1', port: 5 } }, 'bad-message');
  rejects(parseUdpServerMessage, { type: 'udp-close', channel: 1 }, 'bad-message');
  assert.equal(describeTarget({ host: '::1', port: 22 }), '[::1]:22');
  assert.equal(describeTarget({ port: 22 }), 'localhost:22');
  assert.equal(describeTarget({ host: '', port: 22 }), '*:22');
});

test('channel allocation never hands out a channel in use and reuses one only after the range goes round', () => {
  const a = new ChannelAllocator({ first: 10, count: 3 });
  assert.deepEqual([a.allocate(), a.allocate(), a.allocate(), a.allocate()], [10, 11, 12, null]);
  a.release(11);
  assert.equal(a.allocate(), 11);
  a.release(10);
  a.release(12);
  assert.equal(a.allocate(), 12, 'round-robin from where it left off');
  assert.equal(a.allocate(), 10);
});

test('early datagrams are bounded by channels, per channel and bytes, forgetting the oldest channel first', () => {
  const pen = new EarlyDatagrams(2, 3, 100);
  for (let i = 0; i < 5; i++) pen.hold(1, Buffer.alloc(10));
  assert.equal(pen.dropped, 2, 'three per channel');
  pen.hold(2, Buffer.alloc(10));
  pen.hold(3, Buffer.alloc(10)); // a third channel evicts channel 1
  assert.equal(pen.dropped, 5);
  assert.deepEqual(pen.take(1), []);
  pen.hold(3, Buffer.alloc(85)); // over the byte budget: channel 2 goes
  assert.deepEqual(pen.take(2), []);
  assert.equal(pen.take(3).length, 2);
});
