/** `rerun --wait`: follows a queued job with a progress bar until it completes or fails. */
import type { ConnectionOptions } from 'bullmq';
import type { ResolvedConfig } from '../config/load.js';
import { jobState } from './job-state.js';

export function progressBar(percent: number, width = 30): string {
  const p = Math.max(0, Math.min(100, Math.round(percent)));
  const filled = Math.round((p / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(p).padStart(3)} %`;
}

/** Returns the final state: 'completed' or 'failed: <reason>'. */
export async function followJob(cfg: ResolvedConfig, connection: ConnectionOptions, queue: string, id: string, pollMs = 500): Promise<string> {
  const tty = process.stdout.isTTY;
  let last = '';
  for (;;) {
    const st = await jobState(cfg, connection, queue, id);
    if (!st) return 'vanished from the queue';
    const line = `${progressBar(st.state === 'completed' ? 100 : st.progress)} ${st.state}${st.attemptsMade > 0 && st.state !== 'completed' ? ` (attempts: ${st.attemptsMade})` : ''}`;
    if (line !== last) {
      process.stdout.write(tty ? `\r${line}` : `${line}\n`);
      last = line;
    }
    if (st.state === 'completed' || st.state === 'failed') {
      if (tty) process.stdout.write('\n');
      if (st.state === 'completed') {
        const r = st.result as { runId?: number } | null;
        console.log(`job ${id} completed${r?.runId ? `: run ${r.runId} (yieldrun runs --limit 1)` : ''}`);
        return 'completed';
      }
      return `failed: ${st.failedReason}`;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
