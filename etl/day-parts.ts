/**
 * A computed day's fine aggregates, kept in etl_day_parts so that a later run in the same ISO week
 * takes the week's days before its batch from them instead of reading those days' records again
 * (the nightly day then reads its own records and its serials' history, whatever the week holds).
 *
 * What a day slot's F, L and Q rows hold depends only on records up to the slot's end: an
 * attempt's number, the PASSes before it and its attempt 1 come from earlier attempts, a serial's
 * product and first record from its earliest one. So the rows a run computed for its day stay the
 * day's rows until the day is computed again (a scheduled run recomputes a day whose records
 * changed: late data). Later days' attempts of the day's units are in those later slots' rows, with
 * attempt 1's day, so the week's cohort still counts retests after the day.
 */
import type { Knex } from 'knex';
import { targetTable, type EtlContext } from './context.js';
import type { FineRow } from './summary-rows.js';
import { addDays, isoDate, weekMonday } from './periods.js';

export interface DayPartsRow {
  day: string;
  /** JSON: { labelsFrom, rows }, the slot's rows as arrays in Stored order. */
  parts: string;
}

/** A stored row: part, product, test, machine, t1, t2, v1–v9, attempt 1's day (for v10), v11–v15. */
type Stored = [FineRow['part'], string | null, string | null, string | null, string | null, string | null, ...(number | string | null)[]];

interface StoredParts {
  /** Attempt 1's day is named where it is this day or later (the statement's first slot); NULL before. */
  labelsFrom: string;
  rows: Stored[];
}

const STORED_PARTS = new Set(['F', 'L', 'Q']);
const BEFORE = ['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8', 'v9'] as const;
const AFTER = ['v11', 'v12', 'v13', 'v14', 'v15'] as const;

const numberOrNull = (v: number | string | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * The parts of each of `days` from a batch's statement rows, whose slot k is the index into
 * `slotDay`. Each day gets a row, also one without records (no rows).
 */
export function dayPartsOf(fine: readonly FineRow[], slotDay: readonly string[], days: readonly string[]): DayPartsRow[] {
  const byDay = new Map<string, Stored[]>(days.map((d) => [d, []]));
  for (const r of fine) {
    if (!STORED_PARTS.has(r.part) || r.k === null) continue;
    const rows = byDay.get(slotDay[Number(r.k)]!);
    if (!rows) continue;
    const first = r.v10 === null || r.v10 === undefined ? null : slotDay[Number(r.v10)]!;
    rows.push([r.part, r.product, r.test, r.machine, r.t1, r.t2, ...BEFORE.map((k) => numberOrNull(r[k])), first, ...AFTER.map((k) => numberOrNull(r[k]))]);
  }
  return [...byDay].map(([day, rows]) => ({ day, parts: JSON.stringify({ labelsFrom: slotDay[0]!, rows } satisfies StoredParts) }));
}

/**
 * The stored parts of those of `days` that have them, as statement rows of a batch whose slots are
 * `slotDay`, by day. Parts that name attempt 1's day only from after `labelledFrom` count as none:
 * they were stored with a shorter lookback and miss some units of the days the batch assembles.
 */
export async function readDayParts(ctx: EtlContext, days: readonly string[], slotDay: readonly string[], labelledFrom: string): Promise<Map<string, FineRow[]>> {
  const out = new Map<string, FineRow[]>();
  if (days.length === 0) return out;
  const stored = (await targetTable(ctx, ctx.target, 'etl_day_parts').whereIn('day', [...days]).select('day', 'parts')) as { day: unknown; parts: string }[];
  const slot = new Map(slotDay.map((d, i) => [d, i]));
  for (const s of stored) {
    const day = isoDate(s.day);
    const k = slot.get(day);
    if (k === undefined) throw new Error(`internal: stored day ${day} is not a slot of the batch`);
    const parts = JSON.parse(s.parts) as StoredParts;
    if (parts.labelsFrom > labelledFrom) continue;
    out.set(
      day,
      parts.rows.map(([part, product, test, machine, t1, t2, ...v]) => {
        const row: FineRow = { part, k, product, test, machine, t1, t2, t3: null, t4: null, t5: null, t6: null, v1: null, v2: null, v3: null, v4: null, v5: null, v6: null, v7: null, v8: null, v9: null };
        BEFORE.forEach((key, i) => (row[key] = v[i] as number | null));
        row.v10 = v[9] === null ? null : (slot.get(String(v[9])) ?? null);
        AFTER.forEach((key, i) => (row[key] = v[10 + i] as number | null));
        return row;
      }),
    );
  }
  return out;
}

/**
 * Replaces the stored parts of the given days, inside the load's transaction, and drops those of
 * days a run no longer takes them for: before the week of the lookback's first day (a day later
 * computed without its week's parts reads the week's records instead, as the first run did).
 */
export async function replaceDayParts(ctx: EtlContext, trx: Knex.Transaction, rows: readonly DayPartsRow[], stamp: { run_id: number; computed_at: Date }): Promise<void> {
  if (rows.length === 0) return;
  for (let i = 0; i < rows.length; i += 500) {
    await targetTable(ctx, trx, 'etl_day_parts').whereIn('day', rows.slice(i, i + 500).map((r) => r.day)).delete();
  }
  const last = rows.reduce((a, r) => (r.day > a ? r.day : a), rows[0]!.day);
  const keepFrom = weekMonday(addDays(last, -ctx.config.yield.lookbackDays));
  await targetTable(ctx, trx, 'etl_day_parts').where('day', '<', keepFrom).delete();
  // One row per statement: a day's parts are one long text each.
  for (const r of rows) if (r.day >= keepFrom) await targetTable(ctx, trx, 'etl_day_parts').insert({ ...r, ...stamp });
}
