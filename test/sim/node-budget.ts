/**
 * The node driver's CI budget: seeds across every adversary (and every Byzantine strategy set),
 * the runtime's ReplicaNode over simulated I/O, every checker on, all passing. n = 4 in
 * node-budget.test.ts, n = 7 in node-driver.test.ts: two files, two cores.
 */
import { expect } from 'vitest';
import { formatFailure, runSeedsAsync } from '../../src/sim/runner.js';

export const NODE_BUDGET = { n4: 80, n7: 20 };

export async function nodeBudget(n: number, seeds: number): Promise<void> {
  const s = await runSeedsAsync({
    seeds,
    fromSeed: 0,
    replicas: [n],
    adversary: ['catalogue', 'fuzz', 'twins', 'clients', 'cuts'],
    byzantine: 'all',
    driver: 'node',
  });
  const report = s.failures.map((r) => formatFailure({ ...r, trace: r.trace?.slice(-60) })).join('\n\n');
  console.log(
    `node driver n=${n}: ${s.runs} seeds, ${s.failed} failed, ${s.committedRequests} committed, ${s.viewChanges} view changes, ${s.stateTransfers} state transfers, ${s.crashes} crashes, storage ${JSON.stringify(s.storage)}; ${(s.cpuMs / 1000).toFixed(1)} CPU-s`,
  );
  expect(s.failed, report).toBe(0);
  expect(Object.keys(s.byAdversary).sort()).toEqual(['catalogue', 'clients', 'cuts', 'fuzz', 'twins']);
  expect(s.committedRequests).toBeGreaterThan(seeds * 5);
  expect(s.viewChanges).toBeGreaterThan(seeds / 4);
  expect(s.crashes).toBeGreaterThan(0);
}
