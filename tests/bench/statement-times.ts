/**
 * The nightly summary's statement alone, run RUNS times (default 10) in one process on a benchmark
 * data set, its median and fastest time: what a change to the statement gains, without the run's
 * fixed costs. On PostgreSQL each runs under the run's settings (sql/statement.ts
 * applyAggregateSettings), alternately with JIT turned back on.
 * Usage: node dist/tests/bench/statement-times.js <url> <schema or ''> <first day> <last day> [first day read whole]
 */
import { pino } from 'pino';
import { resolveConfig } from '../../config/load.js';
import { openEtlContext } from '../../etl/context.js';
import { readTestRecordSource, summaryStatement } from '../../etl/nightly-summary.js';
import { dateRange } from '../../etl/periods.js';
import { applyAggregateSettings } from '../../sql/statement.js';

const [url, schema, from, to, readFrom] = process.argv.slice(2) as [string, string, string, string, string | undefined];
if (!url || schema === undefined || !from || !to) {
  console.error('usage: statement-times.js <url> <schema or \'\'> <first day> <last day> [first day read whole]');
  process.exit(2);
}
const table = schema ? `${schema}.test_records` : 'test_records';
const cfg = resolveConfig(
  { plant: { timezone: 'Europe/Berlin', dayStart: '06:00' }, source: { timestamps: 'local', testRecords: { table } }, target: schema ? { schema } : {} },
  { SOURCE_DATABASE_URL: url },
  'bench',
);
const ctx = openEtlContext(cfg, pino({ level: 'silent' }));
try {
  const source = await readTestRecordSource(ctx);
  const { statement } = summaryStatement(ctx, source, dateRange(from, to), readFrom ? { from: readFrom, openEnded: true } : undefined);
  const times: Record<'on' | 'off', number[]> = { on: [], off: [] };
  const postgres = ctx.sourceDialect === 'postgres';
  for (let i = 0; i < Number(process.env.RUNS ?? 10); i++) {
    const jit = postgres && i % 2 === 0 ? 'on' : 'off';
    const t = performance.now();
    if (!postgres) await ctx.source.raw(statement.sql, statement.bindings);
    else {
      await ctx.source.transaction(async (trx) => {
        await applyAggregateSettings(trx, cfg.etl.postgresWorkMem);
        if (jit === 'on') await trx.raw('SET LOCAL jit = on');
        await trx.raw(statement.sql, statement.bindings);
      });
    }
    times[jit].push((performance.now() - t) / 1000);
  }
  const stats = (x: number[]) => {
    const s = [...x].sort((a, b) => a - b);
    return `median ${s[s.length >> 1]!.toFixed(3)} s, fastest ${s[0]!.toFixed(3)} s (${s.length} runs)`;
  };
  console.log(postgres ? `JIT on: ${stats(times.on)}\nJIT off: ${stats(times.off)}` : stats(times.off));
} finally {
  await ctx.close();
}
