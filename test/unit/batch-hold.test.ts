/**
 * The primary's batch hold (ProtocolParams.batchHoldMs): an idle primary that has just answered
 * quick clients waits, at most batchHoldMs after that execution, for their next requests, so
 * closed-loop clients share one batch instead of splitting into groups that alternate.
 */
import { describe, expect, it } from 'vitest';
import { defaultParams, validateParams } from '../../src/core/replica.js';
import type { ProtocolParams, ReplicaAction, SignedPrePrepare } from '../../src/core/types.js';
import { loops } from './client-loops.js';
import { Harness } from './core-harness.js';

const put = (i: number) => ({ op: 'put' as const, key: `k${i % 5}`, value: `v${i}` });

let opCounter = 0;

/** closed loops of clients c0..c<clients-1> (each sends its next request when the last completes) until about `total` complete; then each finishes the one it has out */
function closedLoops(h: Harness, clients: number, total: number): void {
  const ids = Array.from({ length: clients }, (_, i) => `c${i}`);
  const seen = new Map(ids.map((id) => [id, h.results.get(id)?.length ?? 0]));
  const outstanding = new Set(ids);
  let done = 0;
  for (const id of ids) h.submit(id, put(opCounter++));
  while (outstanding.size > 0) {
    const progressed = h.run(() => ids.some((id) => (h.results.get(id)?.length ?? 0) > seen.get(id)!), 10_000);
    if (!progressed) throw new Error(`stuck after ${done} of ${total} at t=${h.now}`);
    for (const id of ids) {
      const got = h.results.get(id)?.length ?? 0;
      if (got > seen.get(id)!) {
        done += got - seen.get(id)!;
        seen.set(id, got);
        if (done < total) h.submit(id, put(opCounter++));
        else outstanding.delete(id);
      }
    }
  }
}

function prePrepares(h: Harness, replica = 0): SignedPrePrepare[] {
  return h.actions
    .filter((x) => x.replica === replica && x.action.type === 'multicast' && (x.action.msg as SignedPrePrepare).body?.type === 'pre-prepare')
    .map((x) => (x.action as Extract<ReplicaAction, { type: 'multicast' }>).msg as SignedPrePrepare);
}

const holdTimers = (h: Harness) => h.actions.filter((x) => x.action.type === 'setTimer' && x.action.name === 'batch-hold').length;

function meanBatch(params: Partial<ProtocolParams>, clients: number, total: number): { mean: number; holds: number } {
  const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, ...params });
  closedLoops(h, clients, total);
  const pps = prePrepares(h).filter((pp) => pp.batch.length > 0);
  return { mean: pps.reduce((s, pp) => s + pp.batch.length, 0) / pps.length, holds: holdTimers(h) };
}

