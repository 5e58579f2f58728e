/**
 * `pbft demo` on real processes: it runs unattended to the end, and it cleans up (no process,
 * no directory) both when it finishes and when it is interrupted with Ctrl-C (SIGINT).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cluster.js';
import { CLI_ENTRY, follow, pbft } from './cli-helpers.js';

beforeAll(async () => {
  await ensureBuilt();
  if (!existsSync(CLI_ENTRY)) throw new Error(`the CLI is not built (${CLI_ENTRY} missing); run npm run build`);
}, 180_000);

/** pids of live processes whose command line mentions `needle` */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (cmd.includes(needle) && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z') out.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

describe('pbft demo', () => {
  it('runs start to finish, shows a request timeline and agreement, and leaves nothing behind', async () => {
    const r = await pbft(['demo', '--json'], { timeoutMs: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as {
      ok: boolean;
      dir: string;
      acts: { id: string; ok: boolean }[];
      requests: { ok: boolean }[];
      results: { trace: { executedBy: number[]; records: number }; agreement: { digests: string[] } };
      durationMs: number;
    };
    expect(s.ok).toBe(true);
    expect(s.acts.map((a) => a.id)).toEqual(expect.arrayContaining(['requests', 'trace', 'agreement']));
    expect(s.acts.every((a) => a.ok)).toBe(true);
    expect(s.requests.length).toBeGreaterThanOrEqual(7);
    expect(s.requests.every((x) => x.ok)).toBe(true);
    expect(s.results.trace.records).toBeGreaterThan(0);
    expect(s.results.agreement.digests).toHaveLength(1);
    expect(existsSync(s.dir)).toBe(false);
    expect(processesMentioning(s.dir)).toEqual([]);
  });

  it('cleans up when interrupted with Ctrl-C', async () => {
    const f = follow(['demo']);
    await f.waitUntil((ls) => ls.some((l) => l.startsWith('[3/')), 60_000);
    const dir = /in (\/\S*pbft-demo-\S+)/.exec(f.lines.join('\n'))?.[1];
    expect(dir).toBeDefined();
    const r = await f.stop();
    expect(r.stdout).toMatch(/Stopped \d replica processes/);
    expect(r.stdout).toContain(`Removed ${dir}`);
    // interrupted mid-run (130), or it had just finished (0): either way nothing is left
    expect([0, 130]).toContain(r.exitCode);
    expect(existsSync(dir!)).toBe(false);
    expect(processesMentioning(dir!)).toEqual([]);
  });
});
