/**
 * `npm run demo`: the reference data in the embedded default database, every day summarised,
 * and a few headline numbers printed, so a first look needs nothing but Node.
 */
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { openEtlContext, targetTable, type EtlContext } from '../etl/context.js';
import { runNightlySummary, isoDate } from '../etl/nightly-summary.js';
import { addDays } from '../etl/periods.js';
import { migrate } from '../sql/migrations.js';
import { redactUrl } from '../sql/connection.js';
import { generate } from '../data/generate.js';
import { runDailyYieldReport } from '../reports/daily-yield-report.js';
import { mailSettings } from '../reports/mail.js';
import { loadDefectTrace, runDefectTrace } from '../etl/defect-trace.js';
import { rankWinders } from '../etl/lead-indicator.js';
import { describeSpc, runSpc } from '../etl/spc-job.js';
import { runProcessFlow } from '../etl/flow/process-flow-job.js';
import { runLotSampling } from '../etl/sampling/lot-sampling-job.js';
import { listStates } from '../etl/sampling/sampling-state.js';
import { planGeneration, cellLineStream, writeCellQuality } from '../data/generate.js';
import { createSourceTables, nonEmptySourceTables } from '../data/source-tables.js';
import { runCellRisk } from '../etl/risk/cell-risk-job.js';
import { listModels } from '../etl/risk/model-store.js';
import { writeIncomingLots } from '../data/incoming-lots.js';
import { randomBytes } from 'node:crypto';
import { startLoopbackMes } from '../data/loopback-mes.js';
import { mesProductionOrders } from '../data/mes-orders.js';
import { runMesExchange } from '../etl/mes/mes-exchange-job.js';
import { readRisk } from '../etl/mes/risk-store.js';

export const DEMO = { seed: 42, start: '2026-10-12', days: 30 } as const;

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(100 * v).toFixed(2)} %`);

async function hasTestRecords(ctx: EtlContext): Promise<boolean> {
  const table = ctx.config.source.testRecords.table;
  const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : [undefined, table];
  const sb = schema ? ctx.source.schema.withSchema(schema) : ctx.source.schema;
  if (!(await sb.hasTable(name))) return false;
  const q = schema ? ctx.source.withSchema(schema).table(name) : ctx.source.table(name);
  const row = (await q.count({ n: '*' }).first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0) > 0;
}

export async function runDemo(cfg: ResolvedConfig, log: Logger, opts: { rows: number }): Promise<void> {
  const ctx = openEtlContext(cfg, log);
  try {
    console.log(`source: ${redactUrl(cfg.source.url)}   target: ${redactUrl(cfg.target.url)}   plant: ${cfg.plant.name} (${cfg.plant.timezone}, days start ${cfg.plant.dayStart})`);
    if (!(await hasTestRecords(ctx))) {
      const t0 = Date.now();
      console.log(`generating ${opts.rows} test records over ${DEMO.days} days from ${DEMO.start} (seed ${DEMO.seed}) …`);
      const m = await generate(ctx.source, {
        rows: opts.rows,
        seed: DEMO.seed,
        start: DEMO.start,
        days: DEMO.days,
        timezone: cfg.plant.timezone,
        dayStart: cfg.plant.dayStart,
        timestamps: cfg.source.timestamps,
        mapping: cfg.source,
        flowPatterns: true,
        cellQuality: true,
        lots: lotsMapping(cfg),
      });
      console.log(`  ${m.testRecords} test records, ${m.cells} cells, ${m.gapReadings} gap readings in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } else {
      console.log('demo data already present; delete the database file to regenerate it');
    }
    await migrate(ctx.target, ctx.targetSchema);

    const days = Array.from({ length: DEMO.days }, (_, i) => addDays(DEMO.start, i));
    const r = await runNightlySummary(ctx, { days, triggeredBy: 'demo', reason: 'npm run demo' });
    console.log(
      `nightly summary run ${r.runId}: ${r.periods.length} periods, ${r.rowsRead} rows read, ${r.rowsRejected} rejected, ` +
        `${r.duplicatesDropped} duplicates dropped, ${r.rowsWritten} summary rows in ${(r.durationMs / 1000).toFixed(1)} s`,
    );
    await printHeadlines(ctx, days[days.length - 1]!);
    await demoBatteryLine(ctx, days);
    await demoProcessFlow(ctx, days);
    await demoLotSampling(ctx, days);
    await demoCellRisk(ctx, days[days.length - 1]!);
    await demoMesExchange(ctx, days[days.length - 1]!, opts.rows);
    await demoReport(ctx, days[days.length - 1]!);
  } finally {
    await ctx.close();
  }
}

