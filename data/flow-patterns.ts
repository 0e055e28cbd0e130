/**
 * The process-flow patterns planted in the test records when asked (generate's `flowPatterns`, the
 * demo, README "Process flow"), so the demo's process-flow job has something to find:
 *
 * - a bottleneck: on some days the queue before VISUAL backs up, units wait about 8× longer there;
 * - a rework hot spot: for one week, 16 % of the QSFP-DD-400G-DR4 units get an extra FAIL and retest at
 *   EYE_MASK before their usual attempts, so the step's retest share about triples;
 * - a route deviation: EYE_MASK-03 lets 30 % of the units it passes skip RX_SENS;
 * - a shift effect: on Fridays the night shift's queues are 4× longer.
 *
 * Every decision comes from a random stream of its own ('flow'), and a skipped step is still drawn
 * from the unit's stream (its rows just not written), so the units, results and faults of the
 * other planted patterns are drawn exactly as before; only the times after a planted wait move.
 */
import type { DayWindow } from './source-time.js';

export interface FlowPatterns {
  bottleneck: { step: string; dayIndexes: number[]; waitFactor: number };
  reworkHotSpot: { product: string; step: string; fromDay: number; toDay: number; extraFailShare: number };
  routeDeviation: { station: string; skippedStep: string; share: number };
  shiftEffect: { weekday: number; fromHour: number; toHour: number; waitFactor: number };
}

const HOUR = 3_600_000;

export function flowPatternsFor(days: number): FlowPatterns {
  const hotFrom = Math.floor(days / 3);
  return {
    // Every seventh day from the fourth: a few days of a 30-day run, none of them weekends by luck alone.
    bottleneck: { step: 'VISUAL', dayIndexes: Array.from({ length: days }, (_, i) => i).filter((i) => i % 7 === 3), waitFactor: 8 },
    reworkHotSpot: { product: 'QSFP-DD-400G-DR4', step: 'EYE_MASK', fromDay: hotFrom, toDay: hotFrom + 7, extraFailShare: 0.16 },
    routeDeviation: { station: 'EYE_MASK-03', skippedStep: 'RX_SENS', share: 0.3 },
    // Hours after the production-day start: with dayStart 06:00, 22:00 to 06:00.
    shiftEffect: { weekday: 5, fromHour: 16, toHour: 24, waitFactor: 4 },
  };
}

/** The planted patterns a unit's simulation asks about. */
export interface FlowPatternHooks {
  /** The factor on the queue wait before `step` that starts at `at`. */
  waitFactor(step: string, at: number): number;
  /** Whether the unit's first attempt at `step` at `at` is preceded by a planted FAIL. */
  extraFail(product: string, step: string, at: number): boolean;
  /** Whether a unit passed at `station` skips `nextStep`. */
  skips(station: string, nextStep: string): boolean;
}

export function flowPatternHooks(p: FlowPatterns, windows: readonly DayWindow[], chance: (p: number) => boolean): FlowPatternHooks {
  const dayOf = (at: number) => windows.findIndex((w) => at >= w.from && at < w.to);
  return {
    waitFactor(step, at) {
      const d = dayOf(at);
      if (d < 0) return 1;
      let f = 1;
      if (step === p.bottleneck.step && p.bottleneck.dayIndexes.includes(d)) f *= p.bottleneck.waitFactor;
      const w = windows[d]!;
      const h = (at - w.from) / HOUR;
      if (w.weekday === p.shiftEffect.weekday && h >= p.shiftEffect.fromHour && h < p.shiftEffect.toHour) f *= p.shiftEffect.waitFactor;
      return f;
    },
    extraFail(product, step, at) {
      if (product !== p.reworkHotSpot.product || step !== p.reworkHotSpot.step) return false;
      const d = dayOf(at);
      return d >= p.reworkHotSpot.fromDay && d < p.reworkHotSpot.toDay && chance(p.reworkHotSpot.extraFailShare);
    },
    skips(station, nextStep) {
      return station === p.routeDeviation.station && nextStep === p.routeDeviation.skippedStep && chance(p.routeDeviation.share);
    },
  };
}
