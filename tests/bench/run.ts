/**
 * `npm run bench`: the nightly summary against a hand-written baseline query, on SQLite and
 * PostgreSQL, each measurement in a fresh process. Data sets are generated once (seeded) and kept
 * in .tmp/bench/ and in PostgreSQL schemas yr_bench_*; BENCH_SCALE=0.1 runs a tenth of the volume,
 * BENCH_DATABASES=postgres (or sqlite) one database only, BENCH_DATA_SETS=day200k,day2m,ref600k
 * some data sets only, BENCH_QUEUE=0 no queue overhead. A range of days is also measured on its last
 * day alone, the rest of the range being that day's history (the nightly case as a plant has it).
 * Results: a table on stdout and out/bench/nightly-summary.{json,md}.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addDays } from '../../etl/periods.js';
import type { MeasureArgs, CaseName } from './measure.js';
import { backends, DATA_SETS, DAY, dataSet, ensureData, isolatedDay, root, SCALE, volume, type Backend, type DataSet } from './data-sets.js';
import { comparePandas, pandasMissing, runPandas, type PandasSample } from './pandas-baseline.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
/** BENCH_DATABASES=postgres (or sqlite) measures one database only; default both. */
const DATABASES = (process.env.BENCH_DATABASES ?? 'sqlite,postgres').split(',').map((s) => s.trim());

/** BENCH_DATA_SETS=day200k,day2m measures those data sets only; default all. */
const SETS = (process.env.BENCH_DATA_SETS ?? DATA_SETS.map((x) => x.id).join(',')).split(',').map((x) => x.trim());
/** BENCH_QUEUE=0 leaves out the queue overhead. */
const QUEUE = process.env.BENCH_QUEUE !== '0';
/** BENCH_PANDAS=0 leaves out the pandas script on the full recomputes. */
const PANDAS = process.env.BENCH_PANDAS !== '0';
/** BENCH_BASELINE_SETS=ref600k measures the hand-written query × days on those data sets only (it takes long at 6 M). */
const BASELINE_SETS = process.env.BENCH_BASELINE_SETS?.split(',').map((x) => x.trim());
/** The tenfold growth of a full recompute: the reference month against ten times its volume. */
const SMALL_RANGE = 'ref600k';
const LARGE_RANGE = 'ref6m';
/** The day whose PostgreSQL temp files are measured. */
const TEMP_DAY = 'day2m';
/** BENCH_WARMUP=0 measures without the warm-up runs (for figures that take minutes). */
const WARMUP = process.env.BENCH_WARMUP !== '0';
/** BENCH_TEMP=0 leaves out PostgreSQL's temp files. */
const TEMP = process.env.BENCH_TEMP !== '0';
/** The tenfold growth whose peak RSS must stay flat: the 2 M day against the 200 k day. */
const SMALL_DAY = 'day200k';
const LARGE_DAY = 'day2m';

/** Targets for the nightly summary's time against the baseline query on the same database. */
const TARGET_RATIO: Record<Backend['name'], number> = { sqlite: 1.3, postgres: 1.1 };
/** Targets for a full recompute: how many times faster than the pandas script. */
const PANDAS_TARGET: Record<Backend['name'], number> = { sqlite: 2, postgres: 5 };

/** For the queue overhead: the nightly summary of one 600 k-record day, inline and through Redis. */
const QUEUE_DATA_SET: DataSet = dataSet('day600k', Math.round(600_000 * SCALE), DAY, 1);

interface Sample {
  ms: number;
  maxRssMb: number;
  rows: number;
  check: string;
  startLatencyMs?: number;
  tempMb?: number;
  daysChosen?: number;
}

