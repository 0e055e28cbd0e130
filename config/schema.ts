import { z } from 'zod';
import { IANAZone } from 'luxon';
import cronParser from 'cron-parser';
import { AQLS as MIL_STD_105E_AQLS } from '../etl/sampling/mil-std-105e.js';
import { CATEGORICAL_FEATURES, NUMERIC_FEATURES } from '../etl/risk/features.js';

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

function validCron(pattern: string): boolean {
  try {
    cronParser.parseExpression(pattern);
    return true;
  } catch {
    return false;
  }
}

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a local time HH:MM such as 06:00');

/**
 * A database URL. Passwords belong in the environment (SOURCE_DATABASE_URL / TARGET_DATABASE_URL),
 * never in a config file that is committed or copied around.
 */
const fileDatabaseUrl = z
  .string()
  .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/|mssql:\/\/)/, 'expected sqlite:PATH, postgres://… or mssql://…')
  .refine((u) => !/^[a-z]+:\/\/[^/@]*:[^/@]*@/.test(u) && !/[?&](password|pwd|passwd)=/i.test(u), {
    message: 'a password in the config file is not allowed; set it through SOURCE_DATABASE_URL / TARGET_DATABASE_URL',
  });

function columns<T extends Record<string, string>>(defaults: T) {
  const shape = Object.fromEntries(
    Object.entries(defaults).map(([k, v]) => [k, identifier('a column name').default(v)]),
  ) as { [K in keyof T]: z.ZodDefault<z.ZodString> };
  return z.object(shape).strict().default({} as never);
}

function sourceTable<T extends Record<string, string>>(table: string, cols: T) {
  return sourceTableWith(table, columns(cols));
}

function sourceTableWith<C extends z.ZodTypeAny>(table: string, cols: C) {
  return z
    .object({ table: tableName.default(table), columns: cols })
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
} as const;

/** The optional error-code column's default name: read when the table has it (metrics.md §1). */
export const DEFAULT_ERROR_CODE_COLUMN = 'ErrorCode';

/**
 * Test-record columns. `errorCode` is optional: omitted, a column named ErrorCode is read when the
 * table has one; null, no error code is read; a name, that column must exist.
 */
const testRecordColumns = z
  .object({
    ...columns(TEST_RECORD_COLUMNS).removeDefault().shape,
    errorCode: identifier('a column name').nullable().optional(),
  })
  .strict()
  .default({} as never);

export const ASSEMBLY_COLUMNS = {
  cellId: 'cell_id',
  lotId: 'lot_id',
  eqpId: 'eqp_id',
  prodDt: 'prod_dt',
  dfctCd: 'dfct_cd',
} as const;

export const WINDING_COLUMNS = { cellId: 'cell_id', lotId: 'lot_id', eqpId: 'eqp_id', prodDt: 'prod_dt' } as const;

export const INSPECTION_COLUMNS = { eqpId: 'eqp_id', inspDt: 'insp_dt', itemCd: 'item_cd', inspVal: 'insp_val' } as const;

/** Formation and ageing per cell: OCV after formation (ocv1) and after ageing (ocv2), ageing days, capacity, DCIR. */
export const FORMATION_COLUMNS = {
  cellId: 'cell_id',
  lotId: 'lot_id',
  eqpId: 'eqp_id',
  fmtDt: 'fmt_dt',
  ocv1: 'ocv1_v',
  ocv2: 'ocv2_v',
  ageDays: 'age_days',
  capacity: 'capacity_ah',
  dcir: 'dcir_mohm',
} as const;

/** The outgoing (OQC) check of sampled cells: OK / NG and the measured AC resistance. */
export const OQC_COLUMNS = { cellId: 'cell_id', lotId: 'lot_id', inspDt: 'insp_dt', result: 'result', value: 'acir_mohm' } as const;

/** What later became of a cell: short_test_fail or field_return; a cell without a row did not fail. */
export const OUTCOME_COLUMNS = { cellId: 'cell_id', outcomeDt: 'outcome_dt', outcome: 'outcome' } as const;

const synonyms = z.array(z.string().trim().min(1).transform((s) => s.toUpperCase())).min(1);

const emailAddress = z.string().trim().email('expected an email address such as quality-team@example.com');

/** `name <local@domain>` or `local@domain`; the domain may be a bare host name such as localhost. */
const mailbox = z
  .string()
  .trim()
  .regex(/^(?:[^<>@]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/, 'expected an address such as "yieldrun <yieldrun@example.com>"');

const fraction = z.number().min(0, 'expected a fraction in [0, 1], e.g. 0.95').max(1, 'expected a fraction in [0, 1], e.g. 0.95');

/** `A: "06:00"`: a shift by its plant-local start; two shifts cannot start at the same time. */
const shifts = z
  .record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 _-]{0,15}$/, 'expected a shift name such as A or Night (letters, digits, space, _ or -, at most 16)'), clockTime)
  .refine((s) => new Set(Object.values(s)).size === Object.values(s).length, { message: 'expected each shift to start at its own time' });

