/**
 * The test-record table as a run reads it, shared by the jobs that read every valid attempt
 * (the nightly summary, the process flow): the mapping checked, the column types read.
 */
import type { EtlContext } from './context.js';
import { checkSourceTable, serialSeekIndex } from '../sql/source-check.js';
import { numberKind, timeKind } from '../sql/source-values.js';
import type { SourceKinds } from '../sql/valid-attempts.js';
import { DEFAULT_ERROR_CODE_COLUMN, type TestRecordColumns } from '../config/schema.js';

/** The test-record table as the run reads it: the columns found (the error code only where there is one) and how they store values. */
export interface TestRecordSource {
  table: string;
  columns: TestRecordColumns;
  kinds: SourceKinds;
  /** The index the history read seeks serials by (sql/source-check.ts), or null: it scans the history window. */
  serialIndex: string | null;
}

/** Checks the mapped table (naming the config key to fix) and reads its columns' types. */
export async function readTestRecordSource(ctx: EtlContext): Promise<TestRecordSource> {
  const { testRecords } = ctx.config.source;
  const found = await checkSourceTable(ctx.source, testRecords.table, testRecords.columns, 'source.testRecords', {
    errorCode: DEFAULT_ERROR_CODE_COLUMN,
  });
  const d = ctx.sourceDialect;
  return {
    table: testRecords.table,
    columns: { ...testRecords.columns, errorCode: found.errorCode?.name ?? null },
    kinds: { testedAt: timeKind(d, found.testedAt?.type), durationS: numberKind(d, found.durationS?.type) },
    serialIndex: await serialSeekIndex(ctx.source, testRecords.table, found.serial!.name),
  };
}

/** The result synonyms, PASS and FAIL first (yield.resultSynonyms). */
export function resultSynonyms(ctx: Pick<EtlContext, 'config'>): { passSynonyms: string[]; failSynonyms: string[] } {
  const { pass, fail } = ctx.config.yield.resultSynonyms;
  return {
    passSynonyms: ['PASS', ...pass.filter((s) => s !== 'PASS')],
    failSynonyms: ['FAIL', ...fail.filter((s) => s !== 'FAIL')],
  };
}