function measure(name: CaseName, args: MeasureArgs): Sample {
  const r = spawnSync(process.execPath, [path.join(here, 'measure.js'), name, JSON.stringify(args)], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'silent' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`measurement ${name} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Sample;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  backend: Backend['name'];
  dataSetId: string;
  dataSet: string;
  rows: number;
  summaryS: number;
  /** NaN where the baseline was not measured (BENCH_BASELINE_SETS). */
  baselineS: number;
  ratio: number;
  target: number;
  /** Records of the data set per second: the summary's rows read over each side's median time. */
  recordsPerS: number;
  baselineRecordsPerS: number;
  summaryRssMb: number;
  /** The scheduled run: how many days it chose (yesterday and the lookback's). */
  daysChosen?: number;
  baselineRssMb: number;
  agrees: boolean | null;
  /** The pandas script on a full recompute: time, peak RSS, and whether its rows match. */
  pandas?: { s: number; rssMb: number; agrees: boolean; rowsCompared: number; speedup: number } | { skipped: string };
}

interface RssGrowth {
  backend: Backend['name'];
  smallRows: number;
  largeRows: number;
  summarySmallMb: number;
  summaryLargeMb: number;
  summaryRatio: number;
  baselineSmallMb: number;
  baselineLargeMb: number;
  baselineRatio: number;
}

type Queue = Awaited<ReturnType<typeof queueOverhead>>;

interface TempFiles {
  dataSet: string;
  tempMb: number;
}

const s2 = (x: number) => `${x.toFixed(2)} s`;
const int = (x: number) => Math.round(x).toLocaleString('en');
const mb = (x: number) => `${x.toFixed(0)} MB`;
/** A figure, or what stands where it was not measured. */
const orNot = (x: number, f: (x: number) => string) => (Number.isFinite(x) ? f(x) : 'not measured');

function rssGrowth(results: Row[]): RssGrowth[] {
  const out: RssGrowth[] = [];
  for (const b of backends) {
    const small = results.find((r) => r.backend === b.name && r.dataSetId === SMALL_DAY);
    const large = results.find((r) => r.backend === b.name && r.dataSetId === LARGE_DAY);
    if (!small || !large) continue;
    out.push({
      backend: b.name,
      smallRows: small.rows,
      largeRows: large.rows,
      summarySmallMb: small.summaryRssMb,
      summaryLargeMb: large.summaryRssMb,
      summaryRatio: large.summaryRssMb / small.summaryRssMb,
      baselineSmallMb: small.baselineRssMb,
      baselineLargeMb: large.baselineRssMb,
      baselineRatio: large.baselineRssMb / small.baselineRssMb,
    });
  }
  return out;
}

function markdown(results: Row[], queue: Queue | null, temp: TempFiles[]): string {
  const small = DATA_SETS.find((d) => d.id === SMALL_DAY)!;
  const large = DATA_SETS.find((d) => d.id === LARGE_DAY)!;
  const parts = [
    `Nightly summary against the hand-written baseline query, measured in the same run: median of ${REPEATS} runs${WARMUP ? ' after one warm-up' : ', no warm-up'}, each in a fresh process, ` +
      `alternating; peak RSS is the largest of the runs. Scale ${SCALE}; ${os.cpus().length} CPUs (shared), Node ${process.version}, ${new Date().toISOString()}.`,
    '',
    '| database | data | records | nightly summary | baseline query | ratio (target) | records/s (summary / baseline) | peak RSS (summary / baseline) | same numbers |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
    ...results.map(
      (r) =>
        `| ${r.backend} | ${r.dataSet} | ${int(r.rows)} | ${s2(r.summaryS)} | ${orNot(r.baselineS, s2)} | ${Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)} ×` : '–'}${r.dataSetId === SMALL_DAY || r.dataSetId === LARGE_DAY ? ` (≤ ${r.target} ×: ${r.ratio <= r.target ? 'met' : 'NOT met'})` : ''} | ` +
        `${int(r.recordsPerS)} / ${orNot(r.baselineRecordsPerS, int)} | ${mb(r.summaryRssMb)} / ${orNot(r.baselineRssMb, mb)} | ${r.agrees === null ? 'n/a (range)' : r.agrees ? 'yes' : 'NO'} |`,
    ),
  ];
  // The full recomputes against the pandas script, with the targets 5 × (PostgreSQL) and 2 × (SQLite).
  const ranges = results.filter((r) => r.pandas);
  if (ranges.length) {
    parts.push(
      '',
      'Full recompute against the pandas script (tests/bench/pandas_summary.py, Debian python3-pandas) on the same database, alternating with the summary; the pandas figure is its own time from reading to result, and its own peak RSS:',
      '',
      '| database | data | records | nightly summary | pandas script | pandas / summary (target) | records/s (summary / pandas) | peak RSS (summary / pandas) | same numbers |',
      '|---|---|---:|---:|---:|---:|---:|---:|---|',
      ...ranges.map((r) => {
        const p = r.pandas!;
        if (!('s' in p)) return `| ${r.backend} | ${r.dataSet} | ${int(r.rows)} | ${s2(r.summaryS)} | skipped: ${p.skipped} | | | | |`;
        const target = PANDAS_TARGET[r.backend];
        return (
          `| ${r.backend} | ${r.dataSet} | ${int(r.rows)} | ${s2(r.summaryS)} | ${s2(p.s)} | ${p.speedup.toFixed(2)} × (≥ ${target} ×: ${p.speedup >= target ? 'met' : 'NOT met'}) | ` +
          `${int(r.recordsPerS)} / ${int(r.rows / p.s)} | ${mb(r.summaryRssMb)} / ${mb(p.rssMb)} | ${p.agrees ? `yes (${int(p.rowsCompared)} day rows)` : 'NO'} |`
        );
      }),
    );
  }
  const rangeGrowth = growthOf(results, SMALL_RANGE, LARGE_RANGE);
  if (rangeGrowth.length) {
    parts.push(
      '',
      'How a full recompute grows from the reference month to ten times its volume (time and peak RSS, large / small; target: time linear or better, summary RSS ≤ 1.2 ×):',
      '',
      '| database | records | summary time | summary RSS | pandas time | pandas RSS |',
      '|---|---|---:|---:|---:|---:|',
      ...rangeGrowth.map(
        (g) =>
          `| ${g.backend} | ${int(g.small.rows)} → ${int(g.large.rows)} (${(g.large.rows / g.small.rows).toFixed(2)} ×) | ${(g.large.summaryS / g.small.summaryS).toFixed(2)} × | ${(g.large.summaryRssMb / g.small.summaryRssMb).toFixed(2)} × | ` +
          `${g.pandas ? `${g.pandas.time.toFixed(2)} ×` : '–'} | ${g.pandas ? `${g.pandas.rss.toFixed(2)} ×` : '–'} |`,
      ),
    );
  }
  if (temp.length) {
    parts.push(
      '',
      'PostgreSQL temp files written by the summary statement (EXPLAIN (ANALYZE, BUFFERS), under the run\'s work_mem; target at the 2 M day: none):',
      '',
      '| data | temp written |',
      '|---|---:|',
      ...temp.map((t) => `| ${t.dataSet} | ${mb(t.tempMb)} |`),
    );
  }
  // The nightly day inside its history against the same day's records alone, with the target 1.2 ×.
  const inside = results.filter((r) => r.dataSetId.endsWith('-last'));
  const twin = (r: Row, suffix: string) => results.find((x) => x.backend === r.backend && x.dataSetId === r.dataSetId.replace(/-last$/, suffix));
  const pairs = inside.flatMap((r) => (twin(r, '-alone') ? [{ r, alone: twin(r, '-alone')!, scheduled: twin(r, '-scheduled') }] : []));
  if (pairs.length) {
    parts.push(
      '',
      'The nightly day inside its history against the same day\'s records alone (target ≤ 1.2 ×), and the run the schedule makes the morning after (yesterday and the lookback\'s days it chooses):',
      '',
      '| database | records of the day | day alone | day inside history | ratio | scheduled run (days chosen) | ratio to the day alone |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...pairs.map(({ r, alone, scheduled }) => {
        const ratio = r.summaryS / alone.summaryS;
        const sched = scheduled ? `${s2(scheduled.summaryS)} (${scheduled.daysChosen}) | ${(scheduled.summaryS / alone.summaryS).toFixed(2)} ×` : 'not measured | ';
        return `| ${r.backend} | ${int(r.rows)} | ${s2(alone.summaryS)} | ${s2(r.summaryS)} | ${ratio.toFixed(2)} × (${ratio <= 1.2 ? 'met' : 'NOT met'}) | ${sched} |`;
      }),
    );
  }
  const growth = rssGrowth(results);
  if (growth.length) {
    parts.push(
      '',
      `Peak RSS when the day grows tenfold (${small.label} → ${large.label}):`,
      '',
      `| database | summary: ${volume(small.rows)} day | summary: ${volume(large.rows)} day | summary RSS ratio ${volume(large.rows)} / ${volume(small.rows)} | baseline: ${volume(small.rows)} day | baseline: ${volume(large.rows)} day | baseline RSS ratio ${volume(large.rows)} / ${volume(small.rows)} |`,
      '|---|---:|---:|---:|---:|---:|---:|',
      ...growth.map(
        (g) =>
          `| ${g.backend} | ${mb(g.summarySmallMb)} | ${mb(g.summaryLargeMb)} | ${g.summaryRatio.toFixed(2)} × | ${mb(g.baselineSmallMb)} | ${mb(g.baselineLargeMb)} | ${g.baselineRatio.toFixed(2)} × |`,
      ),
    );
  }
  if (queue) {
    parts.push(
      '',
      '| nightly summary of one day | records | inline | through the queue | overhead | enqueue → start (median) |',
      '|---|---:|---:|---:|---:|---:|',
      `| PostgreSQL, ${QUEUE_DATA_SET.label} | ${int(queue.rows)} | ${s2(queue.inlineS)} | ${s2(queue.queuedS)} | ${(100 * queue.overhead).toFixed(1)} % | ${queue.startLatencyMs.toFixed(0)} ms |`,
    );
  } else {
    parts.push('', '(queue overhead: not measured in this run)');
  }
  return `${parts.join('\n')}\n`;
}

