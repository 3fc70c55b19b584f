import assert from 'node:assert/strict';
import { test } from 'node:test';
import { candidatePorts, countPorts, parsePortSpec } from '../../src/path/port-spec.js';

test('port specs: ranges, lists, mixtures and whitespace', () => {
  assert.deepEqual(parsePortSpec('61001-61999'), [{ first: 61001, last: 61999 }]);
  assert.deepEqual(parsePortSpec('6022,7022'), [
    { first: 6022, last: 6022 },
    { first: 7022, last: 7022 },
  ]);
  assert.deepEqual(parsePortSpec(' 8010 - 8020 ,\t9020-9030 '), [
    { first: 8010, last: 8020 },
    { first: 9020, last: 9030 },
  ]);
  assert.deepEqual(parsePortSpec('1,65535'), [
    { first: 1, last: 1 },
    { first: 65535, last: 65535 },
  ]);
  assert.equal(countPorts(parsePortSpec('8010-8020,9020-9030')), 22);
});

test('port specs: overlapping and adjacent entries are merged and sorted', () => {
  assert.deepEqual(parsePortSpec('9000-9010, 8000, 9005-9020, 9021'), [
    { first: 8000, last: 8000 },
    { first: 9000, last: 9021 },
  ]);
});

test('malformed port specs throw one-line messages naming the problem and the fix', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /^empty port spec; write it like 61001-61999/],
    ['   ', /^empty port spec/],
    ['abc', /'abc' is not a port number; write it like/],
    ['6022,x', /'x' is not a port number/],
    ['6022.5', /'6022\.5' is not a port number/],
    ['-5', /range '-5' needs a port on both sides of '-'/],
    ['7000-', /needs a port on both sides/],
    ['7000-8000-9000', /'8000-9000' is not a port number/],
    ['9000-8000', /range 9000-8000 is reversed; write it as 8000-9000/],
    ['0-10', /port 0 is outside 1\.\.65535; use ports from 1 to 65535/],
    ['65536', /port 65536 is outside 1\.\.65535/],
    ['6022,,7022', /empty entry between commas/],
    ['6022,', /empty entry between commas/],
  ];
  for (const [spec, pattern] of cases) {
    assert.throws(
      () => parsePortSpec(spec),
      (err: Error) => {
        assert.match(err.message, pattern, `spec ${JSON.stringify(spec)}`);
        assert.ok(!err.message.includes('\n'), 'one line');
        return true;
      },
    );
  }
});

test('candidate ports: a small spec yields every port once, in a shuffled order', () => {
  const ranges = parsePortSpec('100-104,200');
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const ports = candidatePorts(ranges, 256, random);
  assert.deepEqual([...ports].sort((a, b) => a - b), [100, 101, 102, 103, 104, 200]);
  assert.notDeepEqual(ports, [100, 101, 102, 103, 104, 200], 'shuffled');
});

test('candidate ports: a large spec yields `limit` distinct ports inside it', () => {
  const ranges = parsePortSpec('20000-29999,40000-40009');
  const ports = candidatePorts(ranges, 256);
  assert.equal(ports.length, 256);
  assert.equal(new Set(ports).size, 256);
  for (const port of ports) assert.ok((port >= 20000 && port <= 29999) || (port >= 40000 && port <= 40009), `port ${port}`);
});
