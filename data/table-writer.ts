/**
 * Buffers generated rows and writes them in chunks, one transaction per chunk: memory stays bounded
 * at any volume, and SQLite (which would otherwise commit every statement) writes at full speed.
 * The statements themselves are sql/batch-insert.ts's: INSERTs under each dialect's parameter limit, and on
 * SQL Server a bulk load per chunk.
 */
import type { Knex } from 'knex';
import { insertBatched } from '../sql/batch-insert.js';
import type { Dialect } from '../sql/dialect.js';
import { splitTableName } from './source-tables.js';

export interface TableWriter {
  /** Adds a row; true when the buffer is full and `flush` should be awaited. */
  add(row: Record<string, unknown>): boolean;
  flush(): Promise<void>;
  readonly written: number;
}

export function tableWriter(db: Knex, dialect: Dialect, tableName: string, chunkRows: number, onFlush?: (rows: number) => void): TableWriter {
  const { schema, table } = splitTableName(tableName);
  let buffer: Record<string, unknown>[] = [];
  let written = 0;
  return {
    add(row) {
      buffer.push(row);
      return buffer.length >= chunkRows;
    },
    async flush() {
      if (buffer.length === 0) return;
      const rows = buffer;
      buffer = [];
      await db.transaction((trx) => insertBatched(trx, dialect, table, rows, { schema }));
      written += rows.length;
      onFlush?.(rows.length);
    },
    get written() {
      return written;
    },
  };
}
