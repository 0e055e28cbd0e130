/**
 * The demo / test data generator: what it plants is checked on the pure row streams against the
 * rules of metrics.md (an independent implementation of the reject rules and attempt order lives
 * here), and what it writes is read back from real SQLite and PostgreSQL databases.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import knexFactory, { type Knex } from 'knex';
import { DateTime } from 'luxon';
import { configSchema } from '../../config/schema.js';
import { connect } from '../../sql/connection.js';
import { rowsPerStatement } from '../../sql/batch-insert.js';
import { productionDayOf, dayStartInstant } from '../../etl/periods.js';
import {
  cellLineStream,
  createSourceTables,
  generate,
  planGeneration,
  testRecordStream,
  type GenerateManifest,
  type GenerateOptions,
} from '../../data/generate.js';
import { REJECT_REASONS, type RejectReason } from '../../data/planted-faults.js';
import { SEP_ANODE_GAP, WINDERS, type CellLineDay } from '../../data/cell-assembly.js';
import { assemblyMapper, inspectionMapper, sourceTableDefs, testRecordMapper, windingMapper } from '../../data/source-tables.js';
import type { TestRecordRow } from '../../data/test-records.js';

const PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DEFAULTS = configSchema.parse({}).source;
const TZ = 'Europe/Berlin';
const clock = { timezone: TZ, dayStart: '06:00' };

// Ten days across the fall-back change of 2026-10-25 (inside production day 2026-10-24).
const BASE = { rows: 20_000, seed: 7, start: '2026-10-20', days: 10, timezone: TZ, dayStart: '06:00', timestamps: 'local' } as const;
type Base = Omit<GenerateOptions, 'mapping'>;

/** The rows the generator would write, drawn from its pure streams. */
function collect(o: Base): { rows: TestRecordRow[]; days: CellLineDay[] } {
  const plan = planGeneration(o);
  return { rows: [...testRecordStream(plan).rows], days: [...cellLineStream(plan).days] };
}

/** The generator's manifest for the options, from a throwaway in-memory database. */
async function manifestOf(o: Base): Promise<GenerateManifest> {
  const db = connect('sqlite::memory:');
  try {
    return await generate(db, { ...o, mapping: DEFAULTS });
  } finally {
    await db.destroy();
  }
}

// ---- metrics.md §3 and §4, written independently of the generator ----

const PASS = ['PASS', 'P', 'OK'];
const FAIL = ['FAIL', 'F', 'NG'];
const trim = (v: string | null) => (v ?? '').trim();

function firstReason(r: TestRecordRow): RejectReason | null {
  if (!trim(r.serial)) return 'missing_serial';
  if (!trim(r.product)) return 'missing_product';
  if (!trim(r.test)) return 'missing_test';
  if (!trim(r.machine)) return 'missing_machine';
  if (!trim(r.testedAt)) return 'missing_timestamp';
  const res = trim(r.result).toUpperCase();
  if (!PASS.includes(res) && !FAIL.includes(res)) return 'bad_result';
  if (r.durationS !== null && r.durationS < 0) return 'negative_duration';
  return null;
}

interface Checked {
  row: TestRecordRow;
  reason: RejectReason | null;
  result: 'PASS' | 'FAIL';
}

/** Every row with its reject reason, conflicting products included (text order of timestamps, as a source sorts them). */
function classify(rows: readonly TestRecordRow[]): Checked[] {
  const checked: Checked[] = rows.map((row) => ({ row, reason: firstReason(row), result: PASS.includes(trim(row.result).toUpperCase()) ? 'PASS' : 'FAIL' }));
  const productOf = new Map<string, { at: string; product: string }>();
  for (const c of checked) {
    if (c.reason) continue;
    const s = trim(c.row.serial);
    const mine = { at: c.row.testedAt!, product: trim(c.row.product) };
    const seen = productOf.get(s);
    if (!seen || mine.at < seen.at || (mine.at === seen.at && mine.product < seen.product)) productOf.set(s, mine);
  }
  for (const c of checked) if (!c.reason && productOf.get(trim(c.row.serial))!.product !== trim(c.row.product)) c.reason = 'conflicting_product';
  return checked;
}

