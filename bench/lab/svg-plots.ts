/** Hand-written SVG plots for docs/bench/: latency CDFs, throughput bars, roaming timelines. */

export interface Series {
  label: string;
  color: string;
}

/** Text attributes; the size (12 unless an element says otherwise) is set once on the root element. */
const FONT = 'font-family="sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function frame(width: number, height: number, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" ${FONT} font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function legend(series: readonly Series[], x: number, y: number): string[] {
  return series.flatMap((s, i) => [
    `<line x1="${x}" y1="${y + i * 16}" x2="${x + 18}" y2="${y + i * 16}" stroke="${s.color}" stroke-width="3"/>`,
    `<text x="${x + 24}" y="${y + i * 16 + 4}" ${FONT}>${esc(s.label)}</text>`,
  ]);
}

/** Empirical CDFs of latencies (ms) on a log x axis; `typed` is the count each fraction is taken of (missing echoes keep the curve below 1). */
export function cdfPlot(title: string, series: ReadonlyArray<Series & { values: number[]; typed: number }>): string {
  const W = 640;
  const H = 360;
  const L = 60;
  const R = 200;
  const T = 35;
  const B = 45;
  const pw = W - L - R;
  const ph = H - T - B;
  const all = series.flatMap((s) => s.values).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(0.1, Math.min(...all, 1000)))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all, 10))));
  const xOf = (v: number): number => L + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * pw;
  const yOf = (f: number): number => T + ph - f * ph;
  const body: string[] = [`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`];
  for (let d = lo; d <= hi; d *= 10) {
    body.push(`<line x1="${xOf(d)}" y1="${T}" x2="${xOf(d)}" y2="${T + ph}" stroke="#ddd"/>`);
    body.push(`<text x="${xOf(d)}" y="${T + ph + 16}" text-anchor="middle" ${FONT}>${d >= 1 ? d : d.toFixed(1)}</text>`);
  }
  for (const f of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    body.push(`<line x1="${L}" y1="${yOf(f)}" x2="${L + pw}" y2="${yOf(f)}" stroke="#eee"/>`);
    body.push(`<text x="${L - 6}" y="${yOf(f) + 4}" text-anchor="end" ${FONT}>${f}</text>`);
  }
  body.push(`<text x="${L + pw / 2}" y="${H - 8}" text-anchor="middle" ${FONT}>echo latency, ms (log scale)</text>`);
  body.push(`<text x="14" y="${T + ph / 2}" transform="rotate(-90 14 ${T + ph / 2})" text-anchor="middle" ${FONT}>fraction of keys echoed</text>`);
  for (const s of series) {
    const v = [...s.values].sort((a, b) => a - b);
    if (v.length === 0) continue;
    const n = Math.max(1, s.typed);
    let d = `M ${xOf(lo).toFixed(1)} ${yOf(0).toFixed(1)}`;
    v.forEach((x, i) => {
      d += ` L ${xOf(x).toFixed(1)} ${yOf(i / n).toFixed(1)} L ${xOf(x).toFixed(1)} ${yOf((i + 1) / n).toFixed(1)}`;
    });
    d += ` L ${xOf(hi).toFixed(1)} ${yOf(v.length / n).toFixed(1)}`;
    body.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
  }
  body.push(...legend(series, L + pw + 14, T + 14));
  return frame(W, H, title, body);
}

/** Grouped horizontal bars: one group per link, one bar per series; null values are labelled with their reason. */
export function barPlot(title: string, unit: string, groups: ReadonlyArray<{ label: string; bars: ReadonlyArray<Series & { value: number | null; note?: string }> }>): string {
  const W = 720;
  const L = 220;
  const R = 150;
  const barH = 16;
  const gap = 26;
  const T = 40;
  const rows = groups.reduce((n, g) => n + g.bars.length, 0);
  const H = T + rows * (barH + 4) + groups.length * gap + 40;
  const pw = W - L - R;
  const max = Math.max(1e-9, ...groups.flatMap((g) => g.bars.map((b) => b.value ?? 0)));
  const body: string[] = [];
  let y = T;
  for (const g of groups) {
    body.push(`<text x="10" y="${y + 12}" ${FONT} font-weight="bold">${esc(g.label)}</text>`);
    y += gap - 6;
    for (const b of g.bars) {
      body.push(`<text x="${L - 8}" y="${y + barH - 4}" text-anchor="end" ${FONT}>${esc(b.label)}</text>`);
      if (b.value === null) {
        body.push(`<text x="${L + 4}" y="${y + barH - 4}" ${FONT} fill="#888">${esc(b.note ?? 'not measured')}</text>`);
      } else {
        const w = Math.max(1, (b.value / max) * pw);
        body.push(`<rect x="${L}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color}"/>`);
        body.push(`<text x="${L + w + 6}" y="${y + barH - 4}" ${FONT}>${b.value} ${esc(unit)}${b.note ? ` ${esc(b.note)}` : ''}</text>`);
      }
      y += barH + 4;
    }
    y += 6;
  }
  return frame(W, H, title, body);
}

