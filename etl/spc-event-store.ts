/**
 * Out-of-control events in the target database (spc_events, spc_event_rules; spc.md §6): written
 * by the spc job inside its measure transaction, read by the reports, the CLI and the admin API,
 * and acknowledged by an engineer.
 *
 * Each run walks every chart's points (etl/spc-events.ts) and reconciles the events it finds with
 * the stored ones, so that an event keeps its id, its acknowledgement and its alert state from run
 * to run:
 * - an event still open when the window starts is carried in: its points before the window are
 *   read back from spc_points / spc_violations (only for such charts), so it continues, counts and
 *   closes as if the whole chart had been walked;
 * - a found event takes over the stored event it overlaps; a stored event that no found one
 *   overlaps is withdrawn (new data or new limits no longer flag its points), never deleted;
 * - an event found for the first time is history when it opened before the run's own days: it is
 *   stored and shown, never alerted.
 * A chart that a later window already charted (events reaching past this window's end) is left
 * as that run left it: a rerun of an old day does not cut its events short.
 *
 * No statement depends on a driver's row count: claims are UPDATEs by condition, read back by run id.
 */
import type { Knex } from 'knex';
import { targetTable, type EtlContext } from './context.js';
import { num, textOrNull, toDate, toDateOrNull } from './spc-db-values.js';
import { chartEvents, type EventFlag, type RuleCount } from './spc-events.js';
import type { Panel } from './spc-judge.js';
import { numberAt, type ChartedKey } from './spc-point-columns.js';
import type { ChartKind } from './spc/chart-points.js';
import type { RuleNumber, Side } from './spc/nelson-rules.js';

export type EventState = 'open' | 'acknowledged' | 'closed' | 'withdrawn';

export interface StoredEvent {
  id: number;
  measure: string;
  key: string;
  chart: ChartKind;
  state: EventState;
  openedAt: Date;
  lastFlaggedAt: Date;
  closedAt: Date | null;
  flaggedPoints: number;
  extremeValue: number | null;
  extremeCl: number | null;
  side: Side | null;
  /** Opened before the days of the run that found it: never alerted. */
  history: boolean;
  firstSeenRunId: number;
  lastSeenRunId: number;
  withdrawnRunId: number | null;
  openAlertRunId: number | null;
  closeAlertRunId: number | null;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  causeCode: string | null;
  actionCode: string | null;
  note: string | null;
  rules: RuleCount[];
}

type Row = Record<string, unknown>;

const CHUNK = 500;

function eventOf(r: Row, rules: RuleCount[] = []): StoredEvent {
  return {
    id: Number(r.id),
    measure: String(r.measure),
    key: String(r.chart_key),
    chart: String(r.chart) as ChartKind,
    state: String(r.state) as EventState,
    openedAt: toDate(r.opened_at),
    lastFlaggedAt: toDate(r.last_flagged_at),
    closedAt: toDateOrNull(r.closed_at),
    flaggedPoints: Number(r.flagged_points),
    extremeValue: num(r.extreme_value),
    extremeCl: num(r.extreme_cl),
    side: textOrNull(r.side) as Side | null,
    history: Number(r.history) === 1 || r.history === true,
    firstSeenRunId: Number(r.first_seen_run_id),
    lastSeenRunId: Number(r.last_seen_run_id),
    withdrawnRunId: num(r.withdrawn_run_id),
    openAlertRunId: num(r.open_alert_run_id),
    closeAlertRunId: num(r.close_alert_run_id),
    acknowledgedAt: toDateOrNull(r.acknowledged_at),
    acknowledgedBy: textOrNull(r.acknowledged_by),
    causeCode: textOrNull(r.cause_code),
    actionCode: textOrNull(r.action_code),
    note: textOrNull(r.ack_note),
    rules,
  };
}

/** The state a stored event is in after a run: acknowledged stays so until it closes. */
function stateOf(closedAt: Date | null, acknowledgedAt: unknown): EventState {
  if (closedAt !== null) return 'closed';
  return acknowledgedAt === null || acknowledgedAt === undefined ? 'open' : 'acknowledged';
}

