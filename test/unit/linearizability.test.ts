import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkKvHistory, type HistoryOp } from '../../src/sim/linearizability.js';
import type { KvOp } from '../../src/app/kv.js';

const put = (key: string, value: string): KvOp => ({ op: 'put', key, value });
const get = (key: string): KvOp => ({ op: 'get', key });
const del = (key: string): KvOp => ({ op: 'del', key });
const ok = (value: string | null) => ({ ok: true as const, value });

function h(client: string, op: KvOp, invokeMs: number, completeMs?: number, value?: string | null): HistoryOp {
  const x: HistoryOp = { client, op, invokeMs };
  if (completeMs !== undefined) {
    x.completeMs = completeMs;
    x.result = ok(value === undefined ? null : value);
  }
  return x;
}

describe('linearizability: classic histories', () => {
  it('accepts a sequential history that follows the KV semantics (put/del return the previous value, get the current)', () => {
    const r = checkKvHistory([
      h('a', put('k', '1'), 0, 10, null),
      h('a', get('k'), 20, 30, '1'),
      h('a', put('k', '2'), 40, 50, '1'),
      h('a', del('k'), 60, 70, '2'),
      h('a', get('k'), 80, 90, null),
    ]);
    expect(r).toEqual({ ok: true });
  });

  it('rejects a stale read: a get after a completed put returns the old value', () => {
    const r = checkKvHistory([h('a', put('k', '1'), 0, 10, null), h('b', get('k'), 20, 30, null)]);
    expect(r.ok).toBe(false);
    if (r.ok === false) {
      expect(r.key).toBe('k');
      expect(r.message).toContain('b get("k") -> null [20ms, 30ms]');
      expect(r.message).toContain('needs the value to be null');
    }
  });

  it('rejects a lost update: two concurrent puts that both saw the empty key', () => {
    const r = checkKvHistory([h('a', put('k', '1'), 0, 10, null), h('b', put('k', '2'), 0, 10, null)]);
    expect(r.ok).toBe(false);
  });

  it('accepts concurrent operations that can be ordered (a read that overlaps the write sees it)', () => {
    expect(checkKvHistory([h('a', put('k', '1'), 0, 10, null), h('b', get('k'), 1, 5, '1')])).toEqual({ ok: true });
    // ... or does not see it yet
    expect(checkKvHistory([h('a', put('k', '1'), 0, 10, null), h('b', get('k'), 1, 5, null)])).toEqual({ ok: true });
    // concurrent puts, each returning the other's value: ordered 2 then 1... impossible both ways
    expect(checkKvHistory([h('a', put('k', '1'), 0, 10, '2'), h('b', put('k', '2'), 0, 10, '1')]).ok).toBe(false);
    // one of them saw the other
    expect(checkKvHistory([h('a', put('k', '1'), 0, 10, '2'), h('b', put('k', '2'), 0, 10, null)])).toEqual({ ok: true });
  });

  it('requires real-time order: a read that starts after a read that saw the new value cannot see the old one', () => {
    const r = checkKvHistory([h('w', put('k', '1'), 0, 100, null), h('r1', get('k'), 10, 20, '1'), h('r2', get('k'), 30, 40, null)]);
    expect(r.ok).toBe(false);
  });

  it('lets an operation that never completed take effect or not', () => {
    const pending = h('a', put('k', 'x'), 0);
    expect(checkKvHistory([pending, h('b', get('k'), 10, 20, 'x')])).toEqual({ ok: true });
    expect(checkKvHistory([pending, h('b', get('k'), 10, 20, null)])).toEqual({ ok: true });
    // but it cannot explain a value nobody wrote, nor take effect before it was invoked
    expect(checkKvHistory([pending, h('b', get('k'), 10, 20, 'y')]).ok).toBe(false);
    expect(checkKvHistory([h('b', get('k'), 0, 5, 'x'), h('a', put('k', 'x'), 10)]).ok).toBe(false);
  });

  it('checks keys independently and names the failing one', () => {
    const r = checkKvHistory([
      h('a', put('k1', '1'), 0, 10, null),
      h('a', put('k2', '1'), 20, 30, null),
      h('b', get('k1'), 40, 50, '1'),
      h('b', get('k2'), 60, 70, 'zzz'),
    ]);
    expect(r).toMatchObject({ ok: false, key: 'k2' });
  });

  it('treats an error result for a valid operation as a violation', () => {
    const x: HistoryOp = { client: 'a', op: get('k'), invokeMs: 0, completeMs: 1, result: { ok: false, error: 'boom' } };
    expect(checkKvHistory([x])).toMatchObject({ ok: false, key: 'k' });
  });

  it('uses the event order when given, so equal times are not mistaken for concurrency', () => {
    // same millisecond: by times they overlap (lenient), by order the put completed first
    const w: HistoryOp = { ...h('a', put('k', '1'), 5, 5, null), invokeOrder: 0, completeOrder: 1 };
    const r: HistoryOp = { ...h('b', get('k'), 5, 5, null), invokeOrder: 2, completeOrder: 3 };
    expect(checkKvHistory([w, r]).ok).toBe(false);
    const { invokeOrder: _a, completeOrder: _b, ...w2 } = w;
    const { invokeOrder: _c, completeOrder: _d, ...r2 } = r;
    expect(checkKvHistory([w2, r2])).toEqual({ ok: true });
  });

  it('gives up with "unknown" at the step bound instead of searching forever', () => {
    // many fully concurrent incomplete puts and a final get of a value never written: the search
    // has to rule out every order, which is exponential without the bound
    const ops: HistoryOp[] = [];
    for (let i = 0; i < 40; i++) ops.push(h(`c${i}`, put('k', `v${i}`), 0));
    ops.push(h('r', get('k'), 1, 2, 'never'));
    const r = checkKvHistory(ops, { maxStepsPerKey: 5_000 });
    expect(r.ok).toBe('unknown');
  });

  it('stays fast on a long sequential history (memoisation)', () => {
    const ops: HistoryOp[] = [];
    let prev: string | null = null;
    for (let i = 0; i < 3000; i++) {
      ops.push(h('a', put('k', String(i)), i * 10, i * 10 + 5, prev));
      prev = String(i);
    }
    expect(checkKvHistory(ops)).toEqual({ ok: true });
  });
});

