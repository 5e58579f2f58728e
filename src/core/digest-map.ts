/**
 * DigestMap: a map from strings to values whose digest is kept up to date as it changes — the
 * partition tree of digests of Castro & Liskov (TOCS 2002, §6.3), here a fixed-shape hash tree.
 *
 * Shape: every key falls in one of 16^3 = 4,096 buckets (FNV-1a of its UTF-16 code units, low
 * 12 bits). A bucket's digest is H(tag "/b\n" + JSON of its entries sorted by key); three levels
 * of 16-ary nodes above the buckets, each H(tag "/n<level>\n" + its 16 children's digests), and
 * the root is the digest of the map. An empty bucket or subtree has a fixed digest (computed
 * once per map). A write marks its bucket dirty; digest() rehashes the dirty buckets and the
 * nodes above them only: O(changes), not O(size). (A checkpoint after W writes to distinct
 * buckets costs about W + min(W, 256) + 17 hashes; more buckets would mean more hashes per write
 * on small states, fewer would mean larger buckets to rehash on large ones.)
 *
 * Collision resistance: the tree's shape is fixed and a key's bucket depends on the key only, so
 * two maps with the same root digest and different contents would give, at the first node down
 * from the root where their children differ, two different inputs of H with one output (a bucket's
 * input is injective: JSON of the sorted [key, value] pairs, whose string escapes keep lone
 * surrogates apart; a node's input is its level's tag and 16 fixed-length digests; leaves and
 * nodes carry different tags). So a collision of the map digest is a collision of H (SHA-256).
 * A plain XOR or sum of per-entry hashes would not do: XOR collisions are found by linear
 * algebra, sums by generalised birthday attacks. The bucket function is not cryptographic:
 * keys chosen to fall in one bucket make that bucket's rehash slower (its size), not weaker.
 *
 * The digest is deterministic: the same entries give the same digest whatever the order of the
 * writes that made them, on every replica; `entries()` order is not canonical (insertion order
 * within buckets), and nothing may depend on it.
 *
 * Copy-on-write marks (the paper's snapshots, §6.3): mark() names the current contents; from
 * then on the first write to each key records the value it had, so entriesAt(mark) rebuilds the
 * contents at that mark on demand, at a cost of O(size + writes since), while a checkpoint
 * itself costs nothing but its digest. release(mark) forgets every older mark. What is kept is
 * one old value per key written since the oldest kept mark: bounded by the writes since then.
 *
 * Snapshot text: each bucket's digest is taken over the JSON of its sorted entries, and that
 * text is kept (about the size of the encoded contents, once); a bucket rehashed after a mark
 * keeps the text it had at the mark in that mark's layer. So textAt(mark), the contents at a
 * mark as JSON, is a join of at most 4,096 ready texts instead of an encoding of every entry:
 * a full checkpoint's snapshot of a large state costs little more than writing it out.
 *
 * Rehashing a bucket re-encodes only the entries written since its last rehash: the others'
 * texts are cut out of the bucket's previous text (a rehashed bucket's Map is rebuilt in key
 * order, which overwrites keep, and where each entry's text ends is kept). A bucket whose keys
 * are the same (only values overwritten: a store whose keys all exist) walks its Map in the
 * order of its text; one that gained or lost a key (a growing store) has its keys at the last
 * rehash copied at its first such write (no encoding), and the sorted keys now are merged with
 * them. So a checkpoint after W writes encodes W entries, not W times the bucket size
 * (overwrites, 800 between checkpoints: 4.0 -> 2.1 ms at 51,200 keys, 156 -> 46 ms at a million
 * keys; inserts: see README, Performance).
 */
import type { Hex } from './types.js';

const LEVELS = 3;
const FANOUT_BITS = 4;
const FANOUT = 1 << FANOUT_BITS;
const BUCKET_MASK = (1 << (LEVELS * FANOUT_BITS)) - 1;

export function bucketOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & BUCKET_MASK;
}

/**
 * A bucket's new text from pieces of its old one and new entries, comma-separated: consecutive
 * entries reused from the old text are cut out as one piece (the commas between them included).
 * reuse/add return where the entry ends in the new text.
 */
