/**
 * The CLI's mutations in the audit trail: who ran the command (user@host), what it asked, and
 * whether it went through. An audit row that cannot be written (the target not migrated yet) is
 * logged as a warning; the command's own outcome is never changed by it.
 */
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../../config/load.js';
import { openEtlContext, type EtlContext } from '../../etl/context.js';
import { recordAudit, type AuditResult } from './audit.js';

export async function auditedCli<T>(cfg: ResolvedConfig, log: Logger, actor: string, action: string, parameters: unknown, fn: () => Promise<T>, ctx?: EtlContext): Promise<T> {
  const write = async (result: AuditResult, detail?: string) => {
    const c = ctx ?? openEtlContext(cfg, log);
    try {
      await recordAudit(c, { actor, via: 'cli', action, parameters, result, detail });
    } catch (e) {
      log.warn({ err: (e as Error).message, action }, 'audit row not written (is the target migrated? yieldrun migrate)');
    } finally {
      if (!ctx) await c.close();
    }
  };
  let value: T;
  try {
    value = await fn();
  } catch (e) {
    await write('failed', (e as Error).message);
    throw e;
  }
  await write('allowed');
  return value;
}
