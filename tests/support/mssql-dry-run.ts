/**
 * No SQL Server runs here. To see every statement a piece of code sends to one, it runs against
 * this knex: our own SQL Server client (sql/connection.ts, with its typed Date bindings), whose
 * connection is replaced by a recorder. Each statement is kept with the tedious parameters it
 * would have been sent with (real tedious Requests); `answer` gives the rows a statement returns
 * (none by default), so a test can play an empty database or an existing schema.
 */
import knexFactory, { type Knex } from 'knex';
import tedious from 'tedious';
import { TypedDateMssqlClient } from '../../sql/connection.js';

export interface SentStatement {
  sql: string;
  parameters: { name: string; type: string; scale?: number; value: unknown }[];
}

export type Answer = (st: SentStatement) => Record<string, unknown>[];

interface ClientInternals {
  _assignBindings(req: tedious.Request, bindings: unknown[]): void;
}

/** The transaction calls knex's mssql transaction makes on a tedious connection, recorded as statements. */
function recordingConnection(sent: SentStatement[]) {
  const tx = (sql: string) => (cb: (err?: Error) => void) => {
    sent.push({ sql, parameters: [] });
    cb();
  };
  return {
    beginTransaction: tx('BEGIN TRANSACTION'),
    saveTransaction: tx('SAVE TRANSACTION'),
    commitTransaction: tx('COMMIT TRANSACTION'),
    rollbackTransaction: tx('ROLLBACK TRANSACTION'),
  };
}

/** A knex that records what it would send to SQL Server; `sent()` lists it. */
export function mssqlDryRun(answer: Answer = () => []): { db: Knex; sent: () => SentStatement[] } {
  // knex appends `select @@rowcount` to UPDATE and DELETE and reads its unnamed column.
  const answerOf = (st: SentStatement) => (st.sql.endsWith('select @@rowcount') ? [{ '': 1 }] : answer(st));
  const sent: SentStatement[] = [];
  class DryRunMssqlClient extends TypedDateMssqlClient {
    override async acquireConnection() {
      return recordingConnection(sent);
    }
    override async releaseConnection() {}
    async _query(_connection: unknown, query: { sql: string; bindings?: unknown[]; response?: unknown }) {
      const req = new tedious.Request(query.sql, () => {});
      (this as unknown as ClientInternals)._assignBindings(req, query.bindings ?? []);
      const params = (req as unknown as { parameters: { name: string; type: { name: string }; scale?: number; value: unknown }[] }).parameters;
      const st = { sql: query.sql, parameters: params.map((p) => ({ name: p.name, type: p.type.name, scale: p.scale, value: p.value })) };
      sent.push(st);
      // tedious rows: one { metadata: { colName }, value } per column.
      query.response = answerOf(st).map((row) => Object.entries(row).map(([colName, value]) => ({ metadata: { colName }, value })));
      return query;
    }
  }
  const db = knexFactory({ client: DryRunMssqlClient as unknown as typeof knexFactory.Client });
  return { db, sent: () => sent };
}