/** A product's route: its test steps in order, each once. */
const route = z
  .array(z.string().trim().min(1, 'expected a test step name'))
  .min(1, 'expected at least one test step')
  .refine((r) => new Set(r).size === r.length, { message: 'expected each test step once in a route' });

// ------------------------------------------------------------------------------------------------
// SPC measures (spc.md §1). Every column and table is a validated plain name that the SQL quotes;
// every filter value becomes a bound parameter. The one place raw SQL is accepted is
// `source.query`: it comes only from this file, which the plant's admin writes.

const DATE = /^\d{4}-\d{2}-\d{2}$/;

const productionDate = z
  .string()
  .regex(DATE, 'expected a production day YYYY-MM-DD')
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), { message: 'expected a real date YYYY-MM-DD' });

const column = identifier('a column name');

/** Text compares trimmed and case-insensitively (MES text is typed by people); numbers as they are. */
const filterValue = z.union([z.string().trim().min(1), z.number()], {
  errorMap: () => ({ message: 'expected a text or number value, or a list of them' }),
});
const filterValues = z
  .preprocess((v) => (Array.isArray(v) ? v : [v]), z.array(filterValue).min(1, 'expected at least one value'))
  .refine((vs) => vs.every((v) => typeof v === 'string') || vs.every((v) => typeof v === 'number'), {
    message: 'expected text values or number values, not both',
  });

/** One statement that only reads: it is wrapped as a derived table, `FROM (query) s`. */
const readOnlyQuery = z
  .string()
  .trim()
  .regex(/^select\s/i, 'expected one SELECT statement (it is used as FROM (query) s)')
  .refine((q) => !q.includes(';'), { message: 'expected a single SELECT statement without ";"' });

const keyColumns = z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(column).min(1, 'expected at least one key column').max(4, 'expected at most 4 key columns'));

const runLength = (smallest: number) => z.number().int().min(smallest).max(100);
const countInWindow = z
  .object({ count: z.number().int().min(1).max(100), window: z.number().int().min(1).max(100) })
  .strict()
  .refine((w) => w.count <= w.window, { message: 'count cannot exceed window' });

/** Cause and action codes: short upper-case codes (they are typed on the command line), each with its meaning. */
const codeList = z
  .record(z.string().regex(/^[A-Z][A-Z0-9_-]{0,31}$/, 'expected a code such as MATERIAL (upper case, digits, _ or -, up to 32)'), z.string().trim().min(1).max(200))
  .refine((r) => Object.keys(r).length > 0, { message: 'expected at least one code' });

export const DEFAULT_SPC_CAUSES: Record<string, string> = {
  MATERIAL: 'material: a lot, a supplier, a roll of film',
  MACHINE: 'machine: wear, a fault, a setting that moved',
  METHOD: 'method: a changed procedure or recipe',
  MEASUREMENT: 'measurement: the gauge or its calibration',
  OPERATOR: 'operator: training, a shift handover',
  ENVIRONMENT: 'environment: temperature, humidity',
  UNKNOWN: 'not found',
};

export const DEFAULT_SPC_ACTIONS: Record<string, string> = {
  ADJUSTED: 'process adjusted back to target',
  REPAIRED: 'machine repaired or parts replaced',
  MATERIAL_CHANGED: 'material lot blocked or changed',
  RECALIBRATED: 'gauge recalibrated',
  NEW_LIMITS: 'a planned change: new control limits set (yieldrun spc set-limits)',
  NONE: 'no action needed',
};

export const SPC_CHART_TYPES = ['I-MR', 'Xbar-R', 'Xbar-S', 'p'] as const;