async function printHeadlines(ctx: EtlContext, lastDay: string): Promise<void> {
  const prod = (await targetTable(ctx, ctx.target, 'summary_prod')
    .where({ period_type: 'day', period_start: lastDay })
    .orderBy('product')) as Record<string, any>[];
  console.log(`\nproduct yields on ${lastDay} (rolled first-pass / cumulative, load):`);
  for (const p of prod) {
    console.log(`  ${String(p.product).padEnd(16)} ${pct(p.rolled_first_pass_yield).padStart(9)} ${pct(p.rolled_cumulative_yield).padStart(9)}   load ${p.load_qty}`);
  }
  const worst = (await targetTable(ctx, ctx.target, 'summary_machine')
    .where({ period_type: 'day' })
    .where('test_count', '>=', 50)
    .orderBy('passing_rate', 'asc')
    .limit(3)) as Record<string, any>[];
  console.log('\nlowest passing rates of any station on any day (≥ 50 tests):');
  for (const w of worst) console.log(`  ${String(w.machine).padEnd(16)} ${isoDate(w.period_start)}  ${pct(w.passing_rate)} of ${w.test_count} tests`);
  console.log(`\nresults: tables summary_prod, summary_prod_test, summary_machine, etl_runs, etl_rejects, etl_periods in ${redactUrl(ctx.config.target.url)}`);
}

/**
 * The battery line's jobs: the defect trace of every demo day, and SPC over the window ending with
 * the last day (the limits are frozen from their baselines on the first run). Their findings go into
 * the report's SPC and Defect trace sheets.
 */
async function demoBatteryLine(ctx: EtlContext, days: readonly string[]): Promise<void> {
  const last = days[days.length - 1]!;
  const trace = await runDefectTrace(ctx, { days, triggeredBy: 'demo', reason: 'npm run demo' });
  console.log(`\ndefect trace run ${trace.runId}: ${trace.days.length} days, ${trace.cells} CEF cells (${trace.untracedCells} untraced), ${trace.gapReadings} gap readings`);
  const input = await loadDefectTrace(ctx, last);
  const ranked = rankWinders(input.rows, last, input.settings).filter((w) => w.riseDay);
  for (const w of ranked) {
    const signal = [...w.belowLslDays, ...w.driftDays].sort()[0];
    console.log(`  ${w.winder}: infusion defects rising since ${w.riseDay}${signal ? `, gap ${w.verdict} from ${signal}` : ''}`);
  }
  // Alerts go to .eml files even with SMTP_URL set: the demo's recipients are example addresses.
  const spc = await runSpc(ctx, { days: [last], triggeredBy: 'demo', reason: 'npm run demo', mail: { ...mailSettings(ctx.config, {}), smtpUrl: undefined } });
  console.log(`spc run ${spc.runId}: ${describeSpc(spc).slice(1, 6).join('\n  ')}`);
}

/**
 * The process flow of every demo day, and where the planted patterns show (README "Process flow"):
 * the bottleneck days' rank-1 steps, the hot spot's rework, the skipped-step cases, Friday nights.
 */
async function demoProcessFlow(ctx: EtlContext, days: readonly string[]): Promise<void> {
  const r = await runProcessFlow(ctx, { days, triggeredBy: 'demo', reason: 'npm run demo' });
  console.log(`\nprocess flow run ${r.runId}: ${r.periods.length} periods, ${r.cases} cases in ${(r.durationMs / 1000).toFixed(1)} s`);
  const steps = (await targetTable(ctx, ctx.target, 'summary_flow_steps').where({ period_type: 'day', bottleneck_rank: 1 })) as Record<string, any>[];
  const byDay = new Map<string, Map<string, number>>();
  for (const s of steps) {
    const day = isoDate(s.period_start);
    const counts = byDay.get(day) ?? new Map<string, number>();
    counts.set(s.step, (counts.get(s.step) ?? 0) + 1);
    byDay.set(day, counts);
  }
  const visualDays = [...byDay].filter(([, c]) => (c.get('VISUAL') ?? 0) > [...c.values()].reduce((a, b) => a + b, 0) / 2).map(([d]) => d).sort();
  console.log(`  bottleneck: VISUAL is most products' rank-1 step on ${visualDays.join(', ') || 'no day'}`);
  const spot = (await targetTable(ctx, ctx.target, 'summary_flow_steps')
    .where({ period_type: 'day', product: 'QSFP-DD-400G-DR4', step: 'EYE_MASK' })
    .where('events', '>=', 20)
    .orderBy('rework_rate', 'desc')
    .limit(3)) as Record<string, any>[];
  console.log(`  rework hot spot: QSFP-DD-400G-DR4 at EYE_MASK, highest rework ${spot.map((s) => `${isoDate(s.period_start)} ${pct(s.rework_rate)}`).join(', ')}`);
  const skips = (await targetTable(ctx, ctx.target, 'summary_flow_conformance').where({ period_type: 'day' }).sum({ n: 'skipped_step_cases' }).sum({ all: 'cases' })) as Record<string, any>[];
  console.log(`  route deviation: ${skips[0]?.n ?? 0} of ${skips[0]?.all ?? 0} cases skipped a route step (units passed at EYE_MASK-03 go on without RX_SENS)`);
  const shifts = (await targetTable(ctx, ctx.target, 'summary_flow_shifts').where({ period_type: 'day', shift: 'C', weekday: 5 }).avg({ w: 'median_wait_in_s' })) as Record<string, any>[];
  const others = (await targetTable(ctx, ctx.target, 'summary_flow_shifts').where({ period_type: 'day', shift: 'C' }).whereNot({ weekday: 5 }).avg({ w: 'median_wait_in_s' })) as Record<string, any>[];
  console.log(`  shift effect: Friday night shifts wait ${(Number(shifts[0]?.w ?? 0) / 60).toFixed(1)} min before a step (median, averaged), other nights ${(Number(others[0]?.w ?? 0) / 60).toFixed(1)} min`);
}

