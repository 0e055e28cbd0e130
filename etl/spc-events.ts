/**
 * Out-of-control events of one chart (spc.md §6), pure: what a quality engineer acts on, instead of
 * each point × rule.
 *
 * Walking the chart's points in time order: a point flagged by an alarm rule opens an event unless
 * one is open; every further flagged point (alarm or warning) joins the open event; the event
 * closes at the `closeAfter`-th consecutive point without a violation. A warning while no event is
 * open is shown on the chart only. An event keeps the points it spans, the rules seen with how many
 * points each, the number of flagged points, the flagged statistic farthest from CL and its side.
 */
import type { Panel } from './spc-judge.js';
import type { Severity } from './spc-measures.js';
import type { RuleNumber, Side } from './spc/nelson-rules.js';

export interface EventFlag {
  panel: Panel;
  rule: RuleNumber;
  severity: Severity;
}

/** A chart's points as the event walk reads them: index → time, the main statistic and its CL. */
export interface EventSeries {
  length: number;
  value(i: number): number | null;
  cl(i: number): number | null;
  /** The violations on each flagged point (both panels), by point index. */
  flags: ReadonlyMap<number, readonly EventFlag[]>;
}

export interface RuleCount {
  panel: Panel;
  rule: RuleNumber;
  /** Flagged points of the event on which the rule fired. */
  points: number;
}

export interface ChartEvent {
  openedIndex: number;
  lastFlaggedIndex: number;
  /** The point that closed it; null while it is open. */
  closedIndex: number | null;
  flaggedPoints: number;
  rules: RuleCount[];
  /** The flagged point whose main statistic lies farthest from its CL, or null when none has one. */
  extremeIndex: number | null;
  side: Side | null;
}

export const DEFAULT_EVENT_CLOSE_AFTER = 8;

/** The events of a chart, oldest first. */
export function chartEvents(series: EventSeries, closeAfter: number): ChartEvent[] {
  if (!Number.isInteger(closeAfter) || closeAfter < 1) throw new RangeError(`spc.eventCloseAfter must be a whole number ≥ 1, got ${closeAfter}`);
  const flagged = [...series.flags.keys()].filter((i) => (series.flags.get(i)?.length ?? 0) > 0).sort((a, b) => a - b);
  const events: ChartEvent[] = [];
  type Open = ChartEvent & { counts: Map<string, RuleCount>; farthest: number };
  let open: Open | null = null;
  const close = () => {
    if (open === null) return;
    const { counts, farthest: _f, ...e } = open;
    e.rules = [...counts.values()].sort((a, b) => (a.panel === b.panel ? a.rule - b.rule : a.panel === 'main' ? -1 : 1));
    events.push(e);
    open = null;
  };
  for (const i of flagged) {
    if (open !== null && i - open.lastFlaggedIndex - 1 >= closeAfter) {
      open.closedIndex = open.lastFlaggedIndex + closeAfter;
      close();
    }
    const flags = series.flags.get(i)!;
    if (open === null) {
      if (!flags.some((f) => f.severity === 'alarm')) continue;
      open = { openedIndex: i, lastFlaggedIndex: i, closedIndex: null, flaggedPoints: 0, rules: [], extremeIndex: null, side: null, counts: new Map(), farthest: -1 };
    }
    const e: Open = open;
    e.lastFlaggedIndex = i;
    e.flaggedPoints++;
    const seen = new Set<string>();
    for (const f of flags) {
      const id = `${f.panel}${f.rule}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const c = e.counts.get(id) ?? { panel: f.panel, rule: f.rule, points: 0 };
      c.points++;
      e.counts.set(id, c);
    }
    const v = series.value(i);
    const cl = series.cl(i);
    if (v !== null && cl !== null && Math.abs(v - cl) > e.farthest) {
      e.farthest = Math.abs(v - cl);
      e.extremeIndex = i;
      e.side = v > cl ? 'above' : v < cl ? 'below' : null;
    }
  }
  if (open !== null) {
    const e: Open = open;
    if (series.length - 1 - e.lastFlaggedIndex >= closeAfter) e.closedIndex = e.lastFlaggedIndex + closeAfter;
    close();
  }
  return events;
}
