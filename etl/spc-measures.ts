/**
 * SPC measures as the job uses them: the validated configuration (config/schema.ts, `spc.measures`)
 * with the defaults that depend on the chart type filled in (p-charts judge rules 1–4 only: by
 * default 1, 2, 3), and
 * the chart key of a row.
 */
import type { Config, SpcMeasureConfig } from '../config/schema.js';
import type { ChartKind } from './spc/chart-points.js';
import { ALL_RULES, applicableRules, DEFAULT_RULE_SETTINGS, DEFAULT_RULES, type RuleNumber, type RuleSettings } from './spc/nelson-rules.js';
import type { SpcSource } from '../sql/spc-query.js';

export type Subgrouping = { kind: 'none' } | { kind: 'size'; size: number } | { kind: 'hour' } | { kind: 'day' };

export type BaselineSpec = { kind: 'firstSubgroups'; count: number } | { kind: 'dates'; from: string; to: string };

export interface SpecLimitsSpec {
  lsl: number | null;
  usl: number | null;
  target: number | null;
}

export interface MeasureSpec {
  name: string;
  /** For people: the configured title, or the name. */
  title: string;
  unit: string | null;
  chart: ChartKind;
  source: SpcSource;
  subgroup: Subgrouping;
  spec: SpecLimitsSpec;
  baseline: BaselineSpec | null;
  rules: RuleSettings;
  /** Per rule: alarm (opens an event, alerted) or warning (shown, never alerted); spc.md §6. */
  severity: Readonly<Record<RuleNumber, Severity>>;
  /** Rule 1 on the paired chart (MR, R or S). */
  pairedSeverity: Severity;
  alert: { to: string[]; cc: string[] };
  /** Where it is configured, for messages. */
  configKey: string;
}

export type Severity = 'alarm' | 'warning';

/** Rules that are alarms unless a measure says otherwise: one point beyond 3σ, a run on one side. */
export const DEFAULT_ALARM_RULES: readonly RuleNumber[] = [1, 2];
/**
 * Rule 1 on the MR, R or S chart is a warning unless a measure says otherwise: with UCL = 3.267·MR̄
 * a single moving range is beyond it about once in 110 points of a stable process (several times a
 * day on an hourly gauge), and a real shift shows on the I or X̄ chart, whose rule 1 is an alarm.
 */
export const DEFAULT_PAIRED_SEVERITY: Severity = 'warning';

function severities(configured: Readonly<Record<string, Severity>>): Record<RuleNumber, Severity> {
  const out = {} as Record<RuleNumber, Severity>;
  for (const r of ALL_RULES) out[r] = configured[String(r)] ?? (DEFAULT_ALARM_RULES.includes(r) ? 'alarm' : 'warning');
  return out;
}

/** The key columns of a chart joined into one text: `TX_POWER-02 | TX_POWER`. */
export const KEY_SEPARATOR = ' | ';

export function chartKeyOf(parts: readonly string[]): string {
  return parts.join(KEY_SEPARATOR);
}

function subgroupingOf(s: SpcMeasureConfig['subgroup'], chart: ChartKind): Subgrouping {
  if (chart === 'p') return { kind: 'day' };
  if (s === 'none') return { kind: 'none' };
  if ('size' in s) return { kind: 'size', size: s.size };
  return { kind: s.by };
}

function ruleSettings(m: SpcMeasureConfig): RuleSettings {
  const chart = m.chart;
  // One default for every chart (spc.md §3: 1, 2, 3, 5, 6), filtered to what the chart allows: a
  // p-chart gets 1, 2, 3, as applicableRules gives it; rule 4 only when configured.
  const enabled = applicableRules(chart, (m.rules as RuleNumber[] | undefined) ?? DEFAULT_RULES);
  const r = m.runLengths;
  return {
    enabled,
    sameSideRun: r.sameSide ?? DEFAULT_RULE_SETTINGS.sameSideRun,
    trendRun: r.trend ?? DEFAULT_RULE_SETTINGS.trendRun,
    alternatingRun: r.alternating ?? DEFAULT_RULE_SETTINGS.alternatingRun,
    beyondTwoSigma: r.beyondTwoSigma ?? DEFAULT_RULE_SETTINGS.beyondTwoSigma,
    beyondOneSigma: r.beyondOneSigma ?? DEFAULT_RULE_SETTINGS.beyondOneSigma,
    withinOneSigmaRun: r.withinOneSigma ?? DEFAULT_RULE_SETTINGS.withinOneSigmaRun,
    outsideOneSigmaRun: r.outsideOneSigma ?? DEFAULT_RULE_SETTINGS.outsideOneSigmaRun,
  };
}

export function measureSpec(name: string, m: SpcMeasureConfig): MeasureSpec {
  const src = m.source;
  const source: SpcSource = {
    from: src.query !== undefined ? { query: src.query } : { table: src.table! },
    where: src.where,
    time: m.time,
    key: src.lookup ? src.lookup.key : m.key!,
  };
  if (src.lookup) source.lookup = { table: src.lookup.table, match: src.lookup.match, ...(src.lookup.latest ? { latest: src.lookup.latest } : {}) };
  if (m.value) source.value = m.value;
  if (m.validRange) source.validRange = m.validRange;
  if (m.defective) source.defective = { column: m.defective.column, in: m.defective.in };
  let baseline: BaselineSpec | null = null;
  if (m.baseline) baseline = 'firstSubgroups' in m.baseline ? { kind: 'firstSubgroups', count: m.baseline.firstSubgroups } : { kind: 'dates', from: m.baseline.from, to: m.baseline.to };
  return {
    name,
    title: m.title ?? name,
    unit: m.unit ?? null,
    chart: m.chart,
    source,
    subgroup: subgroupingOf(m.subgroup, m.chart),
    spec: { lsl: m.spec?.lsl ?? null, usl: m.spec?.usl ?? null, target: m.spec?.target ?? null },
    baseline,
    rules: ruleSettings(m),
    severity: severities(m.severity),
    pairedSeverity: m.severity.paired ?? DEFAULT_PAIRED_SEVERITY,
    alert: { to: m.alert.to, cc: m.alert.cc },
    configKey: `spc.measures.${name}`,
  };
}

/** The enabled measures of the configuration, in the order they are configured. */
export function enabledMeasures(config: Pick<Config, 'spc'>): MeasureSpec[] {
  return Object.entries(config.spc.measures)
    .filter(([, m]) => m.enabled)
    .map(([name, m]) => measureSpec(name, m));
}

/** The configured measure (enabled or not), or an error that lists the configured ones. */
export function configuredMeasure(config: Pick<Config, 'spc'>, name: string): MeasureSpec {
  const m = config.spc.measures[name];
  if (!m) {
    const known = Object.keys(config.spc.measures);
    throw new Error(`no SPC measure '${name}' in the configuration (spc.measures); configured: ${known.length ? known.join(', ') : 'none'}`);
  }
  return measureSpec(name, m);
}
