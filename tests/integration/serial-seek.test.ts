/**
 * The history of a batch's serials read by seeking an index on the serial column
 * (sql/valid-attempts.ts readRows): which indexes qualify (sql/source-check.ts serialSeekIndex),
 * that the plan seeks by it, and that it reads exactly the rows the scan of the history window reads,
 * padded serials included. Every suite runs on SQLite and on PostgreSQL; answers worked out by hand.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { createBackend, configFor, openMigrated, readSummary, writeTestRecords, type Backend, type TestRecord } from '../support/backends.js';
import { readTestRecordSource, runNightlySummary, summaryStatement } from '../../etl/nightly-summary.js';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { serialSeekIndex } from '../../sql/source-check.js';
import { applyAggregateSettings } from '../../sql/statement.js';

const BACKENDS = ['sqlite', 'postgres'] as const;
const DAY = '2026-11-10'; // a Tuesday; its week's Monday has no stored parts, so the run reads from 11-09 06:00

function rec(serial: string | null, at: string, result: string, extra: Partial<TestRecord> = {}): TestRecord {
  return { serial, product: 'P1', test: 'TX', machine: 'M1', at, result, duration: 10, ...extra };
}

describe.each(BACKENDS)('the serials\' history sought by the serial index on %s', (backendName) => {
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

  const TABLE = 'test_records';
  const schemaOf = (db: Knex) => (backend.schema ? db.schema.withSchema(backend.schema) : db.schema);

  it('qualifies only a plain B-tree index in byte order whose first key is the serial column', async () => {
    ctx = await openMigrated(configFor(backend));
    await writeTestRecords(ctx, []);
    const table = backend.table(TABLE);
    const db = ctx.source;
    expect(await serialSeekIndex(db, table, 'SerialNum')).toBeNull();
    // Indexes that cannot serve the seek: on the timestamp, the serial second, partial, not in byte order.
    await schemaOf(db).alterTable(TABLE, (t) => {
      t.index(['TestTimeStamp'], 'ix_sk_time');
      t.index(['TestTimeStamp', 'SerialNum'], 'ix_sk_time_serial');
    });
    const q = (name: string) => (backend.schema ? `"${backend.schema}"."${name}"` : `"${name}"`);
    await db.raw(`CREATE INDEX ix_sk_partial ON ${q(TABLE)} ("SerialNum") WHERE "TestResult" = 'FAIL'`);
    if (backendName === 'sqlite') {
      await db.raw(`CREATE INDEX ix_sk_nocase ON ${q(TABLE)} ("SerialNum" COLLATE NOCASE)`);
      await db.raw(`CREATE INDEX ix_sk_expr ON ${q(TABLE)} (trim("SerialNum"))`);
    } else {
      await db.raw(`CREATE INDEX ix_sk_pattern ON ${q(TABLE)} ("SerialNum" varchar_pattern_ops)`);
      await db.raw(`CREATE INDEX ix_sk_expr ON ${q(TABLE)} (btrim("SerialNum"))`);
      // An ICU collation orders by language rules, not bytes (Debian's PostgreSQL is built with ICU).
      await db.raw(`CREATE INDEX ix_sk_icu ON ${q(TABLE)} ("SerialNum" COLLATE "und-x-icu")`);
    }
    expect(await serialSeekIndex(db, table, 'SerialNum')).toBeNull();
    // The serial first, alone or with the timestamp after it: either serves.
    await schemaOf(db).alterTable(TABLE, (t) => t.index(['SerialNum', 'TestTimeStamp'], 'ix_sk_serial_time'));
    expect(await serialSeekIndex(db, table, 'SerialNum')).toBe('ix_sk_serial_time');
    expect((await readTestRecordSource(ctx)).serialIndex).toBe('ix_sk_serial_time');
    // A serial column of a numeric type: SQLite would compare the serials as numbers, PostgreSQL
    // has no text order for it; the history window is scanned.
    await schemaOf(db).createTable('numbered_records', (t) => {
      t.integer('SerialNum');
      t.text('TestTimeStamp');
      t.index(['SerialNum'], 'ix_sk_numbered');
    });
    expect(await serialSeekIndex(db, backend.table('numbered_records'), 'SerialNum')).toBeNull();
  });

  it('reads the same rows as the scan of the history window: serials padded with blanks, not those that only begin alike', async () => {
    // History a week before (11-03, inside the 30 history days), each serial as an MES may have written it.
    const history: TestRecord[] = [
      rec(' A1', '2026-11-03 07:00:00', 'FAIL'), // a leading blank: trims to A1
      rec('A1 ', '2026-11-03 08:00:00', 'FAIL'), // a trailing blank: A1's attempt 2
      rec('A2\t', '2026-11-03 07:00:00', 'PASS'), // A2 passed on 11-03
      rec('\nA3\r', '2026-11-03 07:00:00', 'FAIL', { test: 'RX' }), // A3 / RX attempt 1
      rec('A4', '2026-11-03 07:00:00', 'PASS', { product: 'P2' }), // A4 is a P2 unit
      rec('A1\u0001', '2026-11-03 07:00:00', 'FAIL'), // a control character is no blank: another unit
      rec('A1!', '2026-11-03 07:00:00', 'FAIL'), // begins like A1: another unit
      rec('A10', '2026-11-03 07:00:00', 'FAIL'),
    ];
    const day: TestRecord[] = [
      rec('A1', `${DAY} 07:00:00`, 'PASS'), // A1's attempt 3: passed, in 11-03's cohort
      rec('A2', `${DAY} 07:00:00`, 'FAIL'), // after A2's PASS: an excess attempt
      rec('A3', `${DAY} 07:00:00`, 'PASS', { test: 'RX' }), // A3 / RX attempt 2, 11-03's cohort
      rec('A4', `${DAY} 07:00:00`, 'PASS'), // names P1: conflicting_product
      rec('A5', `${DAY} 07:00:00`, 'PASS'), // a new unit, first pass
      rec('A1\u0001', `${DAY} 08:00:00`, 'PASS'), // its own unit: attempt 2 after its FAIL
    ];
    ctx = await openMigrated(configFor(backend));
    await writeTestRecords(ctx, [...history, ...day]);
    if (backendName === 'sqlite') {
      // SQLite keeps a blob as a blob in a text column; it sorts after all text and trims to its text.
      await ctx.source.table(TABLE).insert([
        { SerialNum: Buffer.from('B5 '), ProductName: 'P1', TestName: 'TX', MachineID: 'M1', TestTimeStamp: '2026-11-03 07:00:00', TestResult: 'FAIL', TestDuration_s: 10 },
        { SerialNum: 'B5', ProductName: 'P1', TestName: 'TX', MachineID: 'M1', TestTimeStamp: `${DAY} 07:00:00`, TestResult: 'PASS', TestDuration_s: 10 },
      ]);
    }
    const snapshot = async () => {
      const out: Record<string, unknown> = {};
      for (const table of ['summary_prod_test', 'summary_machine', 'summary_prod', 'etl_periods']) out[table] = await readSummary(ctx!, table, 'day', DAY);
      out.rejects = ((await targetTable(ctx!, ctx!.target, 'etl_rejects').select('reason', 'row_values').orderBy('id')) as { reason: string; row_values: unknown }[]).map((r) => ({
        reason: r.reason,
        row: typeof r.row_values === 'string' ? JSON.parse(r.row_values) : r.row_values,
      }));
      return out;
    };
    // By hand, the day's P1 / TX: tests A1 PASS, A2 FAIL, A5 PASS, A1\u0001 PASS (and SQLite's B5 PASS,
    // its attempt 2); the day's cohort A5 only (the others began on 11-03), first pass; A2's FAIL excess;
    // P1 / RX: A3's PASS, no unit of the day; A4 rejected.
    const expectByHand = (s: Record<string, any>) => {
      const extra = backendName === 'sqlite' ? 1 : 0;
      expect(s.summary_prod_test.find((r: any) => r.test === 'TX')).toMatchObject({ test_count: 4 + extra, pass_count: 3 + extra, fail_count: 1, units_tested: 1, first_pass_units: 1, passed_units: 1, retest_count: 0 });
      expect(s.summary_prod_test.find((r: any) => r.test === 'RX')).toMatchObject({ test_count: 1, pass_count: 1, units_tested: 0 });
      expect(s.etl_periods[0]).toMatchObject({ rows_read: 6 + extra, rows_rejected: 1, excess_attempts: 1 });
      expect(s.rejects).toEqual([{ reason: 'conflicting_product', row: expect.objectContaining({ serial: 'A4', product: 'P1' }) }]);
    };

    const source = await readTestRecordSource(ctx);
    expect(source.serialIndex).toBeNull();
    await runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' });
    const scanned = await snapshot();
    expectByHand(scanned);

    await schemaOf(ctx.source).alterTable(TABLE, (t) => t.index(['SerialNum'], 'ix_sk_serial'));
    if (backendName === 'postgres') await ctx.source.raw(`ANALYZE "${backend.schema}"."${TABLE}"`);
    const indexed = await readTestRecordSource(ctx);
    expect(indexed.serialIndex).toBe('ix_sk_serial');
    // The plan seeks the serials by that index.
    const { statement } = summaryStatement(ctx, indexed, [DAY], { from: '2026-11-09', openEnded: true });
    const plan =
      backendName === 'sqlite'
        ? ((await ctx.source.raw(`EXPLAIN QUERY PLAN ${statement.sql}`, statement.bindings)) as { detail: string }[]).map((r) => r.detail).join('\n')
        : await ctx.source.transaction(async (trx) => {
            await applyAggregateSettings(trx, ctx!.config.etl.postgresWorkMem);
            await trx.raw('SET LOCAL enable_seqscan = off');
            const r = (await trx.raw(`EXPLAIN ${statement.sql}`, statement.bindings)) as { rows: { 'QUERY PLAN': string }[] };
            return r.rows.map((x) => x['QUERY PLAN']).join('\n');
          });
    expect(plan).toContain(backendName === 'sqlite' ? 'USING INDEX ix_sk_serial (SerialNum>? AND SerialNum<?)' : 'Index Scan using ix_sk_serial');
    await runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' });
    expect(await snapshot()).toEqual(scanned);
  });
});
