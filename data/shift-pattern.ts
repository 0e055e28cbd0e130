/**
 * When work happens: three shifts from the production-day start (early, late, a thinner night shift),
 * dips at breaks and handovers, lighter weekends. Both the test floor and the battery line use it,
 * so the reports show the same daily rhythm for both.
 */
import { cumulativeWeights, type Rng } from './random.js';
import type { DayWindow } from './source-time.js';

const HOUR = 3_600_000;

/**
 * Relative activity in each hour after the production-day start (hour 0 = dayStart). The pattern
 * follows the shifts, not the clock: with dayStart 06:00 hour 0 is the early shift's first hour.
 */
const HOURLY = [
  0.7, 1.0, 1.0, 0.85, 1.0, 1.0, 0.95, 0.8, // early shift; break in hour 3, handover at its end
  0.75, 0.95, 0.95, 0.85, 0.95, 0.9, 0.85, 0.7, // late shift
  0.55, 0.6, 0.6, 0.45, 0.55, 0.55, 0.5, 0.4, // night shift, thinner crew
] as const;

/** The weight of a 25-hour day's extra hour. */
const NIGHT = 0.55;

/** Monday .. Sunday. */
const WEEKDAY = [1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.55] as const;

export function dayWeight(w: DayWindow): number {
  return WEEKDAY[w.weekday - 1]!;
}

/** Shift 'A' | 'B' | 'C' of an instant inside a production day, for lot numbers. */
export function shiftOf(w: DayWindow, ms: number): 'A' | 'B' | 'C' {
  const h = (ms - w.from) / HOUR;
  return h < 8 ? 'A' : h < 16 ? 'B' : 'C';
}

/**
 * `n` instants in the day drawn by the shift pattern, ascending. On a 25-hour DST day the night
 * shift works an hour longer; on a 23-hour day it ends an hour early.
 */
export function sampleInstants(rng: Rng, w: DayWindow, n: number): Float64Array {
  const hours = Math.round((w.to - w.from) / HOUR);
  const cumulative = cumulativeWeights(Array.from({ length: hours }, (_, h) => HOURLY[h] ?? NIGHT));
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const h = rng.weighted(cumulative);
    out[i] = Math.min(w.to - 1, Math.floor(w.from + (h + rng.next()) * HOUR));
  }
  return out.sort();
}