function lotsMapping(cfg: ResolvedConfig) {
  const lots = cfg.sampling.lots;
  return lots.table ? { table: lots.table, columns: lots.columns } : undefined;
}

/**
 * Lot acceptance sampling of every demo day (README "Lot sampling"). A demo database generated
 * before the lots existed gets them now, from the same seed (the cell lots from the same cells).
 */
async function demoLotSampling(ctx: EtlContext, days: readonly string[]): Promise<void> {
  const mapping = lotsMapping(ctx.config);
  if (!mapping) return;
  const [schema, name] = mapping.table.includes('.') ? (mapping.table.split('.') as [string, string]) : [undefined, mapping.table];
  const sb = schema ? ctx.source.schema.withSchema(schema) : ctx.source.schema;
  if (!(await sb.hasTable(name))) {
    const c = ctx.config;
    const plan = planGeneration({ rows: 0, seed: DEMO.seed, start: DEMO.start, days: DEMO.days, timezone: c.plant.timezone, dayStart: c.plant.dayStart, timestamps: c.source.timestamps, flowPatterns: true });
    const m = await writeIncomingLots(ctx.source, mapping, plan, cellLineStream(plan).days);
    console.log(`\nwrote ${m.lots} inspected lots into ${mapping.table}`);
  }
  // Alerts go to .eml files even with SMTP_URL set: the demo's recipients are example addresses.
  const r = await runLotSampling(ctx, { days, triggeredBy: 'demo', reason: 'npm run demo', mail: { ...mailSettings(ctx.config, {}), smtpUrl: undefined } });
  const b = r.byDecision;
  console.log(`\nlot sampling run ${r.runId}: ${r.lots} lots, ${b.accept} accepted, ${b.reject} rejected, ${b.sample_too_small} sample too small`);
  const bySupplier = new Map<string, number>();
  for (const l of r.rejected) if (l.supplier) bySupplier.set(`${l.supplier} (${l.product})`, (bySupplier.get(`${l.supplier} (${l.product})`) ?? 0) + 1);
  const worst = [...bySupplier].sort((a, b2) => b2[1] - a[1]).slice(0, 3);
  console.log(`  rejected material lots by supplier: ${worst.map(([s, n]) => `${s} ${n}`).join(', ') || 'none'}`);
  for (const c of r.changes.filter((x) => x.to === 'discontinued')) console.log(`  ${c.product} / ${c.inspectionClass}: discontinued on ${c.day} after lot ${c.lotId}`);
  const states = await listStates(ctx);
  const notNormal = states.filter((s) => s.state !== 'normal');
  console.log(`  inspection states now: ${notNormal.map((s) => `${s.product} / ${s.inspectionClass} ${s.state}`).join(', ') || 'all normal'}`);
}

/**
 * The cell risk of the last demo day (README "Cell risk"): a model fitted on the cells with known
 * outcomes, evaluated on the held-out days, the day's cells scored. A demo database generated
 * before the cell-quality tables existed gets them now, from the same seed.
 */