export interface EventWrite {
  measure: string;
  runId: number;
  /** The charted window's instants [from, to). */
  window: { from: Date; to: Date };
  /** Start of the run's first own production day: events opened before it are history. */
  ownFrom: Date;
  closeAfter: number;
  keys: readonly ChartedKey[];
}

export interface EventsWritten {
  /** Events found for the first time by this run (history included). */
  opened: number;
  /** Of those, the ones that opened before the run's days (history: not alerted). */
  history: number;
  /** Open or acknowledged after this run. */
  open: number;
  /** Closed by this run. */
  closed: number;
  withdrawn: number;
}

interface Series {
  times: number[];
  values: (number | null)[];
  cls: (number | null)[];
  flags: Map<number, EventFlag[]>;
}

/** The chart's points before the window, back to a carried-in event's opening, as earlier runs stored them. */
async function storedPrefix(ctx: EtlContext, trx: Knex.Transaction, measure: string, key: string, from: Date, to: Date): Promise<Series> {
  const points = (await targetTable(ctx, trx, 'spc_points')
    .where({ measure, chart_key: key })
    .where('point_time', '>=', from)
    .where('point_time', '<', to)
    .orderBy('point_time')
    .select('point_time', 'value', 'cl')) as Row[];
  const violations = (await targetTable(ctx, trx, 'spc_violations')
    .where({ measure, chart_key: key })
    .whereNull('withdrawn_run_id')
    .where('point_time', '>=', from)
    .where('point_time', '<', to)
    .select('point_time', 'panel', 'rule', 'severity')) as Row[];
  const s: Series = { times: [], values: [], cls: [], flags: new Map() };
  const at = new Map<number, number>();
  for (const p of points) {
    const t = toDate(p.point_time).getTime();
    if (!at.has(t)) at.set(t, s.times.length);
    s.times.push(t);
    s.values.push(num(p.value));
    s.cls.push(num(p.cl));
  }
  for (const v of violations) {
    const i = at.get(toDate(v.point_time).getTime());
    if (i === undefined) continue;
    const list = s.flags.get(i) ?? [];
    list.push({ panel: v.panel === 'paired' ? 'paired' : 'main', rule: Number(v.rule) as RuleNumber, severity: v.severity === 'warning' ? 'warning' : 'alarm' });
    s.flags.set(i, list);
  }
  return s;
}

function withWindow(prefix: Series, k: ChartedKey): Series {
  const p = k.points;
  const offset = prefix.times.length;
  const s: Series = { times: [...prefix.times], values: [...prefix.values], cls: [...prefix.cls], flags: new Map(prefix.flags) };
  for (let i = 0; i < p.length; i++) {
    s.times.push(p.time[i]!);
    s.values.push(numberAt(p.value, i));
    s.cls.push(numberAt(p.cl, i));
  }
  for (const v of k.violations) {
    const i = offset + v.pointIndex;
    const list = s.flags.get(i) ?? [];
    list.push({ panel: v.panel, rule: v.rule, severity: v.severity });
    s.flags.set(i, list);
  }
  return s;
}

const overlaps = (a: { from: number; to: number }, b: { from: number; to: number }) => a.from <= b.to && b.from <= a.to;