/** Seconds between labelled ticks, chosen so labels stand at least `minGapPx` apart. */
export function tickStepSeconds(spanMs: number, widthPx: number, minGapPx = 36): number {
  const pxPerSecond = widthPx / Math.max(spanMs / 1000, 1e-9);
  for (const step of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]) if (step * pxPerSecond >= minGapPx) return step;
  return 3600;
}

/**
 * A time axis in whole seconds: a faint line each second (when they are at
 * least 4 px apart), a darker labelled one each {@link tickStepSeconds}.
 */
export function timeAxis(fromMs: number, toMs: number, xOf: (ms: number) => number, top: number, bottom: number): string[] {
  const width = xOf(toMs) - xOf(fromMs);
  const step = tickStepSeconds(toMs - fromMs, width);
  const minor = width / ((toMs - fromMs) / 1000) >= 4;
  const out: string[] = [];
  for (let s = Math.ceil(fromMs / 1000); s <= toMs / 1000; s++) {
    const x = xOf(s * 1000).toFixed(1);
    const labelled = s % step === 0;
    if (!labelled && !minor) continue;
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="${labelled ? '#ccc' : '#f0f0f0'}"/>`);
    if (labelled) out.push(`<text x="${x}" y="${bottom + 16}" text-anchor="middle" ${FONT}>${s}</text>`);
  }
  return out;
}

/** Event timelines around changes (red lines): one row per series, dots for events, a ring on the first event after each change. */
export function timelinePlot(title: string, fromMs: number, toMs: number, changes: readonly number[], rows: ReadonlyArray<Series & { events: number[]; firstAfter: Array<number | null> }>): string {
  const W = 760;
  const L = 250;
  const R = 30;
  const T = 40;
  const rowH = 22;
  const H = T + rows.length * rowH + 50;
  const pw = W - L - R;
  const xOf = (t: number): number => L + ((t - fromMs) / (toMs - fromMs)) * pw;
  const body: string[] = [];
  body.push(...timeAxis(fromMs, toMs, xOf, T - 6, T + rows.length * rowH));
  for (const c of changes) body.push(`<line x1="${xOf(c)}" y1="${T - 8}" x2="${xOf(c)}" y2="${T + rows.length * rowH}" stroke="#d00" stroke-width="2"/>`);
  body.push(`<text x="${L + pw / 2}" y="${H - 10}" text-anchor="middle" ${FONT}>seconds from the first network change (red lines: changes)</text>`);
  rows.forEach((r, i) => {
    const y = T + i * rowH + rowH / 2;
    body.push(`<text x="${L - 8}" y="${y + 4}" text-anchor="end" ${FONT}>${esc(r.label)}</text>`);
    body.push(`<line x1="${L}" y1="${y}" x2="${L + pw}" y2="${y}" stroke="#f3f3f3"/>`);
    // One path of short ticks per row keeps the file small (thousands of events).
    const ticks = r.events.filter((t) => t >= fromMs && t <= toMs).map((t) => `M${xOf(t).toFixed(1)} ${y - 4}v8`);
    if (ticks.length > 0) body.push(`<path d="${ticks.join('')}" stroke="${r.color}" stroke-width="1.2"/>`);
    r.firstAfter.forEach((ms, k) => {
      const c = changes[k]!;
      if (ms !== null) body.push(`<circle cx="${xOf(c + ms).toFixed(1)}" cy="${y}" r="6" fill="none" stroke="${r.color}" stroke-width="2"/>`);
      else body.push(`<text x="${xOf(c) + 4}" y="${y + 4}" ${FONT} font-size="10" fill="#d00">none</text>`);
    });
  });
  return frame(W, H, title, body);
}