function growthOf(results: Row[], smallId: string, largeId: string) {
  return backends.flatMap((b) => {
    const small = results.find((r) => r.backend === b.name && r.dataSetId === smallId);
    const large = results.find((r) => r.backend === b.name && r.dataSetId === largeId);
    if (!small || !large) return [];
    const ps = small.pandas && 's' in small.pandas ? small.pandas : null;
    const pl = large.pandas && 's' in large.pandas ? large.pandas : null;
    return [{ backend: b.name, small, large, pandas: ps && pl ? { time: pl.s / ps.s, rss: pl.rssMb / ps.rssMb } : null }];
  });
}

function writeResults(results: Row[], queue: Queue | null, temp: TempFiles[]): string {
  const outDir = path.join(root, 'out', 'bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    path.join(outDir, 'nightly-summary.json'),
    JSON.stringify({ scale: SCALE, repeats: REPEATS, node: process.version, cpus: os.cpus().length, at: new Date().toISOString(), results, rssGrowth: rssGrowth(results), queue, temp }, null, 2),
  );
  const md = markdown(results, queue, temp);
  writeFileSync(path.join(outDir, 'nightly-summary.md'), md);
  return md;
}

async function main(): Promise<void> {
  const results: Row[] = [];
  for (const b of backends.filter((x) => DATABASES.includes(x.name))) {
    for (const ds of DATA_SETS.filter((x) => SETS.includes(x.id))) {
      await ensureData(b, ds);
      const place = b.place(ds);
      await measureCase(b, ds, { ...place, from: ds.start, to: addDays(ds.start, ds.days - 1) }, ds.label, results);
      // The nightly case as a plant has it: the range's last day, with the rest as its history.
      if (ds.days > 1) {
        const last = addDays(ds.start, ds.days - 1);
        await measureCase(b, { ...ds, id: `${ds.id}-last` }, { ...place, from: last, to: last }, `one day inside ${ds.days - 1} days of history`, results);
        // The run the schedule makes the morning after: yesterday and the lookback's days it chooses.
        await measureCase(b, { ...ds, id: `${ds.id}-scheduled` }, { ...place, from: last, to: last }, 'the scheduled run the morning after', results, 'scheduled');
        // The same day's records alone: what the day costs without its history.
        await measureCase(b, { ...ds, id: `${ds.id}-alone` }, { ...(await isolatedDay(b, ds, last)), from: last, to: last }, 'the same day alone', results);
      }
    }
  }
  const temp = DATABASES.includes('postgres') && TEMP ? await tempFiles() : [];
  const queue = QUEUE ? await queueOverhead() : null;
  const md = writeResults(results, queue, temp);
  console.log(`\n${md}\nwritten to out/bench/nightly-summary.{json,md}`);
  if (results.some((r) => r.agrees === false)) {
    console.error('the nightly summary and the baseline disagree on a day: see above');
    process.exitCode = 1;
  }
}

