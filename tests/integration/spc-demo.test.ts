/**
 * The SPC job on the generated demo data (data/generate.ts: 30 days from 2026-10-12, Europe/Berlin,
 * day start 06:00, local timestamps), with the measures config/default.yaml ships. It must find
 * what the generator planted:
 * - WND03 and WND07: the gap drifts below LSL 0.80 during 10-21 and 10-30, and their cells' infusion
 *   defects rise from 10-22 and 10-31. The gap chart flags the drift before the defects rise (and
 *   before the gap leaves spec), and the infusion-defect p-chart flags the rise on its day.
 * - TX_POWER-02's fail rate jumps on 10-27: rule 1 on the fail-rate p-chart.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { pino } from 'pino';
import { defaultConfigPath, resolveConfig } from '../../config/load.js';
import { openEtlContext, targetTable, type EtlContext } from '../../etl/context.js';
import { migrate } from '../../sql/migrations.js';
import { generate, type GenerateManifest } from '../../data/generate.js';
import { dayStartInstant } from '../../etl/periods.js';
import { runSpc, type SpcResult } from '../../etl/spc-job.js';
import { toDate } from '../../etl/spc-store.js';

const START = '2026-10-12';
const DAYS = 30;
const LAST = '2026-11-10';
const LSL = 0.8;

let dir: string;
let ctx: EtlContext;
let manifest: GenerateManifest;
let result: SpcResult;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-spc-demo-'));
  const raw = parse(readFileSync(defaultConfigPath(), 'utf8')) as Record<string, any>;
  raw.mail = { ...raw.mail, outDir: path.join(dir, 'mail') };
  const cfg = resolveConfig(raw, { SOURCE_DATABASE_URL: `sqlite:${path.join(dir, 'demo.sqlite')}` }, 'default.yaml');
  ctx = openEtlContext(cfg, pino({ level: 'silent' }));
  manifest = await generate(ctx.source, {
    rows: 30_000,
    seed: 42,
    start: START,
    days: DAYS,
    timezone: cfg.plant.timezone,
    dayStart: cfg.plant.dayStart,
    timestamps: cfg.source.timestamps,
    mapping: cfg.source,
  });
  await migrate(ctx.target, ctx.targetSchema);
  result = await runSpc(ctx, { days: [LAST], triggeredBy: 'test' });
}, 300_000);

afterAll(async () => {
  await ctx?.close();
  rmSync(dir, { recursive: true, force: true });
});

const dayStart = (day: string) => dayStartInstant(day, ctx.clock).toMillis();

/** Points, or the violations of the main chart (the MR chart's rule-1 flags are in panel 'paired'). */
async function stored(table: 'spc_points' | 'spc_violations', measure: string, key?: string) {
  const q = targetTable(ctx, ctx.target, table).where(table === 'spc_violations' ? { measure, panel: 'main' } : { measure });
  const rows = (await (key ? q.where({ chart_key: key }) : q).select('*')) as Record<string, any>[];
  return rows.map((r): Record<string, any> & { ms: number } => ({ ...r, ms: toDate(r.point_time).getTime() })).sort((a, b) => a.ms - b.ms);
}

