/**
 * The admin console in a real browser (Debian's chromium driven by playwright-core), against the
 * admin server, a real BullMQ worker on the shared Redis under a queue prefix of its own, and a
 * real SQLite target: an operator signs in, reads the grid, previews and queues a rerun and sees
 * it succeed, cancels a waiting backfill; a viewer sees no rerun button and is refused the POST.
 * With CONSOLE_SCREENSHOTS=1 it writes the README's screenshots to docs/console/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Job } from 'bullmq';
import { startWorker, type WorkerHandle } from '../../jobs/worker.js';
import { JOBS } from '../../jobs/registry.js';
import { openQueue } from '../../jobs/queues.js';
import { recentDays } from '../../jobs/console/day-states.js';
import { listAudit } from '../../jobs/console/audit.js';
import { generate } from '../../data/generate.js';
import { targetTable } from '../../etl/context.js';
import { silentLog } from '../support/backends.js';
import { connection, consoleFixture, type ConsoleFixture } from '../support/console.js';

const SHOTS = process.env.CONSOLE_SCREENSHOTS ? path.resolve(import.meta.dirname, '..', '..', 'docs', 'console') : undefined;

function chromiumPath(): string {
  try {
    return execSync('command -v chromium', { shell: '/bin/sh' }).toString().trim();
  } catch {
    throw new Error('chromium not found: apt-get install -y chromium (.ci/run does this when it is absent)');
  }
}

describe('admin console in a browser', () => {
  let f: ConsoleFixture;
  let worker: WorkerHandle;
  let browser: Browser;

  beforeAll(async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-console-'));
    f = await consoleFixture({}, { mail: { outDir: path.join(out, 'mail') }, reports: { outDir: path.join(out, 'reports'), dailyYield: { to: ['quality@example.com'] } } });
    // Ten days of generated data; the eight older ones summarised and the last three reported, the newest two never run.
    const days = recentDays(f.cfg, 10);
    await generate(f.ctx.source, { rows: 6000, seed: 7, start: days[9]!, days: 10, timezone: f.cfg.plant.timezone, dayStart: f.cfg.plant.dayStart, timestamps: f.cfg.source.timestamps, mapping: f.cfg.source, assembly: false });
    const computed = days.slice(2).reverse();
    await JOBS['nightly-summary']!.run(f.ctx, { days: computed, triggeredBy: 'schedule:nightly', reason: 'seeded for the test' });
    for (const day of computed.slice(-3)) await JOBS['daily-yield-report']!.run(f.ctx, { days: [day], triggeredBy: 'schedule:nightly' });
    // No battery tables: the defect trace fails, and the grid shows it.
    await JOBS['defect-trace']!.run(f.ctx, { days: [computed[computed.length - 1]!], triggeredBy: 'schedule:nightly' }).catch(() => undefined);
    // The worker runs the nightly summary only: a defect-trace backfill stays waiting, to be cancelled.
    worker = await startWorker(f.cfg, silentLog, { connection, housekeeping: false, jobs: { 'nightly-summary': JOBS['nightly-summary']! } });
    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await worker?.close();
    await f?.close();
  });

  const shot = async (page: Page, name: string) => {
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };

  async function signIn(name: string, token: string): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.on('pageerror', (e) => {
      throw e;
    });
    await page.goto(`${f.server.url}/console/signin`);
    await page.fill('input[name=name]', name);
    await page.fill('input[name=token]', token);
    await page.click('button[type=submit]');
    await page.waitForURL('**/console/grid');
    return page;
  }

  it('an operator reads the grid, previews and queues a rerun, follows it to success, opens the run, cancels a backfill', async () => {
    const [yesterday, before, , computed] = recentDays(f.cfg, 4);
    const page = await signIn('olga', f.tokens.operator);
    const cell = page.locator('table.grid tbody tr', { hasText: yesterday! }).locator('td').first();
    await expect.poll(() => cell.getAttribute('data-state')).toBe('never-run');
    await shot(page, 'grid-before');

    await page.click('text=Rerun or backfill…');
    await page.selectOption('select[name=job]', 'nightly-summary');
    await page.fill('input[name=from]', computed!);
    await page.fill('input[name=to]', yesterday!);
    await page.check('input[name=policy][value=failed-and-never-run]');
    await page.fill('input[name=reason]', 'MES import fixed');
    await page.click('button[name=preview]');
    const preview = page.locator('table.preview tbody tr');
    await expect.poll(() => preview.count()).toBe(4);
    // A computed day still inside the lookback with pending units is stale (the nightly run would
    // compute it again); whether the generated data leaves a unit pending on it depends on the calendar.
    const pending = Number((await targetTable(f.ctx, f.ctx.target, 'etl_periods').where({ period_type: 'day', period_start: computed! }).first())?.pending_units ?? 0);
    const computedState = pending > 0 ? `stale \\(late data or pending units\\)\\s+${pending} pending units` : 'succeeded';
    expect(await preview.nth(0).innerText()).toMatch(new RegExp(`${computed}\\s+${computedState}\\s+run \\d+\\s+no`));
    expect(await preview.nth(2).innerText()).toMatch(new RegExp(`${before}\\s+never run\\s+—\\s+yes`));
    await shot(page, 'rerun-preview');

    await page.click('button.primary:has-text("Queue nightly-summary")');
    await page.waitForURL('**/console/follow/nightly-summary/**');
    await page.waitForSelector('.follow[data-state=completed]', { timeout: 60_000 });
    await shot(page, 'follow');
    await page.click('.job-result a');
    await page.waitForURL(/\/console\/runs\/\d+$/);
    const facts = await page.locator('table.facts').innerText();
    expect(facts).toMatch(/Status\s+succeeded/);
    expect(facts).toMatch(/Who\s+console:olga/);
    expect(facts).toMatch(/Why\s+MES import fixed/);

    await page.goto(`${f.server.url}/console/grid`);
    expect(await page.locator('table.grid tbody tr', { hasText: yesterday! }).locator('td').first().getAttribute('data-state')).toBe('succeeded');

    // A backfill no worker takes: it waits (prioritized, behind any scheduled run) until cancelled.
    await page.goto(`${f.server.url}/console/rerun?job=defect-trace&from=${before}&to=${yesterday}&policy=all&preview=1&dependents=spc`);
    await page.click('button.primary');
    await page.waitForURL('**/console/follow/defect-trace/**');
    const jobId = decodeURIComponent(page.url().split('/').pop()!);
    await page.goto(`${f.server.url}/console/queue`);
    const row = page.locator(`tr[data-job-id="${jobId}"]`);
    expect(await row.innerText()).toMatch(/prioritized/);
    await shot(page, 'queue');
    await row.locator('button.cancel').click();
    await page.waitForURL('**/console/queue');
    expect(await page.locator(`tr[data-job-id="${jobId}"]`).count()).toBe(0);
    const queue = openQueue(f.cfg, 'defect-trace', connection);
    expect(await Job.fromId(queue, jobId)).toBeUndefined();
    await queue.close();

    // The report a nightly run sent: the workbook downloads, the email lists it as its attachment.
    await page.goto(`${f.server.url}/console/runs?job=daily-yield-report`);
    await page.locator('table tbody tr td a').first().click();
    const workbook = page.locator('a:has-text("workbook")');
    const download = await page.request.get(new URL((await workbook.getAttribute('href'))!, page.url()).href);
    expect(download.status()).toBe(200);
    expect((await download.body()).subarray(0, 2).toString()).toBe('PK');
    await shot(page, 'run-report');
    await page.click('text=email as sent');
    expect(await page.locator('ul.attachments').innerText()).toMatch(/^plant_daily-yield_.*\.xlsx \(application\/vnd\.openxmlformats-officedocument\.spreadsheetml\.sheet, [\d.]+ kB\)$/);
    expect(await page.locator('table.facts').innerText()).toMatch(/Subject\s+Daily yield \d{4}-\d{2}-\d{2} · Plant · FPY/);
    expect(await page.locator('pre.eml').innerText()).toMatch(/Production day \d{4}-\d{2}-\d{2} 06:00/);
    await shot(page, 'email');

    await page.goto(`${f.server.url}/console/audit?actor=olga`);
    const audit = await page.locator('table.audit tbody').innerText();
    expect(audit).toMatch(/cancel/);
    expect(audit).toMatch(/rerun/);
    await shot(page, 'audit');
    await page.goto(`${f.server.url}/console/schedules`);
    await shot(page, 'schedules');
  }, 120_000);

  it('a viewer sees no rerun button, and the rerun POST answers 403 and is audited as denied', async () => {
    const page = await signIn('vera', f.tokens.viewer);
    expect(await page.locator('text=Rerun or backfill…').count()).toBe(0);
    expect(await page.locator('nav >> text=Days × jobs').count()).toBe(1);
    // The SPC events page (spc_events exists once migrated), without acknowledge forms for a viewer.
    expect(await page.locator('nav >> text=SPC events').count()).toBe(1);
    const status = await page.evaluate(async () => {
      const csrf = (document.querySelector('input[name=_csrf]') as HTMLInputElement).value;
      const body = new URLSearchParams({ _csrf: csrf, job: 'nightly-summary', from: '2026-11-01', to: '2026-11-01', policy: 'all' });
      return (await fetch('/console/rerun', { method: 'POST', body })).status;
    });
    expect(status).toBe(403);
    await page.goto(`${f.server.url}/console/queue`);
    expect(await page.locator('button.cancel').count()).toBe(0);
    const denied = await listAudit(f.ctx, { actor: 'vera', action: 'rerun' });
    expect(denied.map((d) => d.result)).toEqual(['denied']);
  }, 60_000);
});
