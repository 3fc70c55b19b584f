import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { referenceCommandLine } from '../../../src/server/reference/command-line.js';

const PATH = process.env.PATH ?? '/usr/bin:/bin';
const sh = (line: string): string => execFileSync('/bin/sh', ['-c', line], { encoding: 'utf8' });

test('a program on PATH runs with its words literal, as the reference execs it', () => {
  // The Go tssh sends `echo '$HOME' 'a b;c'` as Name echo, Args [$HOME, a b;c]; exec prints them as they are.
  const line = referenceCommandLine('echo', ['$HOME', 'a b;c', '*'], PATH);
  assert.equal(sh(line), '$HOME a b;c *\n');
  assert.equal(referenceCommandLine('sh', ['-c', 'echo out; exit 3'], PATH), "sh -c 'echo out; exit 3'");
});

test('a builtin or ~/ argument goes through sh -c, quoting only words with white space, as the reference does', () => {
  assert.equal(referenceCommandLine('exit', ['7'], PATH), 'exit 7');
  assert.equal(referenceCommandLine('cd', ['/tmp', '&&', 'pwd'], PATH), 'cd /tmp && pwd');
  assert.equal(referenceCommandLine('ls', ['~/x y'], PATH), "ls '~/x y'");
  assert.equal(sh(referenceCommandLine('cd', ['/', '&&', 'pwd'], PATH)), '/\n');
});