const spcMeasure = z
  .object({
    enabled: z.boolean().default(true),
    /** Shown in reports and alerts instead of the measure's name. */
    title: z.string().trim().min(1).max(120).optional(),
    unit: z.string().trim().max(20).optional(),
    chart: z.enum(SPC_CHART_TYPES, { errorMap: () => ({ message: `expected a chart type: ${SPC_CHART_TYPES.join(', ')}` }) }),
    source: z
      .object({
        table: tableName.optional(),
        query: readOnlyQuery.optional(),
        /** Column → value(s) a row must have (e.g. item_cd: SEP_ANODE_GAP). */
        where: z.record(column, filterValues).default({}),
        /** The chart key comes from another table, matched on a column (the winder that wound a cell). */
        lookup: z
          .object({
            table: tableName,
            /** The column both tables share, or { from: column of the source, to: column of the lookup table }. */
            match: z.union([column.transform((c) => ({ from: c, to: c })), z.object({ from: column, to: column }).strict()], {
              errorMap: () => ({ message: 'expected a column name both tables share, or { from: column, to: column }' }),
            }),
            key: keyColumns,
            /** When a row matches several, the latest by this time column counts. */
            latest: column.optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .superRefine((s, ctx) => {
        if ((s.table === undefined) === (s.query === undefined)) {
          ctx.addIssue({ code: 'custom', message: 'expected exactly one of table or query' });
        }
        if (s.lookup && s.query !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['lookup'], message: 'a lookup needs source.table; a query does its own joins' });
        }
      }),
    time: column,
    /** One chart per value of these columns; with source.lookup the key is lookup.key instead. */
    key: keyColumns.optional(),
    /** The measured value (I-MR and X̄ charts). */
    value: column.optional(),
    /** Readings outside are malformed (a negative duration) and not charted. */
    validRange: z.object({ min: z.number().optional(), max: z.number().optional() }).strict().optional(),
    /** p-chart: the rows that are nonconforming; the others that pass source.where are the conforming units. */
    defective: z.object({ column, in: filterValues }).strict().optional(),
    subgroup: z
      .union([z.literal('none'), z.object({ size: z.number().int().min(2, 'expected a subgroup size of 2 to 100').max(100, 'expected a subgroup size of 2 to 100') }).strict(), z.object({ by: z.enum(['hour', 'day']) }).strict()], {
        errorMap: () => ({ message: 'expected none, { size: N } (2 to 100) or { by: hour | day }' }),
      })
      .default('none'),
    spec: z
      .object({ lsl: z.number().optional(), usl: z.number().optional(), target: z.number().optional() })
      .strict()
      .refine((s) => s.lsl === undefined || s.usl === undefined || s.lsl < s.usl, { message: 'lsl must be below usl' })
      .optional(),
    /** Phase I: limits from the first N subgroups, or from the production days from..to; then frozen. */
    baseline: z
      .union([z.object({ firstSubgroups: z.number().int().min(2).max(100_000) }).strict(), z.object({ from: productionDate, to: productionDate }).strict()], {
        errorMap: () => ({ message: 'expected { firstSubgroups: N } or { from: YYYY-MM-DD, to: YYYY-MM-DD }' }),
      })
      .refine((b) => !('from' in b) || b.from <= b.to, { message: 'baseline.from must not be after baseline.to' })
      .optional(),
    /** Nelson rules judged (default 1, 2, 3, 5, 6; p-charts 1 to 4). */
    rules: z.array(z.number().int().min(1, 'expected rule numbers 1 to 8').max(8, 'expected rule numbers 1 to 8')).min(1).optional(),
    runLengths: z
      .object({
        sameSide: runLength(2).optional(),
        trend: runLength(2).optional(),
        alternating: runLength(3).optional(),
        withinOneSigma: runLength(2).optional(),
        outsideOneSigma: runLength(2).optional(),
        beyondTwoSigma: countInWindow.optional(),
        beyondOneSigma: countInWindow.optional(),
      })
      .strict()
      .default({}),
    /**
     * Severity per rule (spc.md §6): an alarm opens an out-of-control event and is alerted; a warning
     * is shown on the chart and the SPC sheet, never alerted. Default: rules 1 and 2 alarm, the others
     * warning; `paired`: rule 1 on the MR / R / S chart, a warning by default.
     */
    severity: z
      .record(z.string().regex(/^([1-8]|paired)$/, 'expected a rule number 1 to 8, or paired'), z.enum(['alarm', 'warning'], { errorMap: () => ({ message: 'expected alarm or warning' }) }))
      .default({}),
    /** An email when an out-of-control event opens, a note when it closes. */
    alert: z.object({ to: z.array(emailAddress).default([]), cc: z.array(emailAddress).default([]) }).strict().default({}),
  })
  .strict()
  .superRefine((m, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: path.split('.'), message });
    const p = m.chart === 'p';
    if (m.source.lookup && m.key) issue('key', 'give the chart key either as key or as source.lookup.key, not both');
    if (!m.source.lookup && !m.key) issue('key', 'expected the chart key column(s), e.g. key: eqp_id (one chart per value)');
    if (p) {
      if (!m.defective) issue('defective', 'a p-chart needs defective: { column, in: [values] }');
      if (m.value) issue('value', 'a p-chart counts rows; it has no value column (use defective)');
      if (m.validRange) issue('validRange', 'only I-MR and X̄ charts have a value range');
      if (m.spec) issue('spec', 'spec limits apply to I-MR and X̄ charts (capability); a p-chart has none');
      if (m.subgroup !== 'none' && !('by' in m.subgroup && m.subgroup.by === 'day')) issue('subgroup', 'a p-chart has one point per production day: leave subgroup out');
      if (m.rules?.some((r) => r > 4)) issue('rules', 'p-charts use rules 1 to 4 only');
      if (Object.keys(m.severity).some((r) => Number(r) > 4)) issue('severity', 'p-charts use rules 1 to 4 only');
      if ('paired' in m.severity) issue('severity.paired', 'a p-chart has no paired chart');
    } else {
      if (!m.value) issue('value', 'expected the value column of the measurement');
      if (m.defective) issue('defective', 'defective is for p-charts');
      if (m.chart === 'I-MR' && m.subgroup !== 'none') issue('subgroup', 'an I-MR chart charts single readings: subgroup none (or use Xbar-R / Xbar-S)');
      if (m.chart !== 'I-MR' && m.subgroup === 'none') issue('subgroup', `an ${m.chart} chart needs subgroups: { size: N } or { by: hour | day }`);
    }
    const { lsl, usl, target } = m.spec ?? {};
    if (target !== undefined && ((lsl !== undefined && target < lsl) || (usl !== undefined && target > usl))) issue('spec.target', 'target must lie between lsl and usl');
  });