/** Finds, reconciles and stores the events of a measure's charts; inside the measure's transaction. */
export async function storeEvents(ctx: EtlContext, trx: Knex.Transaction, w: EventWrite): Promise<EventsWritten> {
  const events = () => targetTable(ctx, trx, 'spc_events');
  const stored = ((await events().where('measure', w.measure).whereNull('withdrawn_run_id').where('opened_at', '<', w.window.to).where((q) => q.whereNull('closed_at').orWhere('closed_at', '>=', w.window.from)).select('*')) as Row[]).map((r) =>
    eventOf(r),
  );
  const byKey = new Map<string, StoredEvent[]>();
  for (const e of stored) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
  // Keys a later window charted: their events reach past this window's end.
  const later = new Set(
    ((await events().where('measure', w.measure).whereNull('withdrawn_run_id').where((q) => q.where('opened_at', '>=', w.window.to).orWhere('last_flagged_at', '>=', w.window.to)).distinct('chart_key')) as Row[]).map((r) => String(r.chart_key)),
  );
  const out: EventsWritten = { opened: 0, history: 0, open: 0, closed: 0, withdrawn: 0 };
  const fromMs = w.window.from.getTime();
  const withdrawn: number[] = [];
  const touched: { id: number; rules: RuleCount[]; opened: Date; lastFlagged: Date; key: string }[] = [];

  for (const k of w.keys) {
    const scope = (byKey.get(k.key) ?? []).sort((a, b) => a.openedAt.getTime() - b.openedAt.getTime());
    if (later.has(k.key) || (scope.length === 0 && k.violations.length === 0)) continue;
    const carried = scope.find((e) => e.openedAt.getTime() < fromMs);
    const prefix = carried ? await storedPrefix(ctx, trx, w.measure, k.key, carried.openedAt, w.window.from) : { times: [], values: [], cls: [], flags: new Map() };
    const s = withWindow(prefix, k);
    const found = chartEvents({ length: s.times.length, value: (i) => s.values[i]!, cl: (i) => s.cls[i]!, flags: s.flags }, w.closeAfter);
    const unused = new Set(scope);
    for (const e of found) {
      const openedAt = new Date(s.times[e.openedIndex]!);
      const lastFlaggedAt = new Date(s.times[e.lastFlaggedIndex]!);
      const closedAt = e.closedIndex === null ? null : new Date(s.times[e.closedIndex]!);
      const span = { from: openedAt.getTime(), to: closedAt?.getTime() ?? Infinity };
      const match = [...unused].find((c) => overlaps(span, { from: c.openedAt.getTime(), to: c.closedAt?.getTime() ?? Infinity }));
      const fields = {
        opened_at: openedAt,
        last_flagged_at: lastFlaggedAt,
        closed_at: closedAt,
        flagged_points: e.flaggedPoints,
        extreme_value: e.extremeIndex === null ? null : s.values[e.extremeIndex]!,
        extreme_cl: e.extremeIndex === null ? null : s.cls[e.extremeIndex]!,
        side: e.side,
        last_seen_run_id: w.runId,
      };
      let id: number;
      if (match) {
        unused.delete(match);
        id = match.id;
        await events()
          .where('id', id)
          .update({ ...fields, state: stateOf(closedAt, match.acknowledgedAt) });
        if (closedAt !== null && match.closedAt === null) out.closed++;
      } else {
        const history = openedAt.getTime() < w.ownFrom.getTime();
        const inserted = (await events().insert({ measure: w.measure, chart_key: k.key, chart: k.chart, state: stateOf(closedAt, null), ...fields, history: history ? 1 : 0, first_seen_run_id: w.runId }, ['id'])) as unknown[];
        id = Number(typeof inserted[0] === 'object' && inserted[0] !== null ? (inserted[0] as Row).id : inserted[0]);
        out.opened++;
        if (history) out.history++;
        if (closedAt !== null) out.closed++;
      }
      if (closedAt === null) out.open++;
      touched.push({ id, rules: e.rules, opened: openedAt, lastFlagged: lastFlaggedAt, key: k.key });
    }
    for (const c of unused) withdrawn.push(c.id);
    // Which event each violation belongs to, from scratch over the part of the chart walked.
    await targetTable(ctx, trx, 'spc_violations')
      .where({ measure: w.measure, chart_key: k.key })
      .where('point_time', '>=', carried?.openedAt ?? w.window.from)
      .where('point_time', '<', w.window.to)
      .update({ event_id: null });
  }

  for (let i = 0; i < withdrawn.length; i += CHUNK) {
    const ids = withdrawn.slice(i, i + CHUNK);
    await events().whereIn('id', ids).update({ state: 'withdrawn', withdrawn_run_id: w.runId });
  }
  out.withdrawn = withdrawn.length;
  const ids = touched.map((t) => t.id);
  for (let i = 0; i < ids.length; i += CHUNK) await targetTable(ctx, trx, 'spc_event_rules').whereIn('event_id', ids.slice(i, i + CHUNK)).delete();
  const ruleRows = touched.flatMap((t) => t.rules.map((r) => ({ event_id: t.id, panel: r.panel, rule: r.rule, points: r.points })));
  for (let i = 0; i < ruleRows.length; i += CHUNK) await targetTable(ctx, trx, 'spc_event_rules').insert(ruleRows.slice(i, i + CHUNK));
  for (const t of touched) {
    await targetTable(ctx, trx, 'spc_violations')
      .where({ measure: w.measure, chart_key: t.key })
      .whereNull('withdrawn_run_id')
      .where('point_time', '>=', t.opened)
      .where('point_time', '<=', t.lastFlagged)
      .update({ event_id: t.id });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Alerts: claimed by UPDATE, read back by run id

export interface ClaimedEvents {
  /** Events whose opening this run tells (not history), oldest first. */
  opened: StoredEvent[];
  /** Events that closed since their opening was told, told now (a short note). */
  closed: StoredEvent[];
}

async function withRules(ctx: EtlContext, db: Knex | Knex.Transaction, rows: Row[]): Promise<StoredEvent[]> {
  const ids = rows.map((r) => Number(r.id));
  const rules = new Map<number, RuleCount[]>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rs = (await targetTable(ctx, db, 'spc_event_rules').whereIn('event_id', ids.slice(i, i + CHUNK)).select('*')) as Row[];
    for (const r of rs) {
      const id = Number(r.event_id);
      rules.set(id, [...(rules.get(id) ?? []), { panel: (r.panel === 'paired' ? 'paired' : 'main') as Panel, rule: Number(r.rule) as RuleNumber, points: Number(r.points) }]);
    }
  }
  const order = (a: RuleCount, b: RuleCount) => (a.panel === b.panel ? a.rule - b.rule : a.panel === 'main' ? -1 : 1);
  return rows.map((r) => eventOf(r, (rules.get(Number(r.id)) ?? []).sort(order)));
}

/**
 * Claims the measure's events to alert: openings not told yet (never history), then closes of
 * events whose opening was told. Two runs at once cannot both claim one; a failed send gives them back.
 */
export async function claimEventAlerts(ctx: EtlContext, measure: string, runId: number, at: Date): Promise<ClaimedEvents> {
  const events = () => targetTable(ctx, ctx.target, 'spc_events').where({ measure }).whereNull('withdrawn_run_id');
  await events().where('history', 0).whereNull('open_alert_run_id').update({ open_alert_run_id: runId, open_alerted_at: at });
  await events().whereNotNull('closed_at').whereNotNull('open_alert_run_id').whereNull('close_alert_run_id').update({ close_alert_run_id: runId, close_alerted_at: at });
  const rows = (await targetTable(ctx, ctx.target, 'spc_events')
    .where({ measure })
    .where((q) => q.where('open_alert_run_id', runId).orWhere('close_alert_run_id', runId))
    .orderBy([{ column: 'opened_at' }, { column: 'chart_key' }])
    .select('*')) as Row[];
  const all = await withRules(ctx, ctx.target, rows);
  return { opened: all.filter((e) => e.openAlertRunId === runId), closed: all.filter((e) => e.closeAlertRunId === runId && e.openAlertRunId !== runId) };
}

/** Gives the claims of a failed send back, so the next run tells them. */
export async function releaseEventAlerts(ctx: EtlContext, measure: string, runId: number): Promise<void> {
  await targetTable(ctx, ctx.target, 'spc_events').where({ measure, open_alert_run_id: runId }).update({ open_alert_run_id: null, open_alerted_at: null });
  await targetTable(ctx, ctx.target, 'spc_events').where({ measure, close_alert_run_id: runId }).update({ close_alert_run_id: null, close_alerted_at: null });
}

// ------------------------------------------------------------------------------------------------
// Reading and acknowledging

export interface EventQuery {
  /** Only open and acknowledged (not yet closed) events. */
  open?: boolean;
  measures?: readonly string[];
  /** Withdrawn events too (default: not). */
  withdrawn?: boolean;
  /** Open ones, and closed ones that closed at or after this instant. */
  closedSince?: Date;
  limit?: number;
}

/** Events newest first. */
export async function listEvents(ctx: EtlContext, q: EventQuery = {}): Promise<StoredEvent[]> {
  let b = targetTable(ctx, ctx.target, 'spc_events');
  if (q.open) b = b.whereIn('state', ['open', 'acknowledged']);
  else if (!q.withdrawn) b = b.whereNot('state', 'withdrawn');
  if (q.closedSince) {
    const since = q.closedSince;
    b = b.where((w) => w.whereNull('closed_at').orWhere('closed_at', '>=', since));
  }
  if (q.measures) b = b.whereIn('measure', [...q.measures]);
  b = b.orderBy([{ column: 'opened_at', order: 'desc' }, { column: 'id', order: 'desc' }]);
  if (q.limit !== undefined) b = b.limit(q.limit);
  return withRules(ctx, ctx.target, (await b.select('*')) as Row[]);
}

export async function readEvent(ctx: EtlContext, id: number): Promise<StoredEvent | null> {
  const rows = (await targetTable(ctx, ctx.target, 'spc_events').where({ id }).select('*')) as Row[];
  return rows.length === 0 ? null : (await withRules(ctx, ctx.target, rows))[0]!;
}

export interface Acknowledgement {
  id: number;
  cause: string;
  action: string;
  by: string;
  note?: string | undefined;
  /** Default: now. */
  at?: Date;
}

/** A request that cannot be carried out as given (unknown code, no such event, already acknowledged). */
export class AcknowledgementError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409,
  ) {
    super(message);
  }
}

