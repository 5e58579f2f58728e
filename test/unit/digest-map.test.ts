/**
 * DigestMap (src/core/digest-map.ts): the incrementally kept digest equals the digest of the same
 * entries built from scratch, whatever the order of writes; different contents differ.
 */
import { describe, expect, it } from 'vitest';
import { bucketOf, DigestMap } from '../../src/core/digest-map.js';
import { KvStore } from '../../src/app/kv.js';
import { sha256Hex } from '../../src/crypto/index.js';
import { Rng } from '../../src/sim/rng.js';

const fresh = () => new DigestMap<string>(sha256Hex, 'test');
const rng = (seed: number) => new Rng(seed).fn();

describe('DigestMap', () => {
  it('gives the digests it always gave (pinned: replicas of different versions must agree on every checkpoint)', () => {
    const m = new DigestMap<string>(sha256Hex, 'pbft/kv');
    const key = (i: number) => `key-${i}${i % 7 === 0 ? '"\u2028\ud800' : ''}`;
    for (let i = 0; i < 3000; i++) m.set(key(i), `v${'x'.repeat(i % 13)}${i % 5 === 0 ? '\\"' : ''}`);
    for (let i = 0; i < 3000; i += 3) m.delete(key(i));
    expect(m.digest()).toBe('3af53214b2584d793376446c8d52d1457db501b2ec570920c6624d2913d32bd2');
    // values encoded as objects (an undefined field is left out, as JSON.stringify does)
    const o = new DigestMap<string>(sha256Hex, 'pbft/obj', (v) => ({ v, n: v.length, u: undefined }));
    for (let i = 0; i < 50; i++) o.set(`k${i}`, `value ${i}`);
    expect(o.digest()).toBe('c01f0f82a673cc5cfda88b536c99ee3fb13bd55011bc5c998b93a8f475b0a2a0');
  });

  it('keeps the digest of its entries through random writes and deletes, equal to one built from scratch in another order', () => {
    const r = rng(7);
    const m = fresh();
    const model = new Map<string, string>();
    for (let step = 0; step < 3000; step++) {
      const k = `k${Math.floor(r() * 400)}`;
      if (r() < 0.3) {
        m.delete(k);
        model.delete(k);
      } else {
        const v = `v${Math.floor(r() * 1000)}`;
        m.set(k, v);
        model.set(k, v);
      }
      if (step % 97 === 0 || step === 2999) {
        const scratch = fresh();
        for (const [k2, v2] of [...model.entries()].reverse()) scratch.set(k2, v2);
        expect(m.digest()).toBe(scratch.digest());
        expect(m.size).toBe(model.size);
      }
    }
  });

  it('returns to the empty digest when emptied; the tag, a key, a value or a lone surrogate changes it', () => {
    const m = fresh();
    const empty = m.digest();
    m.set('a', '1');
    const one = m.digest();
    expect(one).not.toBe(empty);
    m.delete('a');
    expect(m.digest()).toBe(empty);
    expect(new DigestMap<string>(sha256Hex, 'other').digest()).not.toBe(empty);
    const d = (entries: [string, string][]) => {
      const x = fresh();
      for (const [k, v] of entries) x.set(k, v);
      return x.digest();
    };
    const all = [
      d([['a', '1']]),
      d([['a', '2']]),
      d([['b', '1']]),
      d([
        ['a', '1'],
        ['b', '1'],
      ]),
      d([['\ud800', 'x']]),
      d([['\ud801', 'x']]),
      d([['\ufffd', 'x']]),
      d([
        ['a', '1"]'],
        ['b', ''],
      ]),
      d([
        ['a', '1'],
        ['"]', ''],
      ]),
    ];
    expect(new Set(all).size).toBe(all.length);
  });

  it('keys that share a bucket still give a digest of their contents', () => {
    // find two keys in one bucket
    const seen = new Map<number, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; !pair; i++) {
      const k = `key${i}`;
      const b = bucketOf(k);
      const o = seen.get(b);
      if (o !== undefined) pair = [o, k];
      else seen.set(b, k);
    }
    const a = fresh();
    a.set(pair[0], 'x').set(pair[1], 'y');
    const b = fresh();
    b.set(pair[1], 'y').set(pair[0], 'x');
    expect(a.digest()).toBe(b.digest());
    b.set(pair[1], 'z');
    expect(b.digest()).not.toBe(a.digest());
  });

  it('re-encodes only what was overwritten since the last digest, and still equals a map built from scratch', () => {
    // few buckets' worth of keys per bucket (a crowded map), values of different lengths and
    // escapes, so an entry cut from the old text at a wrong place would change the digest
    const r = rng(11);
    const keys = Array.from({ length: 9000 }, (_, i) => `k${i}${i % 11 === 0 ? '"\\' : ''}`);
    const value = () => `${'v'.repeat(Math.floor(r() * 9))}${r() < 0.2 ? '\n"\u2028' : ''}${Math.floor(r() * 1e6)}`;
    const m = fresh();
    const model = new Map<string, string>();
    for (const k of keys) {
      const v = value();
      m.set(k, v);
      model.set(k, v);
    }
    for (let round = 0; round < 40; round++) {
      // mostly overwrites (the bucket keeps its keys), sometimes a new key or a delete
      const writes = 1 + Math.floor(r() * 300);
      for (let w = 0; w < writes; w++) {
        const x = r();
        const k = x < 0.97 ? keys[Math.floor(r() * keys.length)]! : `new${Math.floor(r() * 50)}`;
        if (x > 0.99) {
          m.delete(k);
          model.delete(k);
        } else {
          const v = value();
          m.set(k, v);
          model.set(k, v);
        }
      }
      const scratch = fresh();
      for (const [k, v] of model) scratch.set(k, v);
      expect(m.digest()).toBe(scratch.digest());
      expect(new Map(JSON.parse(m.text()) as [string, string][])).toEqual(model);
    }
  });

  it('merges a bucket that gained or lost keys with its previous text, and still equals a map built from scratch', () => {
    // a growing and shrinking map: inserts, deletes, keys deleted and written again, buckets
    // emptied and filled again, on a crowded map (many keys per bucket) with escapes in keys
    // and values, so an entry cut from the old text at a wrong place would change the digest
    const r = rng(12);
    const key = (i: number) => `g${i}${i % 13 === 0 ? '"\\\u00e9' : ''}${i % 17 === 0 ? '\ud800' : ''}`;
    const value = () => `${'v'.repeat(Math.floor(r() * 9))}${r() < 0.2 ? '\n"\u2028' : ''}${Math.floor(r() * 1e6)}`;
    const m = fresh();
    const model = new Map<string, string>();
    let next = 0;
    for (; next < 12_000; next++) {
      m.set(key(next), `p${next}`);
      model.set(key(next), `p${next}`);
    }
    m.digest();
    const lone = bucketOf('solo');
    for (let round = 0; round < 60; round++) {
      const writes = 1 + Math.floor(r() * 400);
      for (let w = 0; w < writes; w++) {
        const x = r();
        if (x < 0.5) {
          const k = key(next++); // a new key
          const v = value();
          m.set(k, v);
          model.set(k, v);
        } else if (x < 0.7 && next > 0) {
          const k = key(Math.floor(r() * next)); // a delete (perhaps of a key deleted already)
          m.delete(k);
          model.delete(k);
        } else if (next > 0) {
          const k = key(Math.floor(r() * next)); // an overwrite, or a deleted key written again
          const v = value();
          m.set(k, v);
          model.set(k, v);
        }
      }
      // one bucket emptied and filled again with other keys before the digest, now and then
      if (round % 7 === 3) {
        for (const k of [...model.keys()].filter((k) => bucketOf(k) === lone)) {
          m.delete(k);
          model.delete(k);
        }
        for (let i = 0; i < 3; i++) {
          const k = `solo${round}-${i}`;
          if (bucketOf(k) !== lone) continue;
          m.set(k, `s${i}`);
          model.set(k, `s${i}`);
        }
      }
      const scratch = fresh();
      for (const [k, v] of model) scratch.set(k, v);
      expect(m.digest()).toBe(scratch.digest());
      expect(new Map(JSON.parse(m.text()) as [string, string][])).toEqual(model);
    }
    expect(model.size).toBeGreaterThan(4096 * 2); // several keys per bucket by the end
  });

  it('encodes only the values written since the last digest, in buckets that kept, gained or lost keys', () => {
    let encoded = 0;
    const m = new DigestMap<string>(sha256Hex, 't', (v) => {
      encoded++;
      return v;
    });
    for (let i = 0; i < 9000; i++) m.set(`k${i}`, `v${i}`);
    m.digest();
    encoded = 0;
    for (const i of [5, 77, 4321, 8999, 5]) m.set(`k${i}`, `w${i}`);
    m.digest();
    expect(encoded).toBe(4); // four keys written (one twice), each encoded once
    encoded = 0;
    m.set('fresh', 'x');
    m.digest();
    const size = [...m.entries()].filter(([k]) => bucketOf(k) === bucketOf('fresh')).length;
    expect(size).toBeGreaterThan(1);
    expect(encoded).toBe(1); // a bucket that gained a key: that key only, not its other size - 1
    encoded = 0;
    m.delete('k77');
    m.delete('k78');
    m.set('k79', 'again');
    m.set('fresh2', 'y');
    m.delete('k4321');
    m.set('k4321', 'back');
    m.digest();
    expect(encoded).toBe(3); // k79, fresh2 and k4321 (deleted and written again); the deletes none
  });

  it('an encoder that throws leaves what changed to the next digest (found in review)', () => {
    let fail = true;
    const encode = (v: string) => {
      if (v === 'bad' && fail) throw new Error('boom');
      return v;
    };
    const m = new DigestMap<string>(sha256Hex, 't', encode);
    for (let i = 0; i < 2000; i++) m.set(`k${i}`, `v${i}`);
    m.digest();
    for (let i = 0; i < 2000; i += 3) m.set(`k${i}`, i === 999 ? 'bad' : `w${i}`);
    m.set('new', 'x');
    m.delete('k1');
    expect(() => m.digest()).toThrow('boom');
    fail = false;
    const scratch = new DigestMap<string>(sha256Hex, 't', encode);
    for (const [k, v] of m.entries()) scratch.set(k, v);
    expect(m.digest()).toBe(scratch.digest());
    // and the next overwrites still re-encode from consistent texts
    for (let i = 1; i < 2000; i += 7) m.set(`k${i}`, `z${i}`);
    const again = new DigestMap<string>(sha256Hex, 't', encode);
    for (const [k, v] of m.entries()) again.set(k, v);
    expect(m.digest()).toBe(again.digest());
  });

  it('a bucket that only lost keys at its ends keeps a text of its own; keys set and deleted between digests are not kept (found in review)', () => {
    const m = fresh();
    for (let i = 0; i < 30_000; i++) m.set(`k${i}`, `v${i}"\ud800`);
    m.digest();
    const x = bucketOf('k0');
    const inX = [...m.entries()]
      .map(([k]) => k)
      .filter((k) => bucketOf(k) === x)
      .sort();
    expect(inX.length).toBeGreaterThan(3);
    // the first and last keys of one bucket deleted, nothing written: one piece of its old text
    m.delete(inX[0]!);
    m.delete(inX[inX.length - 1]!);
    const scratch = fresh();
    for (const [k, v] of m.entries()) scratch.set(k, v);
    expect(m.digest()).toBe(scratch.digest());
    expect(new Map(JSON.parse(m.text()) as [string, string][])).toEqual(new Map(m.entries()));
    // every key of the bucket but one deleted, then the digest again
    for (const k of inX.slice(1, -2)) m.delete(k);
    const again = fresh();
    for (const [k, v] of m.entries()) again.set(k, v);
    expect(m.digest()).toBe(again.digest());
    // transient keys (set, then deleted before the digest) leave nothing behind
    for (let i = 0; i < 5000; i++) {
      m.set(`tmp${i}`, 'x');
      m.delete(`tmp${i}`);
    }
    expect((m as unknown as { dirtyKeys: Set<string> }).dirtyKeys.size).toBe(0);
    expect(m.digest()).toBe(again.digest());
  });

  it('a bucket merged before an encoder throws is merged again from its new text', () => {
    let fail = true;
    const encode = (v: string) => {
      if (v === 'bad' && fail) throw new Error('boom');
      return v;
    };
    const m = new DigestMap<string>(sha256Hex, 't', encode);
    for (let i = 0; i < 30_000; i++) m.set(`k${i}`, `v${i}`);
    m.digest();
    // a bucket that loses one key and gains another (same size), rehashed before the throw
    const x = bucketOf('k0');
    const same = Array.from({ length: 200_000 }, (_, i) => `x${i}`).filter((k) => bucketOf(k) === x);
    m.delete('k0');
    m.set(same[0]!, 'new');
    m.set('k1', 'bad');
    expect(() => m.digest()).toThrow('boom');
    fail = false;
    const scratch = new DigestMap<string>(sha256Hex, 't', encode);
    for (const [k, v] of m.entries()) scratch.set(k, v);
    expect(m.digest()).toBe(scratch.digest());
  });
});

