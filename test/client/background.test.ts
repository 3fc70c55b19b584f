import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reviveBuffers } from '../../src/client/background.js';
import type { UdpSessionOptions } from '../../src/client/udp-session.js';

test('-f: the X11 cookies survive the JSON of the IPC channel to the background tssh as Buffers', () => {
  const real = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const fake = Buffer.from('ffeeddccbbaa99887766554433221100', 'hex');
  const options = { agentX11: { warnings: [], x11: { auth: { protocol: 'MIT-MAGIC-COOKIE-1', real, fake } } } } as unknown as UdpSessionOptions;
  const carried = JSON.parse(JSON.stringify(options)) as UdpSessionOptions;
  const isBuffer = (x: unknown): boolean => Buffer.isBuffer(x);
  assert.ok(!isBuffer(carried.agentX11?.x11?.auth.real), 'JSON turns a Buffer into a plain object');
  reviveBuffers(carried);
  const auth = carried.agentX11!.x11!.auth;
  assert.ok(isBuffer(auth.real) && isBuffer(auth.fake));
  assert.ok(auth.real.equals(real));
  assert.ok(auth.fake.equals(fake));
  // Without X11 there is nothing to do.
  const plain = {} as UdpSessionOptions;
  reviveBuffers(plain);
  assert.deepEqual(plain, {});
});
