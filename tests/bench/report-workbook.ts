/**
 * The daily yield workbook with a 1 M-row detail sheet: the report's streaming writer against an
 * in-memory exceljs Workbook writing the same rows with the same formats, in the same run. Each
 * variant runs in a fresh process, so its peak RSS is its own.
 *
 *   npm run build && node dist/tests/bench/report-workbook.js
 *
 * BENCH_ROWS sets the row count (default 1,000,000); BENCH_REPEATS the runs per variant (median
 * time, largest RSS; default 1); BENCH_HEAP_MB the in-memory variant's heap limit (default 4096: it shares the machine).
 * Results: a markdown table on stdout and out/bench/report-workbook.{json,md}.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ExcelJS from 'exceljs';
import { NUMBER_FORMATS, PROD_TEST_COLUMNS } from '../../reports/columns.js';
import { excelDate, excelLocalTime, writeDailyYieldWorkbook } from '../../reports/daily-yield-workbook.js';
import { buildHeadline, buildPareto, buildTrend, rankWorstStations, type DailyYieldData, type ProdDay } from '../../reports/daily-yield-data.js';
import { productionDay } from '../../etl/periods.js';
import { columnLetter } from '../../reports/xlsx-stream-parts.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..', '..');
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 1);
const HEAP_MB = Number(process.env.BENCH_HEAP_MB ?? 4096);
const DAY = '2026-11-20';
const TZ = 'Europe/Berlin';

type Variant = 'streaming' | 'in-memory';

/** Deterministic product × test rows in the form the report's data module yields them. */
async function* rows(n: number): AsyncGenerator<Record<string, unknown>> {
  const computedAt = new Date('2026-11-21T05:30:00Z');
  for (let i = 0; i < n; i++) {
    // Progress for the parent: how far a variant got if it runs out of memory.
    if (i % 50_000 === 0) process.stdout.write(`${JSON.stringify({ progress: i, rssMb: process.memoryUsage().rss / 1024 / 1024 })}\n`);
    const units = 50 + (i % 200);
    const firstPass = units - (i % 17);
    const passed = Math.min(units, firstPass + (i % 5));
    const tests = units + (units - firstPass) + (i % 3);
    yield {
      period_type: i % 10 === 9 ? 'week' : 'day',
      period_label: i % 10 === 9 ? '2026-W47' : DAY,
      period_start: i % 10 === 9 ? '2026-11-16' : DAY,
      product: `PRODUCT-${String(Math.floor(i / 40)).padStart(6, '0')}`,
      test: `TEST_${String(i % 40).padStart(2, '0')}`,
      test_count: tests,
      pass_count: passed,
      fail_count: tests - passed,
      passing_rate: passed / tests,
      units_tested: units,
      first_pass_units: firstPass,
      passed_units: passed,
      scrapped_units: i % 7 === 0 ? 1 : 0,
      pending_units: units - passed - (i % 7 === 0 ? 1 : 0),
      first_pass_yield: firstPass / units,
      cumulative_yield: passed / units,
      retest_count: units - firstPass,
      avg_duration_pass_s: 10 + (i % 100) / 7,
      avg_duration_fail_s: i % 4 === 0 ? null : 12 + (i % 50) / 3,
      run_id: 42,
      computed_at: computedAt,
    };
  }
}