/**
 * One data set and range: the summary, the baseline and (on a full recompute) the pandas script
 * alternating, after one warm-up of each.
 */
async function measureCase(b: Backend, ds: DataSet, args: MeasureArgs, label: string, results: Row[], kind: 'summary' | 'scheduled' = 'summary'): Promise<void> {
  const oneDay = args.from === args.to;
  // The scheduled run computes more days than the baseline's one: it has no baseline of its own.
  const withBaseline = kind === 'summary' && (!BASELINE_SETS || BASELINE_SETS.includes(ds.id.replace(/-(last|alone)$/, '')));
  const missing = PANDAS && !oneDay ? pandasMissing(b.name) : null;
  if (missing) console.log(`pandas baseline skipped on ${b.name}: ${missing}`);
  const withPandas = PANDAS && !oneDay && !missing;
  const ours: Sample[] = [];
  const base: Sample[] = [];
  const pandas: PandasSample[] = [];
  // Alternate, after one warm-up of each (BENCH_WARMUP=0: none), so caches favour neither side.
  if (WARMUP) {
    if (withBaseline) measure('baseline', args);
    measure(kind, args);
    if (withPandas) runPandas(args, `${b.name}-${ds.id}`);
  }
  let pandasCheck: Awaited<ReturnType<typeof comparePandas>> | null = null;
  for (let i = 0; i < REPEATS; i++) {
    if (withBaseline) base.push(measure('baseline', args));
    ours.push(measure(kind, args));
    if (withPandas) {
      pandas.push(runPandas(args, `${b.name}-${ds.id}`));
      // Against the rows the summary just wrote for the same days.
      if (!pandasCheck) pandasCheck = await comparePandas(args, pandas[0]!.out);
    }
  }
  const summaryS = median(ours.map((s) => s.ms)) / 1000;
  const baselineS = withBaseline ? median(base.map((s) => s.ms)) / 1000 : NaN;
  const rows = ours[0]!.rows;
  const row: Row = {
    backend: b.name,
    dataSetId: ds.id,
    dataSet: label,
    rows,
    summaryS,
    baselineS,
    ratio: summaryS / baselineS,
    target: TARGET_RATIO[b.name],
    recordsPerS: rows / summaryS,
    baselineRecordsPerS: rows / baselineS,
    summaryRssMb: Math.max(...ours.map((s) => s.maxRssMb)),
    baselineRssMb: withBaseline ? Math.max(...base.map((s) => s.maxRssMb)) : NaN,
    agrees: oneDay && withBaseline ? ours.every((s) => s.check === base[0]!.check) && base.every((s) => s.check === base[0]!.check) : null,
    ...(kind === 'scheduled' ? { daysChosen: ours[0]!.daysChosen } : {}),
  };
  if (withPandas) {
    const s = median(pandas.map((x) => x.ms)) / 1000;
    row.pandas = { s, rssMb: Math.max(...pandas.map((x) => x.maxRssMb)), agrees: pandasCheck!.differences.length === 0, rowsCompared: pandasCheck!.rows, speedup: s / summaryS };
    if (pandasCheck!.differences.length) console.error(`pandas and the nightly summary differ:\n${pandasCheck!.differences.slice(0, 20).join('\n')}`);
  } else if (!oneDay) row.pandas = { skipped: missing ?? 'BENCH_PANDAS=0' };
  results.push(row);
  const p = row.pandas && 's' in row.pandas ? row.pandas : null;
  console.log(
    `${b.name.padEnd(8)} ${label.padEnd(42)} summary ${summaryS.toFixed(2)} s, baseline ${withBaseline ? `${baselineS.toFixed(2)} s` : 'not measured'}, ` +
      `ratio ${row.ratio.toFixed(2)} (target ≤ ${row.target}), ${Math.round(row.recordsPerS)} records/s (baseline ${Math.round(row.baselineRecordsPerS)}), ` +
      `peak RSS ${row.summaryRssMb.toFixed(0)} MB (baseline ${row.baselineRssMb.toFixed(0)} MB)` +
      (row.agrees === null ? '' : row.agrees ? ', same numbers' : ', NUMBERS DIFFER') +
      (p ? `; pandas ${p.s.toFixed(2)} s (${p.speedup.toFixed(2)} × the summary), peak RSS ${p.rssMb.toFixed(0)} MB, ${p.agrees ? 'same numbers' : 'NUMBERS DIFFER'} (${p.rowsCompared} rows)` : ''),
  );
  // Partial results after each data set: a long run that is interrupted still leaves its figures.
  writeResults(results, null, []);
}