const dedupKey = (c: Checked) => [trim(c.row.serial), trim(c.row.test), trim(c.row.machine), c.row.testedAt, c.result].join('|');

/** Valid rows, exact duplicates counted once, grouped into unit-tests with attempts in §4 order. */
function unitTests(checked: readonly Checked[]): { attempts: Map<string, Checked[]>; duplicates: number } {
  const seen = new Set<string>();
  let duplicates = 0;
  const attempts = new Map<string, Checked[]>();
  for (const c of checked) {
    if (c.reason) continue;
    const k = dedupKey(c);
    if (seen.has(k)) {
      duplicates++;
      continue;
    }
    seen.add(k);
    const ut = `${trim(c.row.serial)}|${trim(c.row.test)}`;
    attempts.set(ut, [...(attempts.get(ut) ?? []), c]);
  }
  for (const list of attempts.values()) {
    list.sort((a, b) => (a.row.testedAt! < b.row.testedAt! ? -1 : a.row.testedAt! > b.row.testedAt! ? 1 : a.row.machine! < b.row.machine! ? -1 : a.row.machine! > b.row.machine! ? 1 : a.result === 'FAIL' ? -1 : 1));
  }
  return { attempts, duplicates };
}

const utcMs = (text: string) => DateTime.fromSQL(text, { zone: 'UTC' }).toMillis();
const dayOfUtc = (text: string) => productionDayOf(DateTime.fromSQL(text, { zone: 'UTC' }), clock);
const json = (rows: readonly unknown[]) => rows.map((r) => JSON.stringify(r));

