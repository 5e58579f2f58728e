/**
 * Checkers and adversaries that cannot fail prove nothing. Each deliberately broken core
 * (BUG_NAMES in src/core/replica.ts) must be caught by the GENERAL adversaries (fuzz, twins,
 * cuts, clients: none of them written for a bug) within its stated number of seeds, by a
 * safety or liveness invariant, and the seed that catches it must pass with the honest core
 * (so it is the bug that was caught, not noise). The cases and their bounds are in
 * src/sim/broken-cores.ts; `npx vite-node bench/broken-cores.ts` prints the README's table.
 */
import { describe, expect, it } from 'vitest';
import { BUG_NAMES } from '../../src/core/replica.js';
import { BROKEN_CORE_CASES, CATCHING_INVARIANTS, searchBrokenCore } from '../../src/sim/broken-cores.js';
import { formatFailure } from '../../src/sim/runner.js';

describe('broken cores are caught by the general adversaries', () => {
  it('every bug flag has a case', () => {
    expect(BROKEN_CORE_CASES.map((c) => c.bug).sort()).toEqual([...BUG_NAMES].sort());
  });

  for (const c of BROKEN_CORE_CASES) {
    if (c.knownGap) {
      it.skip(`${c.bug}: a known gap, not caught yet (${c.knownGap})`, () => {});
      continue;
    }
    it(`${c.bug}: caught within ${c.bound} seeds (${c.adversaries.join(', ')})`, { timeout: 600_000 }, async () => {
      const r = await searchBrokenCore(c);
      expect(r.caught, `${c.bug} not caught in ${r.searched} seeds${r.failure ? `; the failing seed:\n${formatFailure(r.failure)}` : ''}`).toBe(true);
      expect(r.invariants.some((i) => CATCHING_INVARIANTS.has(i))).toBe(true);
      expect(r.adversary).not.toBe('catalogue');
      expect(r.replay).toContain(`--bug ${c.bug}`);
      expect(r.honestPasses, `seed ${r.seed} also fails with the honest core`).toBe(true);
      console.log(
        `${c.bug}: caught at seed ${r.seed} (n=${r.n}, ${r.adversary}) by [${r.invariants.join(', ')}] after ${r.searched} seeds, ${(r.cpuMs / 1000).toFixed(1)} CPU-s`,
      );
    });
  }
});
