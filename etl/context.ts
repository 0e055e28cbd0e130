/**
 * What a job needs to touch the databases: the resolved config and one knex per database.
 * When source and target are the same database, one connection pool serves both.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { connect } from '../sql/connection.js';
import { defaultTargetSchema, dialectOf, type Dialect } from '../sql/dialect.js';
import type { ResolvedConfig } from '../config/load.js';
import type { PlantClock } from './periods.js';

export interface EtlContext {
  config: ResolvedConfig;
  clock: PlantClock;
  source: Knex;
  sourceDialect: Dialect;
  target: Knex;
  targetDialect: Dialect;
  /** Schema of the summary and bookkeeping tables, if any. */
  targetSchema: string | undefined;
  log: Logger;
  close(): Promise<void>;
}

export function openEtlContext(config: ResolvedConfig, log: Logger): EtlContext {
  const source = connect(config.source.url);
  const target = config.target.url === config.source.url ? source : connect(config.target.url);
  const targetDialect = dialectOf(target);
  return {
    config,
    clock: { timezone: config.plant.timezone, dayStart: config.plant.dayStart },
    source,
    sourceDialect: dialectOf(source),
    target,
    targetDialect,
    targetSchema: config.target.schema ?? defaultTargetSchema(targetDialect),
    log,
    async close() {
      await source.destroy();
      if (target !== source) await target.destroy();
    },
  };
}

/** A query builder for one of the project's own tables, in the target schema. */
export function targetTable(ctx: Pick<EtlContext, 'targetSchema'>, db: Knex | Knex.Transaction, table: string) {
  return ctx.targetSchema ? db.withSchema(ctx.targetSchema).table(table) : db.table(table);
}
