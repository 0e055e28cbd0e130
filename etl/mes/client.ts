/**
 * The MES's REST API as docs/mes-api.yaml describes it: one request at a time, with a timeout
 * over the whole exchange, the bearer token from MES_TOKEN, and every answer classified by what
 * it means for the push (acknowledged, try again, refused for good).
 *
 * A push may always be tried again: the MES applies each Idempotency-Key once and answers a
 * repeat with 409, so an answer lost on the way (a timeout, a dropped connection) costs one more
 * request, never a second result.
 */
import type { ResolvedConfig } from '../../config/load.js';

export interface MesClientSettings {
  /** Base URL, without a trailing slash. */
  url: string;
  token: string | undefined;
  timeoutMs: number;
}

export const RESULTS_PATH = '/quality-results';
export const ORDERS_PATH = '/production-orders';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

export function mesClientSettings(cfg: Pick<ResolvedConfig, 'mes'>): MesClientSettings {
  if (!cfg.mes.url) throw new Error('mes.url is not set');
  return { url: cfg.mes.url, token: cfg.mes.token, timeoutMs: cfg.mes.timeoutMs };
}

export type PushOutcome =
  | { kind: 'acknowledged'; status: number; receipt: string | null; duplicate: boolean }
  | { kind: 'retry'; status?: number; error: string; retryAfterMs?: number }
  | { kind: 'rejected'; status: number; error: string };

/** A failed GET: `retryable` when another try may succeed (no answer, 5xx, 429, 401/403 until the token is fixed). */
export class MesRequestError extends Error {
  override name = 'MesRequestError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

function headers(s: MesClientSettings, extra: Record<string, string> = {}): Record<string, string> {
  return { accept: 'application/json', ...(s.token ? { authorization: `Bearer ${s.token}` } : {}), ...extra };
}

/** Why a request got no answer, in words (fetch wraps the socket's error in `cause`). */
function networkError(err: unknown, s: MesClientSettings): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no complete answer within ${s.timeoutMs} ms (mes.timeoutMs)`;
  const cause = e.cause ? `: ${e.cause.code ?? ''} ${e.cause.message ?? ''}`.trimEnd() : '';
  return `no answer from the MES at ${s.url} (${e.message}${cause})`;
}

/** A short text of an error body: its `error` and `message`, or its first 300 characters. */
function bodyText(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: unknown; message?: unknown };
    const parts = [j.error, j.message].filter((x) => typeof x === 'string');
    if (parts.length) return parts.join(': ');
  } catch {
    /* not JSON */
  }
  return text.slice(0, 300);
}

function retryAfterMs(v: string | null): number | undefined {
  if (!v) return undefined;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0) return Math.min(n, 86_400) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A status another try may change: timeouts, throttling, the server's own trouble, a token not (yet) accepted, a redirect (mes.url to fix). */
const retryableStatus = (status: number) => (status >= 300 && status < 400) || status === 401 || status === 403 || status === 408 || status === 425 || status === 429 || status >= 500;

async function request(s: MesClientSettings, path: string, init: { method: string; headers?: Record<string, string>; body?: string }) {
  // Redirects are not followed: a POST redirected would arrive as a GET, or elsewhere than mes.url says.
  const res = await fetch(`${s.url}${path}`, { ...init, redirect: 'manual', headers: headers(s, init.headers), signal: AbortSignal.timeout(s.timeoutMs) });
  // The body is read under the same timeout: a connection cut mid-answer throws here.
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

/**
 * Pushes one result. Acknowledged: a 2xx that echoes the key (header or body), or 409, the MES
 * saying it applied that key before. Anything else that may pass later is `retry`; a 4xx that
 * will not (400, 404, 413, 422) is `rejected`.
 */
export async function pushResult(s: MesClientSettings, idempotencyKey: string, body: string): Promise<PushOutcome> {
  let r: Awaited<ReturnType<typeof request>>;
  try {
    r = await request(s, RESULTS_PATH, { method: 'POST', headers: { 'content-type': 'application/json', [IDEMPOTENCY_HEADER]: idempotencyKey }, body });
  } catch (err) {
    return { kind: 'retry', error: networkError(err, s) };
  }
  let parsed: { idempotencyKey?: unknown; receiptId?: unknown } = {};
  try {
    parsed = JSON.parse(r.text) as typeof parsed;
  } catch {
    /* checked below */
  }
  const receipt = typeof parsed.receiptId === 'string' ? parsed.receiptId : null;
  if (r.status === 409) return { kind: 'acknowledged', status: 409, receipt, duplicate: true };
  if (r.status >= 200 && r.status < 300) {
    const echoed = r.headers.get(IDEMPOTENCY_HEADER) === idempotencyKey || parsed.idempotencyKey === idempotencyKey;
    if (echoed) return { kind: 'acknowledged', status: r.status, receipt, duplicate: false };
    return { kind: 'retry', status: r.status, error: `HTTP ${r.status} without the idempotency key echoed: not an acknowledgement` };
  }
  const why = `HTTP ${r.status}: ${bodyText(r.text)}`;
  if (retryableStatus(r.status)) {
    const hint = r.status === 401 || r.status === 403 ? ' (check MES_TOKEN)' : r.status < 400 ? ` (redirected to ${r.headers.get('location') ?? '?'}: check mes.url)` : '';
    return { kind: 'retry', status: r.status, error: why + hint, retryAfterMs: retryAfterMs(r.headers.get('retry-after')) };
  }
  return { kind: 'rejected', status: r.status, error: why };
}

/** GETs a JSON document; throws MesRequestError on no answer, a non-2xx or a body that is not JSON. */
export async function getJson(s: MesClientSettings, path: string, query: Record<string, string | number | undefined>): Promise<unknown> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
  const qs = q.toString();
  let r: Awaited<ReturnType<typeof request>>;
  try {
    r = await request(s, `${path}${qs ? `?${qs}` : ''}`, { method: 'GET' });
  } catch (err) {
    throw new MesRequestError(networkError(err, s), true);
  }
  if (r.status < 200 || r.status >= 300) {
    const hint = r.status === 401 || r.status === 403 ? ' (check MES_TOKEN)' : '';
    throw new MesRequestError(`GET ${path}: HTTP ${r.status}: ${bodyText(r.text)}${hint}`, retryableStatus(r.status), r.status);
  }
  try {
    return JSON.parse(r.text) as unknown;
  } catch {
    throw new MesRequestError(`GET ${path}: the answer is not JSON: ${r.text.slice(0, 200)}`, true, r.status);
  }
}
