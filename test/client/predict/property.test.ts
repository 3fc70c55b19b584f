import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { screenText, SimRig, snapshot } from './sim-rig.js';

// Whatever is typed, however the output is cut into chunks (inside escape sequences and UTF-8 characters too),
// whatever the program echoes: once the output has arrived, the user's terminal is exactly the model.

const key = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'x', ' ', '1', '你', 'é') },
  { weight: 2, arbitrary: fc.constantFrom('\x7f', '\x1b[D', '\x1b[C') },
  { weight: 1, arbitrary: fc.constantFrom('\r', '\t', '\u0301', '\x1b') },
);

const step = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('key' as const), key, gap: fc.integer({ min: 0, max: 250 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('echo' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('noise' as const), text: fc.constantFrom('\x1b[1;31mERR\x1b[0m', '\r\nline\r\n$ ', '\x07', '\x1b[2K\r$ ', '\x1b]52;c;aGk=\x07', '你好\r\n') }) },
);

test('property: after the output settles the terminal equals the model, whatever happened', () => {
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 12, max: 40 }), (steps, cut, cols) => {
      const rig = new SimRig({ cols, rows: 6 });
      rig.splitEvery = cut;
      rig.remote('$ ');
      rig.editor.onEnter = (line) => (line.length > 0 ? `out:${line.length}\r\n` : '');
      for (const s of steps) {
        if (s.kind === 'key') {
          rig.type(s.key);
          rig.advance(s.gap);
        } else if (s.kind === 'echo') rig.editor.echo = s.on;
        else rig.remote(s.text);
        if (!rig.overlayDrawn) assert.equal(snapshot(rig.terminal), snapshot(rig.modelTerm()), 'no overlay: the terminal is the model');
      }
      rig.advance(10_000);
      assert.equal(snapshot(rig.terminal), snapshot(rig.modelTerm()), `terminal:\n${screenText(rig.terminal)}\nmodel:\n${screenText(rig.modelTerm())}`);
    }),
    { numRuns: 150 },
  );
});
