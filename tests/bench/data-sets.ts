/**
 * The benchmarks' data sets, generated once (seeded) into .tmp/bench/ (SQLite) and PostgreSQL
 * schemas yr_bench_* and reused by every benchmark that measures them (BENCH_SCALE scales them).
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory from 'knex';
import { connect } from '../../sql/connection.js';
import { resolveConfig } from '../../config/load.js';
import { generate } from '../../data/generate.js';
import { productionDay, sourceTimestamp } from '../../etl/periods.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..', '..');
export const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const SCALE = Number(process.env.BENCH_SCALE ?? 1);
export const DAY = '2026-11-18';

export interface DataSet {
  id: string;
  rows: number;
  start: string;
  days: number;
  label: string;
}

/** "2 M", "200 k", "600 k" at full scale; the plain number otherwise, so a scaled run's labels are honest. */
export function volume(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000} M`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000} k`;
  return n.toLocaleString('en');
}

export function dataSet(id: string, rows: number, start: string, days: number): DataSet {
  const label = days === 1 ? `one day, ${volume(rows)} records` : `full recompute, ${volume(rows)} records / ${days} days`;
  return { id, rows, start, days, label };
}

export const DATA_SETS: DataSet[] = [
  dataSet('day200k', Math.round(200_000 * SCALE), DAY, 1),
  dataSet('day2m', Math.round(2_000_000 * SCALE), DAY, 1),
  dataSet('ref600k', Math.round(600_000 * SCALE), '2026-10-12', 30),
  // Ten times the reference volume over the same 30 days: how a full recompute grows.
  dataSet('ref6m', Math.round(6_000_000 * SCALE), '2026-10-12', 30),
];

export interface Backend {
  name: 'sqlite' | 'postgres';
  place(ds: DataSet): { url: string; schema?: string };
}

export const backends: Backend[] = [
  {
    name: 'sqlite',
    place: (ds) => ({ url: `sqlite:${path.join(root, '.tmp', 'bench', `${ds.id}-${ds.rows}.sqlite`)}` }),
  },
  { name: 'postgres', place: (ds) => ({ url: PG_URL, schema: `yr_bench_${ds.id}_${ds.rows}` }) },
];

export async function ensureData(b: Backend, ds: DataSet): Promise<void> {
  const { url: placed, schema } = b.place(ds);
  let url = placed;
  // SQLite: generated under a partial name and renamed when complete, so an interrupted
  // generation is redone rather than measured.
  let partial: { file: string; final: string } | null = null;
  if (b.name === 'sqlite') {
    const file = placed.slice('sqlite:'.length);
    if (existsSync(file)) return;
    mkdirSync(path.dirname(file), { recursive: true });
    partial = { file: `${file}.partial`, final: file };
    rmSync(partial.file, { force: true });
    url = `sqlite:${partial.file}`;
  } else {
    const admin = knexFactory({ client: 'pg', connection: PG_URL });
    const exists = await admin.raw('SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [schema!, 'bench_ready']);
    if (exists.rows.length) return void (await admin.destroy());
    await admin.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.raw(`CREATE SCHEMA ${schema}`);
    await admin.destroy();
  }
  const table = (t: string) => (schema ? `${schema}.${t}` : t);
  const cfg = resolveConfig({ source: { testRecords: { table: table('test_records') } } }, { SOURCE_DATABASE_URL: url });
  const db = connect(url);
  const t0 = Date.now();
  process.stdout.write(`generating ${ds.label} into ${b.name} … `);
  try {
    await generate(db, {
      rows: ds.rows,
      seed: 7,
      start: ds.start,
      days: ds.days,
      timezone: 'Europe/Berlin',
      dayStart: '06:00',
      timestamps: 'local',
      mapping: cfg.source,
      assembly: false,
    });
    // Marks a complete data set: an interrupted generation is redone.
    if (schema) await db.raw(`CREATE TABLE ${schema}.bench_ready (x integer)`);
  } finally {
    await db.destroy();
  }
  if (partial) renameSync(partial.file, partial.final);
  console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * One day of a data set alone: its records copied into a table of their own (a PostgreSQL schema
 * `<schema>_day`, a SQLite file `…-<day>.sqlite` beside the data set's), so the nightly day inside its history can be set
 * against the same records without it. Made once, like the data sets.
 */
export async function isolatedDay(b: Backend, ds: DataSet, day: string): Promise<{ url: string; schema?: string }> {
  const { url, schema } = b.place(ds);
  const clock = { timezone: 'Europe/Berlin', dayStart: '06:00' };
  const p = productionDay(day, clock);
  const [from, to] = [sourceTimestamp(p.from, 'local', clock), sourceTimestamp(p.to, 'local', clock)];
  if (b.name === 'postgres') {
    const target = `${schema}_day`;
    const db = knexFactory({ client: 'pg', connection: PG_URL });
    try {
      const ready = await db.raw('SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [target, 'bench_ready']);
      if (!ready.rows.length) {
        await db.raw(`DROP SCHEMA IF EXISTS ${target} CASCADE`);
        await db.raw(`CREATE SCHEMA ${target}`);
        await db.raw(`CREATE TABLE ${target}.test_records (LIKE ${schema}.test_records INCLUDING ALL)`);
        await db.raw(`INSERT INTO ${target}.test_records SELECT * FROM ${schema}.test_records WHERE "TestTimeStamp" >= ? AND "TestTimeStamp" < ?`, [from, to]);
        await db.raw(`ANALYZE ${target}.test_records`);
        await db.raw(`CREATE TABLE ${target}.bench_ready (x integer)`);
      }
    } finally {
      await db.destroy();
    }
    return { url: PG_URL, schema: target };
  }
  const file = url.slice('sqlite:'.length);
  const target = file.replace(/\.sqlite$/, `-${day}.sqlite`);
  if (!existsSync(target)) {
    const partial = `${target}.partial`;
    rmSync(partial, { force: true });
    const db = knexFactory({ client: 'better-sqlite3', connection: { filename: partial }, useNullAsDefault: true });
    try {
      await db.raw('ATTACH DATABASE ? AS src', [file]);
      const ddl = (await db.raw("SELECT sql FROM src.sqlite_master WHERE tbl_name = 'test_records' AND sql IS NOT NULL ORDER BY type DESC")) as { sql: string }[];
      // The table first, then its indexes, as the data set declares them.
      for (const { sql } of ddl) await db.raw(sql);
      await db.raw('INSERT INTO test_records SELECT * FROM src.test_records WHERE "TestTimeStamp" >= ? AND "TestTimeStamp" < ?', [from, to]);
      await db.raw('DETACH DATABASE src');
    } finally {
      await db.destroy();
    }
    renameSync(partial, target);
  }
  return { url: `sqlite:${target}` };
}
