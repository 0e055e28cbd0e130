/**
 * The spc job on real databases (SQLite and PostgreSQL) over small seeded data whose answers the
 * maths modules compute independently: the stored points, limits, violations and capability equal
 * the maths' on the same readings; a rerun replaces rather than adds; frozen limits judge later
 * data (Phase II) until `yieldrun spc reset-limits` re-baselines; each out-of-control event is
 * emailed once, through a real SMTP server on loopback and through .eml files.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import { stringify } from 'yaml';
import { DateTime } from 'luxon';
import { configFor, createBackend, openMigrated, type Backend, type BackendName } from '../support/backends.js';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { describeSpc, runSpc, type SpcMeasureOutcome } from '../../etl/spc-job.js';
import { readStoredSeries, readStoredSpc, toDate } from '../../etl/spc-store.js';
import { createRng } from '../../data/random.js';
import { addDays, dateRange } from '../../etl/periods.js';
import { baselineLimits, chartLimits, controlChart } from '../../etl/spc/charts.js';
import { nelsonViolations, DEFAULT_RULES } from '../../etl/spc/nelson-rules.js';
import { capability } from '../../etl/spc/capability.js';
import { subgroupsByKey } from '../../etl/spc/subgroups.js';
import { mailSettings, type MailSettings } from '../../reports/mail.js';
import { writeAndReadBack } from '../support/xlsx.js';
import { addSpcSheet, spcSheetRows } from '../../reports/spc-sheet.js';
import { enabledMeasures } from '../../etl/spc-measures.js';
import { main } from '../../jobs/cli.js';
import { sendDue } from '../../reports/outbox/sender.js';
import { downPort, smtpSettings as fixtureSmtpSettings, startSmtp as startFixtureSmtp } from './report-fixture.js';

const TZ = 'Europe/Berlin';
const FIRST = '2026-10-01';
const DAY = '2026-10-10'; // the first run's day: a window of 10 days, 10-01 … 10-10
const LATER = '2026-10-13'; // three more days of data for the second run
const OUTLIER = '2026-10-09 10:05:00'; // M1's gap reading far above the rest: rule 1
const QE = 'qe@example.com';

/** Naive plant-local text, as an MES stores it. */
const at = (day: string, minutes: number) => DateTime.fromISO(`${day}T06:00`, { zone: 'UTC' }).plus({ minutes }).toFormat('yyyy-LL-dd HH:mm:ss');

interface Data {
  gauge: { eqp_id: string; insp_dt: string; item_cd: string; insp_val: number }[];
  cells: { cell_id: string; prod_dt: string; dfct_cd: number }[];
  winding: { cell_id: string; eqp_id: string; prod_dt: string }[];
}

/**
 * Hourly gap readings per machine (M1 ~ 1.00, M2 ~ 1.01 mm; from `shiftFrom` on M1 runs 0.05 high),
 * three tension readings an hour, and 40 cells a day per winder with their windings.
 */
function data(days: readonly string[], opts: { shiftFrom?: string } = {}): Data {
  const d: Data = { gauge: [], cells: [], winding: [] };
  for (const day of days) {
    for (const [m, mean] of [['M1', 1.0], ['M2', 1.01]] as const) {
      const rng = createRng(11, 'gap', day, m);
      for (let h = 0; h < 24; h++) {
        const t = at(day, h * 60 + 5);
        const shift = m === 'M1' && opts.shiftFrom && day >= opts.shiftFrom ? 0.05 : 0;
        const v = t === OUTLIER && m === 'M1' ? 1.2 : Math.round(rng.normal(mean + shift, 0.02) * 1e4) / 1e4;
        d.gauge.push({ eqp_id: m, insp_dt: t, item_cd: 'GAP', insp_val: v });
        for (const minute of [10, 20, 40]) d.gauge.push({ eqp_id: m, insp_dt: at(day, h * 60 + minute), item_cd: ' tension ', insp_val: Math.round(rng.normal(12, 0.25) * 1e3) / 1e3 });
      }
    }
    for (const [w, p] of [['W1', 0.02], ['W2', day === '2026-10-08' ? 0.3 : 0.02]] as const) {
      const rng = createRng(11, 'cells', day, w);
      for (let i = 0; i < 40; i++) {
        const id = `C${day.replace(/-/g, '')}${w}${String(i).padStart(3, '0')}`;
        d.cells.push({ cell_id: id, prod_dt: at(day, 30 + i * 30), dfct_cd: rng.chance(p) ? 5 : rng.chance(0.01) ? 4 : 0 });
        if (i === 39) continue; // untraced: no winding record, so on no winder's chart
        // Cell 0 was first wound on the other winder and rewound: the latest winding counts.
        if (i === 0) d.winding.push({ cell_id: id, eqp_id: w === 'W1' ? 'W2' : 'W1', prod_dt: at(addDays(day, -1), 10) });
        d.winding.push({ cell_id: id, eqp_id: ` ${w}`, prod_dt: at(day, i * 30) });
      }
    }
  }
  return d;
}

