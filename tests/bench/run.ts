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
import { backends, DATA_SETS, DAY, dataSet, ensureData, root, SCALE, volume, type Backend, type DataSet } from './data-sets.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
/** BENCH_DATABASES=postgres (or sqlite) measures one database only; default both. */
const DATABASES = (process.env.BENCH_DATABASES ?? 'sqlite,postgres').split(',').map((s) => s.trim());

/** BENCH_DATA_SETS=day200k,day2m measures those data sets only; default all. */
const SETS = (process.env.BENCH_DATA_SETS ?? DATA_SETS.map((x) => x.id).join(',')).split(',').map((x) => x.trim());
/** BENCH_QUEUE=0 leaves out the queue overhead. */
const QUEUE = process.env.BENCH_QUEUE !== '0';
/** The tenfold growth whose peak RSS must stay flat: the 2 M day against the 200 k day. */
const SMALL_DAY = 'day200k';
const LARGE_DAY = 'day2m';

/** Targets for the nightly summary's time against the baseline query on the same database. */
const TARGET_RATIO: Record<Backend['name'], number> = { sqlite: 1.3, postgres: 1.1 };

/** For the queue overhead: the nightly summary of one 600 k-record day, inline and through Redis. */
const QUEUE_DATA_SET: DataSet = dataSet('day600k', Math.round(600_000 * SCALE), DAY, 1);

interface Sample {
  ms: number;
  maxRssMb: number;
  rows: number;
  check: string;
  startLatencyMs?: number;
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
  baselineS: number;
  ratio: number;
  target: number;
  /** Records of the data set per second: the summary's rows read over each side's median time. */
  recordsPerS: number;
  baselineRecordsPerS: number;
  summaryRssMb: number;
  baselineRssMb: number;
  agrees: boolean | null;
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

const s2 = (x: number) => `${x.toFixed(2)} s`;
const int = (x: number) => Math.round(x).toLocaleString('en');
const mb = (x: number) => `${x.toFixed(0)} MB`;

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

function markdown(results: Row[], queue: Queue | null): string {
  const small = DATA_SETS.find((d) => d.id === SMALL_DAY)!;
  const large = DATA_SETS.find((d) => d.id === LARGE_DAY)!;
  const parts = [
    `Nightly summary against the hand-written baseline query, measured in the same run: median of ${REPEATS} runs after one warm-up, each in a fresh process, ` +
      `alternating; peak RSS is the largest of the runs. Scale ${SCALE}; ${os.cpus().length} CPUs (shared), Node ${process.version}, ${new Date().toISOString()}.`,
    '',
    '| database | data | records | nightly summary | baseline query | ratio (target) | records/s (summary / baseline) | peak RSS (summary / baseline) | same numbers |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
    ...results.map(
      (r) =>
        `| ${r.backend} | ${r.dataSet} | ${int(r.rows)} | ${s2(r.summaryS)} | ${s2(r.baselineS)} | ${r.ratio.toFixed(2)} × (≤ ${r.target} ×: ${r.ratio <= r.target ? 'met' : 'NOT met'}) | ` +
        `${int(r.recordsPerS)} / ${int(r.baselineRecordsPerS)} | ${mb(r.summaryRssMb)} / ${mb(r.baselineRssMb)} | ${r.agrees === null ? 'n/a (range)' : r.agrees ? 'yes' : 'NO'} |`,
    ),
  ];
  // The nightly day inside its history against the isolated day, per record of the day (the two
  // days differ in volume), with the target 1.2 ×.
  const inside = results.filter((r) => r.dataSetId.endsWith('-last'));
  const isolated = (b: string) => results.find((r) => r.backend === b && r.dataSetId === SMALL_DAY);
  const pairs = inside.flatMap((r) => (isolated(r.backend) ? [{ r, alone: isolated(r.backend)! }] : []));
  if (pairs.length) {
    const per100k = (x: Row) => (x.summaryS / x.rows) * 100_000;
    parts.push(
      '',
      'The day inside its history against the isolated day, per 100 k records of the day (target ≤ 1.2 ×):',
      '',
      '| database | isolated day | day inside history | ratio |',
      '|---|---:|---:|---:|',
      ...pairs.map(({ r, alone }) => {
        const ratio = per100k(r) / per100k(alone);
        return `| ${r.backend} | ${s2(per100k(alone))} (${int(alone.rows)} records) | ${s2(per100k(r))} (${int(r.rows)} records) | ${ratio.toFixed(2)} × (${ratio <= 1.2 ? 'met' : 'NOT met'}) |`;
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

function writeResults(results: Row[], queue: Queue | null): string {
  const outDir = path.join(root, 'out', 'bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    path.join(outDir, 'nightly-summary.json'),
    JSON.stringify({ scale: SCALE, repeats: REPEATS, node: process.version, cpus: os.cpus().length, at: new Date().toISOString(), results, rssGrowth: rssGrowth(results), queue }, null, 2),
  );
  const md = markdown(results, queue);
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
      }
    }
  }
  const queue = QUEUE ? await queueOverhead() : null;
  const md = writeResults(results, queue);
  console.log(`\n${md}\nwritten to out/bench/nightly-summary.{json,md}`);
  if (results.some((r) => r.agrees === false)) {
    console.error('the nightly summary and the baseline disagree on a day: see above');
    process.exitCode = 1;
  }
}

/** One data set and range: the summary and the baseline alternating, after one warm-up of each. */
async function measureCase(b: Backend, ds: DataSet, args: MeasureArgs, label: string, results: Row[]): Promise<void> {
  {
    {
      const oneDay = args.from === args.to;
      const ours: Sample[] = [];
      const base: Sample[] = [];
      // Alternate, after one warm-up of each, so caches favour neither side.
      measure('baseline', args);
      measure('summary', args);
      for (let i = 0; i < REPEATS; i++) {
        base.push(measure('baseline', args));
        ours.push(measure('summary', args));
      }
      const summaryS = median(ours.map((s) => s.ms)) / 1000;
      const baselineS = median(base.map((s) => s.ms)) / 1000;
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
        baselineRssMb: Math.max(...base.map((s) => s.maxRssMb)),
        agrees: oneDay ? ours.every((s) => s.check === base[0]!.check) && base.every((s) => s.check === base[0]!.check) : null,
      };
      results.push(row);
      console.log(
        `${b.name.padEnd(8)} ${label.padEnd(42)} summary ${summaryS.toFixed(2)} s, baseline ${baselineS.toFixed(2)} s, ` +
          `ratio ${row.ratio.toFixed(2)} (target ≤ ${row.target}), ${Math.round(row.recordsPerS)} records/s (baseline ${Math.round(row.baselineRecordsPerS)}), ` +
          `peak RSS ${row.summaryRssMb.toFixed(0)} MB (baseline ${row.baselineRssMb.toFixed(0)} MB)` +
          (row.agrees === null ? '' : row.agrees ? ', same numbers' : ', NUMBERS DIFFER'),
      );
      // Partial results after each data set: a long run that is interrupted still leaves its figures.
      writeResults(results, null);
    }
  }
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
