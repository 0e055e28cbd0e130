/**
 * One benchmark measurement in a fresh process, so its peak RSS is its own.
 * Usage: node dist/tests/bench/measure.js <case> <json-args>
 * Prints one JSON line: { ms, maxRssMb, rows, check }.
 */
import { resolveConfig } from '../../config/load.js';
import { openEtlContext } from '../../etl/context.js';
import { readTestRecordSource, runNightlySummary, summaryStatement } from '../../etl/nightly-summary.js';
import { postgresPlan } from './explain.js';
import { runProcessFlow } from '../../etl/flow/process-flow-job.js';
import { addDays, periodsForDays, sourceTimestamp, dateRange } from '../../etl/periods.js';
import { DateTime } from 'luxon';
import { quoteTable } from '../../sql/dialect.js';
import { migrate } from '../../sql/migrations.js';
import { pino } from 'pino';
import type { Knex } from 'knex';
import { baselineBindings, baselineQuery } from './baseline-query.js';
import { Job, Queue, QueueEvents } from 'bullmq';
import { startWorker } from '../../jobs/worker.js';
import { redisConnection } from '../../jobs/queues.js';

export interface MeasureArgs {
  url: string;
  schema?: string;
  from: string;
  to: string;
}

/** `scheduled`: the run the schedule makes on the morning after `to` (yesterday and the lookback's chosen days). */
export type CaseName = 'summary' | 'scheduled' | 'baseline' | 'queued' | 'flow' | 'temp';

/** Product × test counts that both ways must agree on, as a canonical string. */
function checkOf(rows: Record<string, unknown>[]): string {
  return rows
    .map((r) => [r.product, r.test, r.test_count, r.pass_count, r.units_tested, r.first_pass_units, r.passed_units, r.scrapped_units, r.retest_count].map((v) => (typeof v === 'string' ? v : Number(v))).join('|'))
    .sort()
    .join('\n');
}

/** BENCH_TRACE=1: each statement's time and its first words on stderr, to see where a run's time goes. */
function traceQueries(dbs: Knex[]): void {
  const started = new Map<string, number>();
  for (const db of dbs) {
    db.on('query', (q: { __knexQueryUid: string }) => started.set(q.__knexQueryUid, performance.now()));
    db.on('query-response', (_r: unknown, q: { __knexQueryUid: string; sql: string }) => {
      const t = started.get(q.__knexQueryUid);
      started.delete(q.__knexQueryUid);
      if (t !== undefined) process.stderr.write(`${(performance.now() - t).toFixed(1).padStart(8)} ms  ${q.sql.replace(/\s+/g, ' ').slice(0, 110)}\n`);
    });
  }
}

