/**
 * Same options => identical run: the full trace, the statistics and the fingerprint.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/sim/simulator.js';

describe('simulator determinism', () => {
  const cases = [
    { seed: 1, n: 4, byzantine: [] },
    { seed: 2, n: 4, byzantine: ['equivocate'] as const },
    { seed: 3, n: 7, byzantine: ['garbage', 'replay'] as const },
    { seed: 4, n: 4, byzantine: [], storm: true },
  ];
  for (const c of cases) {
    it(`seed ${c.seed}, n=${c.n}, byzantine ${c.byzantine.join('+') || 'none'}${c.storm ? ', storm' : ''}: two runs are identical`, () => {
      const a = simulate({ ...c, byzantine: [...c.byzantine], fullTrace: true });
      const b = simulate({ ...c, byzantine: [...c.byzantine], fullTrace: true });
      expect(a.fullTrace!.length).toBeGreaterThan(100);
      expect(b.fullTrace).toEqual(a.fullTrace);
      expect(b.stats).toEqual(a.stats);
      expect(b.fingerprint).toBe(a.fingerprint);
      expect(b.violations).toEqual(a.violations);
      expect(a.stats.completedRequests).toBeGreaterThan(0);
    });
  }

  it('different seeds give different runs', () => {
    const a = simulate({ seed: 10, n: 4 });
    const b = simulate({ seed: 11, n: 4 });
    expect(a.fingerprint).not.toBe(b.fingerprint);
    expect(a.scenario).not.toBe(b.scenario);
  });

  it('the trace ring keeps only the last lines, the same ones as the full trace', () => {
    const r = simulate({ seed: 5, n: 4, fullTrace: true, alwaysTrace: true, traceLines: 50 });
    expect(r.trace).toHaveLength(50);
    expect(r.trace).toEqual(r.fullTrace!.slice(-50));
  });

  it('gives the exact replay command', () => {
    const r = simulate({ seed: 77, n: 7, byzantine: ['equivocate', 'replay'], bugs: ['commit-on-2f'] });
    expect(r.replay).toBe('pbft sim --seed 77 --replicas 7 --byzantine equivocate+replay --adversary catalogue --bug commit-on-2f --trace');
  });
});
