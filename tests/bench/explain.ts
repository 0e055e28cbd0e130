/**
 * The nightly summary statement's plan for a range of days on a benchmark data set: EXPLAIN
 * (ANALYZE, BUFFERS) on PostgreSQL (under the run's settings), EXPLAIN QUERY PLAN on SQLite.
 * Usage: node dist/tests/bench/explain.js '<json MeasureArgs>' [first day read whole, as where the
 * week's earlier days have stored parts]
 */
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { resolveConfig } from '../../config/load.js';
import { openEtlContext } from '../../etl/context.js';
import { readTestRecordSource, summaryStatement } from '../../etl/nightly-summary.js';
import { dateRange } from '../../etl/periods.js';
import type { MeasureArgs } from './measure.js';
import type { EtlContext } from '../../etl/context.js';
import { applyAggregateSettings, type Statement } from '../../sql/statement.js';

/** EXPLAIN (ANALYZE, BUFFERS[, FORMAT JSON]) of a statement on PostgreSQL, under the run's settings, as the driver returns it. */
export async function postgresPlan(ctx: EtlContext, statement: Statement, json = false): Promise<unknown[]> {
  return ctx.source.transaction(async (trx) => {
    await applyAggregateSettings(trx, ctx.config.etl.postgresWorkMem);
    const r = (await trx.raw(`EXPLAIN (ANALYZE, BUFFERS${json ? ', FORMAT JSON' : ''}) ${statement.sql}`, statement.bindings)) as { rows: Record<string, unknown>[] };
    return r.rows.map((x) => x['QUERY PLAN']);
  });
}

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2]!) as MeasureArgs;
  const table = a.schema ? `${a.schema}.test_records` : 'test_records';
  const cfg = resolveConfig(
    { plant: { timezone: 'Europe/Berlin', dayStart: '06:00' }, source: { timestamps: 'local', testRecords: { table } }, target: a.schema ? { schema: a.schema } : {} },
    { SOURCE_DATABASE_URL: a.url },
    'bench',
  );
  const ctx = openEtlContext(cfg, pino({ level: 'silent' }));
  try {
    const source = await readTestRecordSource(ctx);
    const { statement } = summaryStatement(ctx, source, dateRange(a.from, a.to), process.argv[3] ? { from: process.argv[3], openEnded: true } : undefined);
    if (ctx.sourceDialect === 'postgres') {
      console.log((await postgresPlan(ctx, statement)).join('\n'));
    } else {
      const rows = (await ctx.source.raw(`EXPLAIN QUERY PLAN ${statement.sql}`, statement.bindings)) as { id: number; parent: number; detail: string }[];
      const depth = new Map<number, number>([[0, 0]]);
      for (const r of rows) {
        const d = (depth.get(r.parent) ?? 0) + 1;
        depth.set(r.id, d);
        console.log(`${'  '.repeat(d - 1)}${r.detail}`);
      }
    }
  } finally {
    await ctx.close();
  }
}

// Also imported by the benchmark's measurements, which measure PostgreSQL's temp files with it.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
