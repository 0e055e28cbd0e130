/**
 * SPC benchmark: `npm run build && node dist/tests/bench/spc.js`.
 *
 * 100 charts (measure × key) of 10,000 points each, generated in memory (seeded): the maths of one
 * spc run per chart (limits from a baseline, the chart with its paired chart, Nelson rules 1–8,
 * capability) for I-MR, X̄-S (subgroups of 5) and p-charts, against two baselines over the same
 * series: a plain mean / SD pass, and the control limits of the series alone (no chart points, no
 * rules). The
 * storage variant runs the whole job (runSpc: read the readings from SQLite, judge, store the
 * points and violations, freeze limits) over 100 machines × 10,000 readings, against a plain read
 * of the same rows with a mean / SD per machine. The demo case charts the demo data once over its
 * window and night by night for a month, and counts the alert emails and events per measure.
 *
 * Every measurement runs in a fresh process (its peak RSS is its own), after one warm-up, as the
 * median of SPC_BENCH_REPEATS (3) runs. Results: a table on stdout and out/bench/spc.{json,md}.
 * The job's data set is generated once into .tmp/bench/spc-readings.sqlite.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DateTime } from 'luxon';
import { pino } from 'pino';
import { createRng } from '../../data/random.js';
import { resolveConfig } from '../../config/load.js';
import { openEtlContext } from '../../etl/context.js';
import { runSpc } from '../../etl/spc-job.js';
import { capability } from '../../etl/spc/capability.js';
import { baselineLimits, chartLimits, controlChart, type ChartInput } from '../../etl/spc/charts.js';
import { ALL_RULES, applicableRules, nelsonViolations } from '../../etl/spc/nelson-rules.js';
import { mean, sampleStandardDeviation } from '../../etl/spc/sample-statistics.js';
import { connect } from '../../sql/connection.js';
import { migrate } from '../../sql/migrations.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..', '..');
const CHARTS = Number(process.env.SPC_BENCH_CHARTS ?? 100);
const POINTS = Number(process.env.SPC_BENCH_POINTS ?? 10_000);
const REPEATS = Number(process.env.SPC_BENCH_REPEATS ?? 3);
const SUBGROUP = 5;
const BASELINE = 100;
const DB_FILE = path.join(root, '.tmp', 'bench', `spc-readings-${CHARTS}x${POINTS}.sqlite`);
const FIRST_DAY = '2026-10-12';
const LAST_DAY = '2026-11-10';

type Kind = 'I-MR' | 'Xbar-S' | 'p';

/** A chart's input: readings drifting in the last tenth so the rules have something to find. */
function series(kind: Kind, k: number): { input: ChartInput; values: number[] } {
  const rng = createRng(2026, 'spc-bench', kind, k);
  const drift = (i: number) => (i > POINTS * 0.9 ? 0.5 : 0);
  if (kind === 'I-MR') {
    const values = Array.from({ length: POINTS }, (_, i) => rng.normal(10 + drift(i), 1));
    return { input: { chart: 'I-MR', observations: values.map((value) => ({ value })) }, values };
  }
  if (kind === 'Xbar-S') {
    const subgroups = Array.from({ length: POINTS }, (_, i) => ({ values: Array.from({ length: SUBGROUP }, () => rng.normal(10 + drift(i), 1)) }));
    return { input: { chart: 'Xbar-S', subgroups }, values: subgroups.flatMap((s) => s.values) };
  }
  const samples = Array.from({ length: POINTS }, (_, i) => {
    const n = 40 + Math.floor(rng.next() * 20);
    let defectives = 0;
    for (let j = 0; j < n; j++) if (rng.chance(i > POINTS * 0.9 ? 0.08 : 0.03)) defectives++;
    return { n, defectives };
  });
  return { input: { chart: 'p', samples }, values: [] };
}

interface Sample {
  ms: number;
  maxRssMb: number;
  points: number;
  violations: number;
  /** The demo case: per measure, what a month of SPC runs mailed and found. */
  demo?: DemoAlerts;
}

type CaseName = `${'spc' | 'limits' | 'meansd'}:${Kind}` | 'job' | 'read-meansd' | 'demo-alerts';

/** Per run mode (one first run over the window, or every night) and measure. */
type DemoAlerts = Record<'first' | 'nightly', Record<string, { emails: number; opened: number; history: number; newViolations: number }>>;

const DEMO_ROWS = Number(process.env.SPC_BENCH_DEMO_ROWS ?? 30_000);

