/**
 * MES dirt (metrics.md §3) on real databases: every reject reason with a row that narrowly passes,
 * values kept as read, ASCII whitespace trimmed, and a table typed the way MES exports are (every
 * column text, no error code). Each answer is worked out by hand in the comments.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBackend, configFor, openMigrated, readSummary, writeTestRecords, type Backend, type TestRecord } from '../support/backends.js';
import { runNightlySummary } from '../../etl/nightly-summary.js';
import { targetTable, type EtlContext } from '../../etl/context.js';
import type { Knex } from 'knex';

// SQL Server too when MSSQL_URL names one (tests/integration/mssql.test.ts says when it skipped).
const BACKENDS = process.env.MSSQL_URL ? (['sqlite', 'postgres', 'mssql'] as const) : (['sqlite', 'postgres'] as const);
const DAY = '2026-11-20';

/** A valid row of the day (dayStart 06:00), with overrides. */
function rec(serial: string | null, extra: Partial<TestRecord> = {}): TestRecord {
  return { serial, product: 'P1', test: 'TX', machine: 'M1', at: `${DAY} 07:00:00`, result: 'PASS', duration: 10, ...extra };
}

/**
 * The seed's seven columns, as an MES export lands in a staging table: every one text, or (typed)
 * with a timestamp and a float column; text columns unbounded, so that overlong values reach the run.
 */
async function createTextTable(db: Knex, table: string, typed = false): Promise<void> {
  const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : [undefined, table];
  const sqlite = db.client.config.client === 'better-sqlite3';
  await (schema ? db.schema.withSchema(schema) : db.schema).createTable(name, (t) => {
    for (const c of ['SerialNum', 'ProductName', 'TestName', 'MachineID', 'TestResult']) t.text(c);
    if (typed && !sqlite) t.specificType('TestTimeStamp', db.client.config.client === 'mssql' ? 'datetime2(3)' : 'timestamp(3)');
    else t.text('TestTimeStamp');
    if (typed) t.double('TestDuration_s');
    else t.text('TestDuration_s');
  });
}

type TextRow = [serial: string | null, product: string | null, test: string | null, machine: string | null, at: string | null, result: string | null, duration: string | number | null];

async function insertText(db: Knex, table: string, rows: readonly TextRow[]): Promise<void> {
  const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : [undefined, table];
  const values = rows.map(([s, p, t, m, at, r, dur]) => ({
    SerialNum: s, ProductName: p, TestName: t, MachineID: m, TestTimeStamp: at, TestResult: r, TestDuration_s: dur,
  }));
  for (let i = 0; i < values.length; i += 500) await (schema ? db.withSchema(schema).table(name) : db.table(name)).insert(values.slice(i, i + 500));
}

async function rejects(ctx: EtlContext): Promise<{ reason: string; values: Record<string, unknown> }[]> {
  const rows = (await targetTable(ctx, ctx.target, 'etl_rejects').select('reason', 'row_values').orderBy('id')) as { reason: string; row_values: string }[];
  return rows.map((r) => ({ reason: r.reason, values: JSON.parse(r.row_values) as Record<string, unknown> }));
}

