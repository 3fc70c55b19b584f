import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  closestName,
  matchPattern,
  matchPatternList,
  oneLine,
  parseTimeInterval,
  quoteValue,
  splitArgs,
  splitConfigLine,
} from '../../src/protocol/config-syntax.js';
import { globFiles, globSegmentRegExp, readConfigFile, readIncludedFiles } from '../../src/protocol/config-files.js';

test('splitConfigLine: keyword with space, = or both; comments and blanks', () => {
  assert.deepEqual(splitConfigLine('Host foo bar'), { keyword: 'host', spelled: 'Host', args: ['foo', 'bar'] });
  assert.deepEqual(splitConfigLine('  Port=22'), { keyword: 'port', spelled: 'Port', args: ['22'] });
  assert.deepEqual(splitConfigLine('Port = 22 # comment'), { keyword: 'port', spelled: 'Port', args: ['22'] });
  assert.equal(splitConfigLine('   '), null);
  assert.equal(splitConfigLine('# Port 22'), null);
  assert.deepEqual(splitConfigLine('User\r')?.args, []);
});

test('splitArgs: quotes, backslash escapes and mid-word quotes', () => {
  assert.deepEqual(splitArgs('"a b" \'c d\' e'), ['a b', 'c d', 'e']);
  assert.deepEqual(splitArgs('a\\ b x"y z"w'), ['a b', 'xy zw']);
  assert.deepEqual(splitArgs('"say \\"hi\\""'), ['say "hi"']);
  assert.deepEqual(splitArgs('C:\\path'), ['C:\\path']);
  assert.deepEqual(splitArgs('a#b c #d'), ['a#b', 'c']);
  assert.throws(() => splitArgs('"open'), { message: 'unterminated double quote; close it or remove it' });
  assert.throws(() => splitArgs("'open"), /unterminated single quote/);
});

test('matchPattern: * and ? only, anchored', () => {
  assert.ok(matchPattern('host.example.com', '*.example.com'));
  assert.ok(matchPattern('a1', 'a?'));
  assert.ok(!matchPattern('a12', 'a?'));
  assert.ok(matchPattern('', '*'));
  assert.ok(!matchPattern('abc', 'ab'));
  assert.ok(matchPattern('[x]', '[x]'));
  assert.ok(matchPattern('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab', '*a*a*a*a*a*a*a*b'));
  assert.ok(!matchPattern('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '*a*a*a*a*a*a*a*b'));
});

test('matchPatternList: comma lists with negation and optional lower-casing', () => {
  assert.equal(matchPatternList('web1', 'db*,web*'), 1);
  assert.equal(matchPatternList('web1', 'db*'), 0);
  assert.equal(matchPatternList('web1', 'web*,!web1'), -1);
  assert.equal(matchPatternList('WEB1', 'web*'), 0);
  assert.equal(matchPatternList('WEB1', 'Web*', true), 1);
});

test('parseTimeInterval: OpenSSH time formats', () => {
  assert.equal(parseTimeInterval('300'), 300);
  assert.equal(parseTimeInterval('5m'), 300);
  assert.equal(parseTimeInterval('1h30m'), 5400);
  assert.equal(parseTimeInterval('1W2D3H4M5S'), 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
  for (const bad of ['', '5x', 'm', '-1', '1.5m', '5 m']) assert.equal(parseTimeInterval(bad), null, bad);
});

test('closestName suggests the nearest candidate', () => {
  assert.equal(closestName('UdpMod', ['UdpMode', 'UdpMTU', 'TsshdPath']), 'UdpMode');
  assert.equal(closestName('tsshdpaht', ['UdpMode', 'TsshdPath']), 'TsshdPath');
});

test('quoteValue and oneLine keep messages on one line', () => {
  assert.equal(quoteValue('a\nb'), '"a\\nb"');
  assert.ok(quoteValue('x'.repeat(200)).endsWith('..."'));
  assert.doesNotMatch(quoteValue('a\u2028b'), /\u2028/);
  assert.equal(oneLine('a\r\nb\u2029c'), 'a  b c');
});

test('globSegmentRegExp: *, ? and [classes]', () => {
  assert.ok(globSegmentRegExp('*.conf').test('a.conf'));
  assert.ok(!globSegmentRegExp('*.conf').test('a.confx'));
  assert.ok(globSegmentRegExp('file?').test('file1'));
  assert.ok(globSegmentRegExp('[ab]x').test('bx'));
  assert.ok(!globSegmentRegExp('[!ab]x').test('bx'));
  assert.ok(globSegmentRegExp('a.b').test('a.b') && !globSegmentRegExp('a.b').test('axb'));
  assert.ok(globSegmentRegExp('[z-a]').test('[z-a]'));
});

test('globFiles and readIncludedFiles: lexical order, no dotfiles, missing is empty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tssh-glob-'));
  try {
    mkdirSync(join(dir, 'conf.d'));
    writeFileSync(join(dir, 'conf.d', 'b.conf'), 'B');
    writeFileSync(join(dir, 'conf.d', 'a.conf'), 'A');
    writeFileSync(join(dir, 'conf.d', '.hidden.conf'), 'H');
    writeFileSync(join(dir, 'conf.d', 'c.txt'), 'C');
    assert.deepEqual(globFiles(join(dir, 'conf.d', '*.conf')), [join(dir, 'conf.d', 'a.conf'), join(dir, 'conf.d', 'b.conf')]);
    assert.deepEqual(globFiles(join(dir, '*', 'c.txt')), [join(dir, 'conf.d', 'c.txt')]);
    assert.deepEqual(globFiles(join(dir, 'nope', '*')), []);
    assert.deepEqual(globFiles(join(dir, 'missing.conf')), []);
    assert.deepEqual(readIncludedFiles(join(dir, 'conf.d', '*')).map((f) => f.text), ['A', 'B', 'C']);
    assert.equal(readConfigFile(join(dir, 'missing')), undefined);
    assert.equal(readConfigFile(join(dir, 'conf.d')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('property: splitConfigLine either splits or throws a one-line Error; matchPattern never hangs', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 120 }), fc.string({ maxLength: 30 }), (line, pattern) => {
      try {
        splitConfigLine(line);
      } catch (err) {
        assert.ok(err instanceof Error);
        assert.doesNotMatch(err.message, /[\n\r]/);
      }
      assert.equal(typeof matchPattern(line, pattern), 'boolean');
      parseTimeInterval(line);
    }),
    { seed: 3, numRuns: 500 },
  );
});