class TextBuilder {
  private readonly parts: string[] = [];
  private runFrom = -1;
  private runTo = -1;
  private at = -1;
  constructor(private readonly old: string) {}
  /** the entry at old.slice(from, to) */
  reuse(from: number, to: number): number {
    if (this.runFrom < 0 || from !== this.runTo + 1) {
      this.flush();
      this.runFrom = from;
    }
    this.runTo = to;
    this.at += 1 + to - from;
    return this.at;
  }
  add(pair: string): number {
    this.flush();
    this.parts.push(pair);
    this.at += 1 + pair.length;
    return this.at;
  }
  /**
   * The text, one flat string (built with +=, it would be a tree of pieces that every later join,
   * textAt, walks again). A text that is one piece of the old one (keys deleted at its ends, none
   * written) is copied: a slice would keep the whole old text alive (found in review).
   */
  done(): string {
    if (this.parts.length === 0 && this.runFrom >= 0) {
      if (this.runFrom === 0 && this.runTo === this.old.length) return this.old;
      // UTF-16 code units copied as they are (lone surrogates too)
      return Buffer.from(this.old.slice(this.runFrom, this.runTo), 'utf16le').toString('utf16le');
    }
    this.flush();
    return this.parts.join(',');
  }
  private flush(): void {
    if (this.runFrom < 0) return;
    this.parts.push(this.old.slice(this.runFrom, this.runTo));
    this.runFrom = -1;
  }
}

/** no previous keys (entryText without a consistent previous text) */
const NO_KEYS: readonly string[] = [];

/** a key that did not exist at a mark */
const ABSENT: unique symbol = Symbol('absent');

/** The values that keys written after a mark had at it (first write per key only). */
interface Layer<V> {
  mark: number;
  before: Map<string, V | typeof ABSENT>;
  /** the entry text (see textAt) that buckets rehashed after the mark had at it (first rehash per bucket only) */
  texts: Map<number, string | typeof ABSENT>;
}

export class DigestMap<V> {
  private readonly buckets = new Map<number, Map<string, V>>();
  /** nodes[0]: bucket digests; nodes[l]: level-l node digests (absent: the empty one) */
  private readonly nodes: Map<number, Hex>[] = [];
  private readonly empty: Hex[] = [];
  /**
   * per non-empty bucket, as of the last digest(): its entries as JSON pairs, comma-separated
   * (what its digest covers, inside the brackets); a snapshot is these texts joined (textAt)
   */
  private readonly texts = new Map<number, string>();
  /**
   * per bucket in `texts`: where each entry's text ends in it (entry i, the i-th of its Map,
   * is text.slice(i ? ends[i - 1] + 1 : 0, ends[i]))
   */
  private readonly ends = new Map<number, number[]>();
  private dirty = new Set<number>();
  /** keys written since the last digest() in buckets that have a text (their entries in it are stale) */
  private dirtyKeys = new Set<string>();
  /** buckets that gained or lost a key since the last digest() */
  private reshaped = new Set<number>();
  /**
   * per reshaped bucket that has a text: its keys in the order of that text (copied before its
   * first add or delete since the last digest; kept in step with `texts` and `ends` while a
   * digest() is under way, so one that throws leaves them consistent)
   */
  private oldKeys = new Map<number, string[]>();
  private root: Hex | null = null;
  private count = 0;
  /** copy-on-write layers, oldest first (see mark()) */
  private layers: Layer<V>[] = [];
  private lastMark = 0;