export type SpcMeasureConfig = z.infer<typeof spcMeasure>;


// Lot acceptance sampling. The lots come from a table or one SELECT, like an SPC measure's source.

export const SAMPLING_LOT_COLUMNS = {
  lotId: 'lot_id',
  product: 'product',
  supplier: 'supplier',
  lotSize: 'lot_size',
  inspected: 'inspected_qty',
  defectives: 'defectives',
  inspectedAt: 'inspected_at',
  inspectionClass: 'insp_class',
} as const;

/** A product or class pattern: a name, or "*" for any. */
const samplingMatch = z.string().trim().min(1).max(100).default('*');
const lotSizeBound = z.number().int().min(1).nullable();
const sampleSize = z.number().int().min(1).max(1_000_000);

/** Bands of lot sizes in ascending order, the last one open (upTo: null) or not. */
function ascendingBands<T extends { upTo: number | null }>(rows: T[], ctx: z.RefinementCtx): void {
  rows.forEach((r, i) => {
    const prev = rows[i - 1];
    if (prev && (prev.upTo === null || (r.upTo !== null && r.upTo <= prev.upTo))) {
      ctx.addIssue({ code: 'custom', path: [i, 'upTo'], message: 'expected lot-size bands in ascending order, only the last with upTo: null' });
    }
  });
}

const planSpec = z.discriminatedUnion(
  'type',
  [
    z
      .object({
        type: z.literal('mil-std-105e'),
        /** Percent nonconforming: a column of the master tables (0.010 … 1000). */
        aql: z.number().positive(),
        level: z.enum(['S-1', 'S-2', 'S-3', 'S-4', 'I', 'II', 'III'], { errorMap: () => ({ message: 'expected an inspection level: S-1, S-2, S-3, S-4, I, II or III' }) }).default('II'),
        /** Normal → reduced after 10 accepted lots: only where production is steady and the responsible authority agrees. */
        reduced: z
          .object({ enabled: z.boolean().default(false), limitNumber: z.number().int().min(0).nullable().default(null) })
          .strict()
          .default({}),
      })
      .strict(),
    z.object({ type: z.literal('zero-acceptance'), table: z.string().min(1), level: z.string().min(1) }).strict(),
    z.object({ type: z.literal('lot-size-table'), table: z.string().min(1) }).strict(),
    z.object({ type: z.literal('fixed'), n: sampleSize, c: z.number().int().min(0) }).strict(),
  ],
  { errorMap: (issue, ctx) => (issue.code === 'invalid_union_discriminator' ? { message: 'expected a plan type: mil-std-105e, zero-acceptance, lot-size-table or fixed' } : { message: ctx.defaultError }) },
);