/** One measurement, in this (fresh) process. Series are generated before the clock starts. */
async function runCase(name: CaseName): Promise<Omit<Sample, 'maxRssMb'>> {
  if (name === 'job' || name === 'read-meansd') return runStorageCase(name);
  if (name === 'demo-alerts') return runDemoCase();
  const [what, kind] = name.split(':') as ['spc' | 'limits' | 'meansd', Kind];
  const inputs = Array.from({ length: CHARTS }, (_, k) => series(kind, k));
  const spec = { lsl: 6, usl: 14 };
  let violations = 0;
  const t0 = performance.now();
  for (const { input, values } of inputs) {
    if (what === 'meansd') {
      const xs = kind === 'p' ? (input as Extract<ChartInput, { chart: 'p' }>).samples.map((s) => s.defectives / s.n) : values;
      mean(xs);
      sampleStandardDeviation(xs);
    } else if (what === 'limits') {
      chartLimits(input);
    } else {
      const limits = baselineLimits(input, BASELINE);
      const chart = controlChart(input, { frozen: { cl: limits.cl, sigmaWithin: limits.sigmaWithin } });
      violations += nelsonViolations(chart.main, { enabled: applicableRules(chart.chart, ALL_RULES) }).length;
      if (kind !== 'p') capability(values, chartLimits(input).sigmaWithin, spec);
    }
  }
  return { ms: performance.now() - t0, points: CHARTS * POINTS, violations };
}

