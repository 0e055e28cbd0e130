import { z } from 'zod';
import { IANAZone } from 'luxon';

/** SQL identifiers from config are spliced into SQL, so they must be plain names. */
const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const identifier = (what: string) =>
  z.string().regex(IDENT, `expected ${what}: a plain SQL name (letters, digits, _; not starting with a digit)`);

/** `table` or `schema.table`. */
const tableName = z
  .string()
  .regex(/^([A-Za-z_][A-Za-z0-9_]{0,127}\.)?[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'expected a table name such as test_records or dbo.test_records');

const timeZone = z.string().refine((tz) => IANAZone.isValidZone(tz), {
  message: 'expected an IANA time zone such as Europe/Berlin or Asia/Taipei',
});

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a local time HH:MM such as 06:00');

/**
 * A database URL. Passwords belong in the environment (SOURCE_DATABASE_URL / TARGET_DATABASE_URL),
 * never in a config file that is committed or copied around.
 */
const fileDatabaseUrl = z
  .string()
  .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/|mssql:\/\/)/, 'expected sqlite:PATH, postgres://… or mssql://…')
  .refine((u) => !/^[a-z]+:\/\/[^/@]*:[^/@]*@/.test(u), {
    message: 'a password in the config file is not allowed; set it through SOURCE_DATABASE_URL / TARGET_DATABASE_URL',
  });

function columns<T extends Record<string, string>>(defaults: T) {
  const shape = Object.fromEntries(
    Object.entries(defaults).map(([k, v]) => [k, identifier('a column name').default(v)]),
  ) as { [K in keyof T]: z.ZodDefault<z.ZodString> };
  return z.object(shape).strict().default({} as never);
}

function sourceTable<T extends Record<string, string>>(table: string, cols: T) {
  return z
    .object({ table: tableName.default(table), columns: columns(cols) })
    .strict()
    .default({} as never);
}

export const TEST_RECORD_COLUMNS = {
  serial: 'SerialNum',
  product: 'ProductName',
  test: 'TestName',
  machine: 'MachineID',
  testedAt: 'TestTimeStamp',
  result: 'TestResult',
  durationS: 'TestDuration_s',
  errorCode: 'ErrorCode',
} as const;

export const ASSEMBLY_COLUMNS = {
  cellId: 'cell_id',
  lotId: 'lot_id',
  eqpId: 'eqp_id',
  prodDt: 'prod_dt',
  dfctCd: 'dfct_cd',
} as const;

export const WINDING_COLUMNS = { cellId: 'cell_id', lotId: 'lot_id', eqpId: 'eqp_id', prodDt: 'prod_dt' } as const;

export const INSPECTION_COLUMNS = { eqpId: 'eqp_id', inspDt: 'insp_dt', itemCd: 'item_cd', inspVal: 'insp_val' } as const;

const synonyms = z.array(z.string().trim().min(1).transform((s) => s.toUpperCase())).min(1);

export const configSchema = z
  .object({
    plant: z
      .object({
        name: z.string().min(1).default('Plant'),
        timezone: timeZone.default('UTC'),
        dayStart: clockTime.default('00:00'),
      })
      .strict()
      .default({}),
    source: z
      .object({
        /** Overridden by SOURCE_DATABASE_URL. */
        url: fileDatabaseUrl.default('sqlite:./data/demo.sqlite'),
        timestamps: z.enum(['utc', 'local']).default('local'),
        testRecords: sourceTable('test_records', TEST_RECORD_COLUMNS),
        assembly: sourceTable('asb_data', ASSEMBLY_COLUMNS),
        winding: sourceTable('wnd_data', WINDING_COLUMNS),
        inspection: sourceTable('isp_ifo_h', INSPECTION_COLUMNS),
      })
      .strict()
      .default({}),
    target: z
      .object({
        /** Overridden by TARGET_DATABASE_URL; defaults to the source database. */
        url: fileDatabaseUrl.optional(),
        /** Schema of the summary and bookkeeping tables; default: dbo on SQL Server, the connection's default elsewhere. */
        schema: identifier('a schema name').optional(),
      })
      .strict()
      .default({}),
    yield: z
      .object({
        maxAttempts: z.number().int().min(1).max(100).default(3),
        lookbackDays: z.number().int().min(0).max(366).default(7),
        /** How far before a period a unit's earlier attempts are looked for. */
        historyDays: z.number().int().min(1).max(3660).default(30),
        resultSynonyms: z
          .object({ pass: synonyms.default(['PASS', 'P', 'OK']), fail: synonyms.default(['FAIL', 'F', 'NG']) })
          .strict()
          .default({})
          .refine((s) => !s.pass.some((p) => s.fail.includes(p)), {
            message: 'a result synonym cannot mean both PASS and FAIL',
          }),
      })
      .strict()
      .default({}),
    etl: z
      .object({
        /** Rejected rows kept per run in etl_rejects (all are counted). */
        maxRejectsStored: z.number().int().min(0).default(100_000),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type TestRecordColumns = Config['source']['testRecords']['columns'];
export type SourceTimestamps = Config['source']['timestamps'];
