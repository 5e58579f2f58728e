/**
 * The batch hold under a client that times its returns against it (from a review, session 19).
 * Two ways one client slows everyone else, bounded per batch but not penalised, are KNOWN
 * PROBLEMS, written as the properties we want and marked it.fails until the hold is fixed
 * (README, Performance: "A client that times its returns"): (a1) a client that comes back just
 * inside the window ends every hold "all back", so it is never treated as a miss and costs a
 * window per batch for ever; (a2) one quick client alone, back just before the limit, holds a
 * lone honest client (not quick itself: nothing else was pending) to about the limit per
 * request. What holds: no hold delays a request into a view change (backups' timers).
 */
import { describe, expect, it } from 'vitest';
import { loops } from './client-loops.js';
import { Harness } from './core-harness.js';

const vcs = (h: Harness) => h.actions.filter((x) => x.action.type === 'log' && (x.action as { event: { phase: string } }).event.phase === 'view-change').length;

describe('batch hold against a client that times its returns', () => {
  it.fails('(a1, known problem) a client back just inside the window costs the others no more than one back just after it', () => {
    const W = 25;
    const run = (c2Ms: number) => {
      const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: W });
      let honest = 0;
      const t0 = h.now;
      loops(
        h,
        ['c0', 'c1', 'c2'],
        (id, n) => {
          if (id === 'c2') return n > 10 ? c2Ms : 0;
          honest++;
          return 0;
        },
        () => honest >= 200,
      );
      return { ms: h.now - t0, ...h.replicas[0]!.status().batchHolds };
    };
    const late = run(W + 1);
    const inside = run(W - 3);
    // today: inside about 2,460 ms (a window per batch, never penalised), late about 1,000 ms
    expect(inside.ms).toBeLessThanOrEqual(late.ms);
  });

  it.fails('(a2, known problem) one client alone does not hold a lone honest client past about a window per request', () => {
    const W = 25;
    const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: W });
    const t0 = h.now;
    loops(
      h,
      ['c0', 'c2'],
      (id, n) => (id === 'c2' ? (n > 10 ? 95 : 1) : n >= 60 ? null : 0),
      () => (h.results.get('c0')?.length ?? 0) >= 60,
    );
    // today: about 81 ms per request (the limit, 100 ms, is four windows), against 6.8 ms alone
    expect((h.now - t0) / 60).toBeLessThanOrEqual(W + 10);
  });

  it('(c) a client pacing the holds at the limit causes no view change, with requests at every backup', () => {
    for (const [W, vc, c2Ms] of [
      [25, 100, 20],
      [25, 100, 40],
      [250, 1000, 240],
      [25, 1000, 95],
    ] as const) {
      const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: W, viewChangeTimeoutMs: vc });
      const hh = h as unknown as { deliver(from: unknown, to: number, msg: unknown, asReq?: boolean): void };
      const d = hh.deliver.bind(h);
      // every client request reaches the backups too, so their request timers run
      hh.deliver = (from, to, msg, asReq) => {
        d(from, to, msg, asReq);
        if (asReq && typeof from === 'string' && from !== 'client' && to === 0) for (let j = 1; j < 4; j++) d(from, j, msg, true);
      };
      loops(
        h,
        ['c0', 'c1', 'c2'],
        (id, n) => (id === 'c2' ? (n > 10 ? c2Ms : 1) : n >= 80 ? null : 0),
        () => (h.results.get('c0')?.length ?? 0) >= 80,
      );
      expect(h.replicas[1]!.status().view, `window ${W} ms, view-change timeout ${vc} ms, client back after ${c2Ms} ms`).toBe(0);
      expect(vcs(h)).toBe(0);
    }
  });
});
