/**
 * The SPC job on the generated demo data (data/generate.ts: 30 days from 2026-10-12, Europe/Berlin,
 * day start 06:00, local timestamps), with the measures config/default.yaml ships. It must find
 * what the generator planted:
 * - WND03 and WND07: the gap drifts below LSL 0.80 during 10-21 and 10-30, and their cells' infusion
 *   defects rise from 10-22 and 10-31. The gap chart flags the drift before the defects rise (and
 *   before the gap leaves spec), and the infusion-defect p-chart flags the rise on its day.
 * - TX_POWER-02's fail rate jumps on 10-27: rule 1 on the fail-rate p-chart.
 * Run night by night, the gap's alert mail tells each drift once, on its first day (spc.md §6).
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
import { addDays, dateRange, dayStartInstant } from '../../etl/periods.js';
import { simpleParser } from 'mailparser';
import { acknowledgeEvent, listEvents } from '../../etl/spc-event-store.js';
import { runSpc, type SpcResult } from '../../etl/spc-job.js';
import { toDate } from '../../etl/spc-store.js';
import { DateTime } from 'luxon';

const START = '2026-10-12';
const DAYS = 30;
const LAST = '2026-11-10';
const LSL = 0.8;
const GAP_FROM = '2026-10-19';

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
  // The gap charted night by night, as the schedule does, from the first day after its baseline
  // (120 readings, 5 days) has a window of its own; then every measure for the last day.
  for (const day of dateRange(GAP_FROM, addDays(LAST, -1))) await runSpc(ctx, { days: [day], triggeredBy: 'schedule', measures: ['sep_anode_gap'] });
  result = await runSpc(ctx, { days: [LAST], triggeredBy: 'schedule' });
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

  it('mails once that WND03 went out of control on 2026-10-21 and WND07 on 2026-10-30; acknowledged, nothing more about them is mailed', async () => {
    const mailDir = path.join(dir, 'mail');
    const mails = async () =>
      Promise.all(
        readdirSync(mailDir)
          .sort()
          .map(async (f) => ({ file: f, mail: await simpleParser(readFileSync(path.join(mailDir, f))) })),
      );
    const gapMails = (await mails()).filter((m) => m.file.startsWith('spc-alert_sep_anode_gap_'));
    const telling = (winder: string) => gapMails.filter((m) => m.mail.subject!.includes(`${winder} out of control since`));
    // One mail each, on the day the drift starts; nothing about them while the drifts go on (to 11-10).
    expect(telling('WND03').map((m) => m.file.slice(0, 'spc-alert_sep_anode_gap_2026-10-21'.length))).toEqual(['spc-alert_sep_anode_gap_2026-10-21']);
    expect(telling('WND03')[0]!.mail.subject).toMatch(/WND03 out of control since 2026-10-21 \d\d:\d\d/);
    expect(telling('WND07').map((m) => m.file.slice(0, 'spc-alert_sep_anode_gap_2026-10-30'.length))).toEqual(['spc-alert_sep_anode_gap_2026-10-30']);
    expect(telling('WND07')[0]!.mail.subject).toMatch(/WND07 out of control since 2026-10-30 \d\d:\d\d/);
    expect(gapMails.filter((m) => /WND0[37]/.test(m.mail.text ?? '')).map((m) => m.file.slice(24, 34))).toEqual(['2026-10-21', '2026-10-30']);
    // The first flagged readings of the drifts open the events: the same points the charts flag below LSL's side first.
    const open = await listEvents(ctx, { open: true, measures: ['sep_anode_gap'] });
    const drifts = ['WND03', 'WND07'].map((w) => open.find((e) => e.key === w)!);
    expect(drifts.map((e) => [e.key, DateTime.fromJSDate(e.openedAt).setZone(ctx.config.plant.timezone).toISODate(), e.side, e.history])).toEqual([
      ['WND03', '2026-10-21', 'below', false],
      ['WND07', '2026-10-30', 'below', false],
    ]);
    expect(drifts.every((e) => e.rules.some((r) => r.panel === 'main' && r.rule === 1) && e.extremeValue! < LSL)).toBe(true);

    // An engineer acknowledges each, with a cause and an action.
    for (const e of drifts) await acknowledgeEvent(ctx, { id: e.id, cause: 'MATERIAL', action: 'MATERIAL_CHANGED', by: 'alice', note: `separator film changed on ${e.key}` });
    expect((await listEvents(ctx, { open: true, measures: ['sep_anode_gap'] })).filter((e) => drifts.some((d) => d.id === e.id)).map((e) => [e.state, e.acknowledgedBy])).toEqual([
      ['acknowledged', 'alice'],
      ['acknowledged', 'alice'],
    ]);
    // The morning run again (a rerun) and the next night (no new readings): nothing is mailed.
    const before = readdirSync(mailDir).length;
    const again = await runSpc(ctx, { days: [LAST], triggeredBy: 'test' });
    const next = await runSpc(ctx, { days: [addDays(LAST, 1)], triggeredBy: 'schedule', measures: ['sep_anode_gap'] });
    expect(readdirSync(mailDir)).toHaveLength(before);
    expect([...again.measures, ...next.measures].map((m) => m.alert.status).filter((st) => st === 'sent')).toEqual([]);
    const still = await listEvents(ctx, { open: true, measures: ['sep_anode_gap'] });
    expect(drifts.map((d) => still.find((e) => e.id === d.id)?.state)).toEqual(['acknowledged', 'acknowledged']);
  });
});
