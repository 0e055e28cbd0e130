import { pino, destination, type Logger } from 'pino';

/**
 * Structured logs (JSON lines) on stderr, so a command's stdout stays what it prints for people.
 * LOG_LEVEL sets the level (default info; `silent` in tests).
 */
export function createLogger(bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level: process.env.LOG_LEVEL ?? 'info',
      base: { app: 'yieldrun', ...bindings },
      redact: { paths: ['*.password', '*.url', 'url', 'password', '*.token'], censor: '***' },
    },
    destination(2),
  );
}
