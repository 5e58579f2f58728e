/**
 * bench: no MaxListenersExceededWarning however many clients (each request listens for 'abort'
 * on the signal it is given: one signal per client, one listener on the caller's), and the
 * replicas' work during a run (mean batch at the primary, CPU seconds per replica).
 */
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { runBench, type BenchClient } from '../../src/cluster/bench.js';
import { formatReplicaWork, procCpuSeconds, replicaWork, type ReplicaCounters } from '../../src/cluster/bench-cluster.js';

/** A client that, like PbftClient, adds an 'abort' listener per request and removes it after. */
function listeningClient(seen: { maxOnOneSignal: number; signals: Set<AbortSignal> }, caller?: AbortSignal): BenchClient {
  return {
    request: (_op, o) =>
      new Promise((resolve, reject) => {
        const onAbort = () => {
          clearTimeout(t);
          reject(new Error('aborted'));
        };
        const t = setTimeout(() => {
          o.signal?.removeEventListener('abort', onAbort);
          resolve({});
        }, 2);
        o.signal?.addEventListener('abort', onAbort, { once: true });
        if (o.signal) {
          seen.signals.add(o.signal);
          seen.maxOnOneSignal = Math.max(seen.maxOnOneSignal, getEventListeners(o.signal, 'abort').length);
        }
        if (caller) seen.maxOnOneSignal = Math.max(seen.maxOnOneSignal, getEventListeners(caller, 'abort').length);
      }),
    close: () => undefined,
  };
}

describe('runBench with many clients', () => {
  it('20 clients: one abort listener per signal, no MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const seen = { maxOnOneSignal: 0, signals: new Set<AbortSignal>() };
      const caller = new AbortController();
      const res = await runBench({
        clients: 20,
        durationMs: 100,
        valueSize: 4,
        requestTimeoutMs: 1000,
        signal: caller.signal,
        makeClient: async () => listeningClient(seen, caller.signal),
      });
      expect(res.completed).toBeGreaterThan(0);
      expect(res.errors).toBe(0);
      expect(seen.signals.size).toBe(20); // each client has its own signal
      expect(seen.maxOnOneSignal).toBe(1);
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0); // and runBench removed its own
      // a warning is emitted on the next tick: let it arrive if there were one
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('interrupting 20 clients aborts every request in flight and is not counted as errors', async () => {
    const seen = { maxOnOneSignal: 0, signals: new Set<AbortSignal>() };
    const caller = new AbortController();
    const run = runBench({
      clients: 20,
      durationMs: 60_000,
      valueSize: 1,
      requestTimeoutMs: 1000,
      signal: caller.signal,
      makeClient: async () => listeningClient(seen),
    });
    setTimeout(() => caller.abort(), 30);
    const r = await run;
    expect(r.aborted).toBe(true);
    expect(r.errors).toBe(0);
    expect([...seen.signals].every((s) => s.aborted)).toBe(true);
  });

  it('onStart runs once every client is connected, before the first request', async () => {
    const events: string[] = [];
    await runBench({
      clients: 3,
      durationMs: 20,
      valueSize: 1,
      requestTimeoutMs: 1000,
      makeClient: async (i) => {
        events.push(`connect ${i}`);
        return { request: async () => void events.push('request'), close: () => undefined };
      },
      onStart: async () => void events.push('start'),
    });
    expect(events.slice(0, 4)).toEqual(['connect 0', 'connect 1', 'connect 2', 'start']);
    expect(events.indexOf('request')).toBe(4);
  });
});

