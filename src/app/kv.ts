/**
 * The default replicated application: a key-value store.
 *
 * Operations are JSON strings: {"op":"put","key":K,"value":V} | {"op":"get","key":K} |
 * {"op":"del","key":K}. Every result is a JSON string {"ok":true,"value":V|null} where value is
 * the value before the operation (put, del) or the current value (get), which makes histories
 * strongly checkable; a malformed op gives {"ok":false,"error":...} and changes nothing.
 */
import { canonicalJson } from '../core/canonical.js';
import type { Application, ClientId, Hex } from '../core/types.js';
import { sha256Hex } from '../crypto/index.js';
import { DigestMap } from '../core/digest-map.js';

export type KvOp = { op: 'put'; key: string; value: string } | { op: 'get'; key: string } | { op: 'del'; key: string };
export type KvResult = { ok: true; value: string | null } | { ok: false; error: string };

export const MAX_KEY_BYTES = 256;

export function encodeKvOp(op: KvOp): string {
  return op.op === 'put' ? canonicalJson({ op: 'put', key: op.key, value: op.value }) : canonicalJson({ op: op.op, key: op.key });
}

export function parseKvOp(op: string): KvOp | string {
  let v: unknown;
  try {
    v = JSON.parse(op);
  } catch {
    return 'operation is not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'operation is not an object';
  const o = v as Record<string, unknown>;
  if (typeof o.key !== 'string' || o.key.length === 0) return 'key must be a non-empty string';
  if (Buffer.byteLength(o.key) > MAX_KEY_BYTES) return `key longer than ${MAX_KEY_BYTES} bytes`;
  switch (o.op) {
    case 'put':
      if (typeof o.value !== 'string') return 'put needs a string value';
      if (Object.keys(o).length !== 3) return 'unexpected fields';
      return { op: 'put', key: o.key, value: o.value };
    case 'get':
    case 'del':
      if (Object.keys(o).length !== 2) return 'unexpected fields';
      return { op: o.op, key: o.key };
    default:
      return 'op must be put, get or del';
  }
}

export function parseKvResult(result: string): KvResult {
  try {
    const v = JSON.parse(result) as KvResult;
    if (v && typeof v === 'object' && (v.ok === true || v.ok === false)) return v;
  } catch {
    /* fall through */
  }
  return { ok: false, error: 'malformed result' };
}

/** canonicalJson({ ok: true, value }) without the generic encoder (keys "ok" < "value"): once per request */
function okResult(value: string | null): string {
  return `{"ok":true,"value":${value === null ? 'null' : JSON.stringify(value)}}`;
}

/** Parse a KV snapshot (a JSON array of [key, value] string pairs) into a digest-keeping map. */
function parseKvSnapshot(snapshot: string): DigestMap<string> {
  const v: unknown = JSON.parse(snapshot);
  if (!Array.isArray(v)) throw new Error('kv snapshot must be an array of [key, value] pairs');
  const next = newKvMap();
  for (const e of v) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'string') {
      throw new Error('kv snapshot entry must be [key, value] strings');
    }
    if (next.has(e[0])) throw new Error('kv snapshot holds a key twice');
    next.set(e[0], e[1]);
  }
  return next;
}

function newKvMap(): DigestMap<string> {
  return new DigestMap<string>(sha256Hex, 'pbft/kv');
}

/**
 * The store. Its digest is kept up to date as keys change (DigestMap, a partition tree of
 * SHA-256 digests): a checkpoint rehashes what changed since the last one. Its snapshot is the
 * entries as JSON, in no particular order, taken only when asked for.
 */
export class KvStore implements Application {
  private data = newKvMap();

  execute(op: string, _client: ClientId): string {
    const parsed = parseKvOp(op);
    if (typeof parsed === 'string') return canonicalJson({ ok: false, error: parsed });
    const prev = this.data.get(parsed.key) ?? null;
    if (parsed.op === 'put') this.data.set(parsed.key, parsed.value);
    else if (parsed.op === 'del') this.data.delete(parsed.key);
    return okResult(prev);
  }

  isReadOnly(op: string): boolean {
    const parsed = parseKvOp(op);
    return typeof parsed !== 'string' && parsed.op === 'get';
  }

  query(op: string, client: ClientId): string {
    if (!this.isReadOnly(op)) return canonicalJson({ ok: false, error: 'not a read-only operation' });
    return this.execute(op, client);
  }

  snapshot(): string {
    return this.data.text();
  }

  restore(snapshot: string): void {
    const next = parseKvSnapshot(snapshot);
    next.continueMarksOf(this.data); // a mark of the old state never names the new one
    this.data = next;
  }

  mark(): number {
    return this.data.mark();
  }

  snapshotAt(mark: number): string {
    return this.data.textAt(mark);
  }

  /** snapshot() and snapshotAt() give JSON: an array of [key, value] pairs */
  snapshotIsJson(_snapshot: string): boolean {
    return true;
  }

  release(mark: number): void {
    this.data.release(mark);
  }

  digest(): Hex {
    return this.data.digest();
  }

  snapshotDigest(snapshot: string): Hex {
    return parseKvSnapshot(snapshot).digest();
  }

  /** for tests and the corrupt-state fault */
  get size(): number {
    return this.data.size;
  }
  /** test/fault hook: silently change the state (used by the corrupt-state strategy) */
  corrupt(key: string, value: string): void {
    this.data.set(key, value);
  }
}
