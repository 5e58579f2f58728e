/**
 * The fault acts of `pbft demo` (issue 4), through the library: the primary crashes and is
 * replaced by a view change while requests complete, the old primary restarted catches up, a
 * backup's corrupted state is repaired by state transfer; every replica agrees at the end.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_ACTS, runDemo } from '../../src/cluster/demo.js';
import { palette } from '../../src/cluster/format.js';
import { ensureBuilt } from '../helpers/cluster.js';

describe('pbft demo: the fault act', () => {
  it('crash of the primary, view change, restart and catch-up; corrupt state repaired; all agree', async () => {
    await ensureBuilt();
    const lines: string[] = [];
    const s = await runDemo({ out: (l) => lines.push(l), palette: palette(false), signal: new AbortController().signal });
    expect(DEFAULT_ACTS.map((a) => a.id)).toEqual(['requests', 'trace', 'crash-primary', 'corrupt-state', 'agreement']);
    expect(s.ok).toBe(true);
    expect(s.acts.every((a) => a.ok)).toBe(true);
    expect(s.requests.every((r) => r.ok)).toBe(true);
    const crash = s.results.crashPrimary as { crashed: number; fromView: number; toView: number; newPrimary: number; caughtUp: boolean };
    expect(crash.toView).toBeGreaterThan(crash.fromView);
    expect(crash.newPrimary).not.toBe(crash.crashed);
    expect(crash.caughtUp).toBe(true);
    expect(s.results.corruptState).toMatchObject({ repaired: true });
    expect((s.results.agreement as { digests: string[] }).digests).toHaveLength(1);
    const text = lines.join('\n');
    expect(text).toContain('$ pbft fault primary crash');
    expect(text).toMatch(/enter-view\s+primary is \d/);
    expect(text).toMatch(/state-transfer .*installed state/);
    expect(s.durationMs).toBeLessThan(60_000);
  }, 90_000);
});