describe('KvStore digest and snapshot', () => {
  it('the digest does not depend on the order of writes; restore rebuilds it; snapshotDigest agrees without restoring', () => {
    const a = new KvStore();
    const b = new KvStore();
    for (let i = 0; i < 50; i++) a.execute(JSON.stringify({ op: 'put', key: `k${i}`, value: `v${i}` }), 'c');
    for (let i = 49; i >= 0; i--) b.execute(JSON.stringify({ op: 'put', key: `k${i}`, value: `v${i}` }), 'c');
    b.execute(JSON.stringify({ op: 'put', key: 'extra', value: '1' }), 'c');
    b.execute(JSON.stringify({ op: 'del', key: 'extra' }), 'c');
    expect(a.digest()).toBe(b.digest());
    const snap = b.snapshot();
    expect(a.snapshotDigest(snap)).toBe(a.digest());
    const c = new KvStore();
    const empty = c.digest();
    c.restore(snap);
    expect(c.digest()).toBe(a.digest());
    expect(c.size).toBe(50);
    expect(() => c.restore('[["k","v"],["k","w"]]')).toThrow(/twice/);
    expect(() => c.snapshotDigest('{}')).toThrow();
    expect(c.digest()).toBe(a.digest());
    c.restore('[]');
    expect(c.digest()).toBe(empty);
  });
});

