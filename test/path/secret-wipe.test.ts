import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../support/wait.js';
import { startPair } from './fixtures.js';

/** The path's own copy of the session secret (the private config field). */
function heldSecret(path: object): Uint8Array {
  return (path as { config: { secret: Uint8Array } }).config.secret;
}

test('a path wipes its copy of the raw session secret once the keys are derived, and still carries data', async () => {
  const pair = await startPair();
  try {
    for (const path of [pair.server, pair.client]) {
      const held = heldSecret(path);
      assert.equal(held.length, 32);
      assert.ok(held.every((b) => b === 0), 'the raw secret held by the path is zeroed');
      assert.notEqual(held.buffer, pair.secret.buffer, "the path never held the caller's buffer (the caller wipes its own)");
    }
    assert.ok(pair.secret.some((b) => b !== 0), "the caller's secret is the caller's to wipe");
    let got = '';
    pair.server.onDatagram = (payload) => (got = payload.toString());
    pair.client.send(Buffer.from('after the wipe'));
    await waitFor('the datagram', () => got === 'after the wipe');
  } finally {
    pair.close();
  }
});