describe("the replicas' work during a run", () => {
  const c = (
    id: number,
    pid: number,
    cpu: number | null,
    pp: number | null,
    reqs: number | null,
    primary = 0,
    batchHolds: ReplicaCounters['batchHolds'] = null,
  ): ReplicaCounters => ({
    id,
    pid,
    view: 0,
    primary,
    cpuSeconds: cpu,
    prePrepares: pp,
    batchedRequests: reqs,
    auth: null,
    batchHolds,
  });

  it('batch holds: summed over the replicas, shown with the window, and a hint when many ran out', () => {
    const holds = (started: number, allBack: number, ranOut: number, waitedOn = 0) => ({ started, allBack, ranOut, waitedOn });
    const before = [c(0, 10, 1, 10, 20, 0, holds(5, 4, 1)), c(1, 11, 1, 0, 0, 0, holds(0, 0, 0)), c(2, 12, 1, 0, 0, 0, null)];
    const fine = replicaWork(before, [c(0, 10, 2, 110, 420, 0, holds(105, 100, 5, 7)), c(1, 11, 2, 0, 0, 0, holds(0, 0, 0)), c(2, 12, 2, 0, 0, 0, null)]);
    expect(fine.batchHolds).toEqual({ started: 100, allBack: 96, ranOut: 4, waitedOn: 7 });
    const lines = formatReplicaWork(fine, 10_000, { ms: 25, maxMs: 250 });
    expect(lines).toContain(
      'batch hold   100 waits for the clients just answered: 96 ended with all of them back, 4 ran out (protocol.batchHoldMs 25); 7 windows ended with none back yet and waited on',
    );
    // replicas from before waitedOn was counted: the line without it
    const older = replicaWork(
      [c(0, 10, 1, 10, 20, 0, { started: 5, allBack: 4, ranOut: 1 } as unknown as ReturnType<typeof holds>)],
      [c(0, 10, 2, 110, 420, 0, { started: 105, allBack: 100, ranOut: 5 } as unknown as ReturnType<typeof holds>)],
    );
    expect(older.batchHolds).toEqual({ started: 100, allBack: 96, ranOut: 4, waitedOn: 0 });
    expect(formatReplicaWork(older, 10_000, { ms: 25, maxMs: 250 })).toContain(
      'batch hold   100 waits for the clients just answered: 96 ended with all of them back, 4 ran out (protocol.batchHoldMs 25)',
    );
    expect(lines.join('\n')).not.toMatch(/ran out: the clients came back further apart/);
    // after a view change the new primary's holds count too; 40% ran out: the hint
    const split = replicaWork(before, [c(0, 10, 2, 30, 90, 1, holds(25, 16, 9)), c(1, 11, 2, 40, 80, 1, holds(30, 20, 10)), c(2, 12, 2, 0, 0, 1, null)]);
    expect(split.batchHolds).toEqual({ started: 50, allBack: 32, ranOut: 18, waitedOn: 0 });
    const hint = formatReplicaWork(split, 10_000, { ms: 25, maxMs: 250 }).find((l) => l.includes('ran out: the clients came back further apart'));
    expect(hint).toMatch(/36% ran out: .* a larger protocol\.batchHoldMs in cluster\.json \(e\.g\. 100\) keeps them in one/);
    // the suggestion stays within the longest window allowed; at the longest, it says so
    expect(formatReplicaWork(split, 10_000, { ms: 100, maxMs: 250 }).join('\n')).toMatch(/larger protocol\.batchHoldMs in cluster\.json \(e\.g\. 250\)/);
    expect(formatReplicaWork(split, 10_000, { ms: 250, maxMs: 250 }).join('\n')).toMatch(
      /the window is at its longest \(a quarter of protocol\.viewChangeTimeoutMs, 250 ms\)/,
    );
    // too few holds to judge, or no counters (older replicas): no hold line, no hint
    const few = replicaWork(before, [c(0, 10, 2, 12, 30, 0, holds(8, 5, 3))]);
    expect(formatReplicaWork(few, 10_000, { ms: 25, maxMs: 250 }).some((l) => l.includes('came back further apart'))).toBe(false);
    expect(replicaWork([c(0, 10, 1, 1, 1)], [c(0, 10, 2, 2, 2)]).batchHolds).toBeNull();
    expect(
      formatReplicaWork(replicaWork([c(0, 10, 1, 1, 1)], [c(0, 10, 2, 2, 2)]), 10_000, { ms: 25, maxMs: 250 }).some((l) => l.startsWith('batch hold')),
    ).toBe(false);
  });

  it('mean batch over every primary of the run, CPU seconds per replica; a restarted replica is left out', () => {
    const before = [c(0, 10, 1.5, 100, 150), c(1, 11, 1.0, 0, 0), c(2, 12, 2.0, 0, 0), c(3, 13, 0.5, 0, 0)];
    const after = [c(0, 10, 4.0, 300, 950), c(1, 11, 3.0, 0, 0), c(2, 12, 3.0, 0, 0), c(3, 99, 0.2, 0, 0)];
    const w = replicaWork(before, after);
    expect(w.meanBatch).toBe(4);
    expect(w.prePrepares).toBe(200);
    expect(w.primary).toBe(0);
    expect(w.cpuSeconds).toEqual([
      { id: 0, seconds: 2.5 },
      { id: 1, seconds: 2 },
      { id: 2, seconds: 1 },
    ]);
    expect(formatReplicaWork(w, 10_000)).toEqual([
      'batching     mean 4.00 requests per pre-prepare at the primary (r0), 200 pre-prepares',
      'replica CPU  r0 2.50 s, r1 2.00 s, r2 1.00 s  (user + system during the run; 10.0 s of wall time)',
    ]);
  });

  it('older replicas (no batching in their status) give no mean batch, but CPU from /proc', async () => {
    const w = replicaWork([c(0, 10, 1, null, null)], [c(0, 10, 2, null, null)]);
    expect(w.meanBatch).toBeNull();
    expect(formatReplicaWork(w, 1000)).toHaveLength(1);
    if (process.platform === 'linux') {
      const s = await procCpuSeconds(process.pid);
      expect(s).toBeGreaterThan(0);
    }
    expect(await procCpuSeconds(2 ** 30)).toBeNull();
  });
});