  /**
   * `hash`: a collision-resistant hash of a string, hex (SHA-256); `tag` separates the digests
   * of different maps; `encode`: a value as JSON-encodable data (default: the value itself).
   */
  constructor(
    private readonly hash: (s: string) => Hex,
    private readonly tag: string,
    private readonly encode: (v: V) => unknown = (v) => v,
  ) {
    this.empty.push(hash(`${tag}/b\n[]`));
    for (let l = 1; l <= LEVELS; l++) this.empty.push(hash(`${tag}/n${l}\n${this.empty[l - 1]!.repeat(FANOUT)}`));
    for (let l = 0; l <= LEVELS; l++) this.nodes.push(new Map());
  }

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.buckets.get(bucketOf(key))?.get(key);
  }

  has(key: string): boolean {
    return this.buckets.get(bucketOf(key))?.has(key) ?? false;
  }

  set(key: string, value: V): this {
    const b = bucketOf(key);
    let m = this.buckets.get(b);
    if (!m) {
      m = new Map();
      this.buckets.set(b, m);
    }
    this.remember(key, m);
    if (!m.has(key)) {
      this.reshape(b, m);
      this.count++;
    }
    m.set(key, value);
    this.dirty.add(b);
    // (a bucket with no text yet is encoded whole: its keys need not be listed)
    if (this.texts.has(b)) this.dirtyKeys.add(key);
    this.root = null;
    return this;
  }

  /** Before a key is added to or deleted from bucket `b` (Map `m`): note its keys in the order of its text. */
  private reshape(b: number, m: Map<string, V>): void {
    if (this.reshaped.has(b)) return;
    this.reshaped.add(b);
    // only overwrites since its last rehash: the Map is still in the order of its text
    if (this.texts.has(b)) this.oldKeys.set(b, [...m.keys()]);
  }

  delete(key: string): boolean {
    const b = bucketOf(key);
    const m = this.buckets.get(b);
    if (!m?.has(key)) return false;
    this.remember(key, m);
    this.reshape(b, m);
    m.delete(key);
    // no longer in the bucket, so never looked up; written again, it is listed again (found in
    // review: keys set and deleted between digests piled up here)
    this.dirtyKeys.delete(key);
    this.count--;
    if (m.size === 0) this.buckets.delete(b);
    this.dirty.add(b);
    this.root = null;
    return true;
  }

  /** every entry, in no canonical order (faster than entries()) */
  forEach(fn: (value: V, key: string) => void): void {
    for (const m of this.buckets.values()) m.forEach(fn);
  }

  *entries(): IterableIterator<[string, V]> {
    for (const m of this.buckets.values()) yield* m.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  /** The digest of the whole map: rehashes what changed since the last call. */
  digest(): Hex {
    if (this.root !== null) return this.root;
    let touched = this.dirty;
    const rewritten = this.dirtyKeys;
    const reshaped = this.reshaped;
    const leaves = this.nodes[0]!;
    const top = this.layers[this.layers.length - 1];
    for (const b of touched) {
      const m = this.buckets.get(b);
      if (top !== undefined && !top.texts.has(b)) top.texts.set(b, this.texts.get(b) ?? ABSENT);
      if (!m) {
        leaves.delete(b);
        this.texts.delete(b);
        this.ends.delete(b);
      } else {
        const text = reshaped.has(b) ? this.entryText(b, m, rewritten) : this.reencode(b, m, rewritten);
        this.texts.set(b, text);
        leaves.set(b, this.hash(`${this.tag}/b\n[${text}]`));
      }
    }
    // only now: an encoder that threw above leaves every change to be rehashed by the next call
    // (a bucket rehashed already gives the same text again)
    this.dirty = new Set();
    this.dirtyKeys = new Set();
    this.reshaped = new Set();
    this.oldKeys = new Map();
    for (let l = 1; l <= LEVELS; l++) {
      const below = this.nodes[l - 1]!;
      const here = this.nodes[l]!;
      const emptyBelow = this.empty[l - 1]!;
      const parents = new Set<number>();
      for (const i of touched) parents.add(i >>> FANOUT_BITS);
      for (const p of parents) {
        let s = `${this.tag}/n${l}\n`;
        let any = false;
        for (let c = p << FANOUT_BITS, end = c + FANOUT; c < end; c++) {
          const d = below.get(c);
          if (d !== undefined) any = true;
          s += d ?? emptyBelow;
        }
        if (any) here.set(p, this.hash(s));
        else here.delete(p);
      }
      touched = parents;
    }
    this.root = this.nodes[LEVELS]!.get(0) ?? this.empty[LEVELS]!;
    return this.root;
  }

  /**
   * A bucket's entries as its digest covers them: the JSON of its [key, encoded value] pairs
   * sorted by key, as JSON.stringify would write that array, without the brackets (the digest
   * covers the tag, then that array), built without the pairs. The bucket's Map is rebuilt in
   * that order: overwrites keep a key's place in a Map, so until a key is added or deleted,
   * iterating it gives the order of its text (reencode). A bucket that gained or lost keys
   * since its previous text (its keys then in oldKeys) has the entries of keys in both and not
   * in `rewritten` cut out of that text; every other entry is encoded.
   */
  private entryText(b: number, m: Map<string, V>, rewritten?: Set<string>): string {
    const old = this.texts.get(b) ?? '';
    const ends = this.ends.get(b);
    let before: readonly string[] | undefined = this.oldKeys.get(b);
    if (ends === undefined || before === undefined || ends.length !== before.length) before = NO_KEYS;
    const keys = [...m.keys()].sort(); // by UTF-16 code units, as `<` compares
    const next: number[] = new Array(keys.length);
    const sorted = new Map<string, V>();
    const text = new TextBuilder(old);
    let j = 0;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const v = m.get(k)!;
      sorted.set(k, v);
      while (j < before.length && before[j]! < k) j++;
      next[i] =
        j < before.length && before[j] === k && rewritten !== undefined && !rewritten.has(k)
          ? text.reuse(j > 0 ? ends![j - 1]! + 1 : 0, ends![j]!)
          : text.add(this.pairText(k, v));
    }
    this.buckets.set(b, sorted);
    this.ends.set(b, next);
    // kept in step with the text, for a digest() that an encoder's throw makes run again
    if (this.oldKeys.has(b)) this.oldKeys.set(b, keys);
    return text.done();
  }

  /**
   * entryText for a bucket with the keys it had at its last rehash (so its Map is still in the
   * order of its text): the entries of keys not written since are cut out of its previous text,
   * the others encoded again.
   */
  private reencode(b: number, m: Map<string, V>, rewritten: Set<string>): string {
    const old = this.texts.get(b);
    const ends = this.ends.get(b);
    if (old === undefined || ends === undefined || ends.length !== m.size) return this.entryText(b, m);
    const next: number[] = new Array(ends.length);
    const text = new TextBuilder(old);
    let i = 0;
    let from = 0;
    // (keys, not entries: no [key, value] pair allocated per entry; most are cut from the old text)
    for (const k of m.keys()) {
      const end = ends[i]!;
      next[i++] = rewritten.has(k) ? text.add(this.pairText(k, m.get(k) as V)) : text.reuse(from, end);
      from = end + 1;
    }
    this.ends.set(b, next);
    return text.done();
  }

  /** One entry as the digest covers it: the JSON of [key, encoded value]. */
  private pairText(k: string, v: V): string {
    const j = JSON.stringify(this.encode(v)) as string | undefined;
    return `[${JSON.stringify(k)},${j === undefined ? 'null' : j}]`;
  }

  /** Before the first write to `key` since the newest mark: record what it was at that mark. */
  private remember(key: string, bucket: Map<string, V>): void {
    const top = this.layers[this.layers.length - 1];
    if (top === undefined || top.before.has(key)) return;
    top.before.set(key, bucket.has(key) ? bucket.get(key)! : ABSENT);
  }

  /** Name the current contents, to read them later with entriesAt (copy-on-write). */
  mark(): number {
    // the bucket texts must be those of the contents being named (textAt); a checkpoint has
    // just taken the digest, so this costs nothing there
    this.digest();
    const mark = ++this.lastMark;
    this.layers.push({ mark, before: new Map(), texts: new Map() });
    return mark;
  }

  /** Marks still readable, oldest first. */
  get marks(): number[] {
    return this.layers.map((l) => l.mark);
  }

  /**
   * The contents at `mark` as the JSON text of an array of [key, encoded value] pairs, in no
   * canonical order: what JSON.stringify(entriesAt(mark), with values encoded) gives up to that
   * order, but joined from the texts the bucket digests were computed over (kept per bucket,
   * and per mark for the buckets rehashed since), so a snapshot costs O(buckets), not an
   * encoding of every entry. Throws for a mark that was released or never made here.
   */
  textAt(mark: number): string {
    const from = this.layers.findIndex((l) => l.mark === mark);
    if (from < 0) throw new Error(`digest map: mark ${mark} is not kept`);
    const old = new Map<number, string | typeof ABSENT>();
    for (let i = from; i < this.layers.length; i++) for (const [b, t] of this.layers[i]!.texts) if (!old.has(b)) old.set(b, t);
    const parts: string[] = [];
    for (const [b, t] of this.texts) if (!old.has(b)) parts.push(t);
    for (const t of old.values()) if (t !== ABSENT) parts.push(t);
    return `[${parts.join(',')}]`;
  }

  /** The current contents as textAt gives them. */
  text(): string {
    this.digest();
    return `[${[...this.texts.values()].join(',')}]`;
  }

  /** Old values kept for the marks (one per key written since each). */
  get keptValues(): number {
    let n = 0;
    for (const l of this.layers) n += l.before.size;
    return n;
  }

  /** Forget every mark older than `mark` (their old values with them); `mark` stays readable. release(Infinity): all. */
  release(mark: number): void {
    let k = 0;
    while (k < this.layers.length && this.layers[k]!.mark < mark) k++;
    if (k > 0) this.layers = this.layers.slice(k);
  }

  /** Number marks after `other`'s (a map that replaces another: no mark of the old one names a state of this one). */
  continueMarksOf(other: DigestMap<V>): void {
    this.lastMark = Math.max(this.lastMark, other.lastMark);
  }

  /**
   * The contents at `mark` (in no canonical order). The value of a key at a mark is the one the
   * first layer from that mark on recorded for it, or its current value if no write touched it
   * since. Throws for a mark that was released or never made here.
   */
  entriesAt(mark: number): [string, V][] {
    const from = this.layers.findIndex((l) => l.mark === mark);
    if (from < 0) throw new Error(`digest map: mark ${mark} is not kept`);
    const old = new Map<string, V | typeof ABSENT>();
    for (let i = from; i < this.layers.length; i++) for (const [k, v] of this.layers[i]!.before) if (!old.has(k)) old.set(k, v);
    const out: [string, V][] = [];
    this.forEach((v, k) => {
      if (!old.has(k)) out.push([k, v]);
    });
    for (const [k, v] of old) if (v !== ABSENT) out.push([k, v]);
    return out;
  }
}
