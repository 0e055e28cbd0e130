/**
 * Conformance of a case's variant to its product's route (process-flow.md §5), pure.
 *
 * Choices where the contract is silent: a step is out of order when any occurrence of a route step
 * comes after an occurrence of a later route step (so a return to an earlier step, A>B>A, is out of
 * order); with that reading every non-conforming variant falls under at least one of skipped,
 * extra and out of order.
 */

export interface Verdict {
  conforming: boolean;
  skipped: boolean;
  extra: boolean;
  outOfOrder: boolean;
}

/** The variant's steps: `DC>TX>RX` → [DC, TX, RX]. */
export function variantSteps(variant: string): string[] {
  return variant === '' ? [] : variant.split('>');
}

export function judgeVariant(steps: readonly string[], route: readonly string[]): Verdict {
  const at = new Map(route.map((s, i) => [s, i]));
  const conforming = steps.length <= route.length && steps.every((s, i) => route[i] === s);
  const extra = steps.some((s) => !at.has(s));
  const present = new Set(steps);
  const last = Math.max(-1, ...steps.map((s) => at.get(s) ?? -1));
  const skipped = route.slice(0, Math.max(0, last)).some((s) => !present.has(s));
  let highest = -1;
  let outOfOrder = false;
  for (const s of steps) {
    const i = at.get(s);
    if (i === undefined) continue;
    if (i < highest) outOfOrder = true;
    highest = Math.max(highest, i);
  }
  return { conforming, skipped, extra, outOfOrder };
}