async function writeData(ctx: EtlContext, b: Backend, d: Data): Promise<void> {
  const db = ctx.source;
  const ts = (t: any, c: string) => (ctx.sourceDialect === 'sqlite' ? t.text(c) : t.specificType(c, 'timestamp(3)'));
  const tables: Record<keyof Data, (t: any) => void> = {
    gauge: (t) => {
      t.string('eqp_id', 32);
      ts(t, 'insp_dt');
      t.string('item_cd', 32);
      t.double('insp_val');
    },
    cells: (t) => {
      t.string('cell_id', 32);
      ts(t, 'prod_dt');
      t.integer('dfct_cd');
    },
    winding: (t) => {
      t.string('cell_id', 32);
      t.string('eqp_id', 32);
      ts(t, 'prod_dt');
    },
  };
  for (const name of Object.keys(tables) as (keyof Data)[]) {
    const sb = b.schema ? db.schema.withSchema(b.schema) : db.schema;
    if (!(await sb.hasTable(name))) await sb.createTable(name, tables[name]);
    const q = () => (b.schema ? db.withSchema(b.schema).table(name) : db.table(name));
    for (let i = 0; i < d[name].length; i += 200) await q().insert(d[name].slice(i, i + 200));
  }
}

function spcConfig(b: Backend, outDir: string) {
  return {
    spc: {
      windowDays: 10,
      measures: {
        gap: {
          title: 'Gap',
          unit: 'mm',
          chart: 'I-MR',
          source: { table: b.table('gauge'), where: { item_cd: 'GAP' } },
          time: 'insp_dt',
          key: 'eqp_id',
          value: 'insp_val',
          spec: { lsl: 0.9, usl: 1.1, target: 1.0 },
          baseline: { firstSubgroups: 48 },
          alert: { to: [QE] },
        },
        tension: {
          chart: 'Xbar-S',
          source: { table: b.table('gauge'), where: { item_cd: 'TENSION' } },
          time: 'insp_dt',
          key: 'eqp_id',
          value: 'insp_val',
          subgroup: { by: 'hour' },
          baseline: { from: FIRST, to: '2026-10-02' },
        },
        defects: {
          chart: 'p',
          source: { table: b.table('cells'), lookup: { table: b.table('winding'), match: 'cell_id', key: 'eqp_id', latest: 'prod_dt' } },
          time: 'prod_dt',
          defective: { column: 'dfct_cd', in: [5] },
          baseline: { firstSubgroups: 3 },
        },
      },
    },
    mail: { outDir },
  };
}

interface Setup {
  backend: Backend;
  ctx: EtlContext;
  out: string;
  cleanup(): Promise<void>;
}

async function setup(name: BackendName, overrides: (b: Backend, out: string) => Record<string, any> = spcConfig): Promise<Setup> {
  const backend = await createBackend(name);
  const out = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-spc-'));
  const ctx = await openMigrated(configFor(backend, overrides(backend, out)));
  await writeData(ctx, backend, data(dateRange(FIRST, DAY)));
  return {
    backend,
    ctx,
    out,
    async cleanup() {
      await ctx.close();
      await backend.cleanup();
      rmSync(out, { recursive: true, force: true });
    },
  };
}

const rows = async (ctx: EtlContext, table: string, where: Record<string, unknown> = {}) => (await targetTable(ctx, ctx.target, table).where(where).select('*')) as Record<string, any>[];
const byTime = (a: Record<string, any>, b: Record<string, any>) => toDate(a.point_time).getTime() - toDate(b.point_time).getTime();
const localInstant = (text: string) => DateTime.fromSQL(text, { zone: TZ }).toMillis();

