/**
 * Who is asking and what they may do. The API and Bull Board take a token (`Authorization:
 * Bearer`, or Basic with the token as password): a named user's (jobs/console/users.ts) or the
 * bootstrap ADMIN_TOKEN, which acts as the admin `admin`. The console takes its session cookie.
 * Every refusal of a mutation is written to the audit trail, like every mutation.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { EtlContext } from '../../etl/context.js';
import { recordAudit, type AuditEntry, type AuditVia } from './audit.js';
import { allows, tokenOwner, verifyUser, type Action, type Principal } from './users.js';
import type { Session } from './sessions.js';

export const BOOTSTRAP_ADMIN: Principal = { name: 'admin', role: 'admin' };
/** Without a token (`--no-auth`, loopback only) everyone on this machine is this admin. */
export const LOCAL_ADMIN: Principal = { name: 'local', role: 'admin' };

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares in constant time: a token is never guessable from response timing. */
export function tokenMatches(given: string | undefined, token: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

export function presentedToken(req: Request): string | undefined {
  const h = req.headers.authorization ?? '';
  if (h.startsWith('Bearer ')) return h.slice(7).trim();
  if (h.startsWith('Basic ')) {
    const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return undefined;
}

/** How long a checked token is trusted without hashing it again; a revoked token stops working within this. */
const TOKEN_CACHE_MS = 30_000;

export interface RequestLocals {
  principal?: Principal;
  session?: Session;
  via: AuditVia;
  /** The console shows its SPC events page only once spc_events exists. */
  spcEvents?: boolean;
}

export const locals = (res: Response) => res.locals as RequestLocals;

export class Access {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  constructor(
    private readonly ctx: EtlContext,
    private readonly opts: { token?: string; noAuth?: boolean },
  ) {}

  get open(): boolean {
    return !!this.opts.noAuth && !this.opts.token;
  }

  /** The user a token belongs to: the bootstrap admin, a named user, or nobody. */
  async byToken(token: string | undefined): Promise<Principal | undefined> {
    if (this.open) return LOCAL_ADMIN;
    if (!token) return undefined;
    if (this.opts.token && tokenMatches(token, this.opts.token)) return BOOTSTRAP_ADMIN;
    const key = digest(token).toString('hex');
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.principal;
    const owner = tokenOwner(token);
    const principal = owner ? await verifyUser(this.ctx, owner, token).catch(() => undefined) : undefined;
    if (principal) this.cache.set(key, { principal, until: Date.now() + TOKEN_CACHE_MS });
    else this.cache.delete(key);
    return principal;
  }

  /** Named sign-in for the console: the name must be the token's owner (or the bootstrap admin's). */
  async signIn(name: string, token: string): Promise<Principal | undefined> {
    if (this.open) return { name: name || LOCAL_ADMIN.name, role: 'admin' };
    const p = await this.byToken(token);
    return p && p.name === name ? p : undefined;
  }

  forget(): void {
    this.cache.clear();
  }

  /** Writes an audit row for this request; a failure to write is logged, never hidden as success. */
  async audit(req: Request, res: Response, e: Omit<AuditEntry, 'actor' | 'role' | 'via' | 'address'> & { actor?: string }): Promise<void> {
    const l = locals(res);
    await recordAudit(this.ctx, { actor: l.principal?.name ?? '(unauthenticated)', role: l.principal?.role, via: l.via, address: req.ip, ...e }).catch((err: Error) =>
      this.ctx.log.error({ err: err.message, action: e.action }, 'audit row not written'),
    );
  }

  /**
   * Lets the request on when its principal may do `action`; a mutation refused is audited as
   * denied. `audited` names the mutation (undefined for reads).
   */
  require(action: Action, audited?: string) {
    return async (req: Request, res: Response, next: NextFunction) => {
      const l = locals(res);
      if (l.principal && allows(l.principal.role, action)) return next();
      if (audited) await this.audit(req, res, { action: audited, parameters: paramsOf(req), result: 'denied', detail: l.principal ? `role ${l.principal.role} may not ${action}` : 'not signed in' });
      if (!l.principal) {
        if (l.via === 'console') return void res.redirect(303, `/console/signin`);
        return void res.status(401).json({ error: 'unauthorized: send Authorization: Bearer <token>' });
      }
      const message = `forbidden: ${l.principal.name} is ${l.principal.role}; ${action} needs ${action === 'manage-users' || action === 'bull-board' ? 'admin' : 'operator'}`;
      if (l.via === 'console') return void res.status(403).type('text/plain').send(message);
      res.status(403).json({ error: message });
    };
  }
}

/** The request's parameters as the audit keeps them: the body's fields, never its CSRF token or a credential. */
export function paramsOf(req: Request): Record<string, unknown> {
  const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
  const { _csrf: _c, token: _t, ...rest } = body;
  return { ...req.params, ...rest };
}
