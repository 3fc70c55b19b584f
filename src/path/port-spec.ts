/** An inclusive range of ports, first <= last. */
export interface PortRange {
  first: number;
  last: number;
}

const EXAMPLE = 'write it like 61001-61999, 6022,7022 or 8010-8020,9020-9030';
const DIGITS = /^\d+$/;

function parsePort(text: string, spec: string): number {
  if (!DIGITS.test(text)) throw new Error(`port spec '${spec}': '${text}' is not a port number; ${EXAMPLE}`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new Error(`port spec '${spec}': port ${text} is outside 1..65535; use ports from 1 to 65535`);
  return port;
}

/**
 * Parse a TsshdPort spec: ports and inclusive ranges apart by commas or spaces
 * (`61001-61999`, `6022,7022`, `8010-8020, 9020-9030`, `7000 - 7010 7020`).
 * Overlapping entries are merged; ranges come back sorted. Throws an Error
 * whose one-line message names the problem and the fix.
 */
export function parsePortSpec(spec: string): PortRange[] {
  const shown = spec.trim();
  if (shown === '') throw new Error(`empty port spec; ${EXAMPLE}`);
  const ranges: PortRange[] = [];
  // As the reference reads it: entries apart by commas or spaces, a range's '-' with or without spaces around it.
  const entries = shown.replace(/\s*-\s*/g, '-').replace(/\s*,\s*/g, ',').replace(/\s+/g, ',');
  for (const rawEntry of entries.split(',')) {
    const entry = rawEntry.trim();
    if (entry === '') throw new Error(`port spec '${shown}' has an empty entry between commas; ${EXAMPLE}`);
    const dash = entry.indexOf('-');
    if (dash < 0) {
      const port = parsePort(entry, shown);
      ranges.push({ first: port, last: port });
      continue;
    }
    const firstText = entry.slice(0, dash).trim();
    const lastText = entry.slice(dash + 1).trim();
    if (firstText === '' || lastText === '') throw new Error(`port spec '${shown}': range '${entry}' needs a port on both sides of '-'; ${EXAMPLE}`);
    const first = parsePort(firstText, shown);
    const last = parsePort(lastText, shown);
    if (first > last) throw new Error(`port spec '${shown}': range ${first}-${last} is reversed; write it as ${last}-${first}`);
    ranges.push({ first, last });
  }
  ranges.sort((a, b) => a.first - b.first);
  const merged: PortRange[] = [];
  for (const range of ranges) {
    const previous = merged[merged.length - 1];
    if (previous && range.first <= previous.last + 1) previous.last = Math.max(previous.last, range.last);
    else merged.push({ ...range });
  }
  return merged;
}

/** How many ports the ranges hold. */
export function countPorts(ranges: readonly PortRange[]): number {
  let count = 0;
  for (const range of ranges) count += range.last - range.first + 1;
  return count;
}

/** The index-th port of the ranges in order (0-based). */
function portAt(ranges: readonly PortRange[], index: number): number {
  for (const range of ranges) {
    const size = range.last - range.first + 1;
    if (index < size) return range.first + index;
    index -= size;
  }
  throw new RangeError(`port index ${index} beyond the ranges`);
}

/**
 * Up to `limit` distinct ports of the ranges in random order: all of them,
 * shuffled, when the ranges are small; a random sample otherwise.
 */
export function candidatePorts(ranges: readonly PortRange[], limit: number, random: () => number = Math.random): number[] {
  const total = countPorts(ranges);
  if (total <= limit) {
    const all: number[] = [];
    for (const range of ranges) for (let port = range.first; port <= range.last; port++) all.push(port);
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const swap = all[i];
      all[i] = all[j];
      all[j] = swap;
    }
    return all;
  }
  const chosen = new Set<number>();
  while (chosen.size < limit) chosen.add(portAt(ranges, Math.floor(random() * total)));
  return [...chosen];
}
