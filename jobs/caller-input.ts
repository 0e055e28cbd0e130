/**
 * What a caller (the CLI or the admin API) may ask for, checked at the edge before anything is
 * queued: a request that passes here can run. Each edge names the field in its own terms
 * (`--reason` on the command line, `reason` in a JSON body).
 */
import { DateTime } from 'luxon';
import { dateRange } from '../etl/periods.js';
import { JOBS, isJobName, type JobDefinition } from './registry.js';

/** The widths of the etl_runs columns the text lands in (sql/migrations.ts): longer text fails every attempt. */
export const TEXT_LIMITS = { reason: 512, triggeredBy: 128, requestedBy: 128 } as const;

/** A request refused for one field; `limit` when the field was over it. */
export class CallerInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly limit?: number,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A registered job (own property of the registry: `constructor` or `__proto__` are not jobs). */
export function checkJobName(field: string, name: unknown, jobs: Record<string, JobDefinition> = JOBS): string {
  if (typeof name !== 'string' || !isJobName(name, jobs)) {
    throw new CallerInputError(field, `unknown job '${String(name)}'; known jobs: ${Object.keys(jobs).join(', ')}`);
  }
  return name;
}

/** Optional text no longer than `limit` characters; not a string (a number, an object) is refused too. */
export function boundedText(field: string, value: unknown, limit: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new CallerInputError(field, `expected text of at most ${limit} characters`, limit);
  if (value.length > limit) throw new CallerInputError(field, `at most ${limit} characters, got ${value.length}`, limit);
  return value;
}

export interface RangeBound {
  maxDays: number;
  force?: boolean;
  /** How this edge forces a longer range: `--force`, `force: true`. */
  forceHint: string;
}

/**
 * Every day from `from` to `to`, inclusive, at most `maxDays` of them unless forced. Counted
 * before the list is built, so a range of centuries costs nothing to refuse.
 */
export function boundedDayRange(field: string, from: string, to: string, bound: RangeBound): string[] {
  const a = DateTime.fromISO(from, { zone: 'UTC' });
  const b = DateTime.fromISO(to, { zone: 'UTC' });
  if (a.isValid && b.isValid && !bound.force) {
    const count = Math.round(b.diff(a, 'days').days) + 1;
    if (count > bound.maxDays) {
      throw new CallerInputError(
        field,
        `${from} … ${to} is ${count} days; at most ${bound.maxDays} at once (runner.maxRangeDays) unless ${bound.forceHint}`,
        bound.maxDays,
      );
    }
  }
  try {
    return dateRange(from, to);
  } catch (e) {
    throw new CallerInputError(field, (e as Error).message);
  }
}

/** Text cut to a column's width, for text the runner composes itself (a dependent's "… after run N"). */
export function fitColumn(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/** A whole number of at least `min`, from a flag's text (`--lot-size 1200`). */
export function wholeNumberArg(field: string, value: unknown, min = 1): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < min) throw new CallerInputError(field, `expected a whole number of at least ${min}, got '${String(value)}'`);
  return n;
}

/** A percentage strictly between 0 and 100 (`--aql 1.0`, `--ltpd 5`). */
export function percentArg(field: string, value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0 || n >= 100) throw new CallerInputError(field, `expected percent nonconforming above 0 and below 100, e.g. 1.0, got '${String(value)}'`);
  return n;
}

/** A probability strictly between 0 and 1 (`--alpha 0.05`). */
export function riskArg(field: string, value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0 || n >= 1) throw new CallerInputError(field, `expected a probability above 0 and below 1, e.g. 0.05, got '${String(value)}'`);
  return n;
}

export interface DesignArgs {
  aql: number;
  ltpd: number;
  alpha: number;
  beta: number;
  lotSize?: number;
}

/** `yieldrun sampling design`: the risks, and an LTPD above the AQL. */
export function checkDesignArgs(o: { aql?: unknown; ltpd?: unknown; alpha?: unknown; beta?: unknown; lotSize?: unknown }): DesignArgs {
  const aql = percentArg('--aql', o.aql);
  const ltpd = percentArg('--ltpd', o.ltpd);
  if (ltpd <= aql) throw new CallerInputError('--ltpd', `expected an LTPD above the AQL ${aql} %, got ${ltpd} %`);
  return {
    aql,
    ltpd,
    alpha: riskArg('--alpha', o.alpha ?? 0.05),
    beta: riskArg('--beta', o.beta ?? 0.1),
    lotSize: o.lotSize === undefined ? undefined : wholeNumberArg('--lot-size', o.lotSize, 2),
  };
}