/** A small Overview, as a real report has: a handful of products over a week. */
function overviewData(): DailyYieldData {
  const prod: ProdDay[] = [];
  for (let d = 0; d < 8; d++) {
    const day = `2026-11-${String(13 + d).padStart(2, '0')}`;
    for (let p = 0; p < 12; p++) prod.push({ day, product: `PRODUCT-${p}`, load_qty: 200 + p, test_count: 2000, units_tested: 1800, rolled_first_pass_yield: 0.8 + p / 100, rolled_cumulative_yield: 0.95, run_id: 42, computed_at: null });
  }
  const p = productionDay(DAY, { timezone: TZ, dayStart: '06:00' });
  return {
    day: DAY, from: p.from, to: p.to, weekStart: '2026-11-16', weekLabel: '2026-W47', state: { kind: 'report', run: null },
    headline: buildHeadline(prod, DAY, { firstPassYield: 0.85, cumulativeYield: 0.95 }),
    worst: rankWorstStations([], 10, 20), pareto: buildPareto([], 15), trend: buildTrend(prod, DAY),
    quality: { rowsRead: 1, rowsValid: 1, rowsRejected: 0, duplicatesDropped: 0, excessAttempts: 0, pendingUnits: 0, rejectsByReason: [], rejectsStored: 0, undatedRejects: 0 },
    summaryRunIds: [42], computedAt: null,
  };
}

async function writeStreaming(file: string, n: number): Promise<number> {
  const r = await writeDailyYieldWorkbook(file, {
    plant: 'Bench Plant',
    timezone: TZ,
    data: overviewData(),
    charts: {},
    sheets: [{ name: 'By product × test', table: 'ByProductTest', columns: PROD_TEST_COLUMNS, rows: rows(n), freezeColumns: 5 }],
    generatedAt: new Date(),
  });
  return Object.values(r.rows).reduce((a, b) => a + b, 0);
}

/** The same sheet through exceljs' in-memory Workbook (autofilter instead of a Table: addTable would copy every row again). */
async function writeInMemory(file: string, n: number): Promise<number> {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('By product × test', { views: [{ state: 'frozen', xSplit: 5, ySplit: 1 }] });
  const cols = PROD_TEST_COLUMNS;
  ws.columns = cols.map((c) => ({ header: c.header, key: c.key, width: c.width, style: NUMBER_FORMATS[c.kind] ? { numFmt: NUMBER_FORMATS[c.kind] } : {} }));
  let written = 0;
  for await (const r of rows(n)) {
    ws.addRow(
      cols.map((c) => {
        const v = r[c.key];
        if (v === null || v === undefined) return null;
        if (c.kind === 'date') return excelDate(String(v));
        if (c.kind === 'datetime') return excelLocalTime(v as Date, TZ);
        return v as ExcelJS.CellValue;
      }),
    );
    written++;
  }
  ws.autoFilter = { from: 'A1', to: `${columnLetter(cols.length)}${written + 1}` };
  await wb.xlsx.writeFile(file);
  return written;
}

interface Sample {
  variant: Variant;
  ok: boolean;
  seconds: number;
  maxRssMb: number;
  rows: number;
  fileMb: number;
  error?: string;
}

