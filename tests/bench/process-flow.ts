/**
 * `npm run bench:flow` (and part of `npm run bench`): the process-flow job beside the nightly
 * summary of the same data in the same run, on the 600 k-record reference data (30 days) and one
 * 2 M-record day, SQLite and PostgreSQL, each measurement in a fresh process (its peak RSS its own).
 * Uses the data sets of tests/bench/data-sets.ts (BENCH_SCALE=0.1 a tenth of the volume,
 * BENCH_DATABASES=sqlite one database, BENCH_REPEATS runs per side, default 3).
 * Results: a table on stdout and out/bench/process-flow.{json,md}.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addDays } from '../../etl/periods.js';
import type { CaseName, MeasureArgs } from './measure.js';
import { backends, DATA_SETS, ensureData, root, SCALE } from './data-sets.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const DATABASES = (process.env.BENCH_DATABASES ?? 'sqlite,postgres').split(',').map((s) => s.trim());
const SETS = ['ref600k', 'day2m'];

interface Sample {
  ms: number;
  maxRssMb: number;
  rows: number;
}

function measure(name: CaseName, args: MeasureArgs): Sample {
  const r = spawnSync(process.execPath, [path.join(here, 'measure.js'), name, JSON.stringify(args)], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' }, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`measurement ${name} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Sample;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  backend: string;
  dataSet: string;
  summaryS: number;
  flowS: number;
  summaryRssMb: number;
  flowRssMb: number;
  records: number;
  cases: number;
}

async function main(): Promise<void> {
  const results: Row[] = [];
  for (const b of backends.filter((x) => DATABASES.includes(x.name))) {
    for (const ds of DATA_SETS.filter((x) => SETS.includes(x.id))) {
      await ensureData(b, ds);
      const args: MeasureArgs = { ...b.place(ds), from: ds.start, to: addDays(ds.start, ds.days - 1) };
      const summary: Sample[] = [];
      const flow: Sample[] = [];
      for (let i = 0; i < REPEATS; i++) {
        summary.push(measure('summary', args));
        flow.push(measure('flow', args));
      }
      const row: Row = {
        backend: b.name,
        dataSet: ds.label,
        summaryS: median(summary.map((s) => s.ms)) / 1000,
        flowS: median(flow.map((s) => s.ms)) / 1000,
        summaryRssMb: Math.max(...summary.map((s) => s.maxRssMb)),
        flowRssMb: Math.max(...flow.map((s) => s.maxRssMb)),
        records: summary[0]!.rows,
        cases: flow[0]!.rows,
      };
      results.push(row);
      console.log(`${row.backend.padEnd(8)} ${row.dataSet.padEnd(42)} nightly summary ${row.summaryS.toFixed(2)} s / ${row.summaryRssMb.toFixed(0)} MB, process flow ${row.flowS.toFixed(2)} s / ${row.flowRssMb.toFixed(0)} MB`);
    }
  }
  const md = [
    `Process flow beside the nightly summary of the same data, measured in the same run: median of ${REPEATS} runs each, each in a fresh process, alternating; ` +
      `peak RSS the largest of the runs. Scale ${SCALE}; ${os.cpus().length} CPUs (shared), Node ${process.version}, ${new Date().toISOString()}.`,
    '',
    '| database | data | records read | cases | nightly summary | process flow | ratio | peak RSS (summary / flow) |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.backend} | ${r.dataSet} | ${r.records.toLocaleString('en')} | ${r.cases.toLocaleString('en')} | ${r.summaryS.toFixed(2)} s | ${r.flowS.toFixed(2)} s | ${(r.flowS / r.summaryS).toFixed(2)} × | ${r.summaryRssMb.toFixed(0)} MB / ${r.flowRssMb.toFixed(0)} MB |`,
    ),
  ].join('\n');
  const outDir = path.join(root, 'out', 'bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'process-flow.json'), JSON.stringify({ scale: SCALE, repeats: REPEATS, at: new Date().toISOString(), results }, null, 2));
  writeFileSync(path.join(outDir, 'process-flow.md'), `${md}\n`);
  console.log(`\n${md}\n\nwritten to out/bench/process-flow.{json,md}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
