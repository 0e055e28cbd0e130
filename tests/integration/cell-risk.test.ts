/**
 * The cell-risk job on the generator's data with the planted failure risk (data/cell-quality.ts:
 * low separator–anode gap and high K-value raise the odds), on a real SQLite file and PostgreSQL:
 * the fitted model finds the planted signs, separates failures on the held-out days, scores the
 * day's cells deterministically, keeps retired versions; its high-risk cells pushed to a loopback
 * MES as the MES exchange sends them; the Cell risk sheet and email paragraph read back.
 *
 * Demo range 2026-10-12 … 2026-11-10 (30 days, seed 42), plant Europe/Berlin, day start 06:00. For
 * D = 2026-11-10 with the default windows (outcomes after 7 days, 5 held out, 14 training):
 * labelled up to 11-03, held out 10-30 … 11-03, training 10-16 … 10-29.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend, configFor, openMigrated, type Backend } from '../support/backends.js';
import { startTestMes, schemaValidator } from '../support/mes-server.js';
import { resolveConfig } from '../../config/load.js';
import { openEtlContext, targetTable, type EtlContext } from '../../etl/context.js';
import { generate, type GenerateManifest } from '../../data/generate.js';
import { runCellRisk } from '../../etl/risk/cell-risk-job.js';
import { listModels, readScores } from '../../etl/risk/model-store.js';
import { HIGH_RISK, SAFE } from '../../etl/risk/features.js';
import { dayStartInstant, sourceTimestamp } from '../../etl/periods.js';
import { runMesExchange } from '../../etl/mes/mes-exchange-job.js';
import { pushesOf } from '../../etl/mes/outbox.js';
import { silentLog } from '../support/backends.js';
import { cellRiskSection } from '../../reports/daily-yield-sections.js';
import { writeAndReadBack } from '../support/xlsx.js';

const START = '2026-10-12';
const D = '2026-11-10';
const TOKEN = 'test-mes-token-0123456789';

const stripRun = (rows: Record<string, unknown>[]) => rows.map(({ run_id: _r, computed_at: _c, ...r }) => r);

for (const name of ['sqlite', 'postgres'] as const) {
  describe(`cell risk on ${name}`, () => {
    let backend: Backend;
    let ctx: EtlContext;
    let manifest: GenerateManifest;
    const t = (n: string) => backend.table(n);

    beforeAll(async () => {
      backend = await createBackend(name);
      ctx = await openMigrated(
        configFor(backend, {
          source: {
            assembly: { table: t('asb_data') },
            winding: { table: t('wnd_data') },
            inspection: { table: t('isp_ifo_h') },
            formation: { table: t('fmt_data') },
            oqc: { table: t('oqc_data') },
            outcome: { table: t('cell_outcome') },
          },
        }),
      );
      const c = ctx.config;
      manifest = await generate(ctx.source, { rows: 0, seed: 42, start: START, days: 30, timezone: c.plant.timezone, dayStart: c.plant.dayStart, timestamps: c.source.timestamps, mapping: c.source, cellQuality: true });
    }, 120_000);

    afterAll(async () => {
      await ctx?.close();
      await backend?.cleanup();
    });

    it('the generator wrote a formation row per aged cell and the planted coefficients', () => {
      expect(manifest.cellQuality).toMatchObject({ planted: { gapPerMm: -14, kPerMvDay: 1.1 }, outcomeWithinDays: 6 });
      expect(manifest.cellQuality!.formation).toBeGreaterThan(50_000);
      expect(manifest.cellQuality!.outcomes).toBeGreaterThan(1_000);
    });

    it('without a model and too few labelled cells, the run fails saying what is missing, and is recorded as failed', async () => {
      // 2026-10-14: labelled up to 10-07, held out 10-03 … 10-07, training 09-19 … 10-02: before any cell was aged.
      await expect(runCellRisk(ctx, { days: ['2026-10-14'], triggeredBy: 'test' })).rejects.toThrow(
        /cell risk 2026-10-14: no model to score with and none can be fitted: 0 cell\(s\) with a known outcome aged 2026-09-19 … 2026-10-02, fewer than risk\.minTrainingCells 200/,
      );
      const run = await targetTable(ctx, ctx.target, 'etl_runs').where({ job: 'cell-risk' }).orderBy('id', 'desc').first();
      expect(run).toMatchObject({ status: 'failed' });
      expect(await listModels(ctx)).toEqual([]);
    }, 60_000);

    it('fits version 1 with the planted signs (low gap and high K-value raise the risk) and an AUC well above 0.5 on the held-out days', async () => {
      const r = await runCellRisk(ctx, { days: [D], triggeredBy: 'test' });
      const day = r.perDay[0]!;
      expect(day.fitted).toMatchObject({ version: 1, train: { from: '2026-10-16', to: '2026-10-29' }, test: { from: '2026-10-30', to: '2026-11-03' } });
      expect(day.fitted!.auc!).toBeGreaterThan(0.7);
      const [m] = await listModels(ctx);
      expect(m).toMatchObject({ version: 1, status: 'active', fitDay: D, threshold: 75, nTrain: day.fitted!.train.cells, positivesTest: day.fitted!.test.failures });
      const coef = (feature: string) => m!.columns.find((c) => c.feature === feature && c.level === undefined)!;
      expect(coef('gap_mm').coefficient).toBeLessThan(0);
      expect(coef('k_value').coefficient).toBeGreaterThan(0);
      // Per unit near the planted −14 per mm and 1.1 per mV/day, each many standard errors from 0.
      expect(coef('gap_mm').perUnit!.coefficient).toBeLessThan(-8);
      expect(coef('gap_mm').perUnit!.coefficient / coef('gap_mm').perUnit!.se).toBeLessThan(-5);
      expect(coef('k_value').perUnit!.coefficient).toBeGreaterThan(0.5);
      expect(m!.calibration).toHaveLength(10);
      expect(m!.calibration.reduce((a, b) => a + b.cells, 0)).toBe(m!.nTest);
      expect(m!.roc[0]).toEqual({ threshold: Number.POSITIVE_INFINITY, fpr: 0, tpr: 0 });
      // The cells aged on D, counted in the source independently of the job.
      const from = sourceTimestamp(dayStartInstant(D, ctx.clock), 'local', ctx.clock);
      const to = sourceTimestamp(dayStartInstant('2026-11-11', ctx.clock), 'local', ctx.clock);
      const q = backend.schema ? ctx.source.withSchema(backend.schema).table('fmt_data') : ctx.source.table('fmt_data');
      const n = Number(((await q.where('fmt_dt', '>=', from).andWhere('fmt_dt', '<', to).count({ n: '*' }).first()) as { n: unknown }).n);
      expect(n).toBeGreaterThan(1_000);
      const scores = await readScores(ctx, D);
      expect(scores).toHaveLength(n);
      expect(day).toMatchObject({ cells: n, modelVersion: 1 });
      for (const s of scores) {
        expect(s.score).toBeGreaterThanOrEqual(0);
        expect(s.score).toBeLessThanOrEqual(100);
        expect(s.class).toBe(s.score >= 75 ? HIGH_RISK : SAFE);
        expect(s.model_version).toBe(1);
      }
      const high = scores.filter((s) => s.class === HIGH_RISK);
      expect(high.length).toBe(day.highRisk);
      expect(high.length).toBeGreaterThan(0);
      // Most high-risk cells come from the drifted winders (the others have a high K-value), and
      // what raised their scores most is the gap or the K-value.
      expect(high.filter((s) => s.winder === 'WND03' || s.winder === 'WND07').length / high.length).toBeGreaterThan(0.5);
      for (const s of high) expect(['gap_mm', 'k_value']).toContain((JSON.parse(s.top_features) as { feature: string }[])[0]!.feature);
      const top = JSON.parse(high[0]!.top_features) as { feature: string; value: unknown; contribution: number }[];
      expect(top).toHaveLength(3);
      expect(top.map((f) => f.feature)).toContain('gap_mm');
      expect(top[0]!.contribution).toBeGreaterThanOrEqual(top[1]!.contribution);
      expect(day.highRiskByLot.reduce((a, l) => a + l.cells, 0)).toBe(high.length);
    }, 120_000);

    it('scoring the day again gives identical rows with the same version (no refit within refitEveryDays)', async () => {
      const rows = async () => stripRun((await targetTable(ctx, ctx.target, 'cell_risk').where({ day: D }).orderBy('cell_id')) as Record<string, unknown>[]);
      const before = await rows();
      const r = await runCellRisk(ctx, { days: [D], triggeredBy: 'test' });
      expect(r.perDay[0]).toMatchObject({ fitted: null, modelVersion: 1 });
      expect(await rows()).toEqual(before);
    }, 120_000);

    it('a refit stores version 2 and keeps version 1 retired; a refit with too few cells keeps the active version and says why', async () => {
      const r = await runCellRisk(ctx, { days: [D], triggeredBy: 'test', refit: true });
      expect(r.perDay[0]).toMatchObject({ fitted: { version: 2 }, modelVersion: 2 });
      const models = await listModels(ctx);
      expect(models.map((m) => `${m.version} ${m.status}`)).toEqual(['2 active', '1 retired']);
      // The same cells and settings: the same coefficients.
      expect(models[0]!.columns).toEqual(models[1]!.columns);
      const strict = openEtlContext(resolveConfig({ ...rawOf(ctx), risk: { minTrainingCells: 1_000_000 } }, { SOURCE_DATABASE_URL: backend.url }, 'test'), silentLog);
      try {
        const kept = await runCellRisk(strict, { days: [D], triggeredBy: 'test', refit: true });
        expect(kept.perDay[0]!.notRefitted).toMatch(/^kept version 2: \d+ cell\(s\) with a known outcome aged 2026-10-16 … 2026-10-29, fewer than risk\.minTrainingCells 1000000$/);
        expect(kept.perDay[0]!.modelVersion).toBe(2);
      } finally {
        await strict.close();
      }
      expect((await listModels(ctx)).length).toBe(2);
    }, 120_000);

    it("the MES exchange pushes the job's own high-risk cells, one message each, as documented", async () => {
      const mes = await startTestMes({ orders: [], token: TOKEN });
      const out = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-risk-mes-'));
      const c = openEtlContext(
        resolveConfig({ ...rawOf(ctx), mail: { outDir: out }, mes: { enabled: true, url: mes.url, push: ['cell-risk'], retries: 0 } }, { SOURCE_DATABASE_URL: backend.url, MES_TOKEN: TOKEN }, 'test'),
        silentLog,
      );
      try {
        const r = await runMesExchange(c, { days: [D], triggeredBy: 'test' });
        const high = (await readScores(ctx, D)).filter((s) => s.score >= 75);
        expect(r.perDay[0]).toMatchObject({ results: high.length, skipped: [] });
        const bodies = (await pushesOf(c)).map((p) => JSON.parse(p.payload));
        expect(bodies.map((b) => b.entity).sort()).toEqual(high.map((s) => s.cell_id).sort());
        for (const b of bodies) expect(schemaValidator('QualityResult')(b)).toEqual([]);
        const first = bodies.find((b) => b.entity === high[0]!.cell_id);
        expect(first).toMatchObject({ kind: 'cell-risk', day: D, disposition: 'hold', materialSublot: { id: high[0]!.cell_id }, riskModel: { version: '2', class: HIGH_RISK } });
        expect(first.riskModel.topFeatures).toEqual(JSON.parse(high[0]!.top_features));
        expect(first.testResults).toEqual([{ name: 'risk_score', value: high[0]!.score, unit: 'score 0-100', spec: { upper: 75 }, disposition: 'hold' }]);
        expect(mes.results.size).toBe(high.length);
      } finally {
        await c.close();
        await mes.close();
        rmSync(out, { recursive: true, force: true });
      }
    }, 120_000);

    it('the Cell risk sheet lists the cells highest first with their top features, the model and its coefficients, two pictures; the email counts high-risk cells per lot', async () => {
      const scores = await readScores(ctx, D);
      const high = scores.filter((s) => s.class === HIGH_RISK);
      const section = (await cellRiskSection(ctx, D))!;
      expect(section.stats).toEqual({ riskCells: scores.length, riskHigh: high.length, riskModelVersion: 2 });
      const book = await writeAndReadBack((b) => section.sheet.write(b));
      const ws = book.getWorksheet('Cell risk')!;
      const values = ws.getSheetValues() as unknown[][];
      expect(String(values[1]![1])).toMatch(new RegExp(`^Cell risk on ${D}: ${scores.length} cell\\(s\\) aged on the day, ${high.length} at or above 75 \\(short-term test recommended\\); model version 2, held-out AUC 0\\.\\d{3}$`));
      const header = values.findIndex((row) => Array.isArray(row) && row[1] === 'Cell');
      expect(values[header]!.slice(1, 8)).toEqual(['Cell', 'Lot', 'Winder', 'Score', 'Class', 'Feature 1', 'Contribution 1']);
      const first = values[header + 1]!;
      const top = JSON.parse(high[0]!.top_features) as { feature: string; value: unknown; contribution: number }[];
      expect(first.slice(1, 6)).toEqual([high[0]!.cell_id, high[0]!.lot_id, high[0]!.winder, high[0]!.score, HIGH_RISK]);
      expect(first.slice(6, 8)).toEqual([`${top[0]!.feature} = ${top[0]!.value}`, top[0]!.contribution]);
      expect(values[header + high.length + 1]![5]).toBe('safe for all usage');
      const flat = values.flat().filter((v) => v !== undefined && v !== null).map(String);
      expect(flat).toContain('Model version 2');
      expect(flat).toContain('Coefficients with standard errors');
      const gapRow = values.find((row) => Array.isArray(row) && row[1] === 'gap_mm')!;
      expect(Number(gapRow[2])).toBeLessThan(0);
      expect(Number(gapRow[5])).toBeLessThan(-8);
      expect(ws.getImages()).toHaveLength(2);
      const byLot = new Map<string, number>();
      for (const h of high) byLot.set(h.lot_id!, (byLot.get(h.lot_id!) ?? 0) + 1);
      const lots = [...byLot].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      const listed = lots.slice(0, 10).map(([l, n]) => `${l} ${n}`).join(', ');
      const more = lots.length > 10 ? `, and ${lots.length - 10} more lot(s)` : '';
      expect(section.email!.text).toMatch(new RegExp(`^Cell risk: of ${scores.length} cell\\(s\\) aged on ${D}, ${high.length} high risk \\(short-term test recommended\\), by lot: ${listed.replace(/[()]/g, '\\$&')}${more.replace(/[()]/g, '\\$&')}\\. Model version 2 \\(held-out AUC 0\\.\\d{3}\\)\\. See the Cell risk sheet\\.$`));
      expect(section.email!.html).toContain('Cell risk: of ');
      expect(section.sheet.definitions.some((d) => d.column === 'Cell risk: Score')).toBe(true);
    }, 120_000);
  });
}

/** The raw config object the backend's context was made from, to derive variants. */
function rawOf(ctx: EtlContext): Record<string, any> {
  const c = ctx.config;
  return {
    plant: { timezone: c.plant.timezone, dayStart: c.plant.dayStart },
    source: { timestamps: c.source.timestamps, testRecords: c.source.testRecords, assembly: c.source.assembly, winding: c.source.winding, inspection: c.source.inspection, formation: c.source.formation, oqc: c.source.oqc, outcome: c.source.outcome },
    target: c.target.schema ? { schema: c.target.schema } : {},
  };
}
