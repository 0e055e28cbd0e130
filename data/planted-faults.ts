/**
 * Rows the ETL must reject or de-duplicate (metrics.md §3), planted among the good ones the way an
 * MES produces them: each one is derived from a real unit's row, so it sits in the same day, shift
 * and volume as the unit, and exactly one reject reason applies to it.
 */
import type { Rng } from './random.js';
import { PRODUCTS, resultSpelling, testStep } from './test-floor.js';
import type { TestRecordRow, TimedRow } from './test-records.js';

/** In the order the ETL checks them: a planted row is valid for every earlier reason. */
export const REJECT_REASONS = [
  'missing_serial',
  'missing_product',
  'missing_test',
  'missing_machine',
  'missing_timestamp',
  'bad_result',
  'negative_duration',
  'conflicting_product',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];
export type Fault = RejectReason | 'duplicate';

/**
 * Per reject reason about 3 rows per 20,000 test records (a few dozen faulty rows on a day of the
 * reference volume), at least one a day so that small data sets still show every reason.
 */
const PER_REASON_RATE = 1.5e-4;
const DUPLICATE_RATE = 2.5e-4;

export function faultsForDay(expectedRows: number): Fault[] {
  const perReason = Math.max(1, Math.round(expectedRows * PER_REASON_RATE));
  const duplicates = Math.max(1, Math.round(expectedRows * DUPLICATE_RATE));
  return [...REJECT_REASONS.flatMap((r) => Array<Fault>(perReason).fill(r)), ...Array<Fault>(duplicates).fill('duplicate')];
}

/** Empty text comes in every form a source gives it; all are missing after trimming. */
const BLANKS = [null, '', '   '] as const;
/** Results that no synonym list maps to PASS or FAIL. */
const BAD_RESULTS = ['ABORT', 'N/A', 'ERROR', 'PASSED', '?', '', null] as const;

const MINUTE = 60_000;

export interface FaultContext {
  /** Writes an instant the way the source stores it. */
  formatTime: (ms: number) => string;
  /** End of the generated range: planted rows stay inside it, where a run over the range finds them. */
  rangeEnd: number;
}

/** The faulty row for `fault`, derived from `unit`: its valid rows, the first being its first attempt. */
export function plantFault(rng: Rng, fault: Fault, unit: readonly TimedRow[], ctx: FaultContext): TestRecordRow {
  const first = unit[0];
  if (!first) throw new Error('internal: a fault needs a unit with at least one row');
  const template = rng.pick(unit);
  const at = (ms: number) => ctx.formatTime(Math.min(ms, ctx.rangeEnd - 1));
  // A faulty row is a separate event a little after the one it copies, not a second copy of it.
  const base: TestRecordRow = { ...template.row, testedAt: at(template.at + Math.round(rng.between(1_000, 120_000))) };
  switch (fault) {
    case 'duplicate':
      // A double upload: the same row again, byte for byte.
      return { ...template.row };
    case 'missing_serial':
      return { ...base, serial: rng.pick(BLANKS) };
    case 'missing_product':
      return { ...base, product: rng.pick(BLANKS) };
    case 'missing_test':
      return { ...base, test: rng.pick(BLANKS) };
    case 'missing_machine':
      return { ...base, machine: rng.pick(BLANKS) };
    case 'missing_timestamp':
      return { ...base, testedAt: null };
    case 'bad_result':
      return { ...base, result: rng.pick(BAD_RESULTS), errorCode: null };
    case 'negative_duration':
      return { ...base, durationS: rng.chance(0.3) ? -1 : -Math.round(rng.between(0.001, 30) * 1000) / 1000 };
    case 'conflicting_product':
      return conflictingProduct(rng, first, at);
  }
}

/**
 * The same serial later under another product (a relabelled or mis-scanned unit). It comes strictly
 * after the unit's first row, so the serial's product stays the unit's and this row is the conflict.
 */
function conflictingProduct(rng: Rng, first: TimedRow, at: (ms: number) => string): TestRecordRow {
  const product = rng.pick(PRODUCTS.filter((p) => p.name !== first.row.product));
  const step = testStep(rng.pick(product.route));
  const machine = rng.pick(step.stations);
  // Local wall-clock text repeats in the DST fall-back hour, and a source orders rows by that text:
  // the conflict must come later as text too, or it would become the serial's first row.
  const firstText = first.row.testedAt ?? '';
  let testedAt = at(first.at + Math.round(rng.between(1, 90) * MINUTE));
  for (let i = 1; i <= 3 && testedAt <= firstText; i++) testedAt = at(first.at + i * 60 * MINUTE + Math.round(rng.between(1, 30) * MINUTE));
  return {
    serial: first.row.serial,
    product: product.name,
    test: step.name,
    machine,
    testedAt,
    result: resultSpelling(machine).pass,
    durationS: Math.round(step.seconds * rng.between(0.9, 1.1) * 1000) / 1000,
    errorCode: null,
  };
}
