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
