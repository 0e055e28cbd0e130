/**
 * Real worker processes for runner tests: `yieldrun worker` started from the sources with tsx,
 * with its own config file, so a test can SIGKILL or SIGTERM it like an operator or a crash would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

export function writeConfigFile(raw: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-cfg-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, stringify(raw));
  return file;
}

export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'jobs', 'cli.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/**
 * Runs the CLI to completion. With `timeoutMs`, a process still running then is killed and
 * reported with code null and `timedOut`, so a command that hangs fails its test instead of the run.
 */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  opts: { timeoutMs?: number } = {},
): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  const p = startCli(args, env);
  let timedOut = false;
  const timer = opts.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        p.child.kill('SIGKILL');
      }, opts.timeoutMs)
    : undefined;
  const code = await p.exited;
  clearTimeout(timer);
  return { code, output: p.output(), timedOut };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
