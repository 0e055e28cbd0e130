/**
 * A SQL statement with its bound values, built in textual order, and running one through knex.
 * The jobs' set-based statements (summary, defect trace, SPC) are written with these.
 */
import type { Knex } from 'knex';

export interface Statement {
  sql: string;
  bindings: (string | number)[];
}

/** Accumulates SQL text and its bindings in textual order; a placeholder count mismatch is a bug. */
export class SqlText {
  sql = '';
  bindings: (string | number)[] = [];
  add(text: string, ...bindings: (string | number)[]): this {
    const marks = (text.match(/\?/g) ?? []).length;
    if (marks !== bindings.length) throw new Error(`internal: ${marks} placeholders, ${bindings.length} bindings in: ${text}`);
    this.sql += text;
    this.bindings.push(...bindings);
    return this;
  }
  statement(): Statement {
    return { sql: this.sql, bindings: this.bindings };
  }
}

/** Runs a statement and returns its rows: pg answers { rows }, mssql and better-sqlite3 the rows. */
export async function runStatement<T>(db: Knex | Knex.Transaction, st: Statement): Promise<T[]> {
  const res = (await db.raw(st.sql, st.bindings)) as unknown;
  return Array.isArray(res) ? (res as T[]) : (res as { rows: T[] }).rows;
}

/**
 * The session settings of the jobs' large aggregate statements (the nightly summary, the process
 * flow) on PostgreSQL, for the transaction they run in: work_mem (config etl.postgresWorkMem, a
 * validated size: SET takes no bound parameters), so sorts and hash tables stay in memory; and JIT
 * off. The planner's row estimates for these statements are far above what they read (the history
 * seeks, the CTEs), so it compiled them every time: 1.4 s of JIT for a 0.3 s nightly day, and the
 * 600 k-record month ran 3.4–3.7 s without it against 4.6–5.0 s with it (alternating runs).
 */
export async function applyAggregateSettings(trx: Knex.Transaction, workMem: string): Promise<void> {
  await trx.raw(`SET LOCAL work_mem = '${workMem}'`);
  await trx.raw('SET LOCAL jit = off');
}

/** Runs a large aggregate statement: on PostgreSQL in a transaction of its own under `applyAggregateSettings`. */
export async function runAggregateStatement<T>(db: Knex, postgres: boolean, workMem: string, st: Statement): Promise<T[]> {
  if (!postgres) return runStatement<T>(db, st);
  return db.transaction(async (trx) => {
    await applyAggregateSettings(trx, workMem);
    return runStatement<T>(trx, st);
  });
}
