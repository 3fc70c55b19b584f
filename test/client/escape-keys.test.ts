import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  EscapeFilter,
  describeEscapeChar,
  formatEscapeHelp,
  formatStatusLine,
  type EscapeAction,
  type EscapeKind,
} from '../../src/client/escape-keys.js';

const TILDE = 0x7e;

/** Push each chunk in turn; return all forwarded bytes and the actions with offsets into the whole output. */
function run(filter: EscapeFilter, chunks: (string | Uint8Array)[]): { data: string; actions: EscapeAction[] } {
  let data = Buffer.alloc(0);
  const actions: EscapeAction[] = [];
  for (const c of chunks) {
    const r = filter.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
    for (const a of r.actions) actions.push({ kind: a.kind, at: data.length + a.at });
    data = Buffer.concat([data, r.data]);
  }
  return { data: data.toString('latin1'), actions };
}

test('~. at the very start of the session disconnects and forwards nothing', () => {
  const r = run(new EscapeFilter(), ['~.']);
  assert.equal(r.data, '');
  assert.deepEqual(r.actions, [{ kind: 'disconnect', at: 0 }]);
});

test('each escape is recognised after CR and after LF, positioned after the bytes typed before it', () => {
  const cases: [string, EscapeKind][] = [['.', 'disconnect'], ['?', 'help'], ['P', 'renew-path'], ['\x1a', 'suspend']];
  for (const nl of ['\r', '\n']) {
    for (const [key, kind] of cases) {
      const r = run(new EscapeFilter(), [`ls${nl}~${key}pwd`]);
      assert.equal(r.data, `ls${nl}pwd`, `~${JSON.stringify(key)} after ${JSON.stringify(nl)}`);
      assert.deepEqual(r.actions, [{ kind, at: 3 }]);
    }
  }
});

test('an escape character not right after a newline is an ordinary byte', () => {
  const r = run(new EscapeFilter(), ['\rab~.c~?']);
  assert.equal(r.data, '\rab~.c~?');
  assert.deepEqual(r.actions, []);
});

test('~~ sends one ~, and the line is no longer at its start', () => {
  const r = run(new EscapeFilter(), ['~~~.']);
  assert.equal(r.data, '~~.');
  assert.deepEqual(r.actions, []);
});

test('~ followed by an unknown byte sends both; a newline so sent re-arms escapes', () => {
  assert.equal(run(new EscapeFilter(), ['~x~.']).data, '~x~.');
  const r = run(new EscapeFilter(), ['~\r~.']);
  assert.equal(r.data, '~\r');
  assert.deepEqual(r.actions, [{ kind: 'disconnect', at: 2 }]);
  // ssh's escapes that tssh does not implement pass through, both bytes.
  assert.equal(run(new EscapeFilter(), ['~C~R~B~#~&']).data, '~C~R~B~#~&');
});

test('escapes follow one another without a newline in between, as in ssh', () => {
  const r = run(new EscapeFilter(), ['\n~?~P~.']);
  assert.equal(r.data, '\n');
  assert.deepEqual(r.actions, [
    { kind: 'help', at: 1 },
    { kind: 'renew-path', at: 1 },
    { kind: 'disconnect', at: 1 },
  ]);
});

test('a sequence split across chunks is recognised, and the held ~ is not forwarded early', () => {
  const f = new EscapeFilter();
  const first = f.push(Buffer.from('echo\r~'));
  assert.equal(first.data.toString(), 'echo\r');
  assert.equal(f.pending, true);
  const second = f.push(Buffer.from('.'));
  assert.equal(second.data.length, 0);
  assert.deepEqual(second.actions, [{ kind: 'disconnect', at: 0 }]);
  assert.equal(f.pending, false);
});

test('a held ~ followed in the next chunk by an ordinary byte releases both, in order', () => {
  const f = new EscapeFilter();
  f.push(Buffer.from('\r~'));
  assert.equal(f.push(Buffer.from('abc')).data.toString(), '~abc');
  const g = new EscapeFilter();
  g.push(Buffer.from('~'));
  assert.equal(g.push(Buffer.from('~')).data.toString(), '~');
});

test('a configured escape character replaces ~', () => {
  const r = run(new EscapeFilter(0x1d), ['~.\r\x1d?\x1d\x1d']);
  assert.equal(r.data, '~.\r\x1d');
  assert.deepEqual(r.actions, [{ kind: 'help', at: 3 }]);
});

test('escape character none (or null) disables escapes entirely', () => {
  for (const esc of ['none', null] as const) {
    const r = run(new EscapeFilter(esc), ['~.', '\r~?~~']);
    assert.equal(r.data, '~.\r~?~~');
    assert.deepEqual(r.actions, []);
  }
});

test('an escape character outside a byte is refused', () => {
  assert.throws(() => new EscapeFilter(256), RangeError);
  assert.throws(() => new EscapeFilter(-1), RangeError);
});

