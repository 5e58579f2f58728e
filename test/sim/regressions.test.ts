/**
 * Seeds that once failed, kept as regression tests. Each names the bug it found.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/sim/simulator.js';

const cases = [
  { seed: 96, n: 4, byzantine: ['silent'] as const, bug: 'view-change timer started before 2f+1 view-changes: one replica ran ahead alone through views' },
  { seed: 38, n: 4, byzantine: ['forged-view-change'] as const, bug: "a lost view-change was never retransmitted once its sender moved on: two replicas waited forever with 2f view-changes" },
];

describe('simulator regressions', () => {
  for (const c of cases) {
    it(`seed ${c.seed} (n=${c.n}, ${c.byzantine.join('+')}): ${c.bug}`, () => {
      const r = simulate({ seed: c.seed, n: c.n, byzantine: c.byzantine });
      expect(r.violations.map((v) => `[${v.invariant}] ${v.message}`)).toEqual([]);
      expect(r.ok).toBe(true);
    });
  }
});