async function main(): Promise<void> {
  const [name, json] = process.argv.slice(2) as [CaseName, string];
  const a = JSON.parse(json) as MeasureArgs;
  const table = a.schema ? `${a.schema}.test_records` : 'test_records';
  const cfg = resolveConfig(
    {
      plant: { timezone: 'Europe/Berlin', dayStart: '06:00', shifts: { A: '06:00', B: '14:00', C: '22:00' } },
      // The benchmark data sets have no battery tables: the process flow reads the test records.
      flow: { battery: false },
      source: { timestamps: 'local', testRecords: { table } },
      target: a.schema ? { schema: a.schema } : {},
    },
    { SOURCE_DATABASE_URL: a.url },
    'bench',
  );
  const ctx = openEtlContext(cfg, pino({ level: 'silent' }));
  if (process.env.BENCH_TRACE === '1') traceQueries(ctx.source === ctx.target ? [ctx.source] : [ctx.source, ctx.target]);
  const days = dateRange(a.from, a.to);
  let ms: number;
  let rows = 0;
  let check = '';
  let startLatencyMs: number | undefined;
  let tempMb: number | undefined;
  let daysChosen: number | undefined;
  try {
    if (name === 'queued') {
      // The same summary through Redis: an in-process worker takes the job from its queue.
      await migrate(ctx.target, ctx.targetSchema);
      const prefixed = { ...cfg, runner: { ...cfg.runner, queuePrefix: `yrbench${process.pid}`, catchUp: false } };
      const connection = redisConnection();
      const worker = await startWorker(prefixed, pino({ level: 'silent' }), { connection, housekeeping: false });
      const queue = new Queue('nightly-summary', { connection, prefix: prefixed.runner.queuePrefix });
      const events = new QueueEvents('nightly-summary', { connection, prefix: prefixed.runner.queuePrefix });
      await events.waitUntilReady();
      const t0 = performance.now();
      const job = await queue.add('nightly-summary', { days, triggeredBy: 'bench' });
      const result = (await job.waitUntilFinished(events, 3_600_000)) as { runId: number };
      ms = performance.now() - t0;
      const done = await Job.fromId(queue, job.id!);
      startLatencyMs = done!.processedOn! - done!.timestamp;
      const run = await ctx.target.withSchema(ctx.targetSchema ?? 'public').table('etl_runs').where({ id: result.runId }).first();
      rows = Number(run.rows_read);
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
      await worker.close();
    } else if (name === 'temp') {
      // Temp files of the summary statement on PostgreSQL: EXPLAIN ANALYZE's blocks written (8 kB each),
      // summed over the whole plan at its root; a database-wide counter would count other sessions too.
      const source = await readTestRecordSource(ctx);
      const t0 = performance.now();
      const plan = (await postgresPlan(ctx, summaryStatement(ctx, source, days).statement, true))[0] as [{ Plan: Record<string, number> }];
      ms = performance.now() - t0;
      const root = plan[0].Plan;
      tempMb = ((root['Temp Written Blocks'] ?? 0) * 8) / 1024;
      rows = Number(root['Actual Rows'] ?? 0);
    } else if (name === 'flow') {
      await migrate(ctx.target, ctx.targetSchema);
      const t0 = performance.now();
      const r = await runProcessFlow(ctx, { days, triggeredBy: 'bench' });
      ms = performance.now() - t0;
      rows = r.cases;
    } else if (name === 'summary' || name === 'scheduled') {
      await migrate(ctx.target, ctx.targetSchema);
      const t0 = performance.now();
      const r =
        name === 'scheduled'
          ? await runNightlySummary(ctx, { triggeredBy: 'bench', now: DateTime.fromISO(`${addDays(a.to, 1)}T07:00`, { zone: cfg.plant.timezone }) })
          : await runNightlySummary(ctx, { days, triggeredBy: 'bench' });
      ms = performance.now() - t0;
      rows = r.rowsRead;
      if (name === 'scheduled') daysChosen = r.days.length;
      const q = ctx.targetSchema ? ctx.target.withSchema(ctx.targetSchema).table('summary_prod_test') : ctx.target.table('summary_prod_test');
      if (days.length === 1) check = checkOf(await q.where({ period_type: 'day', period_start: a.from }).select('*'));
    } else {
      // The hand-written query computes one day; a range is that query once per day.
      const clock = { timezone: cfg.plant.timezone, dayStart: cfg.plant.dayStart };
      const sql = baselineQuery(ctx.sourceDialect, quoteTable(ctx.sourceDialect, table));
      const out: Record<string, unknown>[] = [];
      const t0 = performance.now();
      for (const p of periodsForDays(days, clock).filter((x) => x.type === 'day')) {
        const from = sourceTimestamp(p.from, 'local', clock);
        const to = sourceTimestamp(p.to, 'local', clock);
        const history = sourceTimestamp(p.from.minus({ days: cfg.yield.historyDays }), 'local', clock);
        const res = (await ctx.source.raw(sql, baselineBindings(history, from, to))) as unknown;
        out.push(...((Array.isArray(res) ? res : (res as { rows: Record<string, unknown>[] }).rows) as Record<string, unknown>[]));
      }
      ms = performance.now() - t0;
      rows = out.reduce((s, r) => s + Number(r.test_count), 0);
      check = checkOf(out);
    }
  } finally {
    await ctx.close();
  }
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ ms, maxRssMb, rows, check, startLatencyMs, tempMb, daysChosen })}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
