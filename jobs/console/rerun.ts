/**
 * A rerun or backfill asked for by a person (console, API, CLI): recorded as theirs in etl_runs
 * (`triggered_by` is who signed in, never what a form or body claims) and queued behind the
 * nightly schedule.
 */
import type { ConnectionOptions } from 'bullmq';
import type { ResolvedConfig } from '../../config/load.js';
import { BACKFILL_PRIORITY, enqueueWithDependents, type Enqueued } from '../enqueue.js';
import type { AuditVia } from './audit.js';
import type { Principal } from './users.js';

export interface RerunAsk {
  job: string;
  days: string[];
  dependents: string[];
  reason?: string;
  resend?: boolean;
}

export const triggeredByOf = (via: AuditVia, principal: Principal) => `${via}:${principal.name}`;

export function requestRerun(cfg: ResolvedConfig, connection: ConnectionOptions, via: AuditVia, principal: Principal, ask: RerunAsk): Promise<Enqueued> {
  const data = { days: ask.days, triggeredBy: triggeredByOf(via, principal), reason: ask.reason, resend: ask.resend };
  return enqueueWithDependents(cfg, connection, ask.job, data, ask.dependents, { priority: BACKFILL_PRIORITY });
}