const samplingSchema = z
  .object({
    /** The inspected lots: one row per lot with its inspection result. */
    lots: z
      .object({
        table: tableName.optional(),
        query: readOnlyQuery.optional(),
        columns: z
          .object({
            ...(Object.fromEntries(Object.entries(SAMPLING_LOT_COLUMNS).map(([k, v]) => [k, column.default(v)])) as {
              [K in keyof typeof SAMPLING_LOT_COLUMNS]: z.ZodDefault<z.ZodString>;
            }),
            supplier: column.nullable().default(SAMPLING_LOT_COLUMNS.supplier),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({ table: 'incoming_lots' })
      .superRefine((s, ctx) => {
        if ((s.table === undefined) === (s.query === undefined)) ctx.addIssue({ code: 'custom', message: 'expected exactly one of table or query' });
      }),
    /** Which plan judges a lot: the first entry whose product and class match ("*" matches any). */
    plans: z
      .array(
        z
          .object({
            product: samplingMatch,
            class: samplingMatch,
            plan: planSpec,
            /** Percent nonconforming the consumer wants rejected: β is Pa there. */
            ltpd: z.number().positive().max(100).optional(),
          })
          .strict(),
      )
      .default([]),
    /** Fixed tables lot size → (n, Ac), e.g. the plant's sampling code table. */
    lotSizeTables: z
      .record(
        z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'expected a table name such as plant-codes (lower case, digits, -)'),
        z
          .object({
            rows: z
              .array(z.object({ upTo: lotSizeBound, n: sampleSize, ac: z.number().int().min(0).default(0) }).strict())
              .min(1)
              .superRefine(ascendingBands),
          })
          .strict(),
      )
      .default({}),
    /** Accept-on-zero tables: per lot-size band the sample size at each verification level. */
    zeroAcceptanceTables: z
      .record(
        z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'expected a table name such as plant-c0 (lower case, digits, -)'),
        z
          .object({
            levels: z.array(z.string().trim().min(1).max(20)).min(1),
            rows: z.array(z.object({ upTo: lotSizeBound, n: z.array(sampleSize).min(1) }).strict()).min(1).superRefine(ascendingBands),
          })
          .strict()
          .superRefine((t, ctx) => {
            t.rows.forEach((r, i) => {
              if (r.n.length !== t.levels.length) ctx.addIssue({ code: 'custom', path: ['rows', i, 'n'], message: `expected one sample size per level (${t.levels.length})` });
            });
          }),
      )
      .default({}),
    /** Emailed when a product × class's inspection is discontinued (5 lots rejected on tightened). */
    alert: z.object({ to: z.array(z.string().email('expected an email address')).default([]) }).strict().default({}),
    /** The daily email lists rejected lots, at most this many. */
    emailLots: z.number().int().min(0).max(200).default(10),
  })
  .strict()
  .default({})
  .superRefine((s, ctx) => {
    s.plans.forEach((p, i) => {
      const spec = p.plan;
      if (spec.type === 'lot-size-table' && !s.lotSizeTables[spec.table]) {
        ctx.addIssue({ code: 'custom', path: ['plans', i, 'plan', 'table'], message: `no sampling.lotSizeTables.${spec.table}` });
      }
      if (spec.type === 'zero-acceptance') {
        const t = s.zeroAcceptanceTables[spec.table];
        if (!t) ctx.addIssue({ code: 'custom', path: ['plans', i, 'plan', 'table'], message: `no sampling.zeroAcceptanceTables.${spec.table}` });
        else if (!t.levels.includes(spec.level)) ctx.addIssue({ code: 'custom', path: ['plans', i, 'plan', 'level'], message: `expected one of the table's levels: ${t.levels.join(', ')}` });
      }
      if (spec.type === 'mil-std-105e' && !MIL_STD_105E_AQLS.some((a) => Math.abs(a - spec.aql) <= 1e-9 * a)) {
        ctx.addIssue({ code: 'custom', path: ['plans', i, 'plan', 'aql'], message: `expected an AQL of the MIL-STD-105E tables: ${MIL_STD_105E_AQLS.join(', ')}` });
      }
      if (spec.type === 'fixed' && spec.c >= spec.n) ctx.addIssue({ code: 'custom', path: ['plans', i, 'plan', 'c'], message: 'expected c below n' });
    });
  });

export type SamplingConfig = z.infer<typeof samplingSchema>;

// ------------------------------------------------------------------------------------------------
// Cell risk (README "Cell risk"): a logistic model of later cell failures from in-process, final
// and outgoing data, refitted every few days, scoring each day's cells.

const distinct = <T>(xs: readonly T[]) => new Set(xs).size === xs.length;
const days = (max: number) => z.number().int().min(1).max(max);

const riskSchema = z
  .object({
    /** Cells scored at or above this (0–100) are "short-term test recommended". */
    threshold: z.number().min(0).max(100).default(75),
    features: z
      .object({
        numeric: z
          .array(z.enum(NUMERIC_FEATURES, { errorMap: () => ({ message: `expected numeric features from: ${NUMERIC_FEATURES.join(', ')}` }) }))
          .refine(distinct, { message: 'expected each feature once' })
          .default(['gap_mm', 'k_value', 'capacity_ah', 'dcir_mohm']),
        categorical: z
          .array(z.enum(CATEGORICAL_FEATURES, { errorMap: () => ({ message: `expected categorical features from: ${CATEGORICAL_FEATURES.join(', ')}` }) }))
          .refine(distinct, { message: 'expected each feature once' })
          .default(['winder', 'cef_defect', 'oqc_result']),
      })
      .strict()
      .default({})
      .refine((f) => f.numeric.length + f.categorical.length > 0, { message: 'expected at least one feature' }),
    /** Production days of cells the model is fitted on, ending where the held-out window starts. */
    trainingDays: days(366).default(14),
    /** The latest production days with known outcomes, kept out of the fit to evaluate it. */
    heldOutDays: days(366).default(5),
    /** A new version is fitted once the active one was fitted this many production days before the day scored. */
    refitEveryDays: days(366).default(7),
    /** Ridge penalty on the standardised coefficients (0: plain maximum likelihood). */
    ridge: z.number().min(0).max(1e6).default(1),
    /**
     * A cell's outcome counts as known once its ageing ended at least this many production days
     * before the day of the run; a cell without an outcome row by then counts as good.
     */
    outcomeAfterDays: days(366).default(7),
    /** A cell's winding is looked for up to this many days before its end of ageing. */
    windingLookbackDays: days(60).default(14),
    /** Gap readings further than this from a winding are not its nearest reading. */
    gapMarginHours: z.number().positive().max(24 * 14).default(24),
    /** Fewer training cells or failures than these: no new version is fitted. */
    minTrainingCells: z.number().int().min(10).default(200),
    minTrainingFailures: z.number().int().min(1).default(10),
  })
  .strict()
  .default({});

export type RiskConfig = z.infer<typeof riskSchema>;

// ------------------------------------------------------------------------------------------------
// The MES exchange (README "MES exchange"): production orders in, quality results out, over REST.

/** The kinds of results pushed to the MES, each from its own provider (etl/mes/providers.ts). */
export const MES_PUSH_KINDS = ['product-yield', 'order-yield', 'spc-event', 'lot-disposition', 'cell-risk'] as const;
export type MesPushKind = (typeof MES_PUSH_KINDS)[number];

/** The MES's base URL: http(s), no credentials (the token comes from MES_TOKEN), no query or fragment. */
const mesUrl = z
  .string()
  .trim()
  .refine((u) => {
    try {
      const x = new URL(u);
      return (x.protocol === 'http:' || x.protocol === 'https:') && x.hostname !== '' && !x.search && !x.hash;
    } catch {
      return false;
    }
  }, { message: 'expected the MES API base URL, such as https://mes.example.com/api/v1 (http or https, no query)' })
  .refine((u) => {
    try {
      const x = new URL(u);
      return !x.username && !x.password;
    } catch {
      return true;
    }
  }, { message: 'credentials in the URL are not allowed; the token comes from the environment MES_TOKEN' })
  .transform((u) => u.replace(/\/+$/, ''));

const mesConfig = z
  .object({
    /** Off: mes-exchange pulls and pushes nothing and the worker sends nothing. */
    enabled: z.boolean().default(false),
    url: mesUrl.optional(),
    /** Refused: the bearer token is a secret and comes only from the environment MES_TOKEN. */
    token: z.unknown().refine((v) => v === undefined, { message: 'the MES token is a secret: set it in the environment MES_TOKEN, never in the config file' }).optional(),
    /** One HTTP request, from connecting to the whole answer. */
    timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
    /** Further attempts a run makes at once after a failure that may be temporary, before it leaves a push to the worker. */
    retries: z.number().int().min(0).max(10).default(2),
    /** First wait before a retry; each further one waits twice as long, up to maxRetryDelayMs. */
    retryDelayMs: z.number().int().min(0).max(600_000).default(2_000),
    maxRetryDelayMs: z.number().int().min(0).max(86_400_000).default(900_000),
    /** A push not acknowledged this long after it was queued expires (logged; its payload kept). */
    expireAfterMs: z.number().int().min(1_000).max(90 * 86_400_000).default(7 * 86_400_000),
    /** How often a worker sends the pushes that are due. */
    sendEveryMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** Production orders asked for per page. */
    pageSize: z.number().int().min(1).max(10_000).default(500),
    /** Order statuses (as the MES spells them, compared case-insensitively) that are still to be delivered. */
    openStatuses: z.array(z.string().trim().min(1)).min(1).default(['released', 'running']),
    /** The recent rate of a product: its good units per day over this many production days ending with the run's day. */
    rateWindowDays: z.number().int().min(1).max(366).default(7),
    /** What is pushed: the providers by kind; a kind whose table the target lacks is skipped (logged once). */
    push: z
      .array(z.enum(MES_PUSH_KINDS, { errorMap: () => ({ message: `expected push kinds from: ${MES_PUSH_KINDS.join(', ')}` }) }))
      .refine((k) => new Set(k).size === k.length, { message: 'expected each push kind once' })
      .default([...MES_PUSH_KINDS]),
    /** High-risk cells pushed: those scored at least this (0–100). */
    cellRiskMinScore: z.number().min(0).max(100).default(75),
  })
  .strict()
  .default({})
  .superRefine((m, ctx) => {
    if (m.enabled && !m.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'expected the MES API base URL when mes.enabled is true' });
  });

export const configSchema = z
  .object({
    plant: z
      .object({
        name: z.string().min(1).default('Plant'),
        timezone: timeZone.default('UTC'),
        dayStart: clockTime.default('00:00'),
        /** Shift name → plant-local start time; the shifts cover the day, each until the next one starts. */
        shifts: shifts.default({}),
      })
      .strict()
      .default({}),
    source: z
      .object({
        /** Overridden by SOURCE_DATABASE_URL. */
        url: fileDatabaseUrl.default('sqlite:./data/demo.sqlite'),
        timestamps: z.enum(['utc', 'local']).default('local'),
        testRecords: sourceTableWith('test_records', testRecordColumns),
        assembly: sourceTable('asb_data', ASSEMBLY_COLUMNS),
        winding: sourceTable('wnd_data', WINDING_COLUMNS),
        inspection: sourceTable('isp_ifo_h', INSPECTION_COLUMNS),
        formation: sourceTable('fmt_data', FORMATION_COLUMNS),
        oqc: sourceTable('oqc_data', OQC_COLUMNS),
        outcome: sourceTable('cell_outcome', OUTCOME_COLUMNS),
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
    mail: z
      .object({
        /** Sender of every email yieldrun writes: an address, optionally with a display name. */
        from: mailbox.default('yieldrun <yieldrun@localhost>'),
        /** Without SMTP_URL, messages are written here as .eml files instead of being sent. */
        outDir: z.string().min(1).default('out/mail'),
        /** Further attempts a run makes after a temporary failure (4xx reply, no connection) before it leaves the message to the worker. */
        retries: z.number().int().min(0).max(10).default(3),
        /** First wait before a retry; each further retry waits twice as long. */
        retryDelayMs: z.number().int().min(0).max(600_000).default(2_000),
        /** The outbox (reports/outbox/): every email is stored before it is sent, and retried until sent or expired. */
        outbox: z
          .object({
            /** How often a worker sends what is due in the outbox (and expires what is too old). */
            sendEveryMs: z.number().int().min(100).max(3_600_000).default(60_000),
            /** A message not sent this long after it was queued expires: one admin alert, its .eml kept on disk. */
            expireAfterMs: z.number().int().min(1_000).max(30 * 86_400_000).default(86_400_000),
            /** The wait between attempts doubles from retryDelayMs up to this. */
            maxRetryDelayMs: z.number().int().min(0).max(86_400_000).default(900_000),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    reports: z
      .object({
        /** Where report workbooks are written. */
        outDir: z.string().min(1).default('out/reports'),
        dailyYield: z
          .object({
            to: z.array(emailAddress).default([]),
            cc: z.array(emailAddress).default([]),
            /** One address or a list. */
            replyTo: z.union([emailAddress.transform((a) => [a]), z.array(emailAddress)]).default([]),
            /** Yields below these are shown in red; fractions in [0, 1] like the summary tables. */
            targets: z
              .object({ firstPassYield: fraction.default(0.85), cumulativeYield: fraction.default(0.95) })
              .strict()
              .default({}),
            /** A day without summary rows: send a short notice, or send nothing. */
            noData: z.enum(['notice', 'skip']).default('notice'),
            /** Rejected rows listed on the Rejects sheet (all are counted on the Overview). */
            maxRejectRows: z.number().int().min(0).max(1_000_000).default(1_000),
            /** Stations listed as the worst by first-pass yield. */
            worstStations: z.number().int().min(1).max(100).default(10),
            /** A station needs this many unit-tests on the day to be ranked (a 0 % of 2 units is noise). */
            worstStationsMinUnits: z.number().int().min(1).default(20),
            /**
             * Optional sections, each shown when its job has stored results: the SPC sheet (spc) and
             * the Defect trace sheet and email paragraph (defect-trace).
             */
            sections: z
              .object({
                spc: z.boolean().default(true),
                defectTrace: z.boolean().default(true),
                processFlow: z.boolean().default(true),
                lotSampling: z.boolean().default(true),
                deliveryRisk: z.boolean().default(true),
                cellRisk: z.boolean().default(true),
              })
              .strict()
              .default({}),
            /** Control-chart images on the SPC sheet: the charts with violations, most on the day first. */
            spcCharts: z.number().int().min(0).max(50).default(6),
            /** A larger workbook is not attached (mail servers refuse large messages); the email says where it is. */
            maxAttachmentMb: z.number().positive().max(1000).default(15),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /**
     * The CEF infusion-defect trace (sources.md): defects at CEF traced to the winder through cell_id,
     * and each winder's separator–anode gap readings, judged against these limits.
     */
    defectTrace: z
      .object({
        /** item_cd of the gap readings in the inspection table. */
        gapItemCode: z.string().trim().min(1, 'expected an item code such as SEP_ANODE_GAP').default('SEP_ANODE_GAP'),
        /** Gap spec limits, mm. */
        lsl: z.number().default(0.8),
        usl: z.number().default(1.2),
        /** dfct_cd values at CEF. */
        defectCodes: z
          .object({ infusion: z.number().int().default(5), filling: z.number().int().default(4) })
          .strict()
          .default({})
          .refine((c) => c.infusion !== c.filling, { message: 'the infusion and filling defect codes must differ' }),
        /** A winder whose infusion-defect rate on a day is above this fraction is named in the report. */
        infusionRateThreshold: fraction.default(0.02),
        /** Cells a winder needs on a day for its rate to be judged (1 defect in 3 cells is noise). */
        minCells: z.number().int().min(1).default(50),
        /** Days charted and searched for the start of a rise. */
        windowDays: z.number().int().min(1).max(366).default(30),
        /** Days before a rise (or up to the report day) in which the gap is checked for drift and spec. */
        leadDays: z.number().int().min(1).max(31).default(2),
        /** Days before the lead window whose gap readings are the winder's own baseline (mean, within-day sigma). */
        baselineDays: z.number().int().min(1).max(366).default(14),
        /** A day's mean gap this many standard errors from the baseline mean counts as drifting (3: the X-bar chart's limit). */
        driftZ: z.number().positive().default(3),
      })
      .strict()
      .default({})
      .refine((t) => t.lsl < t.usl, { message: 'expected a gap LSL below defectTrace.usl', path: ['lsl'] }),
    /** The process flow (process-flow.md): `yieldrun run process-flow --date D`. */
    flow: z
      .object({
        /** Product → its route, the ordered test steps; a product without one is judged against its discovered route. */
        routes: z.record(z.string().trim().min(1, 'expected a product name'), route).default({}),
        /** Steps with fewer cases in a period get no bottleneck rank. */
        minCases: z.number().int().min(1).default(20),
        /** Days (ending with the period's last day) whose most frequent variant is a product's discovered route. */
        discoverDays: z.number().int().min(1).max(366).default(30),
        /** The battery line as a second event log: cell_id through winding and CEF. */
        battery: z.boolean().default(true),
        /** The daily email names the bottleneck when its median wait into the step is at least this many seconds. */
        bottleneckWaitS: z.number().min(0).default(1800),
        /** The daily email names the worst rework loop when its step's rework rate is at least this fraction. */
        reworkRate: fraction.default(0.1),
        /** The daily email names a station when at least this fraction of the units it released jumped over the route's next step. */
        skipShare: fraction.default(0.05),
      })
      .strict()
      .default({}),
    /** Lot acceptance sampling: `yieldrun run lot-sampling --date D`, `yieldrun sampling plan|design`. */
    sampling: samplingSchema,
    /** Cell risk: `yieldrun run cell-risk --date D`, `yieldrun risk models|refit`. */
    risk: riskSchema,
    /** Statistical process control (spc.md): `yieldrun run spc --date D`. */
    spc: z
      .object({
        /** Production days charted, ending with the run's day. */
        windowDays: z.number().int().min(1).max(366).default(30),
        /** Consecutive points without a violation that close an out-of-control event (spc.md §6). */
        eventCloseAfter: z.number().int().min(1).max(1000).default(8),
        /** Assignable-cause codes an engineer picks when acknowledging an event: code → meaning. */
        causes: codeList.default(DEFAULT_SPC_CAUSES),
        /** Corrective-action codes, likewise. */
        actions: codeList.default(DEFAULT_SPC_ACTIONS),
        /** Measure name → measure; one chart per key value. */
        measures: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'expected a measure name such as sep_anode_gap (lower case, digits, _)'), spcMeasure).default({}),
      })
      .strict()
      .default({}),
    etl: z
      .object({
        /** Rejected rows kept per run in etl_rejects (all are counted). */
        maxRejectsStored: z.number().int().min(0).default(100_000),
        /**
         * PostgreSQL work_mem for the summary statement only (SET LOCAL): its sorts and intermediate
         * results then stay in memory instead of temporary files.
         */
        postgresWorkMem: z.string().regex(/^\d{1,6}(kB|MB|GB)$/, "expected a size such as '256MB'").default('256MB'),
      })
      .strict()
      .default({}),
    runner: z
      .object({
        /** Redis key prefix of every queue; two installations on one Redis use different prefixes. */
        queuePrefix: identifier('a queue prefix').default('yieldrun'),
        /** Jobs one worker process runs at once, per queue. */
        concurrency: z.number().int().min(1).max(32).default(1),
        attempts: z.number().int().min(1).max(50).default(3),
        /** First retry delay; each further retry waits twice as long. */
        backoffMs: z.number().int().min(0).default(60_000),
        /** A job's lock lasts this long and is renewed at half of it while the job runs. */
        lockDurationMs: z.number().int().min(1_000).default(300_000),
        /** How often workers look for jobs whose worker died (lock expired) and put them back. */
        stalledIntervalMs: z.number().int().min(500).default(30_000),
        maxStalledCount: z.number().int().min(0).default(2),
        /** On start and after each nightly run, enqueue days in the lookback without a successful summary. */
        catchUp: z.boolean().default(true),
        /**
         * How often a running worker makes the job schedulers match the config again (also after every
         * Redis reconnect): a Redis that lost its keys gets its schedules back without a worker restart.
         */
        resyncIntervalMs: z.number().int().min(1_000).max(86_400_000).default(300_000),
        /**
         * How often a running worker looks for days that never ran (a summary or a dependent lost with its
         * queue) and enqueues them; also after every Redis reconnect. Only with catchUp.
         */
        catchUpIntervalMs: z.number().int().min(1_000).max(86_400_000).default(900_000),
        /** Refuse to start on a Redis that keeps nothing on disk (no AOF, no RDB snapshots) instead of only warning. */
        requirePersistence: z.boolean().default(false),
        /** The most production days one rerun or run may cover unless forced (--force, `force: true`). */
        maxRangeDays: z.number().int().min(1).max(36_600).default(400),
      })
      .strict()
      .default({}),
    /** Cron schedules per job, evaluated in plant.timezone. The worker makes Redis match this list. */
    schedules: z
      .record(
        z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a schedule name such as nightly-summary'),
        z
          .object({
            job: z.string().min(1),
            cron: z
              .string()
              .regex(/^\s*\S+(\s+\S+){4,5}\s*$/, 'expected a cron pattern of 5 or 6 fields, e.g. "30 6 * * *"')
              // The parser BullMQ's job schedulers use: a pattern it rejects would stop the worker at start.
              .refine((p) => validCron(p), { message: 'expected a valid cron pattern, e.g. "30 6 * * *" (minute hour day-of-month month day-of-week)' }),
            /** Jobs that run for the same day once this job succeeded (a BullMQ flow). */
            dependents: z.array(z.string().min(1)).default([]),
          })
          .strict(),
      )
      .default({}),
    mes: mesConfig,
    alerts: z
      .object({
        /** Who gets an email when a job fails its last attempt. */
        admins: z.array(z.string().email('expected an email address')).default([]),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type TestRecordColumns = Config['source']['testRecords']['columns'];
export type SourceTimestamps = Config['source']['timestamps'];
