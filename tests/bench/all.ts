/**
 * `npm run bench`: the three benchmarks in turn, after one build (the npm script builds first):
 *
 *   summary  run.js              nightly summary vs the baseline query, SQLite and PostgreSQL, queue overhead
 *   report   report-workbook.js  1 M-row workbook, streaming vs in-memory
 *   spc      spc.js              SPC, 100 charts × 10 k points, and the SPC job
 *   flow     process-flow.js     the process-flow job beside the nightly summary, 600 k / 30 days and a 2 M day
 *
 * Each keeps its own environment variables (BENCH_SCALE, BENCH_ROWS, SPC_BENCH_*, …) and writes its
 * out/bench/*.{json,md}; `node dist/tests/bench/all.js summary spc` runs a subset. Every program runs
 * even if an earlier one fails; the exit code is non-zero if any did.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

const PROGRAMS = [
  { name: 'summary', file: 'run.js', out: 'out/bench/nightly-summary.md' },
  { name: 'report', file: 'report-workbook.js', out: 'out/bench/report-workbook.md' },
  { name: 'spc', file: 'spc.js', out: 'out/bench/spc.md' },
  { name: 'flow', file: 'process-flow.js', out: 'out/bench/process-flow.md' },
] as const;

function main(): void {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !PROGRAMS.some((p) => p.name === w));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${PROGRAMS.map((p) => p.name).join(', ')}`);
    process.exit(2);
  }
  const programs = wanted.length ? PROGRAMS.filter((p) => wanted.includes(p.name)) : PROGRAMS;
  const done: { name: string; out: string; seconds: number; status: string }[] = [];
  const t0 = performance.now();
  for (const p of programs) {
    console.log(`\n=== bench ${p.name} (${p.file}) — ${new Date().toISOString()} ===\n`);
    const start = performance.now();
    const r = spawnSync(process.execPath, [path.join(here, p.file)], { stdio: 'inherit' });
    const seconds = (performance.now() - start) / 1000;
    const status = r.error ? `error: ${r.error.message}` : r.status === 0 ? 'ok' : r.signal ? `killed (${r.signal})` : `exit ${r.status}`;
    done.push({ name: p.name, out: p.out, seconds, status });
  }
  const total = (performance.now() - t0) / 1000;
  const fmt = (s: number) => `${Math.floor(s / 60)} min ${(s % 60).toFixed(0).padStart(2, '0')} s`;
  console.log('\n=== benchmarks ===');
  for (const d of done) console.log(`${d.name.padEnd(8)} ${fmt(d.seconds).padStart(12)}  ${d.status.padEnd(10)} ${d.out}`);
  console.log(`${'total'.padEnd(8)} ${fmt(total).padStart(12)}`);
  if (done.some((d) => d.status !== 'ok')) process.exitCode = 1;
}

main();
