import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSshArgs } from '../../../src/client/ssh-args.js';
import { resolveUdpOptions } from '../../../src/client/udp-options.js';

const resolve = (text: string, predict?: 'never' | 'adaptive' | 'always'): string =>
  resolveUdpOptions({ configTexts: [{ path: '~/.ssh/config', text }], home: '/home/me', destinationHost: 'h', localUser: 'me', ...(predict ? { cliOptions: { predict } } : {}) })
    .predictiveEcho;

test('PredictiveEcho: never by default, set in a #!! line, --predict wins', () => {
  assert.equal(resolve(''), 'never');
  assert.equal(resolve('Host h\n  #!! PredictiveEcho Adaptive\n'), 'adaptive');
  assert.equal(resolve('#!! PredictiveEcho always\n', 'never'), 'never');
  assert.throws(() => resolve('#!! PredictiveEcho sometimes\n'), {
    message: '~/.ssh/config line 1: PredictiveEcho must be never, adaptive or always (got "sometimes")',
  });
});

test('--predict=MODE and --predict MODE are tssh options, not passed to ssh', () => {
  const a = parseSshArgs(['--predict=always', '-p', '22', 'host']);
  assert.equal(a.ourOptions.predict, 'always');
  assert.deepEqual(a.sshArgs, ['-p', '22', 'host']);
  assert.equal(parseSshArgs(['--predict', 'adaptive', 'host']).ourOptions.predict, 'adaptive');
  assert.throws(() => parseSshArgs(['--predict=maybe', 'host']), { message: 'tssh: --predict must be never, adaptive or always (got "maybe")' });
});
