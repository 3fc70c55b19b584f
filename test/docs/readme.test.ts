import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKOUT_ROOT } from '../support/sshd.js';

const readme = readFileSync(join(CHECKOUT_ROOT, 'README.md'), 'utf8');

test('the README lists every document in docs/ and links nothing outside the repository', () => {
  const documents = readme.slice(readme.indexOf('## Documents'));
  for (const name of readdirSync(join(CHECKOUT_ROOT, 'docs')).filter((n) => n.endsWith('.md'))) {
    assert.ok(documents.includes(`(docs/${name})`), `docs/${name} is not listed under "Documents" in the README`);
  }
  assert.doesNotMatch(readme, /\.\.\/shared|\(\.\.\//);
});

test('the README\'s first two commands are the install-and-demo and the test commands', () => {
  const first = /```sh\n(.*)\n(.*)\n```/.exec(readme);
  assert.ok(first);
  assert.match(first[1]!, /^npm ci && npm start\b/);
  assert.match(first[2]!, /^npm test\b/);
  const pkg = JSON.parse(readFileSync(join(CHECKOUT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.ok(pkg.scripts.start && pkg.scripts.test);
});
