/**
 * Liveness without faults: no loss, no partitions, no crashes, no Byzantine replicas => every
 * request every client issued completes, and the checkers (liveness included) find nothing.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/sim/simulator.js';

describe('fault-free runs', () => {
  for (const n of [4, 5, 7, 10]) {
    it(`n=${n}: every request completes`, () => {
      for (let seed = 0; seed < 12; seed++) {
        const r = simulate({ seed, n, faults: false });
        expect(r.violations, `seed ${seed}: ${r.replay}`).toEqual([]);
        expect(r.ok).toBe(true);
        expect(r.stats.issuedRequests).toBeGreaterThan(0);
        expect(r.stats.completedRequests, `seed ${seed}`).toBe(r.stats.issuedRequests);
        expect(r.stats.crashes + r.stats.partitions + r.stats.messagesDropped + r.stats.messagesDuplicated).toBe(0);
        expect(r.byzantine).toEqual([]);
        expect(r.replay).toContain('--no-faults');
      }
    });
  }
});
