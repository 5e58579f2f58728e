/**
 * The simulator's fast paths give the same answers as the plain computations they replace:
 * canonical encoding (one pass, remembered for frozen objects), the sim signature scheme's
 * remembered tags, and the per-object memo slots of deep-frozen values.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalBytes, canonicalJson, deepFreeze, frozenSlot, memoFrozen } from '../../src/core/canonical.js';
import { SimScheme } from '../../src/crypto/index.js';

/** the encoder as it was (keys filtered, sorted, mapped and joined): the reference */
function reference(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}

/** a small deterministic generator of JSON-like values */
function gen(seed: number): () => unknown {
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
  const keys = ['type', 'view', 'seq', 'digest', 'replica', 'body', 'sig', 'a', 'B', 'é', '10', '9', '', 'k"q', 'z\n'];
  const strs = ['', 'x', 'é∑😀', '"quoted"\\', '\u0000\u001f', 'ab'.repeat(40)];
  const value = (depth: number): unknown => {
    const r = rnd();
    if (depth > 3 || r < 0.35) {
      const p = rnd();
      if (p < 0.3) return Math.floor(rnd() * 2 ** 40) - 2 ** 20;
      if (p < 0.4) return rnd() * 100 - 50;
      if (p < 0.7) return strs[Math.floor(rnd() * strs.length)];
      if (p < 0.85) return rnd() < 0.5;
      return null;
    }
    if (r < 0.55) return Array.from({ length: Math.floor(rnd() * 5) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    const n = Math.floor(rnd() * 8);
    for (let i = 0; i < n; i++) o[keys[Math.floor(rnd() * keys.length)]!] = rnd() < 0.1 ? undefined : value(depth + 1);
    return o;
  };
  return () => value(0);
}

describe('canonical encoding', () => {
  it('is the reference text for random values, fresh or frozen, and the same UTF-8 bytes', () => {
    const next = gen(7);
    for (let i = 0; i < 1000; i++) {
      const v = next();
      const want = reference(v);
      expect(canonicalJson(v)).toBe(want);
      expect(Array.from(canonicalBytes(v))).toEqual(Array.from(new TextEncoder().encode(want)));
      deepFreeze(v);
      expect(canonicalJson(v)).toBe(want);
      expect(canonicalJson(v)).toBe(want); // remembered
      expect(Array.from(canonicalBytes(v))).toEqual(Array.from(new TextEncoder().encode(want)));
      expect(canonicalBytes(v)).toBeInstanceOf(Uint8Array);
    }
  });

  it('sorts keys by UTF-16 code units, drops undefined values, and rejects what it cannot encode', () => {
    expect(canonicalJson({ b: 1, a: undefined, '10': 2, '9': 3, B: 4 })).toBe('{"10":2,"9":3,"B":4,"b":1}');
    expect(canonicalJson(Array.from({ length: 14 }, (_, i) => i))).toBe(reference(Array.from({ length: 14 }, (_, i) => i)));
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${(i * 7) % 20}`, i]));
    expect(canonicalJson(many)).toBe(reference(many));
    expect(() => canonicalJson({ a: Number.NaN })).toThrow('non-finite');
    expect(() => canonicalJson([undefined])).toThrow('cannot encode undefined');
    expect(() => canonicalJson({ f: () => 1 })).toThrow('cannot encode function');
  });

  it("a frozen object's remembered encoding stays its own: copies, prototypes and unfrozen lookalikes are encoded afresh", () => {
    const body = deepFreeze({ type: 'prepare', view: 0, seq: 1 });
    expect(canonicalJson(body)).toBe('{"seq":1,"type":"prepare","view":0}');
    expect(frozenSlot(body)).toBeDefined();
    expect(Object.keys(body)).toEqual(['type', 'view', 'seq']);
    expect(JSON.stringify(body)).toBe('{"type":"prepare","view":0,"seq":1}');
    const copy = { ...body, seq: 2 };
    expect(frozenSlot(copy)).toBeUndefined();
    expect(canonicalJson(copy)).toBe('{"seq":2,"type":"prepare","view":0}');
    const child = Object.create(body) as Record<string, unknown>;
    child.extra = 1;
    expect(frozenSlot(child)).toBeUndefined();
    expect(canonicalJson(child)).toBe('{"extra":1}');
    expect(structuredClone(body)).toEqual({ type: 'prepare', view: 0, seq: 1 });
  });
});

describe('memoFrozen', () => {
  it('remembers per memo for frozen objects only', () => {
    const a = new WeakMap<object, number>();
    const b = new WeakMap<object, number>();
    const c = new WeakMap<object, number>();
    let calls = 0;
    const f = (v: number) => () => {
      calls++;
      return v;
    };
    const loose = { x: 1 };
    expect(memoFrozen(a, loose, f(1))).toBe(1);
    expect(memoFrozen(a, loose, f(2))).toBe(2); // not frozen: afresh
    const slotted = deepFreeze({ x: 1 });
    const plain = Object.freeze({ x: 1 });
    for (const key of [slotted, plain]) {
      calls = 0;
      expect(memoFrozen(a, key, f(10))).toBe(10);
      expect(memoFrozen(b, key, f(20))).toBe(20);
      expect(memoFrozen(c, key, f(30))).toBe(30); // a third kind: past the slot's two, in the WeakMap
      expect(memoFrozen(a, key, f(0))).toBe(10);
      expect(memoFrozen(b, key, f(0))).toBe(20);
      expect(memoFrozen(c, key, f(0))).toBe(30);
      expect(calls).toBe(3);
    }
  });
});

describe('sim signature scheme', () => {
  const secret = '11'.repeat(32);
  const other = '22'.repeat(32);
  const prefix = new TextEncoder().encode('pbft/1 domain\n');
  const tag = (s: string, p: Uint8Array, d: Uint8Array) => createHash('sha256').update(s).update(p).update(d).digest('hex');

  it('tags are SHA-256(secret || prefix || data), and verify exactly when recomputing them would', () => {
    const s = new SimScheme();
    const pub = s.publicKey(secret);
    const pub2 = s.publicKey(other);
    const data = new TextEncoder().encode('{"a":1}');
    const sig = s.signPrefixed(secret, prefix, data);
    expect(sig).toBe(tag(secret, prefix, data));
    expect(s.sign(secret, data)).toBe(tag(secret, new Uint8Array(0), data));
    expect(s.verifyPrefixed(pub, prefix, data, sig)).toBe(true);
    expect(s.verifyPrefixed(pub, prefix, Uint8Array.from(data), sig)).toBe(true); // equal bytes, another array
    expect(s.verifyPrefixed(pub2, prefix, data, sig)).toBe(false); // another key
    expect(s.verifyPrefixed(pub, new TextEncoder().encode('pbft/1 other!\n'), data, sig)).toBe(false);
    const tampered = Uint8Array.from(data);
    tampered[2] ^= 1;
    expect(s.verifyPrefixed(pub, prefix, tampered, sig)).toBe(false);
    expect(s.verifyPrefixed(pub, prefix, data.subarray(1), sig)).toBe(false);
    expect(s.verifyPrefixed(pub, prefix, data, `${sig.slice(0, 63)}${sig[63] === '0' ? '1' : '0'}`)).toBe(false);
    expect(s.verifyPrefixed(pub, prefix, data, 42 as unknown as string)).toBe(false);
    expect(s.verifyPrefixed('ff'.repeat(32), prefix, data, sig)).toBe(false); // unknown key
  });

  it('a tag made elsewhere (not remembered here) verifies by recomputation', () => {
    const a = new SimScheme();
    const b = new SimScheme();
    const data = new TextEncoder().encode('payload');
    const sig = a.signPrefixed(secret, prefix, data);
    const pub = b.publicKey(secret);
    expect(b.verifyPrefixed(pub, prefix, data, sig)).toBe(true);
    expect(b.verify(pub, data, a.sign(secret, data))).toBe(true);
    expect(b.verify(pub, data, sig)).toBe(false);
  });
});