/** PostgreSQL's temp files for the summary statement of a day (EXPLAIN ANALYZE's temp blocks written). */
async function tempFiles(): Promise<TempFiles[]> {
  const pg = backends.find((x) => x.name === 'postgres')!;
  const out: TempFiles[] = [];
  for (const ds of DATA_SETS.filter((x) => (x.id === TEMP_DAY || x.id === LARGE_RANGE) && SETS.includes(x.id))) {
    await ensureData(pg, ds);
    const args: MeasureArgs = { ...pg.place(ds), from: ds.start, to: addDays(ds.start, ds.days - 1) };
    const s = measure('temp', args);
    out.push({ dataSet: ds.label, tempMb: s.tempMb ?? 0 });
    console.log(`postgres temp files, ${ds.label}: ${(s.tempMb ?? 0).toFixed(0)} MB written by the summary statement`);
  }
  return out;
}

/** The same summary inline and through Redis with a real worker, alternating, medians. */
async function queueOverhead(): Promise<{ rows: number; inlineS: number; queuedS: number; overhead: number; startLatencyMs: number }> {
  const pg = backends.find((b) => b.name === 'postgres')!;
  await ensureData(pg, QUEUE_DATA_SET);
  const args: MeasureArgs = { ...pg.place(QUEUE_DATA_SET), from: DAY, to: DAY };
  measure('summary', args);
  const inline: Sample[] = [];
  const queued: Sample[] = [];
  for (let i = 0; i < REPEATS; i++) {
    inline.push(measure('summary', args));
    queued.push(measure('queued', args));
  }
  const inlineS = median(inline.map((s) => s.ms)) / 1000;
  const queuedS = median(queued.map((s) => s.ms)) / 1000;
  const r = { rows: inline[0]!.rows, inlineS, queuedS, overhead: queuedS / inlineS - 1, startLatencyMs: median(queued.map((s) => s.startLatencyMs ?? 0)) };
  console.log(`queue overhead on ${QUEUE_DATA_SET.label}: inline ${inlineS.toFixed(2)} s, queued ${queuedS.toFixed(2)} s (${(100 * r.overhead).toFixed(1)} %), enqueue → start ${r.startLatencyMs.toFixed(0)} ms`);
  return r;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
