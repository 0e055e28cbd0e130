/**
 * Shared by the report suites: a small production history whose headline numbers are worked out
 * by hand below, the real nightly summary over it, and a real SMTP server on loopback.
 *
 * Plant Europe/Berlin, days start 06:00, source timestamps local, maxAttempts 3.
 *
 * 2026-11-20 (the report's day)
 *   P1, tests TX (station M1) and RX (station M2), serials S1..S4:
 *     S1 TX PASS, then TX PASS again (an excess attempt), RX PASS
 *     S2 TX FAIL, TX PASS (retest), RX PASS
 *     S3 TX PASS, RX FAIL (pending)
 *     S4 TX PASS, RX PASS
 *     TX: 4 units, 3 first pass, 4 passed → FPY 3/4, CY 1.   RX: 4 units, 3 first pass, 3 passed, 1 pending → FPY 3/4, CY 3/4
 *     P1 rolled FPY 9/16, rolled CY 3/4, units_tested 8, load 4
 *   P2, test TX on M3: T1, T2 PASS → FPY 1, CY 1, units 2, load 2
 *   All products: FPY (8·9/16 + 2·1)/10 = 0.65, CY (8·0.75 + 2)/10 = 0.8
 *   Rejected: one record without a machine, one with result MAYBE. One exact duplicate of T1.
 * 2026-11-19: P1 TX on M1: A1 PASS, A2 FAIL → PASS: FPY 1/2, units 2.  P2 TX on M3: B1 PASS: FPY 1, units 1
 *   All products FPY (2·0.5 + 1)/3 = 2/3 → the day's change: 0.65 − 2/3 = −1.7 points
 * 2026-11-16: P1 TX on M1: C1..C4 PASS: FPY 1, units 4
 *   7-day FPY (all products) = (4·1 + 2·0.5 + 1·1)/7 = 6/7
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo, type Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { createBackend, configFor, openMigrated, writeTestRecords, type Backend, type BackendName, type TestRecord } from '../support/backends.js';
import { runNightlySummary } from '../../etl/nightly-summary.js';
import type { EtlContext } from '../../etl/context.js';
import { mailSettings, type MailSettings } from '../../reports/mail.js';

export const DAY = '2026-11-20';
export const DAYS = ['2026-11-16', '2026-11-19', '2026-11-20'];
export const RECIPIENTS = { to: ['quality-team@example.com', 'qe2@example.com'], cc: ['production-lead@example.com'], replyTo: 'quality-team@example.com' };

function r(serial: string | null, product: string, test: string, machine: string | null, at: string, result: string): TestRecord {
  return { serial, product, test, machine, at, result, duration: result === 'PASS' ? 10 : 12 };
}

export function records(): TestRecord[] {
  return [
    r('S1', 'P1', 'TX', 'M1', '2026-11-20 07:00:00', 'PASS'),
    r('S1', 'P1', 'TX', 'M1', '2026-11-20 07:05:00', 'PASS'),
    r('S1', 'P1', 'RX', 'M2', '2026-11-20 07:30:00', 'PASS'),
    r('S2', 'P1', 'TX', 'M1', '2026-11-20 08:00:00', 'FAIL'),
    r('S2', 'P1', 'TX', 'M1', '2026-11-20 08:10:00', 'PASS'),
    r('S2', 'P1', 'RX', 'M2', '2026-11-20 08:30:00', 'PASS'),
    r('S3', 'P1', 'TX', 'M1', '2026-11-20 09:00:00', 'PASS'),
    r('S3', 'P1', 'RX', 'M2', '2026-11-20 09:30:00', 'FAIL'),
    r('S4', 'P1', 'TX', 'M1', '2026-11-20 10:00:00', 'PASS'),
    r('S4', 'P1', 'RX', 'M2', '2026-11-20 10:30:00', 'PASS'),
    r('T1', 'P2', 'TX', 'M3', '2026-11-20 11:00:00', 'PASS'),
    r('T1', 'P2', 'TX', 'M3', '2026-11-20 11:00:00', 'PASS'), // exact duplicate
    r('T2', 'P2', 'TX', 'M3', '2026-11-20 11:10:00', 'PASS'),
    r('X1', 'P1', 'TX', null, '2026-11-20 12:00:00', 'PASS'), // missing_machine
    r('X2', 'P1', 'TX', 'M1', '2026-11-20 12:10:00', 'MAYBE'), // bad_result
    r('A1', 'P1', 'TX', 'M1', '2026-11-19 07:00:00', 'PASS'),
    r('A2', 'P1', 'TX', 'M1', '2026-11-19 08:00:00', 'FAIL'),
    r('A2', 'P1', 'TX', 'M1', '2026-11-19 08:10:00', 'PASS'),
    r('B1', 'P2', 'TX', 'M3', '2026-11-19 09:00:00', 'PASS'),
    ...['C1', 'C2', 'C3', 'C4'].map((s, i) => r(s, 'P1', 'TX', 'M1', `2026-11-16 ${String(7 + i).padStart(2, '0')}:00:00`, 'PASS')),
  ];
}

export interface ReportSetup {
  backend: Backend;
  ctx: EtlContext;
  /** Folder for workbooks and .eml files. */
  out: string;
  cleanup(): Promise<void>;
}