describe('generated rows, checked on the pure streams', () => {
  const local = collect(BASE);
  const utc = collect({ ...BASE, timestamps: 'utc' });
  const utcChecked = classify(utc.rows);
  let manifest: GenerateManifest;

  beforeAll(async () => {
    manifest = await manifestOf(BASE);
  });

  it('gives the same rows for the same seed and other rows for another seed', () => {
    const again = collect(BASE);
    expect(json(again.rows)).toEqual(json(local.rows));
    expect(json(again.days)).toEqual(json(local.days));
    const other = collect({ ...BASE, seed: 8 });
    expect(json(other.rows.slice(0, 100))).not.toEqual(json(local.rows.slice(0, 100)));
    expect(json(other.days.slice(0, 1))).not.toEqual(json(local.days.slice(0, 1)));
  });

  it('writes about the requested number of test records', () => {
    expect(local.rows.length).toBe(manifest.testRecords);
    for (const o of [BASE, { ...BASE, rows: 5_000, days: 1 }, { ...BASE, rows: 50_000, days: 2 }, { ...BASE, rows: 60_000, days: 40, start: '2026-03-01' }]) {
      const n = [...testRecordStream(planGeneration(o)).rows].length;
      expect(Math.abs(n - o.rows) / o.rows, `${o.rows} rows over ${o.days} days gave ${n}`).toBeLessThan(0.1);
    }
  });

  it('keeps every row inside the range and writes timestamps as UTC or plant-local wall-clock text of the same instants', () => {
    const from = dayStartInstant('2026-10-20', clock).toMillis();
    const to = dayStartInstant('2026-10-30', clock).toMillis();
    expect(utc.rows.length).toBe(local.rows.length);
    for (let i = 0; i < utc.rows.length; i++) {
      const u = utc.rows[i]!.testedAt;
      const l = local.rows[i]!.testedAt;
      if (u === null) {
        expect(l).toBeNull();
        continue;
      }
      expect(u).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/);
      const ms = utcMs(u);
      expect(ms >= from && ms < to, `${u} outside the range`).toBe(true);
      expect(DateTime.fromMillis(ms, { zone: TZ }).toFormat('yyyy-MM-dd HH:mm:ss.SSS')).toBe(l);
    }
  });

  it('finds the DST change day, and local text repeats the fall-back hour', () => {
    expect(manifest.dstDays).toEqual(['2026-10-24']);
    expect(planGeneration({ ...BASE, rows: 0, dayStart: '00:00' }).dstDays).toEqual(['2026-10-25']);
    expect(planGeneration({ ...BASE, rows: 0, start: '2026-03-01', days: 40 }).dstDays).toEqual(['2026-03-28']);
    // 02:xx local on 2026-10-25 happens twice: 00:xx UTC (CEST) and 01:xx UTC (CET).
    const repeated = utc.rows.map((r, i) => [r.testedAt ?? '', local.rows[i]!.testedAt ?? ''] as const).filter(([, l]) => l.startsWith('2026-10-25 02:'));
    expect(repeated.some(([u]) => u.startsWith('2026-10-25 00:'))).toBe(true);
    expect(repeated.some(([u]) => u.startsWith('2026-10-25 01:'))).toBe(true);
  });

  it('plants every reject reason exactly as counted, each rejected for that reason only', () => {
    const counted = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
    for (const c of classify(local.rows)) if (c.reason) counted[c.reason]++;
    expect(counted).toEqual(manifest.malformed);
    for (const r of REJECT_REASONS) expect(manifest.malformed[r], r).toBeGreaterThan(0);
    // The same in UTC text, where the order of timestamps is unambiguous.
    const utcCounted = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
    for (const c of utcChecked) if (c.reason) utcCounted[c.reason]++;
    expect(utcCounted).toEqual(manifest.malformed);
  });

  it('plants exact duplicates', () => {
    expect(manifest.duplicates).toBeGreaterThan(0);
    expect(unitTests(utcChecked).duplicates).toBe(manifest.duplicates);
  });

  it('leaves the valid rows unchanged when no faults are planted', () => {
    const clean = collect({ ...BASE, malformed: false }).rows;
    const planted = Object.values(manifest.malformed).reduce((a, b) => a + b, 0) + manifest.duplicates;
    expect(clean.length).toBe(local.rows.length - planted);
    const remaining = new Map<string, number>();
    for (const k of json(local.rows)) remaining.set(k, (remaining.get(k) ?? 0) + 1);
    for (const k of json(clean)) {
      expect(remaining.get(k), k).toBeGreaterThan(0);
      remaining.set(k, remaining.get(k)! - 1);
    }
    expect(classify(clean).every((c) => c.reason === null)).toBe(true);
  });

  it('retests: minutes later as a rule, on other stations, across midnight and dayStart, late by days, beyond three attempts', () => {
    const { attempts } = unitTests(utcChecked);
    const firstOfUnit = new Map<string, number>();
    for (const list of attempts.values()) {
      const s = trim(list[0]!.row.serial);
      firstOfUnit.set(s, Math.min(firstOfUnit.get(s) ?? Infinity, utcMs(list[0]!.row.testedAt!)));
    }
    let retests = 0;
    let late = 0;
    let otherStation = 0;
    let acrossDayStart = 0;
    let acrossMidnight = 0;
    let unitsAcrossDayStart = 0;
    let excess = 0;
    const gaps: number[] = [];
    for (const list of attempts.values()) {
      const firstPass = list.findIndex((a) => a.result === 'PASS');
      excess += list.filter((_, i) => i >= 3 || (firstPass >= 0 && i > firstPass)).length;
      for (let i = 1; i < list.length; i++) {
        const prev = list[i - 1]!.row;
        const cur = list[i]!.row;
        retests++;
        const at = utcMs(cur.testedAt!);
        const gap = at - utcMs(prev.testedAt!);
        gaps.push(gap);
        if (at - firstOfUnit.get(trim(cur.serial))! >= 24 * 3_600_000) late++;
        if (cur.machine !== prev.machine) otherStation++;
        if (gap > 3 * 3_600_000) continue; // a late retest crosses days anyway; count the ordinary ones
        if (dayOfUtc(cur.testedAt!) !== dayOfUtc(prev.testedAt!)) acrossDayStart++;
        const localDate = (t: string) => DateTime.fromSQL(t, { zone: 'UTC' }).setZone(TZ).toISODate();
        if (localDate(cur.testedAt!) !== localDate(prev.testedAt!)) acrossMidnight++;
      }
    }
    // Units whose route runs from one production day into the next.
    const unitDays = new Map<string, Set<string>>();
    for (const list of attempts.values()) {
      for (const a of list) {
        const s = trim(a.row.serial);
        unitDays.set(s, (unitDays.get(s) ?? new Set()).add(dayOfUtc(a.row.testedAt!)));
      }
    }
    for (const days of unitDays.values()) if (days.size > 1) unitsAcrossDayStart++;
    gaps.sort((a, b) => a - b);
    expect(gaps[Math.floor(gaps.length / 2)]!).toBeLessThan(30 * 60_000); // the median retest follows within minutes
    expect(late).toBe(manifest.lateRetests);
    expect(late).toBeGreaterThan(0);
    expect(otherStation / retests).toBeGreaterThan(0.1);
    expect(acrossDayStart).toBeGreaterThan(0);
    expect(acrossMidnight).toBeGreaterThan(0);
    expect(unitsAcrossDayStart).toBeGreaterThan(unitDays.size / 100);
    expect(excess).toBeGreaterThan(0);
  });

  it("shows the planted station's fail-rate jump on its day and nowhere else", () => {
    const jump = manifest.failRateJump;
    expect(jump).toMatchObject({ machine: 'TX_POWER-02', test: 'TX_POWER', day: '2026-10-25' });
    const perDay = new Map<string, { n: number; f: number }>();
    const { attempts } = unitTests(utcChecked);
    for (const list of attempts.values()) {
      for (const a of list) {
        if (a.row.machine !== jump.machine) continue;
        const d = dayOfUtc(a.row.testedAt!);
        const t = perDay.get(d) ?? { n: 0, f: 0 };
        t.n++;
        if (a.result === 'FAIL') t.f++;
        perDay.set(d, t);
      }
    }
    const onDay = perDay.get(jump.day)!;
    expect(onDay.f / onDay.n).toBeCloseTo(jump.jumpFailRate, 3);
    let n = 0;
    let f = 0;
    for (const [d, t] of perDay) {
      if (d === jump.day) continue;
      n += t.n;
      f += t.f;
      expect(t.f / t.n, d).toBeLessThan(jump.jumpFailRate / 2);
    }
    expect(f / n).toBeCloseTo(jump.baselineFailRate, 3);
    expect(jump.baselineFailRate).toBeGreaterThan(0.01);
    expect(jump.baselineFailRate).toBeLessThan(0.07);
    expect(jump.jumpFailRate).toBeGreaterThan(0.18);
    // ErrorCode: set on FAIL, NULL on PASS.
    for (const c of utcChecked.filter((c) => c.reason === null)) expect(c.row.errorCode === null).toBe(c.result === 'PASS');
  });

  it('battery line: WND03 and WND07 drift below LSL about a day before their infusion defects rise; some cells are untraced', () => {
    expect(manifest.gapDrift).toEqual([
      { winder: 'WND03', driftStartDay: '2026-10-23', defectRiseDay: '2026-10-24' },
      { winder: 'WND07', driftStartDay: '2026-10-26', defectRiseDay: '2026-10-27' },
    ]);
    const inspections = utc.days.flatMap((d) => d.inspection).filter((i) => i.itemCd === SEP_ANODE_GAP.itemCd);
    const winding = new Map(utc.days.flatMap((d) => d.winding).map((w) => [w.cellId, w.eqpId]));
    const cells = utc.days.flatMap((d) => d.assembly);
    expect(inspections.length).toBe(manifest.gapReadings);
    expect(cells.length).toBe(manifest.cells);
    expect(cells.filter((c) => !winding.has(c.cellId)).length).toBe(manifest.untracedCells);
    expect(manifest.untracedCells).toBeGreaterThan(0);
    expect(manifest.untracedCells / manifest.cells).toBeLessThan(0.01);
    expect(manifest.cells / 10).toBeGreaterThan(2000); // a few thousand cells a day

    for (const w of WINDERS) {
      const drift = manifest.gapDrift.find((g) => g.winder === w);
      const low = inspections.filter((i) => i.eqpId === w && i.inspVal < SEP_ANODE_GAP.lsl);
      if (!drift) {
        expect(low, w).toEqual([]);
        continue;
      }
      // Below LSL first during the drift day, i.e. before the defects rise.
      const lowDays = low.map((i) => dayOfUtc(i.inspDt));
      expect(lowDays.filter((d) => d < drift.driftStartDay), w).toEqual([]);
      expect(lowDays.filter((d) => d === drift.driftStartDay).length, w).toBeGreaterThanOrEqual(3);

      const rate = (pick: (day: string) => boolean) => {
        const mine = cells.filter((c) => winding.get(c.cellId) === w && pick(dayOfUtc(c.prodDt)));
        return mine.filter((c) => c.dfctCd === 5).length / mine.length;
      };
      expect(rate((d) => d < drift.defectRiseDay), w).toBeLessThan(0.01);
      expect(rate((d) => d >= drift.defectRiseDay), w).toBeGreaterThan(0.025);
    }
    const others = cells.filter((c) => ['WND01', 'WND02', 'WND04'].includes(winding.get(c.cellId) ?? ''));
    expect(others.filter((c) => c.dfctCd === 5).length / others.length).toBeLessThan(0.01);
    expect(cells.some((c) => c.dfctCd === 4)).toBe(true);
  });

  it('rejects options it cannot honour, naming the option', () => {
    expect(() => planGeneration({ ...BASE, start: '2026-13-01' })).toThrow(/start/);
    expect(() => planGeneration({ ...BASE, days: 0 })).toThrow(/days/);
    expect(() => planGeneration({ ...BASE, timezone: 'Mars/Olympus' })).toThrow(/timezone/);
    expect(() => planGeneration({ ...BASE, dayStart: '6am' })).toThrow(/dayStart/);
    expect(() => planGeneration({ ...BASE, rows: -1 })).toThrow(/rows/);
  });
});