/** A mail server on loopback: keeps what it receives, or refuses every recipient (a permanent 550). */
async function startSmtp(opts: { refuse?: boolean } = {}) {
  const received: Buffer[] = [];
  const server = new SMTPServer({
    disabledCommands: ['AUTH', 'STARTTLS'],
    authOptional: true,
    logger: false,
    size: 20 * 1024 * 1024,
    onRcptTo(_address, _session, cb) {
      cb(opts.refuse ? Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }) : undefined);
    },
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push(Buffer.concat(chunks));
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { url: `smtp://127.0.0.1:${port}`, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function smtpSettings(ctx: EtlContext, url: string): MailSettings {
  return { ...mailSettings(ctx.config, { SMTP_URL: url }), retries: 0, retryDelayMs: 10, connectionTimeoutMs: 5_000, greetingTimeoutMs: 5_000, socketTimeoutMs: 10_000 };
}

describe.each(['sqlite', 'postgres'] as const)('spc job on %s', (backendName) => {
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('stores what the maths computes: points, frozen limits, violations and capability; a rerun replaces them', async () => {
    s = await setup(backendName);
    const { ctx } = s;
    const r1 = await runSpc(ctx, { days: [DAY], triggeredBy: 'test' });
    expect(r1.windows).toEqual([{ from: FIRST, to: DAY }]);
    expect(r1.measures.map((m) => [m.measure, m.charts])).toEqual([['gap', 2], ['tension', 2], ['defects', 2]]);

    // I-MR on M1's gap readings of the window, in time order, with the first 48 as the baseline.
    const written = data(dateRange(FIRST, DAY)).gauge.filter((g) => g.eqp_id === 'M1' && g.item_cd === 'GAP');
    const chart = controlChart({ chart: 'I-MR', observations: written.map((g) => ({ value: g.insp_val })) }, { baseline: 48 });
    const limits = baselineLimits({ chart: 'I-MR', observations: written.map((g) => ({ value: g.insp_val })) }, 48);
    const points = (await rows(ctx, 'spc_points', { measure: 'gap', chart_key: 'M1' })).sort(byTime);
    expect(points).toHaveLength(written.length);
    points.forEach((p, i) => {
      const m = chart.main[i]!;
      expect(toDate(p.point_time).getTime()).toBe(localInstant(written[i]!.insp_dt));
      expect(p.value).toBeCloseTo(m.value!, 12);
      expect(p.cl).toBeCloseTo(m.cl!, 12);
      expect(p.ucl).toBeCloseTo(m.ucl!, 12);
      expect(p.lcl).toBeCloseTo(m.lcl!, 12);
      expect(p.phase).toBe(i < 48 ? 'I' : 'II');
      expect(p.limits_source).toBe('frozen');
      if (i > 0) expect(p.paired_value).toBeCloseTo(chart.paired[i]!.value!, 12);
      expect(p.paired_ucl).toBeCloseTo(chart.paired[i]!.ucl!, 12);
    });
    const [lim] = await rows(ctx, 'spc_limits', { measure: 'gap', chart_key: 'M1' });
    expect(lim).toMatchObject({ chart: 'I-MR', baseline_kind: 'firstSubgroups', subgroups: 48, run_id: r1.runId, set_by: `run ${r1.runId} (test)` });
    expect(lim!.cl).toBeCloseTo(limits.cl!, 12);
    expect(lim!.sigma_within).toBeCloseTo(limits.sigmaWithin!, 12);
    expect(toDate(lim!.baseline_to).getTime()).toBe(localInstant(written[47]!.insp_dt));

    // The violations are the maths' on the same points, the planted outlier among them (rule 1, above).
    const expected = nelsonViolations(chart.main, { enabled: DEFAULT_RULES }).map((v) => `${localInstant(written[v.pointIndex]!.insp_dt)} ${v.rule} ${v.side}`);
    const stored = (await rows(ctx, 'spc_violations', { measure: 'gap', chart_key: 'M1' })).sort(byTime);
    const onMain = stored.filter((v) => v.panel === 'main');
    expect(onMain.map((v) => `${toDate(v.point_time).getTime()} ${v.rule} ${v.side}`)).toEqual(expected);
    expect(onMain.find((v) => v.rule === 1 && toDate(v.point_time).getTime() === localInstant(OUTLIER))).toMatchObject({ side: 'above', point_value: 1.2, first_seen_run_id: r1.runId });
    // The MR chart is judged by rule 1: the jump up to the outlier and the step back down are both
    // moving ranges above its UCL, stored apart from the I chart's rule 1 at the same instant.
    const onPaired = stored.filter((v) => v.panel === 'paired');
    expect(onPaired.map((v) => `${toDate(v.point_time).getTime()} ${v.rule} ${v.side}`)).toEqual(
      nelsonViolations(chart.paired, { enabled: [1] }).map((v) => `${localInstant(written[v.pointIndex]!.insp_dt)} ${v.rule} ${v.side}`),
    );
    const outlierAt = written.findIndex((g) => g.insp_dt === OUTLIER);
    expect(onPaired.map((v) => toDate(v.point_time).getTime())).toEqual(expect.arrayContaining([localInstant(OUTLIER), localInstant(written[outlierAt + 1]!.insp_dt)]));
    const mrAtOutlier = onPaired.find((v) => toDate(v.point_time).getTime() === localInstant(OUTLIER))!;
    expect(mrAtOutlier.point_value).toBeCloseTo(Math.abs(1.2 - written[outlierAt - 1]!.insp_val), 12);
    expect(toDate(mrAtOutlier.first_point_time).getTime()).toBe(localInstant(OUTLIER));

    // Capability of the window: σ̂ within from the window's own moving ranges.
    const values = written.map((g) => g.insp_val);
    const cap = capability(values, chartLimits({ chart: 'I-MR', observations: values.map((value) => ({ value })) }).sigmaWithin, { lsl: 0.9, usl: 1.1 });
    const [c] = await rows(ctx, 'spc_charts', { measure: 'gap', chart_key: 'M1' });
    expect(c).toMatchObject({ chart: 'I-MR', points: written.length, values_n: written.length, limits_source: 'frozen', lsl: 0.9, usl: 1.1, target: 1 });
    for (const k of ['cp', 'cpk', 'pp', 'ppk', 'mean'] as const) expect(c![k]).toBeCloseTo(cap[k]!, 12);
    expect(c!.sigma_overall).toBeCloseTo(cap.sigmaOverall!, 12);

    // X̄-S by plant hour of the trimmed, case-insensitive 'TENSION' readings; the date baseline has ended: frozen.
    const tension = data(dateRange(FIRST, DAY)).gauge.filter((g) => g.eqp_id === 'M2' && g.item_cd.trim() === 'tension');
    const hourly = subgroupsByKey(tension, { key: (g) => g.insp_dt.slice(0, 13), value: (g) => g.insp_val });
    const base = hourly.filter((h) => h.key! < '2026-10-03 06');
    const xs = controlChart({ chart: 'Xbar-S', subgroups: hourly }, { frozen: chartLimits({ chart: 'Xbar-S', subgroups: base }) });
    const tp = (await rows(ctx, 'spc_points', { measure: 'tension', chart_key: 'M2' })).sort(byTime);
    expect(tp).toHaveLength(hourly.length);
    tp.forEach((p, i) => {
      expect(toDate(p.point_time).getTime()).toBe(localInstant(`${hourly[i]!.key}:00:00`));
      expect(p.subgroup_size).toBe(3);
      expect(p.value).toBeCloseTo(xs.main[i]!.value!, 12);
      expect(p.ucl).toBeCloseTo(xs.main[i]!.ucl!, 12);
      expect(p.paired_value).toBeCloseTo(xs.paired[i]!.value!, 12);
      expect(p.paired_ucl).toBeCloseTo(xs.paired[i]!.ucl!, 12);
      expect(p.phase).toBe(i < base.length ? 'I' : 'II');
    });
    expect((await rows(ctx, 'spc_limits', { measure: 'tension', chart_key: 'M2' }))[0]).toMatchObject({ baseline_kind: 'dates', subgroups: base.length });

    // p-chart: cells per production day on the winder of their latest winding (keys trimmed); untraced cells on no chart.
    const d = data(dateRange(FIRST, DAY));
    const winderOf = new Map<string, string>();
    for (const w of [...d.winding].sort((a, b) => (a.prod_dt < b.prod_dt ? -1 : 1))) winderOf.set(w.cell_id, w.eqp_id.trim());
    const w2 = dateRange(FIRST, DAY).map((day) => {
      const cells = d.cells.filter((c) => winderOf.get(c.cell_id) === 'W2' && c.prod_dt >= at(day, 0) && c.prod_dt < at(addDays(day, 1), 0));
      return { n: cells.length, defectives: cells.filter((c) => c.dfct_cd === 5).length };
    });
    const pc = controlChart({ chart: 'p', samples: w2 }, { baseline: 3 });
    const pp = (await rows(ctx, 'spc_points', { measure: 'defects', chart_key: 'W2' })).sort(byTime);
    expect(pp.map((p) => p.subgroup_size)).toEqual(w2.map((x) => x.n));
    pp.forEach((p, i) => {
      expect(p.value).toBeCloseTo(pc.main[i]!.value!, 12);
      expect(p.ucl).toBeCloseTo(pc.main[i]!.ucl!, 12);
      expect(p.paired_value).toBeNull();
    });
    const pViolations = (await rows(ctx, 'spc_violations', { measure: 'defects', chart_key: 'W2' })).sort(byTime);
    expect(pViolations.map((v) => `${toDate(v.point_time).getTime()} ${v.rule}`)).toEqual(
      // No `rules` configured: the default set filtered to what a p-chart allows, 1, 2, 3.
      nelsonViolations(pc.main, { enabled: [1, 2, 3] }).map((v) => `${localInstant(at(dateRange(FIRST, DAY)[v.pointIndex]!, 0))} ${v.rule}`),
    );
    expect(pViolations.some((v) => v.rule === 1 && toDate(v.point_time).getTime() === localInstant(at('2026-10-08', 0)))).toBe(true);

    // A rerun over the same data replaces the points, finds the same violations (first seen by run 1) and alerts nothing.
    const before = await rows(ctx, 'spc_violations');
    const r2 = await runSpc(ctx, { days: [DAY], triggeredBy: 'test' });
    expect((await rows(ctx, 'spc_points', { measure: 'gap', chart_key: 'M1' })).length).toBe(written.length);
    const after = await rows(ctx, 'spc_violations');
    expect(after.map((v) => [Number(v.id), v.first_seen_run_id, v.last_seen_run_id]).sort()).toEqual(before.map((v) => [Number(v.id), r1.runId, r2.runId]).sort());
    expect(r2.measures.every((m) => m.newViolations === 0 && m.alert.status === 'nothing-new')).toBe(true);
    expect((await rows(ctx, 'spc_limits', { measure: 'gap', chart_key: 'M1' }))[0]!.run_id).toBe(r1.runId);
    const runs = await rows(ctx, 'etl_runs', { job: 'spc' });
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(runs[0]).toMatchObject({ period_from: DAY, period_to: DAY, triggered_by: 'test' });

    // Read back for the report: one sheet row per measure × key, written to a workbook and read again.
    const sheet = spcSheetRows(await readStoredSpc(ctx), { clock: ctx.clock, measures: enabledMeasures(ctx.config) });
    expect(sheet.map((r) => `${r.measure}/${r.chartKey}`)).toEqual(['gap/M1', 'gap/M2', 'tension/M1', 'tension/M2', 'defects/W1', 'defects/W2']);
    const m1 = sheet[0]!;
    expect(m1).toMatchObject({ title: 'Gap', unit: 'mm', chart: 'I-MR', points: written.length, limitsSource: 'frozen', lastPhase: 'II', runId: r2.runId });
    expect(m1.lastValue).toBeCloseTo(written[written.length - 1]!.insp_val, 12);
    expect(m1.cpk).toBeCloseTo(cap.cpk!, 12);
    expect(m1.limitsSetBy).toBe(`run ${r1.runId} (test)`);
    const back = await writeAndReadBack((book) => addSpcSheet(book, sheet, { timezone: TZ }));
    expect(back.getWorksheet('SPC')!.getRow(2).getCell(2).value).toBe('M1');
    expect(back.getWorksheet('SPC')!.rowCount).toBe(sheet.length + 1);

    const series = await readStoredSeries(ctx, 'gap', 'M1');
    expect(series.points).toHaveLength(written.length);
    expect(series.violations).toHaveLength(stored.length);
  });
});

describe('frozen limits (Phase II) and reset-limits', () => {
  let s: Setup | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await s?.cleanup();
    s = undefined;
  });

  it('judges later data against the stored limits until reset-limits re-baselines from the window', async () => {
    s = await setup('sqlite');
    const { ctx, backend, out } = s;
    const r1 = await runSpc(ctx, { days: [DAY], triggeredBy: 'test', measures: ['gap'] });
    const frozen = (await rows(ctx, 'spc_limits', { measure: 'gap', chart_key: 'M1' }))[0]!;

    // Three more days, M1 running 2.5σ high: the second run's window (10-04 … 10-13) no longer holds the baseline.
    await writeData(ctx, backend, data(dateRange(addDays(DAY, 1), LATER), { shiftFrom: addDays(DAY, 1) }));
    const r2 = await runSpc(ctx, { days: [LATER], triggeredBy: 'test', measures: ['gap'] });
    expect(r2.windows).toEqual([{ from: '2026-10-04', to: LATER }]);
    expect(r2.measures[0]!.frozenKeys).toEqual([]);
    expect((await rows(ctx, 'spc_limits', { measure: 'gap', chart_key: 'M1' }))[0]).toEqual(frozen);
    const shifted = (await rows(ctx, 'spc_points', { measure: 'gap', chart_key: 'M1' })).filter((p) => toDate(p.point_time).getTime() >= localInstant(at(addDays(DAY, 1), 0)));
    expect(shifted).toHaveLength(72);
    for (const p of shifted) expect(p).toMatchObject({ cl: frozen.cl, phase: 'II', limits_source: 'frozen', run_id: r2.runId });
    const fresh = (await rows(ctx, 'spc_violations', { measure: 'gap', chart_key: 'M1', first_seen_run_id: r2.runId })).sort(byTime);
    // The shift shows at once: a run on one side (rule 2) and points beyond 2σ / 1σ (rules 5, 6), all above.
    expect([...new Set(fresh.map((v) => v.rule))]).toEqual(expect.arrayContaining([2, 5, 6]));
    expect(fresh.every((v) => v.side === 'above' || v.side === null)).toBe(true);
    // One event on M1 for the shift, opened on 10-11: before the run's own day (10-13), so history, stored and never alerted.
    const m1Events = await rows(ctx, 'spc_events', { measure: 'gap', chart_key: 'M1', first_seen_run_id: r2.runId });
    expect(m1Events).toHaveLength(1);
    expect(m1Events[0]).toMatchObject({ state: 'open', history: 1, open_alert_run_id: null });
    expect(toDate(m1Events[0]!.opened_at).getTime()).toBeGreaterThanOrEqual(localInstant(at(addDays(DAY, 1), 0)));

    // An engineer resets M1's limits (the shift was a planned process change), through the CLI.
    const file = path.join(out, 'config.yaml');
    writeFileSync(file, stringify({ ...spcConfig(backend, out), source: { url: backend.url }, plant: { timezone: TZ, dayStart: '06:00' } }));
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(await main(['node', 'yieldrun', '--config', file, 'spc', 'reset-limits', 'gap', 'M1', '--reason', 'new separator film', '--triggered-by', 'alice'])).toBe(0);
    expect(log.mock.calls.flat().join('\n')).toMatch(/deleted the frozen limits of gap \(M1\) for 1 key\(s\): M1/);
    expect(await main(['node', 'yieldrun', '--config', file, 'spc', 'reset-limits', 'nonsense'])).toBe(2);
    expect(error.mock.calls.flat().join('\n')).toMatch(/no SPC measure 'nonsense'.*configured: gap, tension, defects/);
    expect(await rows(ctx, 'spc_limits', { measure: 'gap', chart_key: 'M1' })).toEqual([]);
    expect(await rows(ctx, 'spc_limits', { measure: 'gap', chart_key: 'M2' })).toHaveLength(1);
    const [reset] = await rows(ctx, 'etl_runs', { job: 'spc-reset-limits' });
    expect(reset).toMatchObject({ status: 'succeeded', triggered_by: 'alice', reason: 'new separator film', rows_written: 1 });
    expect(JSON.parse(reset!.stats)).toMatchObject({ measure: 'gap', key: 'M1', deleted: [{ key: 'M1', cl: frozen.cl }] });

    // The next run sets M1's limits from the first 48 readings of its window (Phase I again).
    const r3 = await runSpc(ctx, { days: [LATER], triggeredBy: 'test', measures: ['gap'] });
    expect(r3.measures[0]!.frozenKeys).toEqual(['M1']);
    const window = [...data(dateRange('2026-10-04', DAY)).gauge, ...data(dateRange(addDays(DAY, 1), LATER), { shiftFrom: addDays(DAY, 1) }).gauge].filter((g) => g.eqp_id === 'M1' && g.item_cd === 'GAP');
    const relimits = baselineLimits({ chart: 'I-MR', observations: window.map((g) => ({ value: g.insp_val })) }, 48);
    const renewed = (await rows(ctx, 'spc_limits', { measure: 'gap', chart_key: 'M1' }))[0]!;
    expect(renewed).toMatchObject({ run_id: r3.runId, set_by: `run ${r3.runId} (test)` });
    expect(renewed.cl).toBeCloseTo(relimits.cl!, 12);
    expect(renewed.cl).not.toBeCloseTo(frozen.cl, 6);
    const m1 = (await rows(ctx, 'spc_points', { measure: 'gap', chart_key: 'M1', run_id: r3.runId })).sort(byTime);
    expect(m1.filter((p) => p.phase === 'I')).toHaveLength(48);
    expect(m1[0]!.cl).toBeCloseTo(relimits.cl!, 12);
    expect(r1.measures[0]!.frozenKeys).toEqual(['M1', 'M2']);
  });
});

