/**
 * Reads an SPC measure's source rows for a range of production days and turns them into one chart
 * input per key (spc.md §1–§2): observations for I-MR, subgroups for X̄ charts, daily proportions
 * for p-charts.
 *
 * p-charts are counted in the database (one row per day × key). Variables charts need every
 * reading of the range, so those are fetched in batches of keys whose rows fit a bounded buffer
 * and handed on one key at a time: memory follows the largest chart, not the table.
 *
 * Rows that reach no chart are counted, not dropped silently: readings without a value or outside
 * validRange (rejected), and rows without a chart key (untraced cells of a lookup, by day for
 * p-charts). The counts come from the statements that read the rows anyway.
 */
import type { Knex } from 'knex';
import type { DateTime } from 'luxon';
import type { EtlContext } from './context.js';
import { addDays, dayStartInstant, parseSourceTimestamp, productionDay, sourceTimestamp, type PlantClock } from './periods.js';
import { chartKeyOf, type MeasureSpec } from './spc-measures.js';
import type { ChartInput } from './spc/charts.js';
import { consecutiveSubgroups, subgroupsByKey, type Observation, type Subgroup } from './spc/subgroups.js';
import type { ProportionSample } from './spc/p-chart.js';
import { maxBindParams } from '../sql/dialect.js';
import { SourceMappingError } from '../sql/source-check.js';
import type { Statement } from '../sql/summary-query.js';
import {
  buildKeyCountStatement,
  buildProportionStatement,
  buildReadingsStatement,
  keyAlias,
  readingsBaseParams,
  type SourceRange,
} from '../sql/spc-query.js';

export interface KeyedInput {
  /** The chart key: the key columns' values joined (chartKeyOf). */
  key: string;
  input: ChartInput;
  /** The individual readings of a variables chart, for capability; empty for a p-chart. */
  values: number[];
  /** Source rows behind the chart. */
  rows: number;
}

/** Source rows of the range that no chart shows. */
export interface UnchartedRows {
  /** Rows with a key whose value is missing or outside validRange (variables charts). */
  rejected: number;
  /** Rows without a chart key: for a lookup, rows with no match (untraced cells). */
  noKey: number;
  /** noKey by production day (p-charts, which count per day). */
  noKeyByDay: Record<string, number>;
}

export function noUnchartedRows(): UnchartedRows {
  return { rejected: 0, noKey: 0, noKeyByDay: {} };
}

/** Readings held in memory at once, across the keys of one batch (a single larger key is read alone). */
export const MAX_BATCH_ROWS = 250_000;

type Row = Record<string, unknown>;

async function query(db: Knex | Knex.Transaction, st: Statement): Promise<Row[]> {
  const res = (await db.raw(st.sql, st.bindings)) as unknown;
  return Array.isArray(res) ? (res as Row[]) : (res as { rows: Row[] }).rows;
}

export interface SourceTime {
  /** The instant, epoch ms. */
  ms: number;
  /** Start of its plant-local hour, epoch ms. */
  hourMs: number;
  /** Its production day and that day's start. */
  day: string;
  dayMs: number;
}

/**
 * Parses source timestamps ('YYYY-MM-DD HH:MM:SS[.fff]') into instants and plant-time buckets.
 * Zone arithmetic (luxon) is the costly part and readings share their hour with many others, so
 * it is done once per source hour: within an hour the instant grows linearly with the minutes and
 * seconds, and the plant hour and production day stay the same. Where that does not hold (a DST
 * change inside the hour, a zone offset or day start that is not on the hour) it falls back to
 * one computation per minute.
 */