/** A migrated backend with the records written and `overrides` merged into the config. */
export async function setupReport(name: BackendName, overrides: Record<string, any> = {}, rows: TestRecord[] = records()): Promise<ReportSetup> {
  const backend = await createBackend(name);
  const out = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-report-'));
  const dailyYield = { ...RECIPIENTS, worstStationsMinUnits: 1, targets: { firstPassYield: 0.95, cumulativeYield: 0.98 }, ...(overrides.reports?.dailyYield ?? {}) };
  const ctx = await openMigrated(
    configFor(backend, {
      ...overrides,
      plant: { name: 'Test Plant', ...(overrides.plant ?? {}) },
      mail: { outDir: path.join(out, 'mail'), retryDelayMs: 20, ...(overrides.mail ?? {}) },
      reports: { outDir: path.join(out, 'reports'), ...(overrides.reports ?? {}), dailyYield },
    }),
  );
  await writeTestRecords(ctx, rows);
  return {
    backend,
    ctx,
    out,
    async cleanup() {
      await ctx.close();
      await backend.cleanup();
      rmSync(out, { recursive: true, force: true });
    },
  };
}

export async function summarise(ctx: EtlContext, days: readonly string[] = DAYS): Promise<void> {
  await runNightlySummary(ctx, { days, triggeredBy: 'test' });
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: Buffer;
}

export interface TestSmtp {
  url: string;
  port: number;
  received: ReceivedMail[];
  /** Connections refused so far. */
  refused: number;
  close(): Promise<void>;
}

export interface TestSmtpOptions {
  /** That many connections are refused with 421 (service not available, try later) before it accepts. */
  refuseFirst?: number;
  /** The first N messages are received whole, then the connection is destroyed before the reply. */
  dropAfterData?: number;
  /** The first N messages are received whole, then no reply ever comes. */
  hangAfterData?: number;
  /** Listen on this port (a server coming back where one was down); default: a free one. */
  port?: number;
}

/** A real SMTP server on 127.0.0.1. Every message it takes in whole is in `received`, replied to or not. */
export async function startSmtp(opts: TestSmtpOptions = {}): Promise<TestSmtp> {
  const state: TestSmtp = { url: '', port: 0, received: [], refused: 0, close: async () => undefined };
  const sockets = new Set<Socket>();
  let dropped = 0;
  let hung = 0;
  const server = new SMTPServer({
    disabledCommands: ['AUTH', 'STARTTLS'],
    authOptional: true,
    logger: false,
    size: 20 * 1024 * 1024,
    onConnect(_session, cb) {
      if (state.refused < (opts.refuseFirst ?? 0)) {
        state.refused++;
        return cb(Object.assign(new Error('service busy, try again later'), { responseCode: 421 }));
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((a) => a.address),
          raw: Buffer.concat(chunks),
        });
        if (dropped < (opts.dropAfterData ?? 0)) {
          dropped++;
          for (const s of sockets) if (s.remotePort === session.remotePort) s.destroy();
          return;
        }
        if (hung < (opts.hangAfterData ?? 0)) {
          hung++;
          return;
        }
        cb();
      });
    },
  });
  server.server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  state.port = port;
  state.url = `smtp://127.0.0.1:${port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return state;
}

/** A loopback port nobody listens on (a mail server that is down), free for startSmtp({ port }) later. */
export async function downPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Mail settings of `ctx` pointed at the test server, with short retry waits. */
export function smtpSettings(ctx: EtlContext, smtp: Pick<TestSmtp, 'url'>): MailSettings {
  return { ...mailSettings(ctx.config, { SMTP_URL: smtp.url }), retryDelayMs: 20, connectionTimeoutMs: 5_000, greetingTimeoutMs: 5_000, socketTimeoutMs: 10_000 };
}
