/**
 * Out-of-control events end to end (spc.md §5–§6), on SQLite and PostgreSQL, with the spc job run
 * the way the nightly schedule runs it (one production day at a time) and a real SMTP server on
 * loopback.
 *
 * The data make every answer computable by hand: gauge G1 reads once an hour (06:05, 07:05, … plant
 * time) the values 100, 101, 100, 99, 100, … so the baseline of the first 48 readings has x̄ = 100
 * exactly, every moving range is 1, σ̂ = MR̄ / d2 = 1 / 1.128379 = 0.886227 and the I chart's limits
 * are 100 ± 2.658681. A point on 100 lies on CL and breaks every side run; 101 and 99 are 1.13σ off,
 * so no rule flags the pattern. A drift adds 6 (6.8σ) to every reading of its days.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { simpleParser } from 'mailparser';
import { stringify } from 'yaml';
import { DateTime } from 'luxon';
import { configFor, createBackend, openMigrated, type Backend, type BackendName } from '../support/backends.js';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { runSpc } from '../../etl/spc-job.js';
import { toDate } from '../../etl/spc-store.js';
import { listEvents } from '../../etl/spc-event-store.js';
import { dateRange } from '../../etl/periods.js';
import { main } from '../../jobs/cli.js';
import { startAdminServer } from '../../jobs/admin-server.js';
import { redisConnection } from '../../jobs/queues.js';
import { silentLog } from '../support/backends.js';
import { startSmtp, smtpSettings, type TestSmtp } from './report-fixture.js';

const TZ = 'Europe/Berlin';
const FIRST = '2026-10-01';
const QE = 'qe@example.com';
const SIGMA = 1 / 1.1283791670955126;

/** Naive plant-local text, as an MES stores it: `minutes` after 06:00 of the production day. */
const at = (day: string, minutes: number) => DateTime.fromISO(`${day}T06:00`, { zone: 'UTC' }).plus({ minutes }).toFormat('yyyy-LL-dd HH:mm:ss');
const instant = (day: string, hour: number) => DateTime.fromSQL(at(day, hour * 60 + 5), { zone: TZ }).toJSDate();
const PATTERN = [0, 1, 0, -1];

interface Plan {
  days: string[];
  /** Days whose readings are raised by `by`. */
  drift?: { from: string; to: string; by: number };
  /** One reading replaced: [day, hour, value]. */
  outlier?: [string, number, number];
}

function readings(p: Plan) {
  const rows: { eqp_id: string; insp_dt: string; insp_val: number }[] = [];
  let i = 0;
  for (const day of p.days) {
    for (let h = 0; h < 24; h++, i++) {
      const drift = p.drift && day >= p.drift.from && day <= p.drift.to ? p.drift.by : 0;
      const v = p.outlier && p.outlier[0] === day && p.outlier[1] === h ? p.outlier[2] : 100 + PATTERN[i % 4]! + drift;
      rows.push({ eqp_id: 'G1', insp_dt: at(day, h * 60 + 5), insp_val: v });
    }
  }
  return rows;
}

function spcConfig(b: Backend, outDir: string) {
  return {
    spc: {
      windowDays: 30,
      measures: {
        gap: {
          title: 'Gap',
          unit: 'mm',
          chart: 'I-MR',
          source: { table: b.table('gauge') },
          time: 'insp_dt',
          key: 'eqp_id',
          value: 'insp_val',
          baseline: { firstSubgroups: 48 },
          alert: { to: [QE] },
        },
      },
    },
    mail: { outDir },
    // Its own queue prefix, for the admin server's queues.
    runner: { queuePrefix: `yrspc${randomBytes(4).toString('hex')}` },
  };
}

interface Setup {
  backend: Backend;
  ctx: EtlContext;
  out: string;
  smtp: TestSmtp;
  cleanup(): Promise<void>;
}

