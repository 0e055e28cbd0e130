/**
 * The benchmark's pandas baseline (tests/bench/pandas_summary.py): run in its own process with
 * Debian's /usr/bin/python3, timed and its peak RSS read by itself, and its day rows checked
 * against the nightly summary's rows of the same days in the same database.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { connect } from '../../sql/connection.js';
import { isoDate } from '../../etl/nightly-summary.js';
import { root } from './data-sets.js';
import type { MeasureArgs } from './measure.js';

/** Debian's interpreter: its python3-pandas is not visible to another python3 on PATH. */
export const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(root, 'tests', 'bench', 'pandas_summary.py');
const INSTALL = 'apt-get install -y python3-pandas python3-psycopg2';

/** Why the pandas baseline cannot run on this database, or null when it can. */
export function pandasMissing(database: 'sqlite' | 'postgres'): string | null {
  const modules = database === 'postgres' ? 'pandas, psycopg2' : 'pandas';
  const r = spawnSync(PYTHON, ['-c', `import ${modules}`], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found (${r.error.message}); install it with: ${INSTALL}`;
  if (r.status !== 0) return `${PYTHON} cannot import ${modules}: ${r.stderr.trim().split('\n').pop()}; install with: ${INSTALL}`;
  return null;
}

export interface PandasSample {
  ms: number;
  maxRssMb: number;
  rows: number;
  /** The JSON file holding its rows. */
  out: string;
}

export function runPandas(a: MeasureArgs, tag: string): PandasSample {
  const dir = path.join(root, '.tmp', 'bench', 'pandas');
  mkdirSync(dir, { recursive: true });
  const out = path.join(dir, `${tag}.json`);
  const args = [SCRIPT, '--url', a.url, '--from', a.from, '--to', a.to, '--out', out, ...(a.schema ? ['--schema', a.schema] : [])];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`the pandas script failed:\n${r.stderr}`);
  const s = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; maxRssMb: number; rows: number };
  return { ms: s.seconds * 1000, maxRssMb: s.maxRssMb, rows: s.rows, out };
}

type Row = Record<string, unknown>;

/** The compared columns per table, after the table's key. */
const CHECKED = {
  summary_prod_test: {
    key: ['period_start', 'product', 'test'],
    out: 'prod_test',
    values: ['test_count', 'pass_count', 'fail_count', 'passing_rate', 'units_tested', 'first_pass_units', 'passed_units', 'scrapped_units', 'pending_units', 'retest_count', 'first_pass_yield', 'cumulative_yield', 'avg_duration_pass_s', 'avg_duration_fail_s'],
  },
  summary_machine: {
    key: ['period_start', 'machine'],
    out: 'machine',
    values: ['test_count', 'pass_count', 'units_tested', 'first_pass_units', 'passed_units', 'scrapped_units', 'pending_units', 'retest_count', 'first_pass_yield', 'cumulative_yield', 'avg_duration_pass_s'],
  },
  summary_prod: {
    key: ['period_start', 'product'],
    out: 'prod',
    values: ['load_qty', 'test_count', 'pass_count', 'units_tested', 'first_pass_units', 'passed_units', 'scrapped_units', 'pending_units', 'rolled_first_pass_yield', 'rolled_cumulative_yield', 'scrapped_serials', 'avg_duration_pass_s'],
  },
} as const;

/** Equal, or both numbers within float rounding (the summary rounds mean durations to the microsecond). */
function same(a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  const x = Number(a);
  const y = Number(b);
  return Math.abs(x - y) <= 2e-6 + 1e-9 * Math.abs(y);
}

/**
 * The differences between the pandas rows and the nightly summary's day rows of the same days
 * (at most a few named), and how many rows were compared.
 */
export async function comparePandas(a: MeasureArgs, out: string): Promise<{ rows: number; differences: string[] }> {
  const theirs = JSON.parse(readFileSync(out, 'utf8')) as Record<string, Row[]>;
  const db = connect(a.url);
  const differences: string[] = [];
  let rows = 0;
  try {
    for (const [table, spec] of Object.entries(CHECKED)) {
      const q = a.schema ? db.withSchema(a.schema).table(table) : db.table(table);
      const ours = (await q.where('period_type', 'day').whereBetween('period_start', [a.from, a.to]).select('*')) as Row[];
      const keyOf = (r: Row) => spec.key.map((k) => (k === 'period_start' ? isoDate(r[k]) : String(r[k]))).join(' / ');
      const mine = new Map(ours.map((r) => [keyOf(r), r]));
      const other = new Map((theirs[spec.out] ?? []).map((r) => [keyOf(r), r]));
      for (const k of new Set([...mine.keys(), ...other.keys()])) {
        const x = mine.get(k);
        const y = other.get(k);
        rows++;
        if (!x || !y) differences.push(`${table} ${k}: only in ${x ? 'the nightly summary' : 'pandas'}`);
        else {
          const bad = spec.values.filter((c) => !same(x[c], y[c]));
          if (bad.length) differences.push(`${table} ${k}: ${bad.map((c) => `${c} ${String(x[c])} vs ${String(y[c])}`).join(', ')}`);
        }
      }
    }
  } finally {
    await db.destroy();
  }
  return { rows, differences };
}