describe('SQL for SQL Server', () => {
  const mssql = knexFactory({ client: 'mssql' });
  const { rows, days } = collect({ ...BASE, rows: 5_000, days: 2 });
  const tables = [
    { name: 'test_records', rows: rows.map(testRecordMapper(DEFAULTS.testRecords.columns)) },
    { name: 'asb_data', rows: days.flatMap((d) => d.assembly).map(assemblyMapper(DEFAULTS.assembly.columns)) },
    { name: 'wnd_data', rows: days.flatMap((d) => d.winding).map(windingMapper(DEFAULTS.winding.columns)) },
    { name: 'isp_ifo_h', rows: days.flatMap((d) => d.inspection).map(inspectionMapper(DEFAULTS.inspection.columns)) },
  ];

  it.each(tables)('inserts into $name with fewer than 2,100 bound parameters per statement', ({ name, rows: physical }) => {
    const per = rowsPerStatement('mssql', Object.keys(physical[0]!).length);
    expect(physical.length).toBeGreaterThan(per);
    for (let i = 0; i < physical.length; i += per) {
      const native = mssql.withSchema('dbo').table(name).insert(physical.slice(i, i + per)).toSQL().toNative();
      expect(native.bindings.length).toBeLessThan(2100);
      expect(native.sql).toContain(`insert into [dbo].[${name}]`);
    }
  });

  it('creates datetime2(3) timestamps, float measures and the timestamp index', () => {
    const ddl = sourceTableDefs(DEFAULTS)
      .map((def) => mssql.schema.withSchema('dbo').createTable(def.name, (t) => def.build(t, 'mssql')).toString())
      .join('\n');
    expect(ddl).toContain('[TestTimeStamp] datetime2(3)');
    expect(ddl).toContain('[prod_dt] datetime2(3)');
    expect(ddl).toContain('[insp_dt] datetime2(3)');
    expect(ddl).toContain('[TestDuration_s] float');
    expect(ddl).toMatch(/CREATE INDEX \[ix_test_records_TestTimeStamp\] ON \[dbo\]\.\[test_records\] \(\[TestTimeStamp\]\)/i);
  });
});

