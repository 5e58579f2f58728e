/**
 * A small seeded PRNG for the simulator: sfc32 (Chris Doty-Humphrey's Small Fast Counting
 * generator, 32-bit), seeded through splitmix32 so that nearby seeds give unrelated streams.
 *
 * `fork(label)` derives an independent sub-stream from the generator's SEED and the label,
 * not from its current state: drawing more numbers from one stream never reshuffles another,
 * so adding a feature that consumes randomness does not change every other decision of a seed.
 */

/** 32-bit FNV-1a of a string. */
export function fnv1a32(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** the 32-bit seed material this stream was built from (for fork) */
  readonly seedKey: number;

  /** `seed` may be any safe integer (or a string); it is folded to 32 bits. */
  constructor(seed: number | string) {
    const key = typeof seed === 'string' ? fnv1a32(seed) : foldSeed(seed);
    this.seedKey = key;
    const sm = splitmix32(key);
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** uniform 32-bit unsigned integer */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** uniform float in [0, 1) */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** uniform integer in [lo, hi] (inclusive) */
  int(lo: number, hi: number): number {
    if (hi < lo) throw new RangeError(`rng.int: empty range [${lo}, ${hi}]`);
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** uniform float in [lo, hi) */
  range(lo: number, hi: number): number {
    return lo + this.float() * (hi - lo);
  }

  /** true with probability p */
  bool(p = 0.5): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('rng.pick: no items');
    return items[Math.floor(this.float() * items.length)]!;
  }

  /** pick with weights (non-negative, not all zero) */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of items) total += w;
    let x = this.float() * total;
    for (const [v, w] of items) {
      if (x < w) return v;
      x -= w;
    }
    return items[items.length - 1]![0];
  }

  /** exponential with the given mean */
  exp(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  /** Fisher-Yates shuffle of a copy */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.float() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** k distinct items (k clamped to the list size) */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items).slice(0, Math.max(0, Math.min(k, items.length)));
  }

  /** an independent stream named by label, derived from this stream's seed (not its state) */
  fork(label: string): Rng {
    return new Rng(`${this.seedKey}/${label}`);
  }

  /** a () => number in [0,1) view, for components that take a plain function */
  fn(): () => number {
    return () => this.float();
  }
}

/** Fold any safe integer (possibly above 2^32 or negative) into 32 bits, keeping distinct small seeds distinct. */
function foldSeed(seed: number): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return (lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0;
}
