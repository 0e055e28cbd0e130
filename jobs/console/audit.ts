/**
 * The audit trail (admin_audit): every mutation through the console, the API or the CLI, with who
 * asked, in which role, from where, and whether it was allowed, denied or failed.
 */
import { targetTable, type EtlContext } from '../../etl/context.js';
import { fitColumn } from '../caller-input.js';

export type AuditResult = 'allowed' | 'denied' | 'failed';
export type AuditVia = 'console' | 'api' | 'cli';

export interface AuditEntry {
  actor: string;
  role?: string;
  via: AuditVia;
  action: string;
  parameters?: unknown;
  result: AuditResult;
  detail?: string;
  address?: string;
}

export interface AuditRow extends Required<Omit<AuditEntry, 'parameters' | 'role' | 'detail' | 'address'>> {
  id: number;
  at: string;
  role: string | null;
  parameters: unknown;
  detail: string | null;
  address: string | null;
}

export async function recordAudit(ctx: EtlContext, e: AuditEntry): Promise<void> {
  await targetTable(ctx, ctx.target, 'admin_audit').insert({
    at: new Date(),
    actor: fitColumn(e.actor, 128),
    role: e.role ?? null,
    via: e.via,
    action: e.action,
    parameters: e.parameters === undefined ? null : JSON.stringify(e.parameters),
    result: e.result,
    detail: e.detail === undefined ? null : fitColumn(e.detail, 1024),
    address: e.address === undefined ? null : fitColumn(e.address, 64),
  });
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  result?: string;
  /** Inclusive UTC dates YYYY-MM-DD. */
  from?: string;
  to?: string;
  limit?: number;
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : typeof v === 'number' ? new Date(v).toISOString() : /^\d+$/.test(String(v)) ? new Date(Number(v)).toISOString() : String(v));

export async function listAudit(ctx: EtlContext, f: AuditFilter = {}): Promise<AuditRow[]> {
  let q = targetTable(ctx, ctx.target, 'admin_audit').orderBy('id', 'desc').limit(Math.min(Math.max(f.limit ?? 200, 1), 1000));
  if (f.actor) q = q.where({ actor: f.actor });
  if (f.action) q = q.where({ action: f.action });
  if (f.result) q = q.where({ result: f.result });
  if (f.from) q = q.where('at', '>=', new Date(`${f.from}T00:00:00Z`));
  if (f.to) q = q.where('at', '<', new Date(new Date(`${f.to}T00:00:00Z`).getTime() + 86_400_000));
  const rows = (await q.select('*')) as Record<string, unknown>[];
  return rows.map((r) => ({
    id: Number(r.id),
    at: iso(r.at),
    actor: String(r.actor),
    role: (r.role as string | null) ?? null,
    via: r.via as AuditVia,
    action: String(r.action),
    parameters: r.parameters ? (JSON.parse(String(r.parameters)) as unknown) : null,
    result: r.result as AuditResult,
    detail: (r.detail as string | null) ?? null,
    address: (r.address as string | null) ?? null,
  }));
}