describe('runBench warm-up', () => {
  /** A client whose requests take 2 ms; fails the requests listed in `failAt` (by call number); `onDone` after each. */
  function timedClient(log: number[], failAt = new Set<number>(), onDone?: () => void): BenchClient {
    let calls = 0;
    return {
      request: (_op, o) =>
        new Promise((resolve, reject) => {
          const k = calls++;
          const t = setTimeout(() => {
            o.signal?.removeEventListener('abort', onAbort);
            log.push(performance.now());
            onDone?.();
            if (failAt.has(k)) reject(Object.assign(new Error('boom'), { code: 'BOOM' }));
            else resolve({});
          }, 2);
          const onAbort = () => {
            clearTimeout(t);
            reject(new Error('aborted'));
          };
          o.signal?.addEventListener('abort', onAbort, { once: true });
        }),
      close: () => undefined,
    };
  }

  it('runs unmeasured load first: onStart comes after it, and only requests issued in the window count', async () => {
    const done: number[] = [];
    let startedAt = Number.NaN;
    let doneBeforeStart = -1;
    // the first three requests fail: inside the warm-up, so they are not errors
    const res = await runBench({
      clients: 2,
      durationMs: 60,
      warmupMs: 60,
      valueSize: 4,
      requestTimeoutMs: 1000,
      makeClient: async (i) => timedClient(done, i === 0 ? new Set([0, 1, 2]) : new Set()),
      onStart: () => {
        startedAt = performance.now();
        doneBeforeStart = done.length;
      },
    });
    expect(doneBeforeStart).toBeGreaterThan(3); // load ran before the window opened
    expect(res.warmupMs).toBe(60);
    expect(res.warmupCompleted).toBeGreaterThan(0);
    expect(res.errors).toBe(0);
    expect(res.completed).toBeGreaterThan(0);
    // every completion counted in the window, or in the warm-up, or it is one straddling the edge
    expect(res.completed + res.warmupCompleted + 3).toBeLessThanOrEqual(done.length);
    expect(res.completed).toBeLessThanOrEqual(done.filter((t) => t >= startedAt).length);
    expect(res.elapsedMs).toBeGreaterThanOrEqual(60);
  });

  it('an interrupt during the warm-up ends the run at once: nothing measured, no listener left', async () => {
    const caller = new AbortController();
    const done: number[] = [];
    let started = false;
    // the load is visibly running once three requests have completed
    let running!: () => void;
    const threeDone = new Promise<void>((resolve) => {
      running = resolve;
    });
    const onDone = () => {
      if (done.length >= 3) running();
    };
    const run = runBench({
      clients: 3,
      durationMs: 1000,
      warmupMs: 60_000,
      valueSize: 4,
      requestTimeoutMs: 1000,
      signal: caller.signal,
      makeClient: async () => timedClient(done, new Set(), onDone),
      onStart: () => {
        started = true;
      },
    });
    await threeDone;
    caller.abort();
    const res = await run;
    expect(res.aborted).toBe(true);
    expect(started).toBe(false);
    expect(res.completed).toBe(0);
    expect(res.elapsedMs).toBe(0);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('a warm-up out of range is refused', async () => {
    await expect(
      runBench({ clients: 1, durationMs: 10, warmupMs: -1, valueSize: 1, requestTimeoutMs: 10, makeClient: async () => timedClient([]) }),
    ).rejects.toThrow(/warm-up/);
  });
});