describe('batch hold', () => {
  it('closed-loop clients share batches: larger batches with the hold than without', () => {
    const without = meanBatch({ batchHoldMs: 0 }, 4, 200);
    const withHold = meanBatch({ batchHoldMs: 10 }, 4, 200);
    expect(without.holds).toBe(0);
    expect(withHold.holds).toBeGreaterThan(0);
    expect(withHold.mean).toBeGreaterThan(without.mean * 1.3);
    expect(withHold.mean).toBeGreaterThan(3.5);
  });

  it('a single client never waits: no hold, one request per batch, as fast as without', () => {
    const time = (batchHoldMs: number) => {
      const h = new Harness(4, { batchHoldMs });
      h.runOps(
        'c0',
        Array.from({ length: 20 }, (_, i) => put(i)),
      );
      return { now: h.now, holds: holdTimers(h) };
    };
    const a = time(0);
    const b = time(50);
    expect(b.holds).toBe(0);
    expect(b.now).toBe(a.now);
  });

  it('a quick client that stops holds the others once, for at most a window after the first client back', () => {
    const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: 40 });
    // the virtual time of every action of the primary
    const at: number[] = [];
    const apply = h.apply.bind(h);
    h.apply = (i, actions) => {
      if (i === 0) for (const _ of actions) at.push(h.now);
      apply(i, actions);
    };
    const mine = () => h.actions.map((x, k) => ({ ...x, k })).filter((x) => x.replica === 0);
    const timeOf = new Map<number, number>();
    for (const x of mine()) timeOf.set(x.k, 0); // boot
    let seen = 0;
    const stamp = () => {
      for (const x of mine()) if (!timeOf.has(x.k)) timeOf.set(x.k, at[seen++]!);
    };
    // c0..c2 in closed loops; after 30 completions c2 stops, c0 and c1 go on for 30 more
    const ids = ['c0', 'c1', 'c2'];
    const count = new Map(ids.map((id) => [id, 0]));
    let done = 0;
    let c2Stopped = -1;
    for (const id of ids) h.submit(id, put(opCounter++));
    const live = new Set(ids);
    while (live.size > 0) {
      expect(h.run(() => ids.some((id) => (h.results.get(id)?.length ?? 0) > count.get(id)!), 10_000)).toBe(true);
      stamp();
      for (const id of ids) {
        const got = h.results.get(id)?.length ?? 0;
        if (got === count.get(id)) continue;
        done += got - count.get(id)!;
        count.set(id, got);
        if ((id === 'c2' && done >= 30) || done >= 60) {
          if (id === 'c2' && c2Stopped < 0) c2Stopped = h.now;
          live.delete(id);
        } else h.submit(id, put(opCounter++));
      }
    }
    expect(c2Stopped).toBeGreaterThan(0);
    // for each request the primary logged, the wait until the pre-prepare that carried it
    const acts = mine();
    const waits: { client: string; t: number; waitMs: number }[] = [];
    for (const x of acts) {
      if (x.action.type !== 'log' || x.action.event.phase !== 'request') continue;
      const client = x.action.event.client!;
      const ts = x.action.event.timestamp!;
      const pp = acts.find(
        (y) =>
          y.k > x.k &&
          y.action.type === 'multicast' &&
          (y.action.msg as SignedPrePrepare).body.type === 'pre-prepare' &&
          (y.action.msg as SignedPrePrepare).batch.some((r) => r.body.client === client && r.body.timestamp === ts),
      );
      if (pp) waits.push({ client, t: timeOf.get(x.k)!, waitMs: timeOf.get(pp.k)! - timeOf.get(x.k)! });
    }
    const after = waits.filter((w) => w.t > c2Stopped);
    expect(after.length).toBeGreaterThan(20);
    // never longer than the window; once about the window (c2 awaited, not coming), then at most a round
    expect(Math.max(...waits.map((w) => w.waitMs))).toBeLessThanOrEqual(40);
    const long = after.filter((w) => w.waitMs > 12);
    expect(long.length).toBeGreaterThanOrEqual(1);
    expect(long.length).toBeLessThanOrEqual(2); // c0's and c1's requests of that one batch
    expect(new Set(long.map((w) => w.t)).size).toBeLessThanOrEqual(2);
  });

  it('a client that comes back just after each hold expires is not waited for again for a while', () => {
    // c2 (Byzantine, say) sends its next request 1 ms after the window its absence held open: by
    // proposals it came back at once, so without the penalty every batch of c0 and c1 would wait
    const W = 25;
    const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: W });
    const start = h.now;
    let honest = 0;
    // c2 is quick for its first 10 requests, then comes back just after each window
    loops(
      h,
      ['c0', 'c1', 'c2'],
      (id, n) => {
        if (id === 'c2') return n > 10 ? W + 1 : 0;
        honest++;
        return 0;
      },
      () => honest >= 200,
    );
    const proposals = prePrepares(h).length;
    const elapsed = h.now - start;
    // (the window ends batchHoldMs after the first client back, c0 or c1, 1 ms after the answers:
    // c2's request reaches the primary just after it)
    expect(h.replicas[0]!.status().batchHolds.ranOut).toBeGreaterThan(0);
    // the honest pair's 200 requests: about 100 batches of a few ms each, plus one window per 16
    // proposals at most; without the penalty one window per batch (about 100 x 25 ms)
    expect(elapsed).toBeLessThan(100 * 8 + (proposals / 16 + 2) * W);
  });

  it("status counts the primary's holds: those that ended with every client back and those that ran out", () => {
    const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: 25 });
    closedLoops(h, 4, 120);
    const held = h.replicas[0]!.status().batchHolds;
    expect(held.started).toBeGreaterThan(5);
    expect(held.allBack).toBeGreaterThan(held.started / 2);
    expect(held.allBack + held.ranOut).toBeLessThanOrEqual(held.started);
    expect(h.replicas[1]!.status().batchHolds).toEqual({ started: 0, allBack: 0, ranOut: 0, waitedOn: 0 }); // backups never hold
    // a fresh cluster whose c3 comes back after the window from its 30th answer on: that hold runs out
    const g = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: 25 });
    let before = g.replicas[0]!.status().batchHolds;
    loops(
      g,
      ['c0', 'c1', 'c2', 'c3'],
      (id, n) => {
        if (id !== 'c3' || n < 30) return 0;
        if (n === 30) before = g.replicas[0]!.status().batchHolds;
        return 40;
      },
      () => (g.results.get('c3')?.length ?? 0) >= 45,
    );
    const after = g.replicas[0]!.status().batchHolds;
    expect(before.ranOut).toBe(0);
    expect(after.started).toBeGreaterThan(before.started);
    expect(after.ranOut).toBeGreaterThan(before.ranOut);
  });

  it('clients whose cycle outlasts a window stay in one batch: the hold waits on until the first is back, then a window for the rest', () => {
    // each client sends its next request 40 ms after its answer (a slow machine, or n >= 7: the
    // clients await f+1 replies), staggered by a millisecond; the window is 25 ms. Counted from the
    // execution alone the window ran out with none back, and they went out one or two at a time.
    const W = 25;
    const run = (limitWindows: boolean, c3LateMs = 0) => {
      const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: W, viewChangeTimeoutMs: limitWindows ? 1000 : 4 * W });
      const ids = ['c0', 'c1', 'c2', 'c3'];
      loops(h, ids, (id, n) => (n >= 40 ? null : n <= 2 ? 0 : 40 + Number(id.slice(1)) + (id === 'c3' ? c3LateMs : 0)));
      const pps = prePrepares(h).filter((pp) => pp.batch.length > 0);
      return { mean: pps.reduce((s, pp) => s + pp.batch.length, 0) / pps.length, holds: h.replicas[0]!.status().batchHolds };
    };
    const slow = run(true);
    expect(slow.holds.waitedOn).toBeGreaterThan(10);
    expect(slow.holds.ranOut).toBeLessThanOrEqual(2);
    expect(slow.mean).toBeGreaterThan(3.5);
    // with a view-change timeout that allows no more than one window (a quarter of it), the hold
    // cannot wait on: it runs out, and the batches split as before
    const capped = run(false);
    expect(capped.holds.waitedOn).toBe(0);
    expect(capped.mean).toBeLessThan(slow.mean / 2);
    // the window runs from the first client back: c3, more than a window behind the others, is
    // not waited for (the hold does not last to its limit for it), and then not for a while
    const late = run(true, W + 8);
    expect(late.holds.ranOut).toBeGreaterThan(slow.holds.ranOut);
    expect(late.holds.ranOut).toBeLessThan(late.holds.started / 4);
  });

  it("a primary that executes after its clients' next requests arrived does not wait for them", () => {
    // COMMITs reach the primary 12 ms late: the clients have their f+1 replies from the backups
    // and their next requests are at the primary before it executes. They are back already:
    // awaiting them would hold every batch to the limit (they cannot come back again).
    const run = (lagMs: number) => {
      const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: 25 });
      h.delay = (_from, to, msg) => (to === 0 && (msg as { body?: { type?: string } }).body?.type === 'commit' ? lagMs : 1);
      const start = h.now;
      loops(h, ['c0', 'c1', 'c2', 'c3'], (_, n) => (n >= 30 ? null : 0));
      return { ms: h.now - start, holds: h.replicas[0]!.status().batchHolds };
    };
    const lagging = run(12);
    expect(lagging.holds.waitedOn).toBe(0);
    expect(lagging.holds.ranOut).toBeLessThanOrEqual(1);
    // about one cycle (commit lag + a few ms) per batch of four: 30 batches
    expect(lagging.ms).toBeLessThan(30 * (12 + 10));
  });

  it('the window runs from the first client back, unless the view-change timeout allows no more than one window', () => {
    // c0..c2 come back 5 ms after their answers, c3 a window after its: within a window of the
    // first one back, but not of the execution
    const W = 25;
    const run = (viewChangeTimeoutMs: number) => {
      const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: W, viewChangeTimeoutMs });
      loops(h, ['c0', 'c1', 'c2', 'c3'], (id, n) => (n >= 40 ? null : n <= 2 ? 0 : id === 'c3' ? W : 5));
      return h.replicas[0]!.status().batchHolds;
    };
    const fromFirst = run(1000);
    expect(fromFirst.ranOut).toBeLessThanOrEqual(1);
    expect(fromFirst.allBack).toBeGreaterThan(20);
    // viewChangeTimeoutMs 4W: a hold lasts at most one window from the execution, as before
    const oneWindow = run(4 * W);
    expect(oneWindow.ranOut).toBeGreaterThan(fromFirst.ranOut);
  });

  it('none of the clients comes back: the hold ends at its limit, four windows (within a quarter of the view-change timeout)', () => {
    for (const [W, vc, limit] of [
      [25, 1000, 100],
      [25, 200, 50],
    ] as const) {
      const h = new Harness(4, { maxBatchSize: 8, maxInFlight: 4, batchHoldMs: W, viewChangeTimeoutMs: vc });
      // c0..c2 in closed loops, all stopping after the same batch; then c3's request
      const ids = ['c0', 'c1', 'c2'];
      loops(h, ids, (_, n) => (n >= 20 ? null : 0));
      const before = h.replicas[0]!.status().batchHolds;
      const t0 = h.now;
      h.submit('c3', put(opCounter++));
      expect(h.run(() => (h.results.get('c3')?.length ?? 0) > 0, 10_000)).toBe(true);
      const after = h.replicas[0]!.status().batchHolds;
      expect(after.ranOut - before.ranOut).toBe(1);
      // c3's request waited for the held clients until the limit, then went through in a few ms
      expect(h.now - t0).toBeGreaterThan(limit - 10);
      expect(h.now - t0).toBeLessThan(limit + 10);
    }
  });

  it('with holds on, a crashed primary is replaced and the held clients complete in the new view', () => {
    const h = new Harness(4, { maxBatchSize: 16, maxInFlight: 4, batchHoldMs: 200 });
    closedLoops(h, 3, 30);
    h.crash(0);
    h.submit('c0', put(2000));
    const ok = h.run(() => (h.results.get('c0')?.length ?? 0) > 0 && h.replicas[1]!.status().view >= 1 && h.executed(1).length > 0, 60_000);
    expect(ok).toBe(true);
    expect(h.replicas[1]!.status().view).toBeGreaterThanOrEqual(1);
  });

  it('parameters: a hold above a quarter of the view-change timeout is refused', () => {
    expect(() => validateParams(defaultParams(4, { batchHoldMs: 251, viewChangeTimeoutMs: 1000 }))).toThrow(/batchHoldMs/);
    expect(() => validateParams(defaultParams(4, { batchHoldMs: 250, viewChangeTimeoutMs: 1000 }))).not.toThrow();
    expect(() => validateParams(defaultParams(4, { batchHoldMs: -1 }))).toThrow(/batchHoldMs/);
    expect(defaultParams(4).batchHoldMs).toBe(25);
  });
});
