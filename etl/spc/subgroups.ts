/**
 * Observations and subgroups: the inputs of the variables charts, and the two ways rows become
 * subgroups (by a key such as the hour or the production day, or by consecutive runs of n).
 */
import { requireFinite } from './chart-points.js';

export interface Observation {
  value: number;
  time?: string;
  key?: string;
}

export interface Subgroup {
  values: readonly number[];
  /** When the subgroup starts; carried to the chart points. */
  time?: string;
  key?: string;
}

export interface SubgroupBy<T> {
  key: (row: T) => string;
  value: (row: T) => number;
  time?: (row: T) => string | undefined;
}

/**
 * Groups rows into one subgroup per key, in the order the keys first appear. A subgroup's time is
 * that of its first row: rows are expected in time order (as the source query sorts them), so
 * that is the subgroup's start without parsing any time here.
 */
export function subgroupsByKey<T>(rows: Iterable<T>, by: SubgroupBy<T>): Subgroup[] {
  const groups = new Map<string, { values: number[]; time?: string }>();
  let row = 0;
  for (const r of rows) {
    const key = by.key(r);
    const value = by.value(r);
    requireFinite(value, `row ${row} (subgroup '${key}') value`);
    let group = groups.get(key);
    if (group === undefined) {
      group = { values: [] };
      const time = by.time?.(r);
      if (time !== undefined) group.time = time;
      groups.set(key, group);
    }
    group.values.push(value);
    row++;
  }
  return [...groups].map(([key, g]) => (g.time === undefined ? { key, values: g.values } : { key, values: g.values, time: g.time }));
}

export interface ConsecutiveOptions {
  /** What to do with a short last subgroup: keep it (as Minitab does, making sizes unequal) or drop it. */
  partial?: 'keep' | 'drop';
}

/** Consecutive observations in subgroups of `size`; a subgroup takes the time and key of its first observation. */
export function consecutiveSubgroups(observations: readonly Observation[], size: number, options: ConsecutiveOptions = {}): Subgroup[] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`subgroup size must be a whole number ≥ 1, got ${size}`);
  const subgroups: Subgroup[] = [];
  for (let start = 0; start < observations.length; start += size) {
    const slice = observations.slice(start, start + size);
    if (slice.length < size && options.partial === 'drop') break;
    slice.forEach((o, i) => requireFinite(o.value, `observation ${start + i} value`));
    const first = slice[0]!;
    const subgroup: Subgroup = { values: slice.map((o) => o.value) };
    if (first.time !== undefined) subgroup.time = first.time;
    if (first.key !== undefined) subgroup.key = first.key;
    subgroups.push(subgroup);
  }
  return subgroups;
}
