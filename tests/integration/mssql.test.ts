/**
 * The nightly summary against a real SQL Server, when MSSQL_URL names one
 * (e.g. mssql://sa:Passw0rd!@127.0.0.1:1433/master?encrypt=false). Without it the suite says it skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend, configFor, openMigrated, readSummary, writeTestRecords, type Backend } from '../support/backends.js';
import { runNightlySummary } from '../../etl/nightly-summary.js';
import { targetTable, type EtlContext } from '../../etl/context.js';

const url = process.env.MSSQL_URL;
if (!url) console.warn('SQL Server integration suite skipped: set MSSQL_URL to run it');

describe.skipIf(!url)('nightly summary on SQL Server (MSSQL_URL)', () => {
  let backend: Backend;
  let ctx: EtlContext;
  beforeAll(async () => {
    backend = await createBackend('mssql');
    ctx = await openMigrated(configFor(backend));
    await writeTestRecords(ctx, [
      { serial: 'A1', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 07:00:00', result: 'FAIL', duration: 10 },
      { serial: 'A1', product: 'P1', test: 'TX', machine: 'M2', at: '2026-11-20 07:10:00', result: 'PASS', duration: 12 },
      { serial: 'A2', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 08:00:00', result: 'PASS', duration: 14 },
      { serial: 'A3', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-21 05:50:00', result: 'FAIL', duration: 20 },
      { serial: 'A3', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-21 06:10:00', result: 'FAIL', duration: null },
      { serial: null, product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 09:00:00', result: 'PASS' },
      { serial: 'A4', product: 'P1', test: 'TX', machine: 'M1', at: null, result: 'PASS' },
    ]);
  });
  afterAll(async () => {
    await ctx?.close();
    await backend?.cleanup();
  });

  it('computes the spec worked example (metrics.md §9)', async () => {
    const r = await runNightlySummary(ctx, { days: ['2026-11-20', '2026-11-21'], triggeredBy: 'test' });
    expect(r.rejectsByReason).toEqual({ missing_serial: 1, missing_timestamp: 1 });
    expect((await readSummary(ctx, 'summary_prod_test', 'day', '2026-11-20'))[0]).toMatchObject({
      test_count: 4, passing_rate: 0.5, units_tested: 3, first_pass_units: 1, first_pass_yield: 1 / 3,
      passed_units: 2, pending_units: 1, cumulative_yield: 2 / 3, retest_count: 2, avg_duration_pass_s: 13, avg_duration_fail_s: 15,
    });
    const machines = await readSummary(ctx, 'summary_machine', 'day', '2026-11-20');
    expect(machines.map((m) => [m.machine, m.test_count, m.units_tested, m.first_pass_yield])).toEqual([
      ['M1', 3, 3, 1 / 3],
      ['M2', 1, 0, null],
    ]);
  });

  it('a rerun gives identical rows and records both runs', async () => {
    const before = await readSummary(ctx, 'summary_prod', 'week', '2026-11-16');
    await runNightlySummary(ctx, { days: ['2026-11-20'], triggeredBy: 'test' });
    expect(await readSummary(ctx, 'summary_prod', 'week', '2026-11-16')).toEqual(before);
    const runs = await targetTable(ctx, ctx.target, 'etl_runs').select('status');
    expect(runs.map((r: any) => r.status)).toEqual(['succeeded', 'succeeded']);
  });
});