describe('degenerate limits (σ̂ = 0)', () => {
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('limits stored with σ̂ = 0 do not judge; the run freezes usable ones in their place', async () => {
    s = await setup('sqlite');
    const { ctx } = s;
    // As an earlier version could have frozen them: a flat baseline, every later point off CL beyond 3σ.
    await targetTable(ctx, ctx.target, 'spc_limits').insert({
      measure: 'gap',
      chart_key: 'M1',
      chart: 'I-MR',
      cl: 1,
      sigma_within: 0,
      paired_cl: 0,
      baseline_kind: 'firstSubgroups',
      baseline_from: null,
      baseline_to: null,
      subgroups: 48,
      set_at: new Date('2026-09-30T00:00:00Z'),
      set_by: 'run 0 (old)',
      run_id: 0,
    });
    const r = await runSpc(ctx, { days: [DAY], triggeredBy: 'test', measures: ['gap'] });
    expect(r.measures[0]!.frozenKeys).toEqual(['M1', 'M2']);
    const [lim] = await rows(ctx, 'spc_limits', { measure: 'gap', chart_key: 'M1' });
    expect(lim).toMatchObject({ run_id: r.runId });
    expect(lim!.sigma_within).toBeGreaterThan(0);
    const [chart] = await rows(ctx, 'spc_charts', { measure: 'gap', chart_key: 'M1' });
    expect(chart!.limits_note).toMatch(/^stored limits have σ̂ = 0 \(no variation\), not used; frozen by this run/);
  });
});

