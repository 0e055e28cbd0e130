/**
 * Generates the benchmark data sets ahead of a run (the 6 M-record set takes a while), so that
 * `npm run bench` finds them ready. Usage: node dist/tests/bench/generate-data.js [set …]
 * (default every set; BENCH_DATABASES chooses the databases as for run.js).
 */
import { backends, DATA_SETS, ensureData } from './data-sets.js';

const DATABASES = (process.env.BENCH_DATABASES ?? 'sqlite,postgres').split(',').map((s) => s.trim());

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !DATA_SETS.some((d) => d.id === w));
  if (unknown.length) {
    console.error(`unknown data set(s): ${unknown.join(', ')}; choose from ${DATA_SETS.map((d) => d.id).join(', ')}`);
    process.exit(2);
  }
  for (const b of backends.filter((x) => DATABASES.includes(x.name))) {
    for (const ds of DATA_SETS.filter((d) => !wanted.length || wanted.includes(d.id))) await ensureData(b, ds);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