async function setup(name: BackendName, plan: Plan): Promise<Setup> {
  const backend = await createBackend(name);
  const out = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-spc-events-'));
  const ctx = await openMigrated(configFor(backend, spcConfig(backend, out)));
  const sb = backend.schema ? ctx.source.schema.withSchema(backend.schema) : ctx.source.schema;
  await sb.createTable('gauge', (t) => {
    t.string('eqp_id', 32);
    if (ctx.sourceDialect === 'sqlite') t.text('insp_dt');
    else t.specificType('insp_dt', 'timestamp(3)');
    t.double('insp_val');
  });
  const rows = readings(plan);
  const table = () => (backend.schema ? ctx.source.withSchema(backend.schema).table('gauge') : ctx.source.table('gauge'));
  for (let i = 0; i < rows.length; i += 200) await table().insert(rows.slice(i, i + 200));
  const smtp = await startSmtp();
  return {
    backend,
    ctx,
    out,
    smtp,
    async cleanup() {
      await smtp.close();
      await ctx.close();
      await backend.cleanup();
      rmSync(out, { recursive: true, force: true });
    },
  };
}

/** Runs the job for each day in turn, as the schedule does; returns the runs' ids. */
async function nightly(s: Setup, from: string, to: string): Promise<number[]> {
  const ids: number[] = [];
  for (const day of dateRange(from, to)) ids.push((await runSpc(s.ctx, { days: [day], triggeredBy: 'schedule', mail: smtpSettings(s.ctx, s.smtp) })).runId);
  return ids;
}

const events = async (ctx: EtlContext) => (await targetTable(ctx, ctx.target, 'spc_events').orderBy('opened_at').select('*')) as Record<string, any>[];
const mails = async (s: Setup) => Promise.all(s.smtp.received.map((m) => simpleParser(m.raw)));