describe('source rows: a fixed order, and what is not charted is counted', () => {
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  const gauge = (ctx: EtlContext, b: Backend) => (b.schema ? ctx.source.withSchema(b.schema).table('gauge') : ctx.source.table('gauge'));

  it('readings at the same instant are charted in the same order by every run, however the source returns them', async () => {
    s = await setup('sqlite');
    const { ctx, backend } = s;
    // Two M2 readings at one instant: their order decides two moving ranges.
    const tie = at(DAY, 30);
    const insertTie = (values: number[]) => gauge(ctx, backend).insert(values.map((v) => ({ eqp_id: 'M2', insp_dt: tie, item_cd: 'GAP', insp_val: v })));
    const pointsOf = async () =>
      ((await targetTable(ctx, ctx.target, 'spc_points').where({ measure: 'gap', chart_key: 'M2' }).orderBy('id').select('point_time', 'value', 'paired_value')) as Record<string, unknown>[]).map(
        (p) => [toDate(p.point_time).getTime(), p.value, p.paired_value],
      );
    await insertTie([1.05, 0.95]);
    await runSpc(ctx, { days: [DAY], triggeredBy: 'test', measures: ['gap'] });
    const first = await pointsOf();
    // The same readings written the other way round: a table scan now meets them in the other order.
    await gauge(ctx, backend).where({ eqp_id: 'M2', insp_dt: tie }).delete();
    await insertTie([0.95, 1.05]);
    await runSpc(ctx, { days: [DAY], triggeredBy: 'test', measures: ['gap'] });
    expect(await pointsOf()).toEqual(first);
    // Ordered by value at the tie: 0.95 before 1.05.
    const at06 = first.filter((p) => p[0] === localInstant(tie));
    expect(at06.map((p) => p[1])).toEqual([0.95, 1.05]);
    expect(at06[1]![2]).toBeCloseTo(0.1, 12);
  });

  it.each(['sqlite', 'postgres'] as const)('%s: counts rows rejected by validRange or without a value, and rows without a key (untraced cells per day), in the run and its summary', async (backendName) => {
    s = await setup(backendName, (b, out) => {
      const c = spcConfig(b, out);
      return { ...c, spc: { ...c.spc, measures: { ...c.spc.measures, gap: { ...c.spc.measures.gap, validRange: { min: 0, max: 5 } } } } };
    });
    const { ctx, backend } = s;
    await gauge(ctx, backend).insert([
      { eqp_id: 'M1', insp_dt: at(DAY, 31), item_cd: 'GAP', insp_val: -1 }, // below validRange.min
      { eqp_id: 'M2', insp_dt: at(DAY, 32), item_cd: 'GAP', insp_val: 9 }, // above validRange.max
      { eqp_id: 'M1', insp_dt: at(DAY, 33), item_cd: 'GAP', insp_val: null }, // no value
      { eqp_id: null, insp_dt: at(DAY, 34), item_cd: 'GAP', insp_val: 1 }, // no key
      { eqp_id: '  ', insp_dt: at(DAY, 35), item_cd: 'GAP', insp_val: 1 }, // a blank key is none
    ]);
    const r = await runSpc(ctx, { days: [DAY], triggeredBy: 'test', measures: ['gap', 'defects'] });
    const [gap, defects] = r.measures as [SpcMeasureOutcome, SpcMeasureOutcome];
    // 24 readings a day per machine over 10 days are charted; the five rows above are not.
    expect(gap).toMatchObject({ rowsRead: 480, points: 480, uncharted: { rejected: 3, noKey: 2 } });
    // Each day one cell per winder has no winding record: 2 a day, 20 in the window.
    const days = dateRange(FIRST, DAY);
    expect(defects.uncharted).toEqual({ rejected: 0, noKey: 20, noKeyByDay: Object.fromEntries(days.map((d) => [d, 2])) });
    expect(defects.rowsRead).toBe(10 * 78);

    const [run] = await rows(ctx, 'etl_runs', { job: 'spc' });
    expect(run).toMatchObject({ rows_read: 480 + 5 + 780 + 20, rows_valid: 480 + 2 + 780 + 20, rows_rejected: 3 });
    const stats = JSON.parse(run!.stats);
    expect(stats.measures[0]).toMatchObject({ measure: 'gap', rowsCharted: 480, rowsRejected: 3, rowsWithoutKey: 2 });
    expect(stats.measures[1]).toMatchObject({ measure: 'defects', rowsWithoutKey: 20, rowsWithoutKeyByDay: { [FIRST]: 2, [DAY]: 2 } });

    const lines = describeSpc(r);
    expect(lines[1]).toContain('480 points from 480 rows (3 rejected (no value or outside validRange); 2 without a chart key, not charted)');
    expect(lines[2]).toContain(`(20 untraced (no match in ${backend.table('winding')}), not charted on 10 day(s): 2026-10-01 2, 2026-10-02 2, 2026-10-03 2, 2026-10-04 2, 2026-10-05 2, 2026-10-06 2, 2026-10-07 2, … 3 more)`);
  });
});

