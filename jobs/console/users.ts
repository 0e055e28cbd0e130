/**
 * Named users of the admin console and API: a role each, and a token of which only a scrypt hash
 * (with its salt and parameters) is stored in the target database's admin_users. The token is
 * shown once, when the user is added; a lost token is replaced by revoking and adding again.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { CallerInputError } from '../caller-input.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What each role may do: viewers read; operators also rerun, cancel, retry and acknowledge; admins also manage users. */
export type Action = 'read' | 'rerun' | 'cancel' | 'retry' | 'acknowledge' | 'manage-users' | 'bull-board';
const NEEDS: Record<Action, Role> = { read: 'viewer', rerun: 'operator', cancel: 'operator', retry: 'operator', acknowledge: 'operator', 'manage-users': 'admin', 'bull-board': 'admin' };

export function allows(role: Role, action: Action): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(NEEDS[action]);
}

/** The one who is asking: a named user, or `admin` for the bootstrap ADMIN_TOKEN. */
export interface Principal {
  name: string;
  role: Role;
}

interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keylen: number;
}
/**
 * N = 2^15, r = 8, p = 1: tens of milliseconds and 32 MiB per check. The token has 192 random bits,
 * so the cost only guards against a stolen table being searched cheaply; the API caches a checked
 * token briefly (jobs/console/principals.ts) rather than paying it on every request.
 */
const PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 1, keylen: 32 };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function checkUserName(field: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw new CallerInputError(field, `expected 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit; got '${String(name)}'`);
  return name;
}

export function checkRole(field: string, role: unknown): Role {
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) throw new CallerInputError(field, `expected one of ${ROLES.join(', ')}; got '${String(role)}'`);
  return role as Role;
}

function derive(token: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(token, salt, params.keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export interface UserRow {
  name: string;
  role: Role;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
}

const iso = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v.toISOString() : typeof v === 'number' ? new Date(v).toISOString() : String(v));

/** Adds a user (or gives a revoked name a new role and token); returns the token, to be shown once. */
export async function addUser(ctx: EtlContext, name: string, role: Role, createdBy: string): Promise<string> {
  checkUserName('name', name);
  checkRole('role', role);
  // The name leads the token, so a bearer token alone says whose hash to check.
  const token = `${name}.${randomBytes(24).toString('base64url')}`;
  const salt = randomBytes(16);
  const hash = await derive(token, salt, PARAMS);
  const row = { role, token_hash: hash.toString('base64'), token_salt: salt.toString('base64'), token_params: JSON.stringify(PARAMS), created_by: createdBy, created_at: new Date(), revoked_at: null };
  await ctx.target.transaction(async (trx) => {
    const existing = (await targetTable(ctx, trx, 'admin_users').where({ name }).first('name', 'revoked_at')) as { revoked_at: unknown } | undefined;
    if (existing && existing.revoked_at === null) throw new CallerInputError('name', `user '${name}' exists; revoke it first to give it a new token or role`);
    if (existing) await targetTable(ctx, trx, 'admin_users').where({ name }).update(row);
    else await targetTable(ctx, trx, 'admin_users').insert({ name, ...row });
  });
  return token;
}

export async function listUsers(ctx: EtlContext): Promise<UserRow[]> {
  const rows = (await targetTable(ctx, ctx.target, 'admin_users').orderBy('name').select('name', 'role', 'created_by', 'created_at', 'revoked_at')) as Record<string, unknown>[];
  return rows.map((r) => ({ name: String(r.name), role: r.role as Role, created_by: String(r.created_by), created_at: iso(r.created_at)!, revoked_at: iso(r.revoked_at) }));
}

/** Revokes a user's token at once (the next request with it is refused); false when there was no active user of that name. */
export async function revokeUser(ctx: EtlContext, name: string): Promise<boolean> {
  checkUserName('name', name);
  // Read, then write: no dependence on the driver's row count (SQL Server through tedious).
  const active = await targetTable(ctx, ctx.target, 'admin_users').where({ name }).whereNull('revoked_at').first('name');
  if (!active) return false;
  await targetTable(ctx, ctx.target, 'admin_users').where({ name }).update({ revoked_at: new Date() });
  return true;
}

/** The user a token names: everything before its last '.'. */
export function tokenOwner(token: string): string | undefined {
  const dot = token.lastIndexOf('.');
  return dot > 0 ? token.slice(0, dot) : undefined;
}

/** The active user whose name and token these are, or undefined; compares in constant time. */
export async function verifyUser(ctx: EtlContext, name: string, token: string): Promise<Principal | undefined> {
  if (!NAME.test(name) || tokenOwner(token) !== name || token.length > 256) return undefined;
  const row = (await targetTable(ctx, ctx.target, 'admin_users').where({ name }).whereNull('revoked_at').first('role', 'token_hash', 'token_salt', 'token_params')) as
    | { role: Role; token_hash: string; token_salt: string; token_params: string }
    | undefined;
  if (!row) return undefined;
  const expected = Buffer.from(row.token_hash, 'base64');
  const got = await derive(token, Buffer.from(row.token_salt, 'base64'), JSON.parse(row.token_params) as ScryptParams);
  return got.length === expected.length && timingSafeEqual(got, expected) ? { name, role: row.role } : undefined;
}