export function sourceTimeParser(mode: 'utc' | 'local', clock: PlantClock): (text: string) => SourceTime {
  const dayStarts = new Map<string, number>();
  const dayStartMs = (day: string) => {
    let ms = dayStarts.get(day);
    if (ms === undefined) dayStarts.set(day, (ms = dayStartInstant(day, clock).toMillis()));
    return ms;
  };
  const exact = (minute: string): SourceTime => {
    const at = parseSourceTimestamp(minute, mode, clock);
    if (!at.isValid) throw new Error(`cannot read the source timestamp '${minute}'`);
    const local = at.setZone(clock.timezone);
    const ms = at.toMillis();
    // The production day (as productionDayOf finds it), with the day starts cached.
    const date = local.toISODate()!;
    const day = ms < dayStartMs(date) ? addDays(date, -1) : date;
    return { ms, hourMs: local.startOf('hour').toMillis(), day, dayMs: dayStartMs(day) };
  };
  /** Per source hour: its :00 minute, when every minute of it follows from that one; else null. */
  const hours = new Map<string, SourceTime | null>();
  const minutes = new Map<string, SourceTime>();
  const MINUTE = 60_000;
  return (text) => {
    const hourText = text.slice(0, 13);
    let hour = hours.get(hourText);
    if (hour === undefined) {
      const first = exact(`${hourText}:00`);
      const last = exact(`${hourText}:59`);
      const linear = last.ms - first.ms === 59 * MINUTE && last.hourMs === first.hourMs && last.day === first.day;
      hours.set(hourText, (hour = linear ? first : null));
    }
    const minute = Number(text.slice(14, 16));
    const seconds = text.length > 17 ? Number(text.slice(17)) : 0;
    if (!Number.isInteger(minute) || !Number.isFinite(seconds) || text.length < 16) throw new Error(`cannot read the source timestamp '${text}'`);
    let base: SourceTime;
    if (hour !== null) base = { ...hour, ms: hour.ms + minute * MINUTE };
    else {
      const key = text.slice(0, 16);
      let m = minutes.get(key);
      if (m === undefined) minutes.set(key, (m = exact(key)));
      base = m;
    }
    return { ...base, ms: base.ms + Math.round(seconds * 1000) };
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The source bounds of production days first..last. */
export function sourceRangeOf(ctx: Pick<EtlContext, 'config' | 'clock'>, firstDay: string, lastDay: string): SourceRange & { fromInstant: DateTime; toInstant: DateTime } {
  const mode = ctx.config.source.timestamps;
  const from = productionDay(firstDay, ctx.clock).from;
  const to = productionDay(lastDay, ctx.clock).to;
  return { from: sourceTimestamp(from, mode, ctx.clock), to: sourceTimestamp(to, mode, ctx.clock), fromInstant: from, toInstant: to };
}

/** Checks that a measure's tables have the columns it names, so a wrong name fails with its config key. */
export async function checkMeasureSource(db: Knex, measure: MeasureSpec): Promise<void> {
  const s = measure.source;
  if (!('table' in s.from)) return; // a query's columns show only when it runs; its errors name the measure
  const key = measure.configKey;
  const main: Record<string, string> = { [`${key}.time`]: s.time };
  if (s.value) main[`${key}.value`] = s.value;
  if (s.defective) main[`${key}.defective.column`] = s.defective.column;
  for (const c of Object.keys(s.where)) main[`${key}.source.where.${c}`] = c;
  const lookup: Record<string, string> = {};
  if (s.lookup) {
    main[`${key}.source.lookup.match`] = s.lookup.match.from;
    lookup[`${key}.source.lookup.match`] = s.lookup.match.to;
    s.key.forEach((k, i) => (lookup[`${key}.source.lookup.key${s.key.length > 1 ? `.${i}` : ''}`] = k));
    if (s.lookup.latest) lookup[`${key}.source.lookup.latest`] = s.lookup.latest;
  } else s.key.forEach((k, i) => (main[`${key}.key${s.key.length > 1 ? `.${i}` : ''}`] = k));
  await checkColumns(db, s.from.table, main, `${key}.source.table`);
  if (s.lookup) await checkColumns(db, s.lookup.table, lookup, `${key}.source.lookup.table`);
}

async function checkColumns(db: Knex, table: string, columns: Record<string, string>, tableKey: string): Promise<void> {
  const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : [undefined, table];
  const info = (await (schema ? db.withSchema(schema).table(name) : db.table(name)).columnInfo()) as Record<string, unknown>;
  const present = new Set(Object.keys(info).map((c) => c.toLowerCase()));
  if (present.size === 0) throw new SourceMappingError(`source table '${table}' does not exist (set ${tableKey} to the table that holds the measure's rows)`);
  const missing = Object.entries(columns).filter(([, c]) => !present.has(c.toLowerCase()));
  if (missing.length > 0) {
    const list = missing.map(([k, c]) => `${k} = '${c}'`).join(', ');
    throw new SourceMappingError(`source table '${table}' has no column for ${list}; its columns are: ${Object.keys(info).join(', ')}`);
  }
}

/**
 * On PostgreSQL the reads of one measure run in one read-only, repeatable-read transaction: a
 * consistent snapshot for the key counts and the readings, and a `source.query` cannot change data.
 * SQL Server and SQLite read as they are (a derived table cannot hold a data change there; the
 * source login should have SELECT only).
 */
async function withSourceReader<T>(ctx: EtlContext, work: (db: Knex | Knex.Transaction) => Promise<T>): Promise<T> {
  if (ctx.sourceDialect !== 'postgres') return work(ctx.source);
  return ctx.source.transaction(async (trx) => {
    await trx.raw('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    return work(trx);
  });
}

function keyParts(row: Row, keys: number): string[] {
  return Array.from({ length: keys }, (_, i) => String(row[keyAlias(i)]));
}

/** The statements give a NULL (trimmed empty) key where a row has none. */
function hasKey(row: Row, keys: number): boolean {
  return Array.from({ length: keys }, (_, i) => row[keyAlias(i)]).every((k) => k !== null && k !== undefined);
}

/** Splits key counts into batches under the row budget and the dialect's parameter limit. */
export function keyBatches(counts: readonly { parts: string[]; n: number }[], maxRows: number, maxKeys: number): string[][][] {
  const batches: string[][][] = [];
  let batch: string[][] = [];
  let rows = 0;
  for (const c of counts) {
    if (batch.length > 0 && (rows + c.n > maxRows || batch.length >= maxKeys)) {
      batches.push(batch);
      batch = [];
      rows = 0;
    }
    batch.push(c.parts);
    rows += c.n;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

interface Reading {
  time: SourceTime;
  value: number;
}

function variablesInput(measure: MeasureSpec, readings: readonly Reading[]): ChartInput {
  const observations: Observation[] = readings.map((r) => ({ value: r.value, time: iso(r.time.ms) }));
  const s = measure.subgroup;
  switch (s.kind) {
    case 'none':
      if (measure.chart !== 'I-MR') throw new Error(`internal: ${measure.chart} without subgroups`);
      return { chart: 'I-MR', observations };
    case 'size': {
      // Consecutive readings within each production day: a subgroup never changes when the
      // charted window moves on by a day, so its violations keep their identity across runs.
      const subgroups: Subgroup[] = [];
      let start = 0;
      for (let i = 1; i <= readings.length; i++) {
        if (i === readings.length || readings[i]!.time.day !== readings[start]!.time.day) {
          subgroups.push(...consecutiveSubgroups(observations.slice(start, i), s.size, { partial: 'keep' }));
          start = i;
        }
      }
      return xBar(measure, subgroups);
    }
    case 'hour':
    case 'day': {
      const bucket = (r: Reading) => (s.kind === 'hour' ? r.time.hourMs : r.time.dayMs);
      const subgroups = subgroupsByKey(readings, { key: (r) => String(bucket(r)), value: (r) => r.value, time: (r) => iso(bucket(r)) });
      return xBar(measure, subgroups);
    }
  }
}

function xBar(measure: MeasureSpec, subgroups: Subgroup[]): ChartInput {
  if (measure.chart === 'Xbar-R' || measure.chart === 'Xbar-S') return { chart: measure.chart, subgroups };
  throw new Error(`internal: subgroups for a ${measure.chart} chart`);
}

/** Chart inputs of a variables measure, key by key, in key order. */
async function* variablesInputs(ctx: EtlContext, db: Knex | Knex.Transaction, measure: MeasureSpec, range: SourceRange, uncharted: UnchartedRows): AsyncGenerator<KeyedInput> {
  const d = ctx.sourceDialect;
  const keyCount = measure.source.key.length;
  const counted = await query(db, buildKeyCountStatement(d, measure.source, range));
  for (const r of counted) {
    if (hasKey(r, keyCount)) uncharted.rejected += Number(r.rejected);
    else uncharted.noKey += Number(r.n) + Number(r.rejected);
  }
  const counts = counted
    .filter((r) => hasKey(r, keyCount) && Number(r.n) > 0)
    .map((r) => ({ parts: keyParts(r, keyCount), n: Number(r.n) }))
    .sort((a, b) => compareParts(a.parts, b.parts));
  const maxKeys = Math.max(1, Math.floor((maxBindParams(d) - readingsBaseParams(measure.source)) / keyCount));
  const parse = sourceTimeParser(ctx.config.source.timestamps, ctx.clock);
  for (const keys of keyBatches(counts, MAX_BATCH_ROWS, maxKeys)) {
    const rows = await query(db, buildReadingsStatement(d, measure.source, range, keys));
    let start = 0;
    for (let i = 1; i <= rows.length; i++) {
      const same = i < rows.length && keyParts(rows[i]!, keyCount).join('\u0000') === keyParts(rows[start]!, keyCount).join('\u0000');
      if (same) continue;
      const slice = rows.slice(start, i);
      const readings = slice.map((r) => ({ time: parse(String(r.t)), value: Number(r.v) }));
      yield { key: chartKeyOf(keyParts(rows[start]!, keyCount)), input: variablesInput(measure, readings), values: readings.map((r) => r.value), rows: slice.length };
      start = i;
    }
  }
}

function compareParts(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]! ? -1 : 1;
  }
  return 0;
}

/** Chart inputs of a p-chart measure: one sample per production day with rows, key by key. */
async function* proportionInputs(ctx: EtlContext, db: Knex | Knex.Transaction, measure: MeasureSpec, days: readonly string[], uncharted: UnchartedRows): AsyncGenerator<KeyedInput> {
  const mode = ctx.config.source.timestamps;
  const periods = days.map((day) => productionDay(day, ctx.clock));
  const slots = periods.map((p) => ({ from: sourceTimestamp(p.from, mode, ctx.clock), to: sourceTimestamp(p.to, mode, ctx.clock) }));
  const keyCount = measure.source.key.length;
  const rows = await query(db, buildProportionStatement(ctx.sourceDialect, measure.source, slots));
  const byKey = new Map<string, { parts: string[]; samples: (ProportionSample & { slot: number })[] }>();
  for (const r of rows) {
    if (!hasKey(r, keyCount)) {
      const day = days[Number(r.slot)]!;
      uncharted.noKey += Number(r.n);
      uncharted.noKeyByDay[day] = (uncharted.noKeyByDay[day] ?? 0) + Number(r.n);
      continue;
    }
    const parts = keyParts(r, keyCount);
    const key = parts.join('\u0000');
    let entry = byKey.get(key);
    if (!entry) byKey.set(key, (entry = { parts, samples: [] }));
    const slot = Number(r.slot);
    entry.samples.push({ slot, n: Number(r.n), defectives: Number(r.d), time: iso(periods[slot]!.from.toMillis()), key: days[slot]! });
  }
  for (const { parts, samples } of [...byKey.values()].sort((a, b) => compareParts(a.parts, b.parts))) {
    samples.sort((a, b) => a.slot - b.slot);
    const input: ChartInput = { chart: 'p', samples: samples.map(({ slot: _slot, ...sample }) => sample) };
    yield { key: chartKeyOf(parts), input, values: [], rows: samples.reduce((n, s) => n + s.n, 0) };
  }
}

/**
 * Every chart input of the measure over production days `days` (consecutive, in order), one key at
 * a time; returns the rows of those days that reach no chart. Errors from the source name the measure.
 */
export async function readChartInputs(ctx: EtlContext, measure: MeasureSpec, days: readonly string[], onKey: (k: KeyedInput) => void): Promise<UnchartedRows> {
  const uncharted = noUnchartedRows();
  if (days.length === 0) return uncharted;
  try {
    await withSourceReader(ctx, async (db) => {
      const inputs =
        measure.chart === 'p'
          ? proportionInputs(ctx, db, measure, days, uncharted)
          : variablesInputs(ctx, db, measure, sourceRangeOf(ctx, days[0]!, days[days.length - 1]!), uncharted);
      for await (const k of inputs) onKey(k);
    });
    return uncharted;
  } catch (err) {
    if (err instanceof SourceMappingError) throw err;
    const e = err as Error;
    e.message = `SPC measure '${measure.name}' (${measure.configKey}): reading its source failed: ${e.message}`;
    throw e;
  }
}