test('help lists the escapes with the configured character, in CRLF lines, with connection status', () => {
  const text = formatEscapeHelp(TILDE, {
    transport: 'KCP',
    serverAddress: '198.18.0.2:61001',
    rttMs: 41.6,
    lossPct: 2.25,
    sinceLastContactMs: 1234,
  });
  assert.ok(text.startsWith('\r\n'));
  assert.ok(text.endsWith('\r\n'));
  assert.equal(text.replace(/\r\n/g, '').includes('\n'), false, 'every newline is CRLF');
  for (const line of [' ~.   - terminate connection', ' ~^Z  - suspend tssh', ' ~~   - send the escape']) {
    assert.ok(text.includes(line), `help has ${JSON.stringify(line)}`);
  }
  assert.match(text, /~P {3}- renew the UDP path/);
  assert.match(text, /Connection: KCP to 198\.18\.0\.2:61001, RTT 42 ms, loss 2\.3%, last heard from 1\.2 s ago/);
  assert.match(formatEscapeHelp(0x1d, { transport: 'QUIC', serverAddress: 'h:1' }), / \^]\. {3}- terminate/);
});

test('the status line leaves out what is not known; control escape characters print as ^X', () => {
  assert.equal(formatStatusLine({ transport: 'QUIC', serverAddress: '[::1]:61001' }), 'Connection: QUIC to [::1]:61001');
  assert.equal(describeEscapeChar(0x1d), '^]');
  assert.equal(describeEscapeChar(0x01), '^A');
  assert.equal(describeEscapeChar(0x7f), '^?');
  assert.equal(describeEscapeChar(0x25), '%');
});

/** Independent statement of ssh's rule over a whole input: scan with an index, look ahead one byte. */
function reference(input: number[], esc: number): { data: number[]; actions: EscapeAction[] } {
  const keys: Record<number, EscapeKind> = { 0x2e: 'disconnect', 0x3f: 'help', 0x50: 'renew-path', 0x1a: 'suspend' };
  const data: number[] = [];
  const actions: EscapeAction[] = [];
  let lineStart = true;
  let i = 0;
  const emit = (b: number): void => {
    data.push(b);
    lineStart = b === 0x0d || b === 0x0a;
  };
  while (i < input.length) {
    const b = input[i]!;
    if (!(lineStart && b === esc)) {
      emit(b);
      i += 1;
      continue;
    }
    if (i + 1 === input.length) break; // a trailing escape character stays held
    const next = input[i + 1]!;
    i += 2;
    if (keys[next] !== undefined) actions.push({ kind: keys[next]!, at: data.length });
    else if (next === esc) emit(esc);
    else {
      emit(esc);
      emit(next);
    }
  }
  return { data, actions };
}

/** Cut `bytes` into chunks at the given (unsorted, possibly repeated) positions. */
function split(bytes: number[], cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(Uint8Array.from(bytes.slice(from, p)));
    from = p;
  }
  return chunks;
}

test('fuzz: for any input and any chunking, output is the input minus exactly the recognised escapes', () => {
  const alphabet = [TILDE, 0x2e, 0x3f, 0x50, 0x1a, 0x0d, 0x0a, 0x61, 0x43, 0x00, 0xff];
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...alphabet), { maxLength: 80 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (bytes, cuts) => {
        const expected = reference(bytes, TILDE);
        const got = run(new EscapeFilter(), split(bytes, cuts));
        assert.deepEqual([...Buffer.from(got.data, 'latin1')], expected.data);
        assert.deepEqual(got.actions, expected.actions);
        // Removing nothing but escapes: output never has more bytes than input.
        assert.ok(got.data.length <= bytes.length);
      },
    ),
    { seed: 20240607, numRuns: 2000 },
  );
});

test('fuzz: input without the escape character passes through byte for byte', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
      const clean = [...bytes].filter((b) => b !== TILDE);
      const got = run(new EscapeFilter(), split(clean, cuts));
      assert.deepEqual([...Buffer.from(got.data, 'latin1')], clean);
      assert.deepEqual(got.actions, []);
    }),
    { seed: 7, numRuns: 500 },
  );
});

test('~d detaches only when the session can be attached again; otherwise it is two ordinary bytes, as in ssh', () => {
  const attach = new EscapeFilter(0x7e, { detach: true }).push(Buffer.from('ls\r~d'));
  assert.equal(attach.data.toString(), 'ls\r');
  assert.deepEqual(attach.actions, [{ kind: 'detach', at: 3 }]);
  const plain = new EscapeFilter(0x7e).push(Buffer.from('ls\r~d'));
  assert.equal(plain.data.toString(), 'ls\r~d');
  assert.deepEqual(plain.actions, []);
  assert.match(formatEscapeHelp(0x7e, { transport: 'KCP', serverAddress: 'h:1' }, true), /~d {3}- detach, leaving the session running/);
  assert.doesNotMatch(formatEscapeHelp(0x7e, { transport: 'KCP', serverAddress: 'h:1' }), /~d/);
});
