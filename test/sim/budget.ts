/**
 * The CI budget: several hundred seeds across n = 4 and n = 7 and every Byzantine strategy
 * (and runs without any), all checked by every invariant, all passing. The seeds are split in
 * two files so vitest runs them on two cores. On a failure the report names the seed, its
 * violations, the replay command and the trace.
 */
import { expect } from 'vitest';
import { STRATEGY_NAMES } from '../../src/byzantine/index.js';
import { formatFailure, runSeedsAsync } from '../../src/sim/runner.js';

export const BUDGET = { n4: 600, n7: 300 };

export async function budgetRun(n: number, seeds: number): Promise<void> {
  const s = await runSeedsAsync({ seeds, fromSeed: 0, replicas: [n], byzantine: ['none', ...STRATEGY_NAMES] });
  const report = s.failures.map((r) => formatFailure({ ...r, trace: r.trace?.slice(-60) })).join('\n\n');
  console.log(
    `n=${n}: ${s.runs} seeds, ${s.failed} failed, ${s.committedRequests} committed requests, ${s.viewChanges} view changes, ${s.stateTransfers} state transfers, ${s.crashes} crashes; ` +
      `${(s.cpuMs / 1000).toFixed(1)} CPU-s, ${s.seedsPerSec.toFixed(1)} seeds/s, ${Math.round(s.committedPerCpuSec)} committed/CPU-s`,
  );
  expect(s.failed, report).toBe(0);
  // every strategy (and none) ran
  expect(Object.keys(s.byConfig).sort()).toEqual([`n=${n} catalogue none`, ...STRATEGY_NAMES.map((x) => `n=${n} catalogue ${x}`)].sort());
  expect(s.committedRequests).toBeGreaterThan(seeds * 5);
  expect(s.viewChanges).toBeGreaterThan(seeds / 4);
  expect(s.stateTransfers).toBeGreaterThan(0);
  expect(s.crashes).toBeGreaterThan(0);
}
