import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tickStepSeconds, timelinePlot } from '../../bench/lab/svg-plots.js';

/** x positions and texts of the time axis labels in a timeline plot. */
function axisLabels(svg: string): Array<{ x: number; text: string }> {
  return [...svg.matchAll(/<text x="([0-9.]+)" y="(\d+)" text-anchor="middle" font-family="sans-serif">(-?\d+)<\/text>/g)].map((m) => ({ x: Number(m[1]), text: m[3]! }));
}

test('timeline axis labels never overlap, whatever the span', () => {
  for (const toMs of [5_000, 40_000, 120_000, 900_000]) {
    const svg = timelinePlot('t', -3000, toMs, [0], [{ label: 'tssh', color: '#000', events: [100, 200], firstAfter: [100] }]);
    const labels = axisLabels(svg);
    assert.ok(labels.length >= 2, `${toMs}: at least two labels`);
    for (let i = 1; i < labels.length; i++) {
      // 12 px sans-serif: about 7 px a character, centred on x.
      const gap = labels[i]!.x - labels[i - 1]!.x;
      const room = ((labels[i]!.text.length + labels[i - 1]!.text.length) / 2) * 7 + 6;
      assert.ok(gap >= room, `${toMs} ms: labels ${labels[i - 1]!.text} and ${labels[i]!.text} are ${gap.toFixed(1)} px apart`);
    }
  }
});

test('tick steps are round numbers of seconds', () => {
  assert.equal(tickStepSeconds(10_000, 480), 1);
  assert.equal(tickStepSeconds(43_000, 480), 5);
  assert.equal(tickStepSeconds(600_000, 480), 60);
});