describe('KvStore results', () => {
  it('are the canonical JSON of { ok, value }', async () => {
    const { canonicalJson } = await import('../../src/core/canonical.js');
    const s = new KvStore();
    for (const v of ['plain', 'quote " and \\ backslash', '\ud800 lone', '', 'ü€𝄞']) {
      s.execute(JSON.stringify({ op: 'put', key: 'k', value: v }), 'c');
      expect(s.execute(JSON.stringify({ op: 'get', key: 'k' }), 'c')).toBe(canonicalJson({ ok: true, value: v }));
    }
    expect(s.execute(JSON.stringify({ op: 'get', key: 'none' }), 'c')).toBe(canonicalJson({ ok: true, value: null }));
  });
});

describe('DigestMap copy-on-write marks', () => {
  const sorted = <V>(e: [string, V][]) => [...e].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

  it('entriesAt(mark) is the contents at the mark, through writes, deletes, re-creations and releases (random runs against copies)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rng = new Rng(seed);
      const m = new DigestMap<string>(sha256Hex, 't');
      const copies = new Map<number, [string, string][]>();
      const digests = new Map<number, string>();
      for (let step = 0; step < 400; step++) {
        const r = rng.float();
        const key = `k${rng.int(0, 40)}`;
        if (r < 0.45) m.set(key, `v${step}`);
        else if (r < 0.7) m.delete(key);
        else if (r < 0.75)
          m.digest(); // rehashes (and re-encodes) the buckets written since
        else if (r < 0.85) {
          const mark = m.mark();
          copies.set(mark, sorted([...m.entries()]));
          digests.set(mark, m.digest());
        } else if (r < 0.9 && copies.size > 0) {
          // release every mark older than a random kept one, as a stable checkpoint does
          const kept = [...copies.keys()];
          const upTo = kept[rng.int(0, kept.length - 1)]!;
          m.release(upTo);
          for (const k of kept) if (k < upTo) copies.delete(k);
        }
        if (step % 50 === 49) {
          for (const [mark, want] of copies) {
            expect(sorted(m.entriesAt(mark)), `seed ${seed} mark ${mark}`).toEqual(want);
            // the snapshot text joined from the kept bucket texts: the same contents
            expect(sorted(JSON.parse(m.textAt(mark)) as [string, string][]), `seed ${seed} mark ${mark} text`).toEqual(want);
          }
          expect(sorted(JSON.parse(m.text()) as [string, string][])).toEqual(sorted([...m.entries()]));
          expect(m.marks).toEqual([...copies.keys()]);
        }
      }
      // a map rebuilt from a mark's entries has the digest the map had at the mark
      for (const [mark, want] of digests) {
        if (!copies.has(mark)) continue;
        const again = new DigestMap<string>(sha256Hex, 't');
        for (const [k, v] of m.entriesAt(mark)) again.set(k, v);
        expect(again.digest()).toBe(want);
      }
    }
  });

  it('textAt and text encode values as the digest does, at a mark and now', () => {
    const m = new DigestMap<{ n: number }>(sha256Hex, 't', (v) => ({ n: v.n, twice: v.n * 2 }));
    for (let i = 0; i < 300; i++) m.set(`k${i}`, { n: i });
    const mark = m.mark();
    for (let i = 0; i < 300; i += 3) m.set(`k${i}`, { n: -i });
    m.delete('k1');
    m.digest();
    const at = JSON.parse(m.textAt(mark)) as [string, { n: number; twice: number }][];
    expect(at).toHaveLength(300);
    expect(new Map(at).get('k3')).toEqual({ n: 3, twice: 6 });
    expect(new Map(at).get('k1')).toEqual({ n: 1, twice: 2 });
    const now = new Map(JSON.parse(m.text()) as [string, { n: number; twice: number }][]);
    expect(now.size).toBe(299);
    expect(now.get('k3')).toEqual({ n: -3, twice: -6 });
    expect(() => m.textAt(mark + 1)).toThrow(/not kept/);
  });

  it('keeps one old value per key written since the oldest kept mark, and none once released', () => {
    const m = new DigestMap<string>(sha256Hex, 't');
    for (let i = 0; i < 100; i++) m.set(`k${i}`, 'a');
    const first = m.mark();
    for (let round = 0; round < 10; round++) for (let i = 0; i < 10; i++) m.set(`k${i}`, `b${round}`);
    expect(m.keptValues).toBe(10); // ten keys, each written ten times: one old value each
    const second = m.mark();
    m.set('k50', 'c');
    m.delete('k51');
    m.set('new', 'd');
    expect(m.keptValues).toBe(13);
    m.release(second);
    expect(m.marks).toEqual([second]);
    expect(m.keptValues).toBe(3);
    expect(() => m.entriesAt(first)).toThrow(/not kept/);
    m.release(Number.POSITIVE_INFINITY);
    expect(m.keptValues).toBe(0);
    m.set('k0', 'e'); // no mark: nothing is recorded
    expect(m.keptValues).toBe(0);
  });
});