describe('linearizability: property', () => {
  /** a sequential execution with linearization points 10 ms apart, intervals drawn around them */
  const arbHistory = fc
    .array(
      fc.record({
        kind: fc.constantFrom('put', 'get', 'del'),
        key: fc.constantFrom('k0', 'k1', 'k2'),
        value: fc.constantFrom('a', 'b', 'c', 'd'),
        client: fc.constantFrom('c0', 'c1', 'c2', 'c3'),
        before: fc.integer({ min: 0, max: 40 }),
        after: fc.integer({ min: 0, max: 40 }),
        incomplete: fc.boolean(),
      }),
      { minLength: 1, maxLength: 40 },
    )
    .map((steps) => {
      const state = new Map<string, string>();
      return steps.map((s, i) => {
        const op: KvOp = s.kind === 'put' ? put(s.key, s.value) : s.kind === 'get' ? get(s.key) : del(s.key);
        const prev = state.get(s.key) ?? null;
        if (s.kind === 'put') state.set(s.key, s.value);
        else if (s.kind === 'del') state.delete(s.key);
        const point = 100 + i * 10;
        const x: HistoryOp = { client: s.client, op, invokeMs: point - s.before };
        // an incomplete operation still took effect at its point: the checker must allow that
        if (!(s.incomplete && i % 3 === 0)) {
          x.completeMs = point + s.after;
          x.result = ok(prev);
        }
        return x;
      });
    });

  it('histories generated from a sequential execution with random overlapping intervals are linearizable', () => {
    fc.assert(
      fc.property(arbHistory, (hist) => {
        expect(checkKvHistory(hist)).toEqual({ ok: true });
      }),
      { numRuns: 300 },
    );
  });

  it('and changing one result to a value nobody wrote makes them non-linearizable', () => {
    fc.assert(
      fc.property(arbHistory, fc.nat(), (hist, at) => {
        const done = hist.filter((x) => x.result !== undefined);
        fc.pre(done.length > 0);
        const victim = done[at % done.length]!;
        victim.result = ok('never-written');
        expect(checkKvHistory(hist)).toMatchObject({ ok: false, key: victim.op.key });
      }),
      { numRuns: 300 },
    );
  });
});