async function demoCellRisk(ctx: EtlContext, day: string): Promise<void> {
  const c = ctx.config;
  await createSourceTables(ctx.source, c.source, { assembly: true, cellQuality: true });
  const filled = await nonEmptySourceTables(ctx.source, c.source, { assembly: true, cellQuality: true });
  if (!filled.includes(c.source.formation.table)) {
    const plan = planGeneration({ rows: 0, seed: DEMO.seed, start: DEMO.start, days: DEMO.days, timezone: c.plant.timezone, dayStart: c.plant.dayStart, timestamps: c.source.timestamps, flowPatterns: true });
    const m = await writeCellQuality(ctx.source, c.source, plan);
    console.log(`
wrote ${m.formation} formation rows, ${m.oqc} OQC results and ${m.outcomes} failed-cell outcomes`);
  }
  const r = await runCellRisk(ctx, { days: [day], triggeredBy: 'demo', reason: 'npm run demo' });
  const d = r.perDay[0]!;
  const [m] = await listModels(ctx);
  console.log(`
cell risk run ${r.runId}: ${d.cells} cells aged on ${day} scored with model version ${d.modelVersion}; ${d.highRisk} high risk (short-term test recommended)`);
  if (m) {
    const per = (f: string) => m.columns.find((x) => x.feature === f && x.level === undefined)?.perUnit;
    const gap = per('gap_mm');
    const k = per('k_value');
    console.log(`  model: trained on ${m.nTrain} cells aged ${m.train.from} … ${m.train.to}, held out ${m.test.from} … ${m.test.to}: AUC ${m.auc?.toFixed(3) ?? '–'}`);
    console.log(`  log-odds per mm of gap ${gap?.coefficient.toFixed(1) ?? '–'} (planted −14), per mV/day of K-value ${k?.coefficient.toFixed(2) ?? '–'} (planted 1.1)`);
  }
  console.log(`  most high-risk cells per lot: ${d.highRiskByLot.slice(0, 5).map((l) => `${l.lotId} ${l.cells}`).join(', ') || 'none'}; table cell_risk, models in risk_models`);
}

/**
 * The MES exchange against an MES the demo starts on 127.0.0.1 (data/loopback-mes.ts) serving the
 * generator's production orders (data/mes-orders.ts), never against a configured mes.url: the
 * demo's results are made up. Its orders and their delivery risk then show in the report.
 */
async function demoMesExchange(ctx: EtlContext, day: string, rows: number): Promise<void> {
  const token = randomBytes(16).toString('hex');
  const mes = await startLoopbackMes({ orders: mesProductionOrders({ seed: DEMO.seed, rows, start: DEMO.start, days: DEMO.days }), token });
  try {
    const demoCtx: EtlContext = { ...ctx, config: { ...ctx.config, mes: { ...ctx.config.mes, enabled: true, url: mes.url, token } } };
    const r = await runMesExchange(demoCtx, { days: [day], triggeredBy: 'demo', reason: 'npm run demo', client: { url: mes.url, token, timeoutMs: ctx.config.mes.timeoutMs } });
    const risk = await readRisk(ctx, day);
    console.log(`
MES exchange run ${r.runId} against the demo's MES at ${mes.url}: ${r.pull?.orders ?? 0} production orders pulled, ${risk.length} open`);
    for (const o of risk.filter((x) => x.atRisk)) {
      console.log(`  at risk: ${o.orderId} ${o.product}, due ${o.dueDate}: ${Math.round(o.projectedGood)} of ${o.quantity} good units projected (${Math.round(o.goodSoFar)} so far, ${o.ratePerDay.toFixed(1)} a day)`);
    }
    console.log(`  pushed: ${r.queued.queued + r.queued.updated} new result(s), ${r.pushes.acknowledged} acknowledged, ${r.queued.unchanged} acknowledged by an earlier run and not sent again; tables mes_orders, mes_order_risk, mes_outbox`);
  } finally {
    await mes.close();
  }
}

/** The daily yield report for the last demo day: the workbook under reports.outDir, the email as an .eml file. */
async function demoReport(ctx: EtlContext, day: string): Promise<void> {
  // Never mailed, even with SMTP_URL set: the demo's recipients are example addresses.
  const mail = { ...mailSettings(ctx.config, {}), smtpUrl: undefined };
  const r = await runDailyYieldReport(ctx, { days: [day], triggeredBy: 'demo', reason: 'npm run demo', mail });
  const d = r.days[0]!;
  console.log(`
daily yield report for ${day}: ${d.subject ?? d.kind}`);
  if (d.outcome !== 'sent') console.log(`  written by an earlier demo run (report_deliveries ${d.deliveryId}); yieldrun run daily-yield-report --date ${day} --resend writes it again`);
  console.log(`  workbook  ${d.workbook ?? '–'}`);
  console.log(`  email     ${d.location ?? '–'}`);
}
