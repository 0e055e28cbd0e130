/** The admin server with console users, for the console's HTTP and browser tests, on their own queue prefix. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createBackend, configFor, openMigrated, silentLog, writeTestRecords, type Backend } from './backends.js';
import { startAdminServer, type AdminServer, type AdminServerOptions } from '../../jobs/admin-server.js';
import { addUser } from '../../jobs/console/users.js';
import { redisConnection } from '../../jobs/queues.js';
import type { ResolvedConfig } from '../../config/load.js';
import type { EtlContext } from '../../etl/context.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const connection = redisConnection(REDIS_URL);
export const ADMIN_TOKEN = 'console-bootstrap-token-0123456789';

export interface ConsoleFixture {
  backend: Backend;
  cfg: ResolvedConfig;
  ctx: EtlContext;
  server: AdminServer;
  tokens: { viewer: string; operator: string; revoked: string };
  close(): Promise<void>;
}

/** A migrated SQLite target with a viewer `vera`, an operator `olga` and a revoked `rex`, and the admin server on it. */
export async function consoleFixture(server: Partial<AdminServerOptions> = {}, overrides: Record<string, any> = {}): Promise<ConsoleFixture> {
  const backend = await createBackend('sqlite');
  const cfg = configFor(backend, { ...overrides, runner: { queuePrefix: `yrcon${randomBytes(4).toString('hex')}`, catchUp: false, backoffMs: 100 } });
  const ctx = await openMigrated(cfg);
  await writeTestRecords(ctx, []);
  const tokens = {
    viewer: await addUser(ctx, 'vera', 'viewer', 'test'),
    operator: await addUser(ctx, 'olga', 'operator', 'test'),
    revoked: await addUser(ctx, 'rex', 'operator', 'test'),
  };
  const { revokeUser } = await import('../../jobs/console/users.js');
  await revokeUser(ctx, 'rex');
  const s = await startAdminServer(cfg, silentLog, { port: 0, host: '127.0.0.1', token: ADMIN_TOKEN, connection, ...server });
  return {
    backend,
    cfg,
    ctx,
    server: s,
    tokens,
    async close() {
      await s.close();
      await ctx.close();
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`${cfg.runner.queuePrefix}:*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
      await backend.cleanup();
    },
  };
}

/** A browser-less console session: the cookie and the CSRF token the sign-in page handed out. */
export async function signInOverHttp(url: string, name: string, token: string, headers: Record<string, string> = {}): Promise<{ status: number; cookie: string; csrf: string; response: Response }> {
  const page = await fetch(`${url}/console/signin`, { headers });
  const pre = cookieFrom(page);
  const csrf = csrfFrom(await page.text());
  const response = await fetch(`${url}/console/signin`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...headers, cookie: pre, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, name, token }),
  });
  const cookie = response.headers.get('set-cookie') ? cookieFrom(response) : pre;
  const after = response.status === 303 ? csrfFrom(await (await fetch(`${url}/console/grid`, { headers: { cookie } })).text()) : csrf;
  return { status: response.status, cookie, csrf: after, response };
}

export const cookieFrom = (res: Response) => (res.headers.get('set-cookie') ?? '').split(';')[0]!;
export const csrfFrom = (page: string) => /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
