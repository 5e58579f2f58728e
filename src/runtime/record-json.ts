/**
 * JSON of durable-log records and pre-prepares, with each batch of requests encoded once.
 *
 * One batch reaches a replica's durable log three times: in the `pre-prepare` record, inside
 * the prepared certificate of the `prepared` record, and in the `committed` record's entry (the
 * core puts the very same objects in all three: the slot's pre-prepare and its batch array), and
 * the primary also sends the pre-prepare to every backup. JSON.stringify would encode the
 * batch's requests (bodies, signatures, MAC authenticators: most of the bytes) each time; here
 * the JSON of a batch array and of a pre-prepare is remembered by object, so a batch is encoded
 * once per replica. Messages are never changed once made or parsed (the runtime's rule, see
 * Authenticator.requestDigests), so what was remembered stays right.
 *
 * The text is JSON.parse-equal to JSON.stringify's (test/unit/record-json.test.ts), and the
 * records' shapes are checked key by key before the fast path: anything else (another kind, an
 * extra or missing key, a Byzantine strategy's odd message) is encoded by JSON.stringify.
 */
import type { CommittedEntry, PersistRecord, PreparedCert, SignedPrePrepare } from '../core/types.js';

const batchJson = new WeakMap<object, string>();
const prePrepareJson = new WeakMap<object, string>();

function hasExactly(o: object, keys: readonly string[]): boolean {
  const own = Object.keys(o);
  if (own.length !== keys.length) return false;
  for (const k of keys) if ((o as Record<string, unknown>)[k] === undefined) return false;
  return true;
}

/**
 * A full checkpoint's snapshot goes into its record as it is, under `state`, rather than as a
 * JSON string under `snapshot` (which escapes every quote of the whole state again): every
 * snapshot a replica keeps is JSON text of an object, as the core writes it (wrapSnapshot) or
 * as it parsed and checked one from a peer before installing it. The storage reader turns
 * `state` back into `snapshot` (storage.ts, checkRecords). Anything else is a string: not an
 * object's braces, a lone surrogate (UTF-8 cannot carry it), or a newline (JSON whitespace, which
 * would cut the durable log's one-line frame in two; a snapshot from an older log may hold one).
 */
function embeddable(s: string): boolean {
  return (
    s.length >= 2 &&
    s.charCodeAt(0) === 0x7b &&
    s.charCodeAt(s.length - 1) === 0x7d &&
    !s.includes('\n') &&
    (s as string & { isWellFormed(): boolean }).isWellFormed()
  );
}

const PP_KEYS = ['body', 'sig', 'batch'] as const;
const CERT_KEYS = ['prePrepare', 'prepares'] as const;
const ENTRY_KEYS = ['view', 'seq', 'digest', 'batch', 'commits'] as const;

/** JSON of a batch array, remembered by array */
function jsonOfBatch(batch: readonly unknown[]): string {
  let s = batchJson.get(batch);
  if (s === undefined) {
    s = JSON.stringify(batch);
    batchJson.set(batch, s);
  }
  return s;
}

/** JSON of a message; a pre-prepare's is remembered by object, its batch's by array. */
export function messageJson(msg: unknown): string {
  if (typeof msg !== 'object' || msg === null) return JSON.stringify(msg);
  const known = prePrepareJson.get(msg);
  if (known !== undefined) return known;
  const pp = msg as Partial<SignedPrePrepare>;
  const body = pp.body as { type?: unknown } | undefined;
  if (typeof body !== 'object' || body === null || body.type !== 'pre-prepare' || !Array.isArray(pp.batch) || !hasExactly(msg, PP_KEYS))
    return JSON.stringify(msg);
  const s = `{"body":${JSON.stringify(pp.body)},"sig":${JSON.stringify(pp.sig)},"batch":${jsonOfBatch(pp.batch)}}`;
  prePrepareJson.set(msg, s);
  return s;
}

function recordJson(r: PersistRecord): string {
  switch (r.kind) {
    case 'pre-prepare':
      if (hasExactly(r, ['kind', 'msg'])) return `{"kind":"pre-prepare","msg":${messageJson(r.msg)}}`;
      break;
    case 'prepared': {
      const c: PreparedCert = r.cert;
      if (hasExactly(r, ['kind', 'cert']) && typeof c === 'object' && c !== null && hasExactly(c, CERT_KEYS))
        return `{"kind":"prepared","cert":{"prePrepare":${messageJson(c.prePrepare)},"prepares":${JSON.stringify(c.prepares)}}}`;
      break;
    }
    case 'committed': {
      const e: CommittedEntry = r.entry;
      if (hasExactly(r, ['kind', 'entry']) && typeof e === 'object' && e !== null && hasExactly(e, ENTRY_KEYS) && Array.isArray(e.batch))
        return `{"kind":"committed","entry":{"view":${JSON.stringify(e.view)},"seq":${JSON.stringify(e.seq)},"digest":${JSON.stringify(e.digest)},"batch":${jsonOfBatch(e.batch)},"commits":${JSON.stringify(e.commits)}}}`;
      break;
    }
    case 'checkpoint':
      if (r.snapshot !== undefined && embeddable(r.snapshot)) {
        const { snapshot, ...rest } = r;
        return `${JSON.stringify(rest).slice(0, -1)},"state":${snapshot}}`;
      }
      break;
  }
  return JSON.stringify(r);
}

/** JSON of a list of durable-log records: JSON.parse-equal to JSON.stringify(records). */
export function recordsJson(records: readonly PersistRecord[]): string {
  let s = '[';
  for (let i = 0; i < records.length; i++) {
    if (i > 0) s += ',';
    s += recordJson(records[i]!);
  }
  return `${s}]`;
}
