/**
 * Seeds that once failed, kept as regression tests. Each names the bug it found.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/sim/simulator.js';

const cases = [
  { seed: 96, n: 4, byzantine: ['silent'] as const, bug: 'view-change timer started before 2f+1 view-changes: one replica ran ahead alone through views' },
  { seed: 38, n: 4, byzantine: ['forged-view-change'] as const, bug: "a lost view-change was never retransmitted once its sender moved on: two replicas waited forever with 2f view-changes" },
  { seed: 1262, n: 4, byzantine: ['garbage'] as const, bug: 'a new primary proposed from its old nextSeq while adopting O\'s checkpoint, then pre-prepared s12 and s13 again with other requests (issue 7, defect 3)' },
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

describe('defect 3 is caught when brought back', () => {
  it('seed 1262 with the bug flag new-primary-stale-next-seq fails by no-equivocation', () => {
    const r = simulate({ seed: 1262, n: 4, byzantine: ['garbage'], bugs: ['new-primary-stale-next-seq'] });
    expect(r.violations.map((v) => v.invariant)).toContain('no-equivocation');
  });
});
