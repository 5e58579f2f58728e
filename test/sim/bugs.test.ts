/**
 * Checkers that cannot fail prove nothing: each deliberately broken core (BugName in
 * src/core/replica.ts) must be caught by a SAFETY invariant within a bounded number of seeds,
 * and the seed that catches it must pass with the honest core (so it is the bug that was
 * caught, not noise). The bounds were found by experiment (see the numbers next to them) with
 * ample margin; each search stops at the first failing seed.
 */
import { describe, expect, it } from 'vitest';
import type { BugName } from '../../src/core/replica.js';
import { formatFailure, runSeeds, type RunSeedsOptions } from '../../src/sim/runner.js';
import { simulate } from '../../src/sim/simulator.js';

const SAFETY = new Set(['agreement', 'qcertified', 'total-order', 'checkpoint-agreement', 'validity', 'linearizability', 'state-agreement', 'view-change-safety']);

interface Case {
  bug: BugName;
  /** most seeds searched */
  bound: number;
  run: Omit<RunSeedsOptions, 'seeds' | 'fromSeed' | 'bugs'>;
  why: string;
}

const cases: Case[] = [
  // measured: every seed of 0..59 (n = 4, 7) fails, by qcertified
  { bug: 'commit-on-2f', bound: 10, run: { replicas: [4, 7], byzantine: 'none' }, why: 'a certificate of 2f commits is not a quorum' },
  // measured: 87% of seeds fail (total-order, agreement)
  { bug: 'execute-out-of-order', bound: 30, run: { replicas: [4, 7], byzantine: 'none' }, why: 'executed seqs are not consecutive' },
  // measured: 25% of seeds with an equivocating replica fail (first at seed 12), by agreement:
  // one digest, different requests
  { bug: 'skip-pre-prepare-digest-check', bound: 150, run: { replicas: [4, 7], byzantine: ['equivocate'] }, why: 'a pre-prepare whose digest does not match its batch is accepted' },
  // measured: ~1.5% of storm seeds (n = 4) fail, by view-change safety (first at seeds 26-221
  // depending on the scenario distribution), about 70 ms of CPU per seed
  { bug: 'new-view-lowest-view', bound: 600, run: { replicas: [4], byzantine: 'none', storm: true }, why: 'O takes the certificate with the lowest view' },
];

describe('broken cores are caught', () => {
  for (const c of cases) {
    it(`${c.bug}: caught within ${c.bound} seeds (${c.why})`, { timeout: 600_000 }, () => {
      const s = runSeeds({ seeds: c.bound, fromSeed: 0, bugs: [c.bug], maxFailures: 1, ...c.run });
      expect(s.failed, `${c.bug} not caught in ${s.runs} seeds`).toBe(1);
      const r = s.failures[0]!;
      const safety = r.violations.filter((v) => SAFETY.has(v.invariant));
      expect(safety.length, formatFailure(r)).toBeGreaterThan(0);
      expect(r.replay).toContain(`--bug ${c.bug}`);
      expect(r.trace!.length).toBeGreaterThan(10);
      // the same seed with the honest core passes
      const honest = simulate({ seed: r.seed, n: r.n, byzantine: r.byzantine.length ? [...new Set(r.byzantine.map((b) => b.strategy))] : [], storm: c.run.storm });
      expect(honest.violations, honest.replay).toEqual([]);
      console.log(`${c.bug}: caught at seed ${r.seed} (search ${s.runs} seeds, ${(s.cpuMs / 1000).toFixed(1)} CPU-s): [${[...new Set(r.violations.map((v) => v.invariant))].join(', ')}] ${r.replay}`);
    });
  }
});