/** Runs the CLI with a config file for the setup; returns exit code and what it printed. */
async function cli(s: Setup, args: string[]) {
  const file = path.join(s.out, 'config.yaml');
  writeFileSync(file, stringify({ ...spcConfig(s.backend, s.out), source: { url: s.backend.url, timestamps: 'local' }, plant: { timezone: TZ, dayStart: '06:00' }, target: s.backend.schema ? { schema: s.backend.schema } : {} }));
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  try {
    const code = await main(['node', 'yieldrun', '--config', file, ...args]);
    return { code, out: log.mock.calls.flat().join('\n'), err: error.mock.calls.flat().join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

// 240 drift readings from 10-11 06:05 to 10-21 05:05. The first reading after it, 100 at 10-21
// 06:05, is a moving range of |100 − 105| = 5 above the MR chart's UCL 3.267; the next, 101 at
// 07:05, is 1.13σ above CL with three drift readings in its window of five: rule 6 (4 of 5 beyond
// 1σ), the last flag. Eight clean readings later, 10-21 15:05, the event closes.
const DRIFT = { from: '2026-10-11', to: '2026-10-20', by: 6 };
const DAYS = dateRange(FIRST, '2026-10-30');

describe.each(['sqlite', 'postgres'] as const)('out-of-control events on %s', (backendName) => {
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('a drift that stays 10 days: one event, one alert when it opens, one note when it closes', async () => {
    s = await setup(backendName, { days: DAYS, drift: DRIFT });
    const runs = await nightly(s, '2026-10-05', '2026-10-24');
    const [e, ...more] = await events(s.ctx);
    expect(more).toEqual([]);
    expect(toDate(e!.opened_at)).toEqual(instant('2026-10-11', 0));
    expect(toDate(e!.last_flagged_at)).toEqual(instant('2026-10-21', 1));
    expect(toDate(e!.closed_at)).toEqual(instant('2026-10-21', 9));
    // 240 drift readings and the two after; 107 (7 above CL 100) the farthest.
    expect(e).toMatchObject({ chart_key: 'G1', state: 'closed', flagged_points: 242, extreme_value: 107, extreme_cl: 100, side: 'above', history: 0 });
    // Opened by the run for 10-11, closed by the one for 10-21 (runs[0] is 10-05).
    expect(e).toMatchObject({ first_seen_run_id: runs[6], open_alert_run_id: runs[6], close_alert_run_id: runs[16], last_seen_run_id: runs[19] });
    const rules = (await targetTable(s.ctx, s.ctx.target, 'spc_event_rules').where({ event_id: e!.id }).orderBy(['panel', 'rule']).select('panel', 'rule', 'points')) as Record<string, any>[];
    // Rule 1 on every drift reading; rule 2 from the 9th; rules 5 (2 of 3 beyond 2σ) from the 2nd and 6 (4 of 5 beyond 1σ)
    // from the 4th and at 07:05 after it, as warnings that join the open event; the MR chart at both steps.
    expect(rules.map((r) => [r.panel, Number(r.rule), Number(r.points)])).toEqual([
      ['main', 1, 240],
      ['main', 2, 232],
      ['main', 5, 239],
      ['main', 6, 238],
      ['paired', 1, 2],
    ]);
    const severities = (await targetTable(s.ctx, s.ctx.target, 'spc_violations').where({ event_id: e!.id }).select('rule', 'severity')) as Record<string, any>[];
    expect(new Set(severities.filter((v) => Number(v.rule) === 5).map((v) => v.severity))).toEqual(new Set(['warning']));
    expect(severities).toHaveLength(240 + 232 + 239 + 238 + 2);

    const received = await mails(s);
    expect(received.map((m) => m.subject)).toEqual(['SPC alert · Plant · Gap: G1 out of control since 2026-10-11 06:05', 'SPC · Plant · Gap: back in control on G1 (event closed)']);
    expect(received[0]!.text).toContain(`G1: out of control since 2026-10-11 06:05 (event ${e!.id}, open)`);
    expect(received[0]!.attachments.filter((a) => a.contentType === 'image/png')).toHaveLength(1);
    expect(received[1]!.text).toContain(`G1: event ${e!.id} closed 2026-10-21 15:05, out of control from 2026-10-11 06:05 to 2026-10-21 07:05, 242 flagged point(s) (rules 1 ×240, 2 ×232, 5 ×239, 6 ×238, 1 (MR) ×2); not acknowledged`);
  });

  it('the first run over a 30-day window: the events of its history are stored, no email for days before the run', async () => {
    s = await setup(backendName, { days: DAYS, drift: DRIFT });
    const r = await runSpc(s.ctx, { days: ['2026-10-30'], triggeredBy: 'test', mail: smtpSettings(s.ctx, s.smtp) });
    expect(r.measures[0]!.events).toEqual({ opened: 1, history: 1, open: 0, closed: 1, withdrawn: 0 });
    expect(r.measures[0]!.alert).toMatchObject({ status: 'nothing-new', opened: 0, closed: 0 });
    const [e, ...more] = await events(s.ctx);
    expect(more).toEqual([]);
    expect(e).toMatchObject({ history: 1, state: 'closed', flagged_points: 242, open_alert_run_id: null, close_alert_run_id: null });
    expect(toDate(e!.opened_at)).toEqual(instant('2026-10-11', 0));
    expect(s.smtp.received).toHaveLength(0);
    // The next night has nothing new either; the history is listed, flagged as such.
    await runSpc(s.ctx, { days: ['2026-10-31'], triggeredBy: 'test', mail: smtpSettings(s.ctx, s.smtp) });
    expect(s.smtp.received).toHaveLength(0);
    const listed = await cli(s, ['spc', 'events']);
    expect(listed.code).toBe(0);
    expect(listed.out).toContain(`#${e!.id} gap G1: closed 2026-10-21 15:05, out of control from 2026-10-11 06:05, 242 flagged point(s), rules 1 ×240, 2 ×232, 5 ×239, 6 ×238, 1 (MR) ×2, history (not alerted); not acknowledged`);
  });
});

describe.each(['sqlite', 'postgres'] as const)('acknowledgement on %s', (backendName) => {
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('an engineer acknowledges the open event; it closes later; who, when, cause and action stay; a rerun changes nothing', async () => {
    s = await setup(backendName, { days: DAYS, drift: DRIFT });
    await nightly(s, '2026-10-09', '2026-10-14');
    const open = await cli(s, ['spc', 'events', '--open']);
    const [e] = await listEvents(s.ctx, { open: true });
    expect(open.out).toMatch(new RegExp(`^#${e!.id} gap G1: open since 2026-10-11 06:05 \\(\\d+\\.\\d days\\), \\d+ flagged point\\(s\\), rules 1 ×\\d+, 2 ×\\d+, 5 ×\\d+, 6 ×\\d+, 1 \\(MR\\) ×1; not acknowledged$`));

    // Codes come from the configured lists; a wrong one is refused with the list.
    const bad = await cli(s, ['spc', 'ack', String(e!.id), '--cause', 'GREMLINS', '--action', 'ADJUSTED', '--by', 'alice']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown cause code 'GREMLINS'; spc.causes lists: MATERIAL, MACHINE, METHOD, MEASUREMENT, OPERATOR, ENVIRONMENT, UNKNOWN/);
    const before = Date.now();
    const ack = await cli(s, ['spc', 'ack', String(e!.id), '--cause', 'material', '--action', 'MATERIAL_CHANGED', '--by', 'alice', '--note', 'separator film lot 4711 blocked']);
    expect(ack.code).toBe(0);
    expect(ack.out).toMatch(new RegExp(`^event ${e!.id} \\(gap G1\\) acknowledged by alice .* \\(cause MATERIAL, action MATERIAL_CHANGED: separator film lot 4711 blocked\\); state acknowledged$`));
    const [acked] = await events(s.ctx);
    expect(acked).toMatchObject({ state: 'acknowledged', acknowledged_by: 'alice', cause_code: 'MATERIAL', action_code: 'MATERIAL_CHANGED', ack_note: 'separator film lot 4711 blocked' });
    expect(toDate(acked!.acknowledged_at).getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(toDate(acked!.acknowledged_at).getTime()).toBeLessThanOrEqual(Date.now());
    const again = await cli(s, ['spc', 'ack', String(e!.id), '--cause', 'MACHINE', '--action', 'REPAIRED', '--by', 'bob']);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(new RegExp(`SPC event ${e!.id} is already acknowledged by alice`));

    // The nights go on: the event stays acknowledged while the drift lasts, then closes on 10-21.
    await nightly(s, '2026-10-15', '2026-10-22');
    const [closed, ...more] = await events(s.ctx);
    expect(more).toEqual([]);
    expect(closed).toMatchObject({ id: e!.id, state: 'closed', acknowledged_by: 'alice', cause_code: 'MATERIAL', action_code: 'MATERIAL_CHANGED', flagged_points: 242 });
    expect(toDate(closed!.acknowledged_at)).toEqual(toDate(acked!.acknowledged_at));
    expect(toDate(closed!.closed_at)).toEqual(instant('2026-10-21', 9));
    const received = await mails(s);
    expect(received.map((m) => m.subject)).toEqual(['SPC alert · Plant · Gap: G1 out of control since 2026-10-11 06:05', 'SPC · Plant · Gap: back in control on G1 (event closed)']);
    expect(received[1]!.text).toMatch(/; acknowledged by alice \d{4}-\d\d-\d\d \d\d:\d\d \(cause MATERIAL, action MATERIAL_CHANGED: separator film lot 4711 blocked\)/);

    // A rerun of the last night: the same event, nothing else changed, nothing mailed.
    const snapshot = (await events(s.ctx)).map(({ last_seen_run_id: _seen, ...rest }) => rest);
    const rerun = await runSpc(s.ctx, { days: ['2026-10-22'], triggeredBy: 'test', mail: smtpSettings(s.ctx, s.smtp) });
    expect((await events(s.ctx)).map(({ last_seen_run_id: _seen, ...rest }) => rest)).toEqual(snapshot);
    expect(rerun.measures[0]!.alert.status).toBe('nothing-new');
    expect(s.smtp.received).toHaveLength(2);
    expect((await cli(s, ['spc', 'events', '--open'])).out).toBe('no open SPC events');
  });
});

describe('the admin API: events and acknowledgement for a web console', () => {
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('lists the open events and acknowledges one behind the token; bad codes 400, twice 409', async () => {
    s = await setup('sqlite', { days: DAYS, drift: DRIFT });
    await nightly(s, '2026-10-10', '2026-10-12');
    const server = await startAdminServer(s.ctx.config, silentLog, { port: 0, host: '127.0.0.1', token: 't0k3n', connection: redisConnection(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') });
    const call = (p: string, body?: unknown, token = 't0k3n') =>
      fetch(`${server.url}${p}`, { method: body ? 'POST' : 'GET', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: body ? JSON.stringify(body) : undefined });
    try {
      const listed = await call('/api/spc/events?open=1&measure=gap');
      expect(listed.status).toBe(200);
      const [e, ...more] = (await listed.json()) as Record<string, any>[];
      expect(more).toEqual([]);
      expect(e).toMatchObject({ measure: 'gap', key: 'G1', state: 'open', openedAt: instant('2026-10-11', 0).toISOString(), acknowledgedBy: null });
      expect((await call('/api/spc/events?measure=nope')).status).toBe(400);
      expect((await call(`/api/spc/events/${e!.id}/ack`, { cause: 'MACHINE', action: 'REPAIRED', by: 'carol' }, 'wrong')).status).toBe(401);
      const bad = await call(`/api/spc/events/${e!.id}/ack`, { cause: 'MACHINE', action: 'PRAYED', by: 'carol' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toMatch(/unknown action code 'PRAYED'; spc.actions lists: ADJUSTED, REPAIRED/);
      const ok = await call(`/api/spc/events/${e!.id}/ack`, { cause: 'machine', action: 'REPAIRED', by: 'carol', note: 'tension roller replaced' });
      expect(ok.status).toBe(200);
      // Recorded as the token's user (the bootstrap admin), whatever `by` says.
      expect(await ok.json()).toMatchObject({ id: e!.id, state: 'acknowledged', acknowledgedBy: 'api:admin', causeCode: 'MACHINE', actionCode: 'REPAIRED', note: 'tension roller replaced' });
      expect((await call(`/api/spc/events/${e!.id}/ack`, { cause: 'MACHINE', action: 'REPAIRED', by: 'dave' })).status).toBe(409);
      expect((await call('/api/spc/events/9999/ack', { cause: 'MACHINE', action: 'REPAIRED', by: 'dave' })).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe('versioned limits: yieldrun spc set-limits MEASURE --from DATE', () => {
  let s: Setup | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('after a process change the new limits judge from the date on; points before it keep their limits and flags', async () => {
    // From 10-11 the process runs 6 higher for good (a new separator film); on 10-05 10:05 one reading of 110.
    const CHANGE = '2026-10-11';
    s = await setup('sqlite', { days: dateRange(FIRST, '2026-10-14'), drift: { from: CHANGE, to: '2026-12-31', by: 6 }, outlier: ['2026-10-05', 4, 110] });
    await nightly(s, '2026-10-04', '2026-10-12');
    const oldLimits = (await targetTable(s.ctx, s.ctx.target, 'spc_limits').select('*'))[0] as Record<string, any>;
    expect(oldLimits.cl).toBe(100);
    expect(oldLimits.sigma_within).toBeCloseTo(SIGMA, 12);
    const flagsBefore = (await targetTable(s.ctx, s.ctx.target, 'spc_violations').where('point_time', '<', instant(CHANGE, 0)).orderBy(['point_time', 'panel']).select('id', 'point_time', 'panel', 'rule', 'withdrawn_run_id')) as Record<string, any>[];
    // The outlier: rule 1 on the I chart (10 above CL = 11.3σ), and the MR chart into and out of it.
    expect(flagsBefore.map((v) => [toDate(v.point_time).getTime(), v.panel, Number(v.rule)])).toEqual([
      [instant('2026-10-05', 4).getTime(), 'main', 1],
      [instant('2026-10-05', 4).getTime(), 'paired', 1],
      [instant('2026-10-05', 5).getTime(), 'paired', 1],
    ]);

    const set = await cli(s, ['spc', 'set-limits', 'gap', 'G1', '--from', CHANGE, '--baseline', '24', '--reason', 'new separator film', '--triggered-by', 'alice']);
    expect(set.code).toBe(0);
    // The first 24 readings from 10-11: 106 + the pattern, so x̄ = 106 and every moving range within them 1: σ̂ unchanged.
    expect(set.out).toContain(`new limits of gap valid from ${CHANGE} for 1 key(s): G1 (CL 106.000, σ̂ 0.8862, 24 subgroups; the old limits judge the points before)`);
    const history = (await targetTable(s.ctx, s.ctx.target, 'spc_limits_history').select('*')) as Record<string, any>[];
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ cl: 100, run_id: oldLimits.run_id, set_by: oldLimits.set_by });
    expect(toDate(history[0]!.valid_to)).toEqual(DateTime.fromISO(`${CHANGE}T06:00`, { zone: TZ }).toJSDate());
    expect((await cli(s, ['spc', 'set-limits', 'gap', 'G1', '--from', '2026-10-10', '--baseline', '24'])).err).toMatch(/already start at .*: new ones must start later/);

    const r = await runSpc(s.ctx, { days: ['2026-10-13'], triggeredBy: 'test', mail: smtpSettings(s.ctx, s.smtp) });
    const points = (await targetTable(s.ctx, s.ctx.target, 'spc_points').where({ run_id: r.runId }).orderBy('point_time').select('*')) as Record<string, any>[];
    const split = points.findIndex((p) => toDate(p.point_time).getTime() >= instant(CHANGE, 0).getTime());
    expect(split).toBeGreaterThan(0);
    for (const p of points.slice(0, split)) expect([p.cl, p.ucl]).toEqual([100, 100 + 3 * SIGMA]);
    for (const p of points.slice(split)) expect([p.cl, p.ucl]).toEqual([106, 106 + 3 * SIGMA]);
    expect(points.slice(split, split + 24).every((p) => p.phase === 'I')).toBe(true);
    // The flags before the date are the same rows, still current.
    const flagsAfter = (await targetTable(s.ctx, s.ctx.target, 'spc_violations').where('point_time', '<', instant(CHANGE, 0)).orderBy(['point_time', 'panel']).select('id', 'point_time', 'panel', 'rule', 'withdrawn_run_id')) as Record<string, any>[];
    expect(flagsAfter).toEqual(flagsBefore);
    // From the date on only the step itself stays flagged (its moving range of 7 on the MR chart); the rest is withdrawn.
    const later = (await targetTable(s.ctx, s.ctx.target, 'spc_violations').where('point_time', '>=', instant(CHANGE, 0)).select('*')) as Record<string, any>[];
    expect(later.filter((v) => v.withdrawn_run_id === null).map((v) => [toDate(v.point_time).getTime(), v.panel, Number(v.rule)])).toEqual([[instant(CHANGE, 0).getTime(), 'paired', 1]]);
    expect(later.filter((v) => v.withdrawn_run_id !== null).every((v) => v.withdrawn_run_id === r.runId)).toBe(true);
    expect(r.measures[0]!.withdrawnViolations).toBe(later.length - 1);
    // The event the change opened (mailed on 10-11): only the MR flag at the step is left, a warning, so
    // no alarm holds it any more: withdrawn by this run, kept with its history, not mailed again.
    const change = (await events(s.ctx)).find((e) => toDate(e.opened_at).getTime() === instant(CHANGE, 0).getTime())!;
    expect(change).toMatchObject({ state: 'withdrawn', withdrawn_run_id: r.runId, history: 0 });
    expect(change.open_alert_run_id).not.toBeNull();
    expect(r.measures[0]!.events).toMatchObject({ opened: 0, withdrawn: 1 });
    expect(r.measures[0]!.alert).toMatchObject({ status: 'nothing-new', opened: 0, closed: 0 });
    // The outlier's event on 10-05 is untouched.
    expect((await events(s.ctx)).find((e) => toDate(e.opened_at).getTime() === instant('2026-10-05', 4).getTime())).toMatchObject({ state: 'closed', withdrawn_run_id: null });
  });

  it('a constant gauge is not judged: "no variation: cannot be judged", once, no flags', async () => {
    s = await setup('sqlite', { days: [] });
    const rows = dateRange(FIRST, '2026-10-03').flatMap((day) => Array.from({ length: 24 }, (_, h) => ({ eqp_id: 'G2', insp_dt: at(day, h * 60 + 5), insp_val: 1.25 })));
    await s.ctx.source.table('gauge').insert(rows);
    const r = await runSpc(s.ctx, { days: ['2026-10-03'], triggeredBy: 'test', mail: smtpSettings(s.ctx, s.smtp) });
    expect(r.measures[0]).toMatchObject({ violations: 0, unjudged: ['G2'], events: { opened: 0 } });
    const [chart] = (await targetTable(s.ctx, s.ctx.target, 'spc_charts').select('*')) as Record<string, any>[];
    expect(chart).toMatchObject({ unjudged: 'no variation: cannot be judged', sigma_within: 0, cp: null, cpk: null });
    expect(chart!.limits_note).toMatch(/^no variation: cannot be judged \(σ̂ = 0\)/);
    expect(s.smtp.received).toHaveLength(0);
  });
});