describe.each(BACKENDS)('dirty MES rows on %s', (backendName) => {
  let backend: Backend;
  let ctx: EtlContext | undefined;

  beforeEach(async () => {
    backend = await createBackend(backendName);
  });
  afterEach(async () => {
    await ctx?.close();
    ctx = undefined;
    await backend.cleanup();
  });

  it('rejects each new reason and keeps the row that narrowly passes (typed columns)', async () => {
    const hundred = 'P'.repeat(100);
    const table = backend.table('mes_export');
    ctx = await openMigrated(configFor(backend, { source: { testRecords: { table } } }));
    await createTextTable(ctx.source, table, true);
    const at = `${DAY} 07:00:00`;
    await insertText(ctx.source, table, [
      ['OK0', hundred, 'TX', 'M1', at, 'PASS', 10], // exactly 100 characters: valid
      ['LONG', `${hundred}X`, 'TX', 'M1', at, 'PASS', 10], // 101: value_too_long
      ['LONGM', 'P1', 'TX', 'M'.repeat(300), at, 'PASS', 10], // 300: value_too_long, never "value too long" from the database
      ['OKU', 'Ü'.repeat(100), 'TX', 'M1', at, 'PASS', 10], // 100 characters in 200 bytes: valid
      ['LONGU', 'Ü'.repeat(101), 'TX', 'M1', at, 'PASS', 10], // 101 characters: value_too_long
      ['DUR0', 'P1', 'TX', 'M1', at, 'PASS', 0], // a duration of 0: valid
      ['NEG', 'P1', 'TX', 'M1', at, 'PASS', -1], // negative_duration
    ]);
    const r = await runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' });
    // 7 read: OK0, OKU and DUR0 valid; LONG, LONGM, LONGU too long; NEG negative.
    expect(r.rejectsByReason).toEqual({ value_too_long: 3, negative_duration: 1 });
    expect([r.rowsRead, r.rowsValid, r.rowsRejected]).toEqual([7, 3, 4]);
    const prods = await readSummary(ctx, 'summary_prod', 'day', DAY);
    // OK0 and OKU under their 100-character products, DUR0 under P1 (its duration 0 averages with nothing: 0).
    expect(prods.map((p) => [p.product, p.test_count]).sort()).toEqual([
      ['P1', 1],
      [hundred, 1],
      ['Ü'.repeat(100), 1],
    ].sort());
    expect(prods.find((p) => p.product === 'P1')!.avg_duration_pass_s).toBe(0);
  });

  it('trims ASCII whitespace before any comparison and keeps the values as read in etl_rejects', async () => {
    ctx = await openMigrated(configFor(backend));
    await writeTestRecords(ctx, [
      rec('A1', { result: 'FAIL', at: `${DAY} 07:00:00` }),
      // The same serial, test and machine padded with tab, CR, LF and spaces: A1's retest, not a new unit.
      rec('\tA1 ', { test: ' TX\r\n', machine: 'M1\t', result: ' pass\n', at: `${DAY} 07:10:00` }),
      // Blank after trimming: missing_serial; kept untrimmed in etl_rejects.
      rec(' \t\r\n ', { at: `${DAY} 08:00:00` }),
    ]);
    const r = await runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' });
    expect(r.rejectsByReason).toEqual({ missing_serial: 1 });
    // One unit-test A1 × TX: FAIL then PASS → units 1, first pass 0, passed 1, one retest.
    expect((await readSummary(ctx, 'summary_prod_test', 'day', DAY))[0]).toMatchObject({
      test_count: 2, units_tested: 1, first_pass_units: 0, passed_units: 1, retest_count: 1, cumulative_yield: 1,
    });
    expect((await readSummary(ctx, 'summary_machine', 'day', DAY)).map((m) => m.machine)).toEqual(['M1']);
    const [rej] = await rejects(ctx);
    expect(rej).toMatchObject({ reason: 'missing_serial', values: { serial: ' \t\r\n ', product: 'P1', result: 'PASS', duration_s: 10 } });
  });

  it('an MES export typed as text: bad timestamps and durations rejected, the rest counted once, no error code column', async () => {
    const table = backend.table('mes_export');
    ctx = await openMigrated(configFor(backend, { plant: { dayStart: '00:00' }, source: { testRecords: { table } } }));
    await createTextTable(ctx.source, table);
    await insertText(ctx.source, table, [
      ['G1', 'P1', 'TX', 'M1', '2026-11-20 07:00:00', 'PASS', '12.5'], // valid
      ['G2', 'P1', 'TX', 'M1', ' 2026-11-20T08:00 ', 'FAIL', ' 7 '], // valid: ISO 'T', no seconds, padded
      ['G3', 'P1', 'TX', 'M1', '2026-11-20 09:00:00.250', 'PASS', null], // valid, no duration
      ['G4', 'P1', 'TX', 'M1', '2026-11-20 10:00:00', 'PASS', '0'], // valid: 0 s
      ['B1', 'P1', 'TX', 'M1', '2026-11-31 07:00:00', 'PASS', '1'], // bad_timestamp: no 31 November
      ['B2', 'P1', 'TX', 'M1', '2026-11-20 25:61:00', 'PASS', '1'], // bad_timestamp: no 25:61
      ['B3', 'P1', 'TX', 'M1', 'not a date', 'PASS', '1'], // bad_timestamp
      ['B4', 'P1', 'TX', 'M1', '2100-01-01 00:00:00', 'PASS', '1'], // bad_timestamp: outside [1970, 2100)
      ['B5', 'P1', 'TX', 'M1', '   ', 'PASS', '1'], // missing_timestamp: blank
      ['D1', 'P1', 'TX', 'M1', '2026-11-20 11:00:00', 'PASS', 'abc'], // bad_duration
      ['D2', 'P1', 'TX', 'M1', '2026-11-20 11:01:00', 'PASS', '12,5'], // bad_duration: a decimal comma
      ['D3', 'P1', 'TX', 'M1', '2026-11-20 11:02:00', 'PASS', 'NaN'], // bad_duration
      ['D4', 'P1', 'TX', 'M1', '2026-11-20 11:03:00', 'PASS', '-Infinity'], // bad_duration (not negative_duration)
      ['D5', 'P1', 'TX', 'M1', '2026-11-20 11:04:00', 'PASS', '1e999'], // bad_duration: not a finite number
      ['N1', 'P1', 'TX', 'M1', '2026-11-20 11:05:00', 'PASS', '-0.5'], // negative_duration
      ['R1', 'P1', 'TX', 'M1', '2026-11-20 11:06:00', 'maybe', '1'], // bad_result
    ]);
    const r = await runNightlySummary(ctx, { days: ['2026-11-20'], triggeredBy: 'test' });
    expect(r.rejectsByReason).toEqual({ bad_timestamp: 4, missing_timestamp: 1, bad_duration: 5, negative_duration: 1, bad_result: 1 });
    // 16 rows read: 4 valid, 12 rejected; the 5 without a valid timestamp belong to no day.
    expect([r.rowsRead, r.rowsValid, r.rowsRejected]).toEqual([16, 4, 12]);
    // G1..G4: 4 attempts, 3 PASS; durations: PASS 12.5, 0 (G3 has none) → 6.25; FAIL 7.
    expect((await readSummary(ctx, 'summary_prod_test', 'day', '2026-11-20'))[0]).toMatchObject({
      test_count: 4, pass_count: 3, fail_count: 1, units_tested: 4, avg_duration_pass_s: 6.25, avg_duration_fail_s: 7,
    });
    const stored = await rejects(ctx);
    expect(stored).toHaveLength(12);
    expect(stored.find((s) => s.values.serial === 'B2')!.values).toMatchObject({ tested_at: '2026-11-20 25:61:00', duration_s: '1', error_code: null });
    expect(stored.find((s) => s.values.serial === 'D2')).toMatchObject({ reason: 'bad_duration', values: { duration_s: '12,5', tested_at: '2026-11-20 11:01:00' } });
    expect(stored.find((s) => s.values.serial === 'B5')).toMatchObject({ reason: 'missing_timestamp', values: { tested_at: '   ' } });
  });

  it("every accepted form at a day's start lands in its day, however the text sorts, when the run reads from that day", async () => {
    // dayStart 06:00: day 11-19 is [11-19 06:00, 11-20 06:00). On text, '2026-11-20 06:00' sorts before
    // '2026-11-20 06:00:00' and '2026-11-20T05:59:59' after it; a date alone is its midnight.
    const rows: TextRow[] = [
      ['S1', 'P1', 'TX', 'M1', '2026-11-20 06:00', 'PASS', '1'], // 11-20
      ['S2', 'P1', 'TX', 'M1', '2026-11-20T06:00:00', 'PASS', '1'], // 11-20
      ['S3', 'P1', 'TX', 'M1', '2026-11-21', 'PASS', '1'], // 11-21 00:00: still 11-20
      ['S4', 'P1', 'TX', 'M1', '2026-11-20T05:59:59', 'PASS', '1'], // 11-19
      ['S5', 'P1', 'TX', 'M1', '2026-11-20 05:59:59.999', 'PASS', '1'], // 11-19
      ['S6', 'P1', 'TX', 'M1', '2026-11-20', 'PASS', '1'], // 11-20 00:00: 11-19
    ];
    const counts = async (dayStart: string, days: string[][]) => {
      const table = backend.table(`mes_export_${dayStart.slice(0, 2)}`);
      const c = await openMigrated(configFor(backend, { plant: { dayStart }, source: { testRecords: { table } } }));
      try {
        await createTextTable(c.source, table);
        await insertText(c.source, table, rows);
        // The week's earlier days first, so the last run reads from its own day (their parts stand in).
        for (const run of days) await runNightlySummary(c, { days: run, triggeredBy: 'test' });
        const out: Record<string, number> = {};
        for (const day of days.flat()) out[day] = (await readSummary(c, 'summary_prod_test', 'day', day))[0]?.test_count ?? 0;
        return out;
      } finally {
        await c.close();
      }
    };
    expect(await counts('06:00', [['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19'], ['2026-11-20']])).toMatchObject({ '2026-11-19': 3, '2026-11-20': 3 });
    // Days from midnight: day 11-20 holds S1, S2, S4, S5 and S6 (its midnight), not S3.
    const midnight = await counts('00:00', [['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19'], ['2026-11-20']]);
    expect(midnight).toMatchObject({ '2026-11-19': 0, '2026-11-20': 5 });
  });

  it('the earliest valid time, 1970-01-01 00:00, is valid; one second before is not', async () => {
    const table = backend.table('mes_export');
    ctx = await openMigrated(configFor(backend, { plant: { dayStart: '00:00' }, source: { testRecords: { table } } }));
    await createTextTable(ctx.source, table);
    await insertText(ctx.source, table, [
      ['E1', 'P1', 'TX', 'M1', '1970-01-01 00:00:00', 'PASS', '1'],
      ['E0', 'P1', 'TX', 'M1', '1969-12-31 23:59:59', 'PASS', '1'],
    ]);
    const r = await runNightlySummary(ctx, { days: ['1970-01-01'], triggeredBy: 'test' });
    expect(r.rejectsByReason).toEqual({ bad_timestamp: 1 });
    expect((await readSummary(ctx, 'summary_prod', 'day', '1970-01-01'))[0]).toMatchObject({ test_count: 1, load_qty: 1 });
  });

  it('an error-code mapping may be null, omitted without the column, or must exist when named', async () => {
    const table = backend.table('mes_export');
    const rows: TextRow[] = [['S1', 'P1', 'TX', 'M1', '2026-11-20 07:00:00', 'FAIL', '3']];
    ctx = await openMigrated(configFor(backend, { source: { testRecords: { table, columns: { errorCode: null } } } }));
    await createTextTable(ctx.source, table);
    await insertText(ctx.source, table, rows);
    expect((await runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' })).rowsValid).toBe(1);
    await ctx.close();
    ctx = await openMigrated(configFor(backend, { source: { testRecords: { table } } }));
    expect((await runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' })).rowsValid).toBe(1);
    await ctx.close();
    ctx = await openMigrated(configFor(backend, { source: { testRecords: { table, columns: { errorCode: 'FailCode' } } } }));
    await expect(runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' })).rejects.toThrow(
      /has no column for source\.testRecords\.columns\.errorCode = 'FailCode'/,
    );
  });

  it('10,000 dirty rows mixed into good ones: the run succeeds, the good rows give the same summaries, every row counted once', async () => {
    const table = backend.table('mes_export');
    const good: TextRow[] = [];
    for (let i = 0; i < 300; i++) {
      const at = `${DAY} ${String(6 + (i % 12)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00`;
      good.push([`U${i}`, `P${i % 3}`, `T${i % 4}`, `M${i % 5}`, at, i % 7 === 0 ? 'FAIL' : 'PASS', String(5 + (i % 9))]);
    }
    const dirtyKinds: ((i: number) => TextRow)[] = [
      () => [null, 'P1', 'TX', 'M1', `${DAY} 07:00:00`, 'PASS', '1'],
      (i) => [`X${i}`, '  ', 'TX', 'M1', `${DAY} 07:00:00`, 'PASS', '1'],
      (i) => [`X${i}`, 'P1', 'TX', 'M'.repeat(101 + (i % 200)), `${DAY} 07:00:00`, 'PASS', '1'],
      (i) => [`X${i}`, 'P1', 'TX', 'M1', `2026-11-${20 + (i % 9)} 3${i % 10}:00:00`, 'PASS', '1'],
      (i) => [`X${i}`, 'P1', 'TX', 'M1', `garbage ${i}`, 'PASS', '1'],
      (i) => [`X${i}`, 'P1', 'TX', 'M1', `${DAY} 07:00:00`, `R${i % 5}`, '1'],
      (i) => [`X${i}`, 'P1', 'TX', 'M1', `${DAY} 07:00:00`, 'PASS', `${i},5`],
      (i) => [`X${i}`, 'P1', 'TX', 'M1', `${DAY} 07:00:00`, 'FAIL', `-${i}`],
      (i) => [`X${i}`, 'P1', 'TX', 'M1', null, 'PASS', '1'],
      (i) => [`X${i}`, 'P1', 'TX', 'M1', `${DAY} 07:00:00`, 'PASS', 'Infinity'],
    ];
    const dirty = Array.from({ length: 10_000 }, (_, i) => dirtyKinds[i % dirtyKinds.length]!(i));

    ctx = await openMigrated(configFor(backend, { source: { testRecords: { table } } }));
    await createTextTable(ctx.source, table);
    await insertText(ctx.source, table, good);
    await runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' });
    const clean = await Promise.all(['summary_prod_test', 'summary_machine', 'summary_prod'].map((t) => readSummary(ctx!, t, 'day', DAY)));

    await insertText(ctx.source, table, dirty);
    const r = await runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' });
    expect(await Promise.all(['summary_prod_test', 'summary_machine', 'summary_prod'].map((t) => readSummary(ctx!, t, 'day', DAY)))).toEqual(clean);
    // Each of the ten kinds is 1,000 rows; the hour-3x rows are impossible times (30:00..39:00).
    expect(r.rejectsByReason).toEqual({
      missing_serial: 1000, missing_product: 1000, value_too_long: 1000, bad_timestamp: 2000, bad_result: 1000,
      bad_duration: 2000, negative_duration: 1000, missing_timestamp: 1000,
    });
    expect(r.rowsRead).toBe(10_300);
    expect(r.rowsRead).toBe(r.rowsValid + r.rowsRejected);
    expect(r.rowsValid).toBe(300);
    const run = (await targetTable(ctx, ctx.target, 'etl_runs').where('id', r.runId).first()) as { status: string; rows_rejected: number };
    expect(run).toMatchObject({ status: 'succeeded', rows_rejected: 10_000 });
  });
});

describe('non-finite values in typed PostgreSQL columns', () => {
  let backend: Backend;
  let ctx: EtlContext | undefined;
  beforeEach(async () => {
    backend = await createBackend('postgres');
  });
  afterEach(async () => {
    await ctx?.close();
    await backend.cleanup();
  });

  it('NaN and ±Infinity durations are bad_duration, infinity timestamps bad_timestamp; averages stay finite', async () => {
    ctx = await openMigrated(configFor(backend));
    await writeTestRecords(ctx, [rec('OK', { duration: 4 })]);
    const t = backend.table('test_records');
    await ctx.source.raw(
      `INSERT INTO ${t} ("SerialNum", "ProductName", "TestName", "MachineID", "TestTimeStamp", "TestResult", "TestDuration_s") VALUES
        ('N1', 'P1', 'TX', 'M1', '${DAY} 07:00', 'PASS', 'NaN'),
        ('N2', 'P1', 'TX', 'M1', '${DAY} 07:01', 'PASS', 'Infinity'),
        ('N3', 'P1', 'TX', 'M1', '${DAY} 07:02', 'FAIL', '-Infinity'),
        ('T1', 'P1', 'TX', 'M1', 'infinity', 'PASS', 1),
        ('T2', 'P1', 'TX', 'M1', '-infinity', 'PASS', 1),
        ('T3', 'P1', 'TX', 'M1', '1900-01-01', 'PASS', 1)`,
    );
    const r = await runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' });
    expect(r.rejectsByReason).toEqual({ bad_duration: 3, bad_timestamp: 3 });
    expect((await readSummary(ctx, 'summary_prod_test', 'day', DAY))[0]).toMatchObject({ test_count: 1, avg_duration_pass_s: 4, avg_duration_fail_s: null });
    const stored = await rejects(ctx);
    expect(stored.map((s) => s.values.duration_s).slice(0, 3)).toEqual(['NaN', 'Infinity', '-Infinity']);
    expect(stored.filter((s) => s.reason === 'bad_timestamp').map((s) => s.values.tested_at).sort()).toEqual(['-infinity', '1900-01-01 00:00:00', 'infinity']);
  });
});
