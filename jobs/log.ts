import { pino, destination, type Logger } from 'pino';

/** What is never written to a log: passwords, URLs (which may hold one) and tokens (MES_TOKEN in mes.token). */
export const REDACTED_PATHS = ['*.password', '*.url', 'url', 'password', '*.token'];

/**
 * Structured logs (JSON lines) on stderr, so a command's stdout stays what it prints for people.
 * LOG_LEVEL sets the level (default info; `silent` in tests).
 */
export function createLogger(bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level: process.env.LOG_LEVEL ?? 'info',
      base: { app: 'yieldrun', ...bindings },
      redact: { paths: REDACTED_PATHS, censor: '***' },
    },
    destination(2),
  );
}

/** Days listed in a log line as they are up to this many; beyond, by their ends and count. */
const DAYS_LISTED = 10;

/**
 * A list of days as a log field: the days themselves when few, else `{ first, last, count }`, so a
 * backfill of years does not write megabyte log lines.
 */
export function logDays(days: readonly string[]): string[] | { first: string; last: string; count: number } {
  if (days.length <= DAYS_LISTED) return [...days];
  const sorted = [...days].sort();
  return { first: sorted[0]!, last: sorted[sorted.length - 1]!, count: sorted.length };
}