describe('alerts: each event is told once', () => {
  let s: Setup | undefined;
  let smtp: Awaited<ReturnType<typeof startSmtp>> | undefined;
  afterEach(async () => {
    await smtp?.close();
    smtp = undefined;
    await s?.cleanup();
    s = undefined;
  });

  // The outlier on M1 at 10-09 10:05 (rule 1 on the I and the MR chart) opens an event on 10-09; the
  // eight hourly readings after it close it the same day. Runs for 10-08 (everything before is
  // history) and then 10-09 the way the nightly schedule runs them.
  const OUTLIER_DAY = '2026-10-09';

  it('through a real SMTP server: the opening is mailed once, with the chart inline; a rerun sends nothing', async () => {
    s = await setup('sqlite');
    const { ctx } = s;
    smtp = await startSmtp();
    const mail = smtpSettings(ctx, smtp.url);
    await runSpc(ctx, { days: ['2026-10-08'], triggeredBy: 'test', mail, measures: ['gap'] });
    const before = smtp.received.length;
    const r1 = await runSpc(ctx, { days: [OUTLIER_DAY], triggeredBy: 'test', mail, measures: ['gap'] });
    const r2 = await runSpc(ctx, { days: [OUTLIER_DAY], triggeredBy: 'test', mail, measures: ['gap'] });
    expect(smtp.received).toHaveLength(before + 1);
    expect(r1.measures[0]!.alert).toMatchObject({ status: 'sent', transport: 'smtp', to: [QE] });
    expect(r2.measures[0]!.alert.status).toBe('nothing-new');

    const m = await simpleParser(smtp.received[before]!, { keepCidLinks: true });
    expect(m.subject).toContain('SPC alert · Plant · Gap: ');
    expect(m.subject).toContain('M1 out of control since 2026-10-09 10:05');
    expect(m.to && !Array.isArray(m.to) ? m.to.value.map((v) => v.address) : []).toEqual([QE]);
    expect(m.messageId).toBe(r1.measures[0]!.alert.messageId);
    // The event: opened by the outlier, on both panels; closed by the eighth clean reading after the last flag (the MR of the step back at 11:05): 19:05.
    expect(m.text).toMatch(/M1: out of control since 2026-10-09 10:05 \(event \d+, closed 2026-10-09 19:05\)/);
    expect(m.text).toMatch(/rules: 1 ×1 \(one point beyond 3σ\); 1 \(MR\) ×2 \(MR chart: one point beyond 3σ\)/);
    expect(m.text).toMatch(/farthest from CL: 1\.2000 mm above CL/);
    const images = m.attachments.filter((a) => a.contentType === 'image/png');
    expect(images.length).toBeGreaterThanOrEqual(1);
    for (const img of images) {
      expect(m.html).toContain(`cid:${img.cid}`);
      expect(img.content.subarray(1, 4).toString()).toBe('PNG');
    }
    const [event] = await rows(ctx, 'spc_events', { measure: 'gap', chart_key: 'M1', open_alert_run_id: r1.runId });
    expect(event).toMatchObject({ state: 'closed', history: 0, flagged_points: 2, close_alert_run_id: r1.runId, last_seen_run_id: r2.runId });
  });

  it('with the mail server down, the alert waits in the outbox and the worker sends it once when it is back; a rerun sends nothing', async () => {
    s = await setup('sqlite');
    const { ctx } = s;
    await runSpc(ctx, { days: ['2026-10-08'], triggeredBy: 'test', mail: mailSettings(ctx.config, {}), measures: ['gap'] });
    const port = await downPort();
    const down = { ...fixtureSmtpSettings(ctx, { url: `smtp://127.0.0.1:${port}` }), retries: 1 };
    const r1 = await runSpc(ctx, { days: [OUTLIER_DAY], triggeredBy: 'test', mail: down, measures: ['gap'] });
    expect(r1.measures[0]!.alert).toMatchObject({ status: 'queued' });
    expect(r1.measures[0]!.alert.opened).toBeGreaterThan(0);
    const [queued] = await rows(ctx, 'outbox', { kind: 'spc-alert', status: 'pending' });
    expect(queued).toBeDefined();

    const back = await startFixtureSmtp({ port });
    try {
      // The worker's periodic sender (mail.outbox.sendEveryMs), driven here; the message is due now.
      const later = () => new Date(Date.now() + 24 * 3_600_000 - 60_000);
      await sendDue(ctx, { mail: down, log: ctx.log, now: later });
      expect(back.received).toHaveLength(1);
      expect((await simpleParser(back.received[0]!.raw)).subject).toBe(queued!.subject);
      // A rerun of the day tells nothing again, and the sender has nothing left.
      const r2 = await runSpc(ctx, { days: [OUTLIER_DAY], triggeredBy: 'test', mail: down, measures: ['gap'] });
      expect(r2.measures[0]!.alert.status).toBe('nothing-new');
      await sendDue(ctx, { mail: down, log: ctx.log, now: later });
      expect(back.received).toHaveLength(1);
    } finally {
      await back.close();
    }
  });

  it('a refused message leaves the events un-alerted and fails the run; the next run sends them', async () => {
    s = await setup('sqlite');
    const { ctx } = s;
    await runSpc(ctx, { days: ['2026-10-08'], triggeredBy: 'test', mail: mailSettings(ctx.config, {}), measures: ['gap'] });
    smtp = await startSmtp({ refuse: true });
    await expect(runSpc(ctx, { days: [OUTLIER_DAY], triggeredBy: 'test', mail: smtpSettings(ctx, smtp.url), measures: ['gap'] })).rejects.toThrow(/SPC alert email not sent for gap/);
    const failed = (await rows(ctx, 'etl_runs', { job: 'spc' })).find((r) => r.status === 'failed')!;
    expect(failed.error).toMatch(/next run sends them/);
    // Nothing stays claimed by the failed run; the openings it found wait for the next one.
    const events = await rows(ctx, 'spc_events', { measure: 'gap' });
    expect(events.some((e) => e.open_alert_run_id === failed.id || e.close_alert_run_id === failed.id)).toBe(false);
    const waiting = events.filter((e) => e.first_seen_run_id === failed.id && e.history === 0);
    expect(waiting.length).toBeGreaterThan(0);
    expect(waiting.every((e) => e.open_alert_run_id === null)).toBe(true);
    await smtp.close();

    smtp = await startSmtp();
    const r = await runSpc(ctx, { days: [OUTLIER_DAY], triggeredBy: 'test', mail: smtpSettings(ctx, smtp.url), measures: ['gap'] });
    expect(smtp.received).toHaveLength(1);
    expect(r.measures[0]!.alert.opened).toBe(waiting.length);
  });

  it('without SMTP_URL: one .eml file for two runs', async () => {
    s = await setup('sqlite');
    const { ctx, out } = s;
    const mail = mailSettings(ctx.config, {});
    await runSpc(ctx, { days: ['2026-10-08'], triggeredBy: 'test', mail, measures: ['gap'] });
    const earlier = readdirSync(out).filter((f) => f.endsWith('.eml')).length;
    await runSpc(ctx, { days: [OUTLIER_DAY], triggeredBy: 'test', mail });
    await runSpc(ctx, { days: [OUTLIER_DAY], triggeredBy: 'test', mail });
    const files = readdirSync(out).filter((f) => f.endsWith('.eml') && f.startsWith('spc-alert_gap_2026-10-09_'));
    expect(files).toHaveLength(1);
    expect(readdirSync(out).filter((f) => f.endsWith('.eml'))).toHaveLength(earlier + 1);
  });
});
