import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/sim/rng.js';
import { EventQueue } from '../../src/sim/queue.js';

describe('Rng', () => {
  it('is a pure function of its seed', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 100 }, () => a.u32());
    const ys = Array.from({ length: 100 }, () => b.u32());
    expect(xs).toEqual(ys);
    expect(new Rng(43).u32()).not.toBe(new Rng(42).u32());
  });

  it('keeps numbers in range', () => {
    const r = new Rng(7);
    for (let i = 0; i < 10_000; i++) {
      const f = r.float();
      expect(f >= 0 && f < 1).toBe(true);
      const k = r.int(-3, 5);
      expect(Number.isInteger(k) && k >= -3 && k <= 5).toBe(true);
    }
    expect(() => r.int(2, 1)).toThrow(RangeError);
    expect(() => r.pick([])).toThrow(RangeError);
  });

  it('covers an int range roughly uniformly', () => {
    const r = new Rng(1);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[r.int(0, 5)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(600);
  });

  it('forks sub-streams from the seed, not the state: drawing from one stream does not shift another', () => {
    const a = new Rng(99);
    const b = new Rng(99);
    for (let i = 0; i < 17; i++) a.u32();
    expect(a.fork('net').u32()).toBe(b.fork('net').u32());
    expect(a.fork('net').u32()).not.toBe(a.fork('workload').u32());
  });

  it('folds large and distinct seeds to distinct streams', () => {
    const seen = new Set<number>();
    for (const s of [0, 1, 2, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER]) seen.add(new Rng(s).u32());
    expect(seen.size).toBe(6);
    expect(() => new Rng(1.5)).toThrow(RangeError);
  });

  it('shuffles and samples without losing items', () => {
    const r = new Rng(5);
    const items = [...Array(20).keys()];
    expect([...r.shuffle(items)].sort((x, y) => x - y)).toEqual(items);
    const s = r.sample(items, 5);
    expect(new Set(s).size).toBe(5);
  });
});

describe('EventQueue', () => {
  it('pops by (time, insertion order)', () => {
    const q = new EventQueue<string>();
    q.push(5, 'c');
    q.push(1, 'a');
    q.push(5, 'd');
    q.push(1, 'b');
    q.push(0.5, 'first');
    const out: string[] = [];
    for (let e = q.pop(); e; e = q.pop()) out.push(e.ev);
    expect(out).toEqual(['first', 'a', 'b', 'c', 'd']);
  });

  it('agrees with a sort on random input', () => {
    const r = new Rng(3);
    const q = new EventQueue<number>();
    const items: { t: number; i: number }[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = r.int(0, 50);
      q.push(t, i);
      items.push({ t, i });
    }
    items.sort((a, b) => a.t - b.t || a.i - b.i);
    const out: number[] = [];
    for (let e = q.pop(); e; e = q.pop()) out.push(e.ev);
    expect(out).toEqual(items.map((x) => x.i));
  });

  it('rejects a non-finite time', () => {
    expect(() => new EventQueue<number>().push(Number.NaN, 1)).toThrow(RangeError);
  });
});
