/**
 * The process-flow job on the generated demo data (data/generate.ts: 30 days from 2026-10-12,
 * Europe/Berlin, day start 06:00, local timestamps, the config/default.yaml shipped), on PostgreSQL. It must find
 * the four process-flow patterns the generator plants (data/flow-patterns.ts):
 * - the bottleneck: on 10-15, 10-22, 10-29 and 11-05 units wait longest before VISUAL, at least 3×
 *   the median wait before the other steps;
 * - the rework hot spot: QSFP-DD-400G-DR4 at EYE_MASK, retest share tripled from 10-22 to 10-28;
 * - the route deviation: units skip RX_SENS after EYE_MASK-03 (skipped-step cases, variants without RX_SENS);
 * - the shift effect: Friday night shifts wait about 4× longer than the other shifts.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { pino } from 'pino';
import { defaultConfigPath } from '../../config/load.js';
import { batterySource, configFor, createBackend, type Backend } from '../support/backends.js';
import { openEtlContext, targetTable, type EtlContext } from '../../etl/context.js';
import { migrate } from '../../sql/migrations.js';
import { generate, type GenerateManifest } from '../../data/generate.js';
import { dateRange } from '../../etl/periods.js';
import { runProcessFlow } from '../../etl/flow/process-flow-job.js';
import { isoDate } from '../../etl/nightly-summary.js';

const START = '2026-10-12';
const DAYS = 30;
const LAST = '2026-11-10';

let backend: Backend;
let ctx: EtlContext;
let manifest: GenerateManifest;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) / 2;
  return s[Math.floor(h)]! + (h - Math.floor(h)) * (s[Math.ceil(h)]! - s[Math.floor(h)]!);
};

async function rows(table: string, where: Record<string, unknown> = {}): Promise<Record<string, any>[]> {
  const r = (await targetTable(ctx, ctx.target, table).where({ period_type: 'day', ...where }).select('*')) as Record<string, any>[];
  return r.map((x) => ({ ...x, period_start: isoDate(x.period_start) }));
}

beforeAll(async () => {
  // PostgreSQL: its driver is asynchronous, so the minute the job takes does not block the test
  // worker (better-sqlite3 would, and vitest's own messages would time out).
  backend = await createBackend('postgres');
  const raw = parse(readFileSync(defaultConfigPath(), 'utf8')) as Record<string, any>;
  const cfg = configFor(backend, { ...raw, source: { timestamps: raw.source.timestamps, ...batterySource(backend) } });
  ctx = openEtlContext(cfg, pino({ level: 'silent' }));
  manifest = await generate(ctx.source, {
    rows: 60_000,
    seed: 42,
    start: START,
    days: DAYS,
    timezone: cfg.plant.timezone,
    dayStart: cfg.plant.dayStart,
    timestamps: cfg.source.timestamps,
    mapping: cfg.source,
    flowPatterns: true,
  });
  await migrate(ctx.target, ctx.targetSchema);
  await runProcessFlow(ctx, { days: dateRange(START, LAST), triggeredBy: 'test' });
}, 600_000);

afterAll(async () => {
  await ctx?.close();
  await backend?.cleanup();
});

describe('process flow on the demo data', () => {
  it('plants what the README says', () => {
    expect(manifest.flowPatterns).toEqual({
      bottleneck: { step: 'VISUAL', days: ['2026-10-15', '2026-10-22', '2026-10-29', '2026-11-05'] },
      reworkHotSpot: { product: 'QSFP-DD-400G-DR4', step: 'EYE_MASK', days: dateRange('2026-10-22', '2026-10-28') },
      routeDeviation: { station: 'EYE_MASK-03', skippedStep: 'RX_SENS', share: 0.3 },
      shiftEffect: { weekday: 5, shift: 'night (16–24 h after dayStart)', waitFactor: 4 },
    });
  });

  it('finds the bottleneck: VISUAL on its days, waiting at least 3× the median of the other steps', async () => {
    const steps = await rows('summary_flow_steps');
    for (const day of manifest.flowPatterns!.bottleneck.days) {
      const onDay = steps.filter((s) => s.period_start === day && s.product !== 'CELL');
      const ranked1 = onDay.filter((s) => s.bottleneck_rank === 1);
      const visual = ranked1.filter((s) => s.step === 'VISUAL').length;
      expect(visual, day).toBeGreaterThan(ranked1.length / 2);
      const waits = (step: (s: string) => boolean) => median(onDay.filter((s) => step(s.step) && s.median_wait_in_s !== null).map((s) => s.median_wait_in_s));
      expect(waits((s) => s === 'VISUAL'), day).toBeGreaterThanOrEqual(3 * waits((s) => s !== 'VISUAL'));
    }
    const normal = steps.filter((s) => s.period_start === '2026-10-13' && s.bottleneck_rank === 1 && s.product !== 'CELL');
    expect(normal.filter((s) => s.step === 'VISUAL').length).toBeLessThan(normal.length / 2);
  });

  it('finds the rework hot spot: QSFP-DD-400G-DR4 at EYE_MASK, its retest share tripled for the week', async () => {
    const spot = (await rows('summary_flow_steps', { product: 'QSFP-DD-400G-DR4', step: 'EYE_MASK' }));
    const week = new Set(manifest.flowPatterns!.reworkHotSpot.days);
    const rate = (xs: Record<string, any>[]) => xs.reduce((a, s) => a + s.rework_events, 0) / xs.reduce((a, s) => a + s.events, 0);
    expect(rate(spot.filter((s) => week.has(s.period_start)))).toBeGreaterThan(2.5 * rate(spot.filter((s) => !week.has(s.period_start))));
  });

  it('finds the route deviation: cases that skip RX_SENS, and no such variant for products whose route lacks it', async () => {
    const variants = await rows('summary_flow_variants');
    const skipping = variants.filter((v) => /EYE_MASK>(BER|TEMP_CYCLE|VISUAL)/.test(v.variant) && v.product !== 'CELL');
    expect(skipping.reduce((a, v) => a + v.cases, 0)).toBeGreaterThan(50);
    // SFP-10G-LR is judged against its configured route, the others against their discovered one.
    const judged = (await rows('summary_flow_conformance')).filter((c) => c.product !== 'CELL');
    expect(new Set(judged.map((c) => `${c.product === 'SFP-10G-LR'}:${c.route_source}`))).toEqual(new Set(['true:config', 'false:discovered']));
    expect(judged.filter((c) => c.product === 'SFP-10G-LR').reduce((a, c) => a + c.skipped_step_cases, 0)).toBeGreaterThan(5);
    expect(judged.reduce((a, c) => a + c.skipped_step_cases, 0)).toBeGreaterThan(50);
    // The station: EYE_MASK-03 lets about 30 % of the units it releases skip RX_SENS; no other
    // EYE_MASK station comes near.
    const skips = (await rows('summary_flow_skips', { from_step: 'EYE_MASK', skipped_step: 'RX_SENS' })).filter((s) => s.product !== 'CELL');
    const share = (m: string) => {
      const own = skips.filter((s) => s.machine === m);
      return own.reduce((a, s) => a + s.skipping_transitions, 0) / Math.max(1, own.reduce((a, s) => a + s.transitions_out, 0));
    };
    expect(share('EYE_MASK-03')).toBeGreaterThan(0.2);
    for (const m of ['EYE_MASK-01', 'EYE_MASK-02']) expect(share(m), m).toBeLessThan(0.05);
  });

  it('finds the shift effect: Friday night shifts wait about 4× longer', async () => {
    const shifts = (await rows('summary_flow_shifts')).filter((s) => s.median_wait_in_s !== null && s.waits >= 5);
    const m = (f: (s: Record<string, any>) => boolean) => median(shifts.filter(f).map((s) => s.median_wait_in_s));
    const fridayNight = m((s) => s.weekday === 5 && s.shift === 'C');
    const otherNights = m((s) => s.weekday !== 5 && s.shift === 'C');
    expect(fridayNight).toBeGreaterThan(2.5 * otherNights);
  });
});