/** The readings as an MES stores them: 100 machines, 10,000 readings each over 30 days, local text times. */
async function ensureReadings(): Promise<void> {
  if (existsSync(DB_FILE)) return;
  mkdirSync(path.dirname(DB_FILE), { recursive: true });
  const partial = `${DB_FILE}.partial`;
  rmSync(partial, { force: true });
  const db = connect(`sqlite:${partial}`);
  const t0 = Date.now();
  process.stdout.write(`generating ${CHARTS} × ${POINTS} readings into ${path.relative(root, DB_FILE)} … `);
  try {
    await db.schema.createTable('gauge', (t) => {
      t.string('eqp_id', 16);
      t.text('insp_dt');
      t.string('item_cd', 16);
      t.double('insp_val');
      t.index(['eqp_id', 'insp_dt'], 'ix_gauge_eqp_dt');
    });
    const start = DateTime.fromISO(`${FIRST_DAY}T06:00`, { zone: 'UTC' }).toMillis();
    const step = (30 * 24 * 3600_000) / POINTS;
    for (let k = 0; k < CHARTS; k++) {
      const { values } = series('I-MR', k);
      const rows = values.map((v, i) => ({
        eqp_id: `M${String(k).padStart(3, '0')}`,
        insp_dt: DateTime.fromMillis(start + Math.floor(i * step), { zone: 'UTC' }).toFormat('yyyy-LL-dd HH:mm:ss.SSS'),
        item_cd: 'GAP',
        insp_val: Math.round(v * 1e4) / 1e4,
      }));
      await db.transaction(async (trx) => {
        for (let i = 0; i < rows.length; i += 500) await trx('gauge').insert(rows.slice(i, i + 500));
      });
    }
  } finally {
    await db.destroy();
  }
  const { renameSync } = await import('node:fs');
  renameSync(partial, DB_FILE);
  console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function runStorageCase(name: 'job' | 'read-meansd'): Promise<Omit<Sample, 'maxRssMb'>> {
  const target = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-spc-bench-'));
  const cfg = resolveConfig(
    {
      plant: { timezone: 'Europe/Berlin', dayStart: '06:00' },
      spc: {
        windowDays: 30,
        measures: {
          gap: { chart: 'I-MR', source: { table: 'gauge', where: { item_cd: 'GAP' } }, time: 'insp_dt', key: 'eqp_id', value: 'insp_val', spec: { lsl: 6, usl: 14 }, baseline: { firstSubgroups: BASELINE }, rules: [1, 2, 3, 4, 5, 6, 7, 8] },
        },
      },
    },
    { SOURCE_DATABASE_URL: `sqlite:${DB_FILE}`, TARGET_DATABASE_URL: `sqlite:${path.join(target, 'target.sqlite')}` },
    'bench',
  );
  const ctx = openEtlContext(cfg, pino({ level: 'silent' }));
  try {
    await migrate(ctx.target, ctx.targetSchema);
    const t0 = performance.now();
    if (name === 'job') {
      const r = await runSpc(ctx, { days: [LAST_DAY], triggeredBy: 'bench' });
      const ms = performance.now() - t0;
      return { ms, points: r.measures[0]!.points, violations: r.measures[0]!.violations };
    }
    // The least a run must do: read every reading of the window once, ordered, and summarise each machine.
    const rows = (await ctx.source.raw('SELECT eqp_id, insp_val FROM gauge WHERE insp_dt >= ? AND insp_dt < ? ORDER BY eqp_id, insp_dt', [
      `${FIRST_DAY} 06:00:00`,
      '2026-11-11 06:00:00',
    ])) as { eqp_id: string; insp_val: number }[];
    let start = 0;
    for (let i = 1; i <= rows.length; i++) {
      if (i < rows.length && rows[i]!.eqp_id === rows[start]!.eqp_id) continue;
      const xs = rows.slice(start, i).map((r) => r.insp_val);
      mean(xs);
      sampleStandardDeviation(xs);
      start = i;
    }
    return { ms: performance.now() - t0, points: rows.length, violations: 0 };
  } finally {
    await ctx.close();
    rmSync(target, { recursive: true, force: true });
  }
}

/**
 * The demo data (data/generate.ts, the shipped config/default.yaml) charted two ways: one first run
 * for 2026-11-10 over its 30-day window, and night by night from 10-19 (the first day after the
 * gap's baseline) to 11-10. Per measure: alert emails sent, events whose opening was news, events
 * found as history, and violations first seen. Emails go to .eml files (no SMTP_URL).
 */
async function runDemoCase(): Promise<Omit<Sample, 'maxRssMb'>> {
  const { readFileSync } = await import('node:fs');
  const { parse } = await import('yaml');
  const { defaultConfigPath } = await import('../../config/load.js');
  const { generate } = await import('../../data/generate.js');
  const { dateRange } = await import('../../etl/periods.js');
  const t0 = performance.now();
  const out = {} as DemoAlerts;
  let points = 0;
  for (const mode of ['first', 'nightly'] as const) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-spc-demo-bench-'));
    const raw = parse(readFileSync(defaultConfigPath(), 'utf8')) as Record<string, any>;
    raw.mail = { ...raw.mail, outDir: path.join(dir, 'mail') };
    const cfg = resolveConfig(raw, { SOURCE_DATABASE_URL: `sqlite:${path.join(dir, 'demo.sqlite')}` }, 'default.yaml');
    const ctx = openEtlContext(cfg, pino({ level: 'silent' }));
    try {
      await generate(ctx.source, { rows: DEMO_ROWS, seed: 42, start: FIRST_DAY, days: 30, timezone: cfg.plant.timezone, dayStart: cfg.plant.dayStart, timestamps: cfg.source.timestamps, mapping: cfg.source });
      await migrate(ctx.target, ctx.targetSchema);
      const stats: DemoAlerts['first'] = {};
      for (const day of mode === 'first' ? [LAST_DAY] : dateRange('2026-10-19', LAST_DAY)) {
        const r = await runSpc(ctx, { days: [day], triggeredBy: 'bench' });
        for (const m of r.measures) {
          const st = (stats[m.measure] ??= { emails: 0, opened: 0, history: 0, newViolations: 0 });
          if (m.alert.status === 'sent') st.emails++;
          st.opened += m.events.opened - m.events.history;
          st.history += m.events.history;
          st.newViolations += m.newViolations;
          points += m.points;
        }
      }
      out[mode] = stats;
    } finally {
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { ms: performance.now() - t0, points, violations: 0, demo: out };
}

function measure(name: CaseName): Sample {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--case', name], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'silent' },
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`measurement ${name} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Sample;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  group: string;
  case: CaseName;
  what: string;
  points: number;
  seconds: number;
  peakRssMb: number;
  usPerPoint: number;
  violations: number;
  /** Seconds relative to the group's baseline. */
  vsBaseline: number;
}

const CASES: { group: string; case: CaseName; what: string; baseline?: true }[] = [
  ...(['I-MR', 'Xbar-S', 'p'] as const).flatMap((k) => [
    { group: k, case: `meansd:${k}` as CaseName, what: 'baseline: mean and SD of each series', baseline: true as const },
    { group: k, case: `limits:${k}` as CaseName, what: 'control limits of the series only (no points, no rules)' },
    { group: k, case: `spc:${k}` as CaseName, what: `chart + paired chart, Nelson rules ${k === 'p' ? '1–4' : '1–8'}${k === 'p' ? '' : ', capability'}` },
  ]),
  { group: 'job (SQLite)', case: 'read-meansd', what: 'baseline: read the readings ordered, mean and SD per machine', baseline: true },
  { group: 'job (SQLite)', case: 'job', what: 'runSpc: read, judge, store points + violations + events, freeze limits' },
];

/** SPC_BENCH_CASES=job,read-meansd measures a part; demo-alerts is measured once (SPC_BENCH_DEMO=0 leaves it out). */
const ONLY = process.env.SPC_BENCH_CASES ? new Set(process.env.SPC_BENCH_CASES.split(',').map((c) => c.trim())) : null;

async function main(): Promise<void> {
  await ensureReadings();
  const rows: Row[] = [];
  const cases = CASES.filter((c) => !ONLY || ONLY.has(c.case));
  for (const group of [...new Set(cases.map((c) => c.group))]) {
    let baseline = NaN;
    for (const c of cases.filter((x) => x.group === group)) {
      measure(c.case); // warm-up: file cache, JIT-independent start-up
      const samples = Array.from({ length: REPEATS }, () => measure(c.case));
      const seconds = median(samples.map((s) => s.ms)) / 1000;
      if (c.baseline) baseline = seconds;
      const row: Row = {
        group,
        case: c.case,
        what: c.what,
        points: samples[0]!.points,
        seconds,
        peakRssMb: Math.max(...samples.map((s) => s.maxRssMb)),
        usPerPoint: (seconds * 1e6) / samples[0]!.points,
        violations: samples[0]!.violations,
        vsBaseline: seconds / baseline,
      };
      rows.push(row);
      console.log(`${group.padEnd(13)} ${c.case.padEnd(14)} ${seconds.toFixed(3)} s, ${row.usPerPoint.toFixed(2)} µs/point, peak RSS ${row.peakRssMb.toFixed(0)} MB, ${row.vsBaseline.toFixed(1)} × baseline`);
    }
  }
  let demo: DemoAlerts | undefined;
  if (process.env.SPC_BENCH_DEMO !== '0') {
    demo = measure('demo-alerts').demo;
    console.log(`demo alerts (${DEMO_ROWS.toLocaleString('en')} test records): ${JSON.stringify(demo)}`);
  }
  const outDir = path.join(root, 'out', 'bench');
  mkdirSync(outDir, { recursive: true });
  const meta = { charts: CHARTS, pointsPerChart: POINTS, subgroupSize: SUBGROUP, repeats: REPEATS, node: process.version, cpus: os.cpus().length, at: new Date().toISOString() };
  writeFileSync(path.join(outDir, 'spc.json'), JSON.stringify({ ...meta, results: rows, demo }, null, 2));
  const md = [
    `SPC on ${CHARTS} charts × ${POINTS.toLocaleString('en')} points (X̄-S: subgroups of ${SUBGROUP}); median of ${REPEATS} runs, each in a fresh process; ${os.cpus().length} CPUs, Node ${process.version}.`,
    '',
    '| chart | case | points | seconds | µs / point | peak RSS | vs baseline | violations |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.group} | ${r.what} | ${r.points.toLocaleString('en')} | ${r.seconds.toFixed(3)} | ${r.usPerPoint.toFixed(2)} | ${r.peakRssMb.toFixed(0)} MB | ${r.vsBaseline.toFixed(1)} × | ${r.violations.toLocaleString('en')} |`,
    ),
    ...(demo
      ? [
          '',
          `The demo (${DEMO_ROWS.toLocaleString('en')} test records, config/default.yaml): alert emails, events alerted as news, events found as history, violations first seen.`,
          '',
          '| measure | first run over 30 days: emails / news / history / violations | nightly 10-19 … 11-10: emails / news / history / violations |',
          '|---|---:|---:|',
          ...Object.keys(demo.nightly).map((m) => {
            const f = demo!.first[m]!;
            const n = demo!.nightly[m]!;
            return `| ${m} | ${f.emails} / ${f.opened} / ${f.history} / ${f.newViolations.toLocaleString('en')} | ${n.emails} / ${n.opened} / ${n.history} / ${n.newViolations.toLocaleString('en')} |`;
          }),
        ]
      : []),
  ].join('\n');
  writeFileSync(path.join(outDir, 'spc.md'), `${md}\n`);
  console.log(`\n${md}\n\nwritten to out/bench/spc.{json,md}`);
}

const caseArg = process.argv.indexOf('--case');
if (caseArg > 0) {
  runCase(process.argv[caseArg + 1] as CaseName)
    .then((r) => process.stdout.write(`${JSON.stringify({ ...r, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
