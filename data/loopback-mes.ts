/**
 * A small MES on loopback that speaks docs/mes-api.yaml: it serves production orders page by
 * page and stores pushed quality results, applying each Idempotency-Key exactly once (a repeat
 * with the same body: 409; with another body: 422). The demo runs the exchange against it; the
 * tests add request validation against the documented schemas and the faults a real network has.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';

/** A production order as the API sends it (ProductionOrder). */
export interface ProductionOrderDoc {
  id: string;
  material: { id: string };
  quantity: { value: number; unit: string };
  scheduledStart: string;
  dueDate: string;
  status: string;
}

/**
 * How the server answers one request:
 *   normal   as documented
 *   slow     applies it, answers after `slowMs` (longer than the client waits)
 *   5xx      503 with Retry-After: 0, nothing applied
 *   drop     starts the answer, then destroys the socket mid-response; nothing applied
 *   ack-lost applies it, then destroys the socket before any answer
 */
export type MesFault = 'normal' | 'slow' | '5xx' | 'drop' | 'ack-lost';

export interface MesRequestInfo {
  method: string;
  path: string;
  /** Idempotency-Key of a push. */
  key?: string;
  /** 1 for the first request with this key (or to this path), 2 for the next, … */
  attempt: number;
}

export interface LoopbackMesOptions {
  orders: readonly ProductionOrderDoc[];
  /** The bearer token required; none: any request is served. */
  token?: string;
  /** Checks a pushed body; returns what is wrong with it (400) or nothing. */
  validate?: (body: unknown) => string[];
  fault?: (r: MesRequestInfo) => MesFault;
  slowMs?: number;
  port?: number;
}

export interface StoredResult {
  key: string;
  receiptId: string;
  body: string;
}

export interface LoopbackMes {
  url: string;
  port: number;
  results: Map<string, StoredResult>;
  /** Every request seen, with how it was answered. */
  log: (MesRequestInfo & { fault: MesFault; status: number | 'dropped' })[];
  orders: ProductionOrderDoc[];
  close(): Promise<void>;
}

const MAX_BODY = 1_000_000;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) reject(Object.assign(new Error('body too large'), { status: 413 }));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startLoopbackMes(opts: LoopbackMesOptions): Promise<LoopbackMes> {
  const sockets = new Set<Socket>();
  const attempts = new Map<string, number>();
  const state: LoopbackMes = { url: '', port: 0, results: new Map(), log: [], orders: [...opts.orders], close: async () => undefined };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
    return status;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number | 'dropped'> => {
    const u = new URL(req.url ?? '/', 'http://mes');
    const path = u.pathname.replace(/^\/api\/v1/, '');
    const key = req.headers['idempotency-key'];
    const keyText = typeof key === 'string' ? key : undefined;
    const counter = `${req.method} ${path} ${keyText ?? ''}`;
    const attempt = (attempts.get(counter) ?? 0) + 1;
    attempts.set(counter, attempt);
    const info: MesRequestInfo = { method: req.method ?? '', path, key: keyText, attempt };
    const fault = opts.fault?.(info) ?? 'normal';
    const entry = { ...info, fault, status: 0 as number | 'dropped' };
    state.log.push(entry);
    const body = await readBody(req);

    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) return (entry.status = send(res, 401, { error: 'unauthorized', message: 'send Authorization: Bearer <token>' }));
    if (fault === '5xx') return (entry.status = send(res, 503, { error: 'unavailable', message: 'try again later' }, { 'retry-after': '0' }));
    if (fault === 'drop') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"idempotencyKey":');
      res.socket?.destroy();
      return (entry.status = 'dropped');
    }

    if (req.method === 'GET' && path === '/production-orders') {
      const limit = Math.min(1000, Math.max(1, Number(u.searchParams.get('limit') ?? 100) || 100));
      const token = u.searchParams.get('pageToken');
      const offset = token ? Number(token.replace(/^o/, '')) : 0;
      if (!Number.isInteger(offset) || offset < 0) return (entry.status = send(res, 400, { error: 'invalid', message: 'unknown pageToken' }));
      const items = state.orders.slice(offset, offset + limit);
      const next = offset + limit < state.orders.length ? `o${offset + limit}` : null;
      return (entry.status = send(res, 200, { items, nextPageToken: next }));
    }

    if (req.method === 'POST' && path === '/quality-results') {
      if (!keyText || keyText.length > 255) return (entry.status = send(res, 400, { error: 'invalid', message: 'the Idempotency-Key header is required (1 to 255 characters)' }));
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return (entry.status = send(res, 400, { error: 'invalid', message: 'the body is not JSON' }));
      }
      const problems = opts.validate?.(parsed) ?? [];
      if (problems.length) return (entry.status = send(res, 400, { error: 'invalid', message: 'the body is not a QualityResult', details: problems }));
      const before = state.results.get(keyText);
      if (before) {
        if (before.body !== body) return (entry.status = send(res, 422, { error: 'key-reused', message: 'this Idempotency-Key was applied with another body', idempotencyKey: keyText }));
        return (entry.status = send(res, 409, { error: 'already-applied', message: 'this Idempotency-Key was applied before', idempotencyKey: keyText, receiptId: before.receiptId }));
      }
      const stored: StoredResult = { key: keyText, receiptId: randomUUID(), body };
      state.results.set(keyText, stored);
      if (fault === 'ack-lost') {
        res.socket?.destroy();
        return (entry.status = 'dropped');
      }
      if (fault === 'slow') await new Promise((r) => setTimeout(r, opts.slowMs ?? 2_000));
      if (res.destroyed || res.socket?.destroyed) return (entry.status = 'dropped');
      return (entry.status = send(res, 201, { idempotencyKey: keyText, receiptId: stored.receiptId, status: 'stored' }, { 'Idempotency-Key': keyText }));
    }
    return (entry.status = send(res, 404, { error: 'not-found', message: `no ${req.method} ${path}` }));
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: Error & { status?: number }) => {
      if (!res.headersSent) send(res, err.status ?? 500, { error: 'server-error', message: err.message });
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}/api/v1`;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}