describe('SPC on the demo data', () => {
  it('charts every measure of default.yaml over the 30 days, limits frozen from the baselines', () => {
    expect(result.windows).toEqual([{ from: START, to: LAST }]);
    expect(result.measures.map((m) => [m.measure, m.chart, m.limits.frozen === m.charts])).toEqual([
      ['sep_anode_gap', 'I-MR', true],
      ['test_duration', 'Xbar-S', true],
      ['fail_rate', 'p', true],
      ['infusion_defect_rate', 'p', true],
    ]);
    const gap = result.measures[0]!;
    expect(gap.charts).toBe(10);
    expect(gap.points).toBe(manifest.gapReadings);
  });

  it('counts the cells it cannot chart per winder: every untraced cell, by day', () => {
    const infusion = result.measures.find((m) => m.measure === 'infusion_defect_rate')!;
    expect(manifest.untracedCells).toBeGreaterThan(0);
    expect(infusion.uncharted.noKey).toBe(manifest.untracedCells);
    expect(Object.values(infusion.uncharted.noKeyByDay).reduce((a, b) => a + b, 0)).toBe(manifest.untracedCells);
    expect(infusion.rowsRead + infusion.uncharted.noKey).toBe(manifest.cells);
  });

  it('the planted problems are where the brief says', () => {
    expect(manifest.gapDrift).toEqual([
      { winder: 'WND03', driftStartDay: '2026-10-21', defectRiseDay: '2026-10-22' },
      { winder: 'WND07', driftStartDay: '2026-10-30', defectRiseDay: '2026-10-31' },
    ]);
    expect(manifest.failRateJump).toMatchObject({ machine: 'TX_POWER-02', day: '2026-10-27' });
  });

  for (const winder of ['WND03', 'WND07']) {
    it(`${winder}: the gap chart flags the drift below LSL before the infusion defects rise`, async () => {
      const drift = manifest.gapDrift.find((g) => g.winder === winder)!;
      const driftFrom = dayStart(drift.driftStartDay);
      const riseFrom = dayStart(drift.defectRiseDay);
      const points = await stored('spc_points', 'sep_anode_gap', winder);
      const violations = await stored('spc_violations', 'sep_anode_gap', winder);

      // The first flagged reading below LSL: rules 1 (beyond 3σ), 5 (2 of 3 beyond 2σ)… on the low side,
      // during the drift day, hours before the defects rise.
      const belowLsl = violations.filter((v) => v.point_value < LSL);
      expect(belowLsl.length).toBeGreaterThan(0);
      expect(belowLsl.every((v) => v.side === 'below' || v.side === null)).toBe(true);
      const first = belowLsl[0]!;
      expect(first.ms).toBeGreaterThanOrEqual(driftFrom);
      expect(first.ms).toBeLessThan(riseFrom);
      expect(new Set(belowLsl.filter((v) => v.ms === first.ms).map((v) => v.rule))).toContain(1);
      expect(points.find((p) => p.value < LSL)!.ms).toBe(first.ms);

      // And the chart speaks even earlier: low-side violations on the drift day while the gap is still in spec.
      const early = violations.filter((v) => v.side === 'below' && [1, 5, 6].includes(v.rule) && v.ms >= driftFrom && v.ms < first.ms);
      expect(early.length).toBeGreaterThan(0);
      expect(early.every((v) => v.point_value >= LSL)).toBe(true);

      // The infusion-defect p-chart of the winder flags the rise on its day (rule 1), not before.
      const defects = await stored('spc_violations', 'infusion_defect_rate', winder);
      expect(defects.length).toBeGreaterThan(0);
      expect(defects[0]).toMatchObject({ ms: riseFrom, rule: 1, side: 'above' });
      expect(early[0]!.ms).toBeLessThan(defects[0]!.ms);
    });
  }

  it('no other winder has a gap reading below LSL', async () => {
    const points = await stored('spc_points', 'sep_anode_gap');
    expect([...new Set(points.filter((p) => p.value < LSL).map((p) => p.chart_key))].sort()).toEqual(['WND03', 'WND07']);
  });

  it("TX_POWER-02's fail-rate jump on 2026-10-27 breaks rule 1 of its p-chart", async () => {
    const jump = manifest.failRateJump;
    const points = await stored('spc_points', 'fail_rate', jump.machine);
    const day = points.find((p) => p.ms === dayStart(jump.day))!;
    expect(day.value).toBeGreaterThan(day.ucl);
    expect(day.value).toBe(Math.max(...points.map((p) => p.value)));
    // The chart counts attempts with a valid result; the manifest all rows the station wrote that day.
    expect(Math.abs(day.value - jump.jumpFailRate)).toBeLessThan(0.03);
    const violations = await stored('spc_violations', 'fail_rate', jump.machine);
    expect(violations.find((v) => v.ms === day.ms)).toMatchObject({ rule: 1, side: 'above' });
  });

  it('emails the new violations of the measures with recipients once each, as .eml without SMTP_URL', async () => {
    const files = readdirSync(path.join(dir, 'mail')).sort();
    expect(files.map((f) => f.split('_2026-11-10_')[0])).toEqual(['spc-alert_fail_rate', 'spc-alert_infusion_defect_rate', 'spc-alert_sep_anode_gap']);
    const gap = result.measures.find((m) => m.measure === 'sep_anode_gap')!;
    expect(gap.alert).toMatchObject({ status: 'sent', transport: 'file', violations: gap.newViolations });
    expect(gap.alert.subject).toMatch(/^SPC alert · Demo Plant · Separator–anode gap: \d+ new violations on WND03, WND07/);
    expect(result.measures.find((m) => m.measure === 'test_duration')!.alert.status).toBe('no-recipients');
  });
});