// ---- written to real databases ----

interface Place {
  db: Knex;
  mapping: GenerateOptions['mapping'];
  cleanup(): Promise<void>;
}

async function sqlitePlace(): Promise<Place> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-gen-'));
  const db = connect(`sqlite:${path.join(dir, 'source.sqlite')}`);
  return {
    db,
    mapping: DEFAULTS,
    cleanup: async () => {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresPlace(): Promise<Place> {
  const schema = `gen_test_${randomBytes(5).toString('hex')}`;
  const db = connect(PG_URL);
  const inSchema = <T extends { table: string }>(t: T): T => ({ ...t, table: `${schema}.${t.table}` });
  return {
    db,
    // The generator creates the schema itself.
    mapping: {
      ...DEFAULTS,
      testRecords: inSchema(DEFAULTS.testRecords),
      assembly: inSchema(DEFAULTS.assembly),
      winding: inSchema(DEFAULTS.winding),
      inspection: inSchema(DEFAULTS.inspection),
    },
    cleanup: async () => {
      await db.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
      await db.destroy();
    },
  };
}

/** pg prints timestamp(3) without trailing zeros in the fraction; the generator writes three digits. */
function timestampText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const [whole, frac = ''] = String(v).split('.');
  return `${whole}.${frac.padEnd(3, '0')}`;
}

function tableOf(db: Knex, name: string) {
  const [schema, table] = name.includes('.') ? name.split('.') : [undefined, name];
  return schema ? db.withSchema(schema).table(table!) : db.table(table!);
}

describe.each([
  ['sqlite', sqlitePlace],
  ['postgres', postgresPlace],
] as const)('generate() into %s', (_name, open) => {
  let place: Place;
  let manifest: GenerateManifest;
  const progress: [number, number][] = [];
  const expected = collect(BASE);

  beforeAll(async () => {
    place = await open();
    manifest = await generate(place.db, { ...BASE, mapping: place.mapping, onProgress: (w, t) => progress.push([w, t]) });
  });
  afterAll(async () => {
    await place?.cleanup();
  });

  it('writes exactly the generated test records, with the planted patterns and progress reports', async () => {
    const c = place.mapping.testRecords.columns;
    const stored = (await tableOf(place.db, place.mapping.testRecords.table).select('*')) as Record<string, unknown>[];
    const back = stored.map((r) => ({
      serial: r[c.serial],
      product: r[c.product],
      test: r[c.test],
      machine: r[c.machine],
      testedAt: timestampText(r[c.testedAt]),
      result: r[c.result],
      durationS: r[c.durationS],
      errorCode: r[c.errorCode ?? 'ErrorCode'],
    }));
    expect(json(back).sort()).toEqual(json(expected.rows).sort());
    expect(manifest.testRecords).toBe(expected.rows.length);
    expect(manifest).toEqual(await manifestOf(BASE));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[progress.length - 1]![0]).toBe(manifest.testRecords);
    expect(progress.every(([w], i) => i === 0 || w > progress[i - 1]![0])).toBe(true);
  });

  it.runIf(_name === 'postgres')('leaves PostgreSQL statistics on every table it filled, as the planner needs them', async () => {
    for (const name of [place.mapping.testRecords.table, place.mapping.assembly.table, place.mapping.winding.table, place.mapping.inspection.table]) {
      const [schema, table] = name.split('.') as [string, string];
      const r = await place.db.raw('SELECT last_analyze FROM pg_stat_user_tables WHERE schemaname = ? AND relname = ?', [schema, table]);
      expect(r.rows[0]?.last_analyze, name).toBeTruthy();
    }
  });

  it('writes the battery tables: traceable cells, untraced cells, and the drifting winders below LSL', async () => {
    const m = place.mapping;
    const count = async (name: string) => Number(((await tableOf(place.db, name).count({ n: '*' })) as { n: number | string }[])[0]!.n);
    const cells = expected.days.flatMap((d) => d.assembly).length;
    expect(await count(m.assembly.table)).toBe(cells);
    expect(await count(m.winding.table)).toBe(expected.days.flatMap((d) => d.winding).length);
    expect(await count(m.inspection.table)).toBe(expected.days.flatMap((d) => d.inspection).length);
    expect(manifest.cells).toBe(cells);

    // Dotted names quote as schema.table; withSchema would also prefix the joined table.
    const untraced = (await place.db
      .from(`${m.assembly.table} as a`)
      .leftJoin(`${m.winding.table} as w`, 'w.cell_id', 'a.cell_id')
      .whereNull('w.cell_id')
      .count({ n: '*' })) as { n: number | string }[];
    expect(Number(untraced[0]!.n)).toBe(manifest.untracedCells);

    for (const g of manifest.gapDrift) {
      // Local wall-clock text: the rise day starts at 06:00 local.
      const riseStart = `${g.defectRiseDay} 06:00:00`;
      const low = (await tableOf(place.db, m.inspection.table)
        .where({ eqp_id: g.winder, item_cd: 'SEP_ANODE_GAP' })
        .where('insp_val', '<', SEP_ANODE_GAP.lsl)
        .where('insp_dt', '<', riseStart)
        .count({ n: '*' })) as { n: number | string }[];
      expect(Number(low[0]!.n), g.winder).toBeGreaterThanOrEqual(3);
    }
    const healthyLow = (await tableOf(place.db, m.inspection.table)
      .whereNotIn('eqp_id', ['WND03', 'WND07'])
      .where({ item_cd: 'SEP_ANODE_GAP' })
      .where('insp_val', '<', SEP_ANODE_GAP.lsl)
      .count({ n: '*' })) as { n: number | string }[];
    expect(Number(healthyLow[0]!.n)).toBe(0);
  });

  it('indexes the test records by timestamp, and creating the tables again changes nothing', async () => {
    const m = place.mapping;
    await createSourceTables(place.db, m);
    const [schema, table] = m.testRecords.table.includes('.') ? m.testRecords.table.split('.') : [undefined, m.testRecords.table];
    if (schema) {
      const r = await place.db.raw('SELECT indexdef FROM pg_indexes WHERE schemaname = ? AND tablename = ?', [schema, table]);
      expect((r.rows as { indexdef: string }[]).map((x) => x.indexdef).join('\n')).toMatch(/\("TestTimeStamp"\)/);
      const type = await place.db.raw('SELECT data_type, datetime_precision FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name = ?', [schema, table, 'TestTimeStamp']);
      expect(type.rows[0]).toEqual({ data_type: 'timestamp without time zone', datetime_precision: 3 });
    } else {
      const list = (await place.db.raw(`PRAGMA index_info('ix_test_records_TestTimeStamp')`)) as { name: string }[];
      expect(list.map((x) => x.name)).toEqual(['TestTimeStamp']);
    }
  });

  it('refuses to add to tables that already hold rows', async () => {
    await expect(generate(place.db, { ...BASE, mapping: place.mapping })).rejects.toThrow(/already hold.*rows/);
  });
});

describe('generate() is reproducible across databases', () => {
  it('gives byte-identical tables for the same seed, twice', async () => {
    const a = await sqlitePlace();
    const b = await sqlitePlace();
    try {
      const opts = { ...BASE, rows: 5_000, days: 3, seed: 11, timestamps: 'utc' as const };
      const ma = await generate(a.db, { ...opts, mapping: a.mapping });
      const mb = await generate(b.db, { ...opts, mapping: b.mapping });
      expect(mb).toEqual(ma);
      for (const t of ['test_records', 'asb_data', 'wnd_data', 'isp_ifo_h']) {
        const ra = await a.db.table(t).select('*');
        const rb = await b.db.table(t).select('*');
        expect(ra.length, t).toBeGreaterThan(0);
        expect(json(rb), t).toEqual(json(ra));
      }
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });
});
