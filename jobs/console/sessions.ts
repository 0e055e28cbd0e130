/**
 * Console sessions in the admin server's memory: a random id in an HttpOnly, SameSite=Strict cookie
 * (Secure when the request came over TLS), the signed-in user, and the synchroniser token every
 * form must send back (CSRF). A restart of `yieldrun admin` signs everyone out, which is fine for
 * a console that a few people use; tokens stay valid.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Principal } from './users.js';

export const SESSION_COOKIE = 'yieldrun_session';
const IDLE_MS = 8 * 3600 * 1000;

export interface Session {
  id: string;
  /** Undefined before sign-in: the sign-in form has a CSRF token of its own, too. */
  principal?: Principal;
  csrf: string;
  expiresAt: number;
}

function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  /** The request's live session, if its cookie names one. */
  get(req: Request): Session | undefined {
    const id = cookieOf(req, SESSION_COOKIE);
    const s = id ? this.sessions.get(id) : undefined;
    if (!s) return undefined;
    if (s.expiresAt < Date.now()) {
      this.sessions.delete(s.id);
      return undefined;
    }
    s.expiresAt = Date.now() + IDLE_MS;
    return s;
  }

  /** A new session (a fresh id: signing in never keeps an id someone else may have planted). */
  start(req: Request, res: Response, principal?: Principal): Session {
    const old = this.get(req);
    if (old) this.sessions.delete(old.id);
    const s: Session = { id: randomBytes(32).toString('base64url'), principal, csrf: randomBytes(32).toString('base64url'), expiresAt: Date.now() + IDLE_MS };
    this.sessions.set(s.id, s);
    // Expired sessions are dropped as new ones start: the map never outgrows its users' sign-ins.
    for (const [id, other] of this.sessions) if (other.expiresAt < Date.now()) this.sessions.delete(id);
    res.append('Set-Cookie', `${SESSION_COOKIE}=${s.id}; Path=/; HttpOnly; SameSite=Strict${req.secure ? '; Secure' : ''}`);
    return s;
  }

  end(req: Request, res: Response): void {
    const s = this.get(req);
    if (s) this.sessions.delete(s.id);
    res.append('Set-Cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${req.secure ? '; Secure' : ''}`);
  }
}

/** Whether a form's `_csrf` is the session's synchroniser token (constant time). */
export function csrfMatches(session: Session | undefined, given: unknown): boolean {
  if (!session || typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Failed sign-ins per address and per name: after `limit` failures within `windowMs`, further
 * attempts are refused until the oldest failure leaves the window, whether the token is right or not.
 */
export class SignInLimiter {
  private readonly failures = new Map<string, number[]>();
  constructor(
    readonly limit = 5,
    readonly windowMs = 15 * 60 * 1000,
  ) {}

  private recent(key: string, now: number): number[] {
    const kept = (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (kept.length) this.failures.set(key, kept);
    else this.failures.delete(key);
    return kept;
  }

  /** Seconds until another attempt is allowed for this address and name; 0: allowed now. */
  retryAfter(address: string, name: string, now = Date.now()): number {
    let wait = 0;
    for (const key of [`addr:${address}`, `name:${name}`]) {
      const r = this.recent(key, now);
      if (r.length >= this.limit) wait = Math.max(wait, Math.ceil((r[r.length - this.limit]! + this.windowMs - now) / 1000));
    }
    return wait;
  }

  fail(address: string, name: string, now = Date.now()): void {
    for (const key of [`addr:${address}`, `name:${name}`]) this.failures.set(key, [...this.recent(key, now), now]);
  }

  succeed(name: string): void {
    this.failures.delete(`name:${name}`);
  }
}