async function child(variant: Variant, n: number): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-bench-wb-'));
  const file = path.join(dir, `${variant}.xlsx`);
  try {
    const t0 = performance.now();
    const written = variant === 'streaming' ? await writeStreaming(file, n) : await writeInMemory(file, n);
    const seconds = (performance.now() - t0) / 1000;
    const sample: Sample = { variant, ok: true, seconds, maxRssMb: process.resourceUsage().maxRSS / 1024, rows: written, fileMb: statSync(file).size / 1024 / 1024 };
    process.stdout.write(`${JSON.stringify(sample)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(variant: Variant): Sample {
  const args = variant === 'in-memory' ? [`--max-old-space-size=${HEAP_MB}`] : [];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...args, fileURLToPath(import.meta.url), 'child', variant, String(ROWS)], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Sample & { progress?: number; rssMb?: number });
  const final = lines.find((l) => l.progress === undefined);
  if (r.status === 0 && final) return final;
  const last = [...lines].reverse().find((l) => l.progress !== undefined);
  const why = /heap out of memory|Allocation failed/i.test(r.stderr) ? `out of memory (heap limit ${HEAP_MB} MB)` : r.stderr.trim().split('\n').slice(-3).join(' ') || `exit ${r.status ?? r.signal}`;
  const error = last ? `${why} after ${last.progress!.toLocaleString('en')} rows (RSS then ${last.rssMb!.toFixed(0)} MB)` : why;
  return { variant, ok: false, seconds: (performance.now() - t0) / 1000, maxRssMb: last?.rssMb ?? NaN, rows: last?.progress ?? 0, fileMb: NaN, error };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (process.argv[2] === 'child') return child(process.argv[3] as Variant, Number(process.argv[4]));
  const results: Sample[] = [];
  for (const variant of ['streaming', 'in-memory'] as const) {
    const samples: Sample[] = [];
    for (let i = 0; i < REPEATS; i++) {
      process.stdout.write(`${variant}, ${ROWS.toLocaleString('en')} rows, run ${i + 1}/${REPEATS} … `);
      const s = run(variant);
      console.log(s.ok ? `${s.seconds.toFixed(1)} s, peak RSS ${s.maxRssMb.toFixed(0)} MB` : `failed: ${s.error}`);
      samples.push(s);
      if (!s.ok) break;
    }
    const ok = samples.filter((s) => s.ok);
    results.push(
      ok.length
        ? { ...ok[0]!, seconds: median(ok.map((s) => s.seconds)), maxRssMb: Math.max(...ok.map((s) => s.maxRssMb)) }
        : samples[samples.length - 1]!,
    );
  }
  const streaming = results[0]!;
  const inMemory = results[1]!;
  const label = (v: Variant) => (v === 'streaming' ? 'streaming writer (the report: WorkbookWriter, Table parts)' : 'in-memory exceljs Workbook, same rows and formats');
  const md = [
    `${ROWS.toLocaleString('en')} rows, ${REPEATS === 1 ? 'one run' : `median of ${REPEATS} runs`} per variant, each in a fresh process (in-memory heap limit ${HEAP_MB} MB); ${os.cpus().length} CPUs (shared), Node ${process.version}, ${new Date().toISOString()}.`,
    '',
    `| workbook with a ${ROWS.toLocaleString('en')}-row detail sheet | rows | time | peak RSS | file |`,
    '|---|---:|---:|---:|---:|',
    ...results.map((r) =>
      r.ok
        ? `| ${label(r.variant)} | ${r.rows.toLocaleString('en')} | ${r.seconds.toFixed(1)} s | ${r.maxRssMb.toFixed(0)} MB | ${r.fileMb.toFixed(1)} MB |`
        : `| ${label(r.variant)} | ${ROWS.toLocaleString('en')} | failed after ${r.seconds.toFixed(1)} s | ${r.error} | – |`,
    ),
  ].join('\n');
  const lines = [
    streaming.ok ? `streaming peak RSS ${streaming.maxRssMb.toFixed(0)} MB: ${streaming.maxRssMb <= 300 ? 'within' : 'ABOVE'} the 300 MB target` : 'the streaming writer failed',
  ];
  if (streaming.ok && inMemory.ok) {
    lines.push(
      `streaming / in-memory: time ${(streaming.seconds / inMemory.seconds).toFixed(2)} ×, peak RSS ${(streaming.maxRssMb / inMemory.maxRssMb).toFixed(2)} × (${streaming.maxRssMb.toFixed(0)} MB vs ${inMemory.maxRssMb.toFixed(0)} MB)`,
    );
  } else if (streaming.ok) {
    lines.push(`the in-memory write did not finish the ${ROWS.toLocaleString('en')} rows; the streaming writer did, in ${streaming.seconds.toFixed(1)} s at ${streaming.maxRssMb.toFixed(0)} MB`);
  }
  const verdict = lines.join('\n\n');
  const outDir = path.join(root, 'out', 'bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'report-workbook.json'), JSON.stringify({ rows: ROWS, repeats: REPEATS, node: process.version, cpus: os.cpus().length, results }, null, 2));
  writeFileSync(path.join(outDir, 'report-workbook.md'), `${md}\n\n${verdict}\n`);
  console.log(`\n${md}\n\n${verdict}\nwritten to out/bench/report-workbook.{json,md}`);
  if (!streaming.ok || streaming.maxRssMb > 300) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
