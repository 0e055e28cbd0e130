/**
 * What ran, when, for whom and what it found: etl_runs for the CLI (`yieldrun runs`) and the admin API.
 */
import { targetTable, type EtlContext } from '../etl/context.js';

export interface RunRecord {
  id: number;
  job: string;
  period_from: string | null;
  period_to: string | null;
  triggered_by: string;
  reason: string | null;
  status: string;
  attempt: number;
  queue_job_id: string | null;
  host: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  rows_read: number | null;
  rows_rejected: number | null;
  rows_written: number | null;
  error: string | null;
}

/** Timestamps as ISO text, whatever the driver returned (Date, epoch ms in SQLite, text). */
function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number') return new Date(v).toISOString();
  const s = String(v);
  return /^\d+$/.test(s) ? new Date(Number(s)).toISOString() : s;
}

export async function listRuns(ctx: EtlContext, opts: { job?: string; limit?: number } = {}): Promise<RunRecord[]> {
  let q = targetTable(ctx, ctx.target, 'etl_runs').orderBy('id', 'desc').limit(Math.min(Math.max(opts.limit ?? 20, 1), 1000));
  if (opts.job) q = q.where({ job: opts.job });
  const rows = (await q.select(
    'id', 'job', 'period_from', 'period_to', 'triggered_by', 'reason', 'status', 'attempt', 'queue_job_id', 'host',
    'started_at', 'finished_at', 'duration_ms', 'rows_read', 'rows_rejected', 'rows_written', 'error',
  )) as Record<string, unknown>[];
  return rows.map((r) => ({
    ...(r as unknown as RunRecord),
    id: Number(r.id),
    started_at: iso(r.started_at)!,
    finished_at: iso(r.finished_at),
  }));
}

export function formatRuns(runs: readonly RunRecord[]): string[] {
  const head = ['id', 'job', 'days', 'status', 'started (UTC)', 'took', 'read', 'rejected', 'written', 'triggered by'];
  const rows = runs.map((r) => [
    String(r.id),
    r.job,
    r.period_from === r.period_to ? (r.period_from ?? 'auto') : `${r.period_from} … ${r.period_to}`,
    r.status + (r.attempt > 1 ? ` (attempt ${r.attempt})` : ''),
    r.started_at.replace('T', ' ').slice(0, 19),
    r.duration_ms === null ? '' : `${(r.duration_ms / 1000).toFixed(1)} s`,
    r.rows_read === null ? '' : String(r.rows_read),
    r.rows_rejected === null ? '' : String(r.rows_rejected),
    r.rows_written === null ? '' : String(r.rows_written),
    r.triggered_by + (r.reason ? `: ${r.reason}` : ''),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const errors = runs.filter((r) => r.error).map((r) => `  run ${r.id}: ${r.error}`);
  return [line(head), ...rows.map(line), ...(errors.length ? ['', 'errors:', ...errors] : [])];
}
