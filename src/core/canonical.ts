/**
 * Canonical encoding: JSON with object keys sorted, no whitespace. Signatures and digests are
 * computed over these bytes. Validators reject unknown keys and non-integer numbers, so a
 * message that verifies has exactly one encoding.
 */
/**
 * UTF-8 bytes of a string, as a plain Uint8Array (the same bytes TextEncoder gives). Buffer.from
 * takes small strings from its pool: several times cheaper than TextEncoder.encode, which
 * allocates a buffer per call (Node 20).
 */
function encodeUtf8(s: string): Uint8Array {
  const b = Buffer.from(s, 'utf8');
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/**
 * Encodings of FROZEN objects, computed once. A frozen object cannot change, so its encoding
 * cannot either; the simulator deep-freezes everything that crosses its network, and one
 * message is verified by every replica it reaches (and its parts again inside certificates).
 * Objects that are not frozen (everything in the real runtime) are encoded afresh each time.
 */
const jsonOfFrozen = new WeakMap<object, string>();
const bytesOfFrozen = new WeakMap<object, Uint8Array>();

/**
 * What is remembered about one object frozen by `deepFreeze`, kept on the object itself (a
 * private field stamped on it just before it is frozen: invisible to every kind of reflection,
 * so to Object.keys, JSON, spreads, prototypes and structured clones) rather than in WeakMaps,
 * which cost several times more per entry and slow down every garbage collection. Objects
 * frozen by anything else use the WeakMaps.
 */
export interface FrozenSlot {
  json: string | undefined;
  bytes: Uint8Array | undefined;
  /** results computed from the object by others (messages.ts), each with the memo it is for */
  memo: object | undefined;
  value: unknown;
  memo2: object | undefined;
  value2: unknown;
}

/** a constructor that returns its argument: a subclass's private fields are stamped on it */
const Stamped = function (this: unknown, o: object) {
  return o;
} as unknown as new (
  o: object,
) => object;

class Slot extends Stamped {
  #slot: FrozenSlot;
  private constructor(o: object, slot: FrozenSlot) {
    super(o);
    this.#slot = slot;
  }
  static stamp(o: object): void {
    new Slot(o, { json: undefined, bytes: undefined, memo: undefined, value: undefined, memo2: undefined, value2: undefined });
  }
  static of(o: object): FrozenSlot | undefined {
    return #slot in o ? (o as Slot).#slot : undefined;
  }
}

/** the slot `deepFreeze` gave a frozen object, or undefined */
export function frozenSlot(v: object): FrozenSlot | undefined {
  const slot = Slot.of(v);
  return slot !== undefined && Object.isFrozen(v) ? slot : undefined;
}

/**
 * `compute()`, remembered for FROZEN `key` under `memo` (one table of results of one kind):
 * in key's slot when it has one (two kinds of result fit), else in the WeakMap `memo`. Not
 * frozen: computed afresh. A frozen object cannot change, so neither can what is computed from
 * it under one memo.
 */
export function memoFrozen<T>(memo: WeakMap<object, T>, key: object, compute: () => T): T {
  const slot = frozenSlot(key);
  if (slot !== undefined) {
    if (slot.memo === memo) return slot.value as T;
    if (slot.memo2 === memo) return slot.value2 as T;
    if (slot.memo === undefined) {
      const v = compute();
      slot.memo = memo;
      slot.value = v;
      return v;
    }
    if (slot.memo2 === undefined) {
      const v = compute();
      slot.memo2 = memo;
      slot.value2 = v;
      return v;
    }
  } else if (!Object.isFrozen(key)) return compute();
  let v = memo.get(key);
  if (v === undefined) {
    v = compute();
    memo.set(key, v);
  }
  return v;
}

export function canonicalJson(value: unknown): string {
  return encodeJson(value);
}

/** JSON.stringify of object keys, remembered (a message has a handful of distinct keys) */
const quotedKeys = new Map<string, string>();
const QUOTED_KEYS_MAX = 4096;

function quoteKey(k: string): string {
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = JSON.stringify(k);
    if (quotedKeys.size >= QUOTED_KEYS_MAX) quotedKeys.clear();
    quotedKeys.set(k, q);
  }
  return q;
}

/**
 * The encoding, built by concatenation in one pass. It is the same text as
 * `{${keys.filter(defined).sort().map((k) => `${JSON.stringify(k)}:${encode(v)}`).join(',')}}`
 * (and `[${items.map(encode).join(',')}]` for arrays: a hole is empty), without the
 * intermediate arrays; the keys are sorted as Array.prototype.sort sorts strings (by UTF-16 code
 * units). A frozen object or array's encoding is remembered.
 */
function encodeJson(value: unknown): string {
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
      const slot = frozenSlot(value);
      if (slot !== undefined) {
        if (slot.json === undefined) slot.json = Array.isArray(value) ? encodeArray(value) : encodeObject(value as Record<string, unknown>);
        return slot.json;
      }
      const frozen = Object.isFrozen(value);
      if (frozen) {
        const known = jsonOfFrozen.get(value);
        if (known !== undefined) return known;
      }
      const s = Array.isArray(value) ? encodeArray(value) : encodeObject(value as Record<string, unknown>);
      if (frozen) jsonOfFrozen.set(value, s);
      return s;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}

function encodeArray(a: readonly unknown[]): string {
  let s = '[';
  for (let i = 0; i < a.length; i++) {
    if (i > 0) s += ',';
    if (i in a) s += encodeJson(a[i]);
  }
  return `${s}]`;
}

function encodeObject(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj);
  // drop the keys whose value is undefined, in place
  let n = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (obj[k] !== undefined) keys[n++] = k;
  }
  keys.length = n;
  if (n > 12) keys.sort();
  else
    for (let i = 1; i < n; i++) {
      // insertion sort: a few keys
      const k = keys[i]!;
      let j = i - 1;
      while (j >= 0 && keys[j]! > k) {
        keys[j + 1] = keys[j]!;
        j--;
      }
      keys[j + 1] = k;
    }
  let s = '{';
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    if (i > 0) s += ',';
    s += quoteKey(k);
    s += ':';
    s += encodeJson(obj[k]);
  }
  return `${s}}`;
}

export function canonicalBytes(value: unknown): Uint8Array {
  if (typeof value === 'object' && value !== null) {
    const slot = frozenSlot(value);
    if (slot !== undefined) {
      if (slot.bytes === undefined) slot.bytes = encodeUtf8(encodeJson(value));
      return slot.bytes;
    }
  }
  if (typeof value === 'object' && value !== null && Object.isFrozen(value)) {
    let b = bytesOfFrozen.get(value);
    if (b === undefined) {
      b = encodeUtf8(encodeJson(value));
      bytesOfFrozen.set(value, b);
    }
    return b;
  }
  return encodeUtf8(encodeJson(value));
}

/** Freeze a value and everything reachable from it (what is frozen already is not walked again). */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    if (!ArrayBuffer.isView(v) && Object.isExtensible(v)) Slot.stamp(v as object);
    Object.freeze(v);
    for (const k of Object.keys(v as object)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

export function utf8(s: string): Uint8Array {
  return encodeUtf8(s);
}