function checkCode(kind: 'cause' | 'action', code: string, list: Readonly<Record<string, string>>, key: string): string {
  const c = code.trim().toUpperCase();
  if (!(c in list)) throw new AcknowledgementError(`unknown ${kind} code '${code}'; ${key} lists: ${Object.keys(list).join(', ')}`, 400);
  return c;
}

/**
 * Records who acknowledged an event, when, with which assignable cause and corrective action. An
 * open event becomes acknowledged; a closed one stays closed and keeps the acknowledgement. Once
 * only: the UPDATE applies to an event not acknowledged yet, and reading it back tells whose
 * acknowledgement it holds.
 */
export async function acknowledgeEvent(ctx: EtlContext, a: Acknowledgement): Promise<StoredEvent> {
  const spc = ctx.config.spc;
  const cause = checkCode('cause', a.cause, spc.causes, 'spc.causes');
  const action = checkCode('action', a.action, spc.actions, 'spc.actions');
  const by = a.by.trim();
  if (!by) throw new AcknowledgementError('--by is required: the name of who acknowledges the event', 400);
  if (by.length > 128) throw new AcknowledgementError('--by is at most 128 characters', 400);
  const note = a.note?.trim() || null;
  if (note !== null && note.length > 1000) throw new AcknowledgementError('--note is at most 1000 characters', 400);
  const before = await readEvent(ctx, a.id);
  if (!before) throw new AcknowledgementError(`no SPC event ${a.id} (yieldrun spc events lists them)`, 404);
  if (before.state === 'withdrawn') throw new AcknowledgementError(`SPC event ${a.id} was withdrawn by run ${before.withdrawnRunId}: a later run no longer finds its points out of control`, 409);
  const at = a.at ?? new Date();
  await targetTable(ctx, ctx.target, 'spc_events')
    .where({ id: a.id })
    .whereNull('acknowledged_at')
    .whereNull('withdrawn_run_id')
    .update({ acknowledged_at: at, acknowledged_by: by, cause_code: cause, action_code: action, ack_note: note, state: ctx.target.raw("CASE WHEN closed_at IS NULL THEN 'acknowledged' ELSE state END") });
  const after = (await readEvent(ctx, a.id))!;
  if (after.acknowledgedAt?.getTime() !== at.getTime() || after.acknowledgedBy !== by) {
    const when = after.acknowledgedAt ? after.acknowledgedAt.toISOString() : '?';
    throw new AcknowledgementError(`SPC event ${a.id} is already acknowledged by ${after.acknowledgedBy ?? '?'} at ${when} (cause ${after.causeCode}, action ${after.actionCode})`, 409);
  }
  return after;
}
