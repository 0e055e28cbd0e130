/** A pino logger whose JSON lines a test reads back. */
import { pino, type Logger } from 'pino';

export function capturingLog(): { log: Logger; lines: () => Record<string, any>[] } {
  const out: string[] = [];
  const log: Logger = pino({ level: 'info' }, { write: (line: string) => void out.push(line) });
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, any>) };
}
