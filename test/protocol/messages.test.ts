import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ProtocolError,
  parseBusMessage,
  parseSessionReply,
  parseSessionRequest,
  parseStderrHeader,
} from '../../src/protocol/messages.js';

function rejects(fn: () => unknown, code: ProtocolError['code']): void {
  assert.throws(fn, (err: unknown) => err instanceof ProtocolError && err.code === code);
}

test('bus messages of every type parse to fresh objects with only known fields', () => {
  assert.deepEqual(parseBusMessage({ type: 'hello', clientVersion: '1.0', extra: 1 }), { type: 'hello', clientVersion: '1.0' });
  assert.deepEqual(parseBusMessage({ type: 'resize', session: 3, cols: 80, rows: 24 }), { type: 'resize', session: 3, cols: 80, rows: 24 });
  assert.deepEqual(parseBusMessage({ type: 'exit', session: 1, code: 7 }), { type: 'exit', session: 1, code: 7 });
  assert.deepEqual(parseBusMessage({ type: 'exit', session: 1, signal: 'TERM', coreDumped: false }), {
    type: 'exit',
    session: 1,
    signal: 'TERM',
    coreDumped: false,
  });
  assert.deepEqual(parseBusMessage({ type: 'goodbye', reason: 'bye' }), { type: 'goodbye', reason: 'bye' });
  assert.deepEqual(parseBusMessage({ type: 'redraw', session: 0 }), { type: 'redraw', session: 0 });
});

test('bus fields are checked for type and range', () => {
  rejects(() => parseBusMessage({ type: 'resize', session: 1, cols: 0, rows: 24 }), 'bad-message');
  rejects(() => parseBusMessage({ type: 'resize', session: 1, cols: 80, rows: 65536 }), 'bad-message');
  rejects(() => parseBusMessage({ type: 'resize', session: -1, cols: 80, rows: 24 }), 'bad-message');
  rejects(() => parseBusMessage({ type: 'resize', session: 1.5, cols: 80, rows: 24 }), 'bad-message');
  rejects(() => parseBusMessage({ type: 'resize', session: 2 ** 32, cols: 80, rows: 24 }), 'bad-message');
  rejects(() => parseBusMessage({ type: 'exit', session: 1, signal: 'sig term' }), 'bad-message');
  rejects(() => parseBusMessage({ type: 'exit', session: 1, code: '0' }), 'bad-message');
  rejects(() => parseBusMessage({ type: 'hello', clientVersion: 'x'.repeat(2000) }), 'bad-message');
  rejects(() => parseBusMessage({ type: 'hello' }), 'bad-message');
  rejects(() => parseBusMessage([]), 'bad-message');
  rejects(() => parseBusMessage(null), 'bad-message');
  rejects(() => parseBusMessage({ type: 42 }), 'bad-message');
  rejects(() => parseBusMessage({ type: 'teleport' }), 'unknown-type');
});

test('a session request parses with pty, env and command; exclusive and malformed fields are refused', () => {
  const request = parseSessionRequest({
    type: 'session',
    id: 9,
    pty: { term: 'xterm-256color', cols: 120, rows: 40 },
    env: { LANG: 'C.UTF-8' },
    command: 'ls -l',
  });
  assert.deepEqual(request, {
    type: 'session',
    id: 9,
    pty: { term: 'xterm-256color', cols: 120, rows: 40 },
    env: { LANG: 'C.UTF-8' },
    command: 'ls -l',
  });
  assert.deepEqual(parseSessionRequest({ type: 'session', id: 1, env: {}, subsystem: 'sftp' }), {
    type: 'session',
    id: 1,
    env: {},
    subsystem: 'sftp',
  });
  rejects(() => parseSessionRequest({ type: 'session', id: 1, env: {}, command: 'a', subsystem: 'sftp' }), 'bad-message');
  rejects(() => parseSessionRequest({ type: 'session', id: 1, env: {}, command: 'a\0b' }), 'bad-message');
  rejects(() => parseSessionRequest({ type: 'session', id: 1, env: { 'A=B': 'x' } }), 'bad-message');
  rejects(() => parseSessionRequest({ type: 'session', id: 1, env: { A: 1 } }), 'bad-message');
  rejects(() => parseSessionRequest({ type: 'session', id: 1 }), 'bad-message');
  rejects(() => parseSessionRequest({ type: 'session', id: 1, env: {}, pty: { term: 'a b', cols: 1, rows: 1 } }), 'bad-message');
  rejects(() => parseSessionRequest({ type: 'hello', clientVersion: 'x' }), 'unknown-type');
});

test('an env name "__proto__" stays a plain key and cannot change the prototype', () => {
  const request = parseSessionRequest(JSON.parse('{"type":"session","id":1,"env":{"__proto__":"x","A":"b"}}'));
  assert.equal(Object.getPrototypeOf(request.env), Object.prototype);
  assert.deepEqual(Object.keys(request.env).sort(), ['A', '__proto__']);
  assert.equal(Object.getOwnPropertyDescriptor(request.env, '__proto__')?.value, 'x');
});

test('replies and stderr headers parse', () => {
  assert.deepEqual(parseSessionReply({ type: 'session-ok' }), { type: 'session-ok' });
  assert.deepEqual(parseSessionReply({ type: 'session-error', message: 'no' }), { type: 'session-error', message: 'no' });
  rejects(() => parseSessionReply({ type: 'session-error' }), 'bad-message');
  rejects(() => parseSessionReply({ type: 'exit', session: 1 }), 'unknown-type');
  assert.deepEqual(parseStderrHeader({ type: 'stderr', session: 4 }), { type: 'stderr', session: 4 });
  rejects(() => parseStderrHeader({ type: 'stderr', session: 'x' }), 'bad-message');
});

test('attach fields: hello sessionName, detach on the bus, attach requests need a pty and no command, session-ok attached', () => {
  assert.deepEqual(parseBusMessage({ type: 'hello', clientVersion: '1', sessionName: 'work-1' }), { type: 'hello', clientVersion: '1', sessionName: 'work-1' });
  rejects(() => parseBusMessage({ type: 'hello', clientVersion: '1', sessionName: 'a b' }), 'bad-message');
  rejects(() => parseBusMessage({ type: 'hello', clientVersion: '1', sessionName: 'x'.repeat(65) }), 'bad-message');
  assert.deepEqual(parseBusMessage({ type: 'detach', extra: 1 }), { type: 'detach' });
  const pty = { term: 'xterm', cols: 80, rows: 24 };
  assert.deepEqual(parseSessionRequest({ type: 'session', id: 3, env: {}, pty, attach: true }), { type: 'session', id: 3, env: {}, pty, attach: true });
  assert.equal(parseSessionRequest({ type: 'session', id: 3, env: {}, pty, attach: false }).attach, undefined);
  rejects(() => parseSessionRequest({ type: 'session', id: 3, env: {}, attach: true }), 'bad-message');
  rejects(() => parseSessionRequest({ type: 'session', id: 3, env: {}, pty, command: 'ls', attach: true }), 'bad-message');
  assert.deepEqual(parseSessionReply({ type: 'session-ok', attached: true }), { type: 'session-ok', attached: true });
});
