/**
 * Closed-loop clients for core-harness tests of the batch hold (batch-hold.test.ts,
 * batch-hold-abuse.test.ts).
 */
import type { Harness } from './core-harness.js';

let opCounter = 0;
/** a put of one of five keys, a new value each time */
export const nextPut = () => {
  const i = opCounter++;
  return { op: 'put' as const, key: `k${i % 5}`, value: `v${i}` };
};

/**
 * Clients in closed loops: each sends its next request `nextAfterMs(id, n)` ms after its n-th
 * completes (0: at once; null: it stops), until every client has stopped or `until()` holds.
 */
export function loops(h: Harness, ids: string[], nextAfterMs: (id: string, n: number) => number | null, until: () => boolean = () => false): void {
  const schedule = (h as unknown as { schedule(ms: number, run: () => void): void }).schedule.bind(h);
  const count = new Map(ids.map((id) => [id, h.results.get(id)?.length ?? 0]));
  const live = new Set(ids);
  for (const id of ids) h.submit(id, nextPut());
  while (live.size > 0 && !until()) {
    if (!h.run(() => ids.some((id) => (h.results.get(id)?.length ?? 0) > count.get(id)!), 10_000)) throw new Error(`stuck at t=${h.now}`);
    for (const id of ids) {
      const got = h.results.get(id)?.length ?? 0;
      if (got === count.get(id)) continue;
      count.set(id, got);
      const ms = nextAfterMs(id, got);
      if (ms === null) live.delete(id);
      else if (ms === 0) h.submit(id, nextPut());
      else schedule(ms, () => h.submit(id, nextPut()));
    }
  }
}
