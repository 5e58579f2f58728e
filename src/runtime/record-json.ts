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

/** JSON of a batch array, remembered by array (each request's from its shell, which prePrepareJsonFor shares) */
function jsonOfBatch(batch: readonly unknown[]): string {
  let s = batchJson.get(batch);
  if (s === undefined) {
    const parts: string[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i];
      const shell = shellOf(r);
      parts[i] = shell === null ? JSON.stringify(r) : `${shell}${JSON.stringify((r as { mac: unknown[] }).mac).slice(1)}}`;
    }
    s = `[${parts.join(',')}]`;
    batchJson.set(batch, s);
  }
  return s;
}

/** `msg` as a pre-prepare of exactly the keys body, sig and batch (an array), or null */
function prePrepareShape(msg: unknown): SignedPrePrepare | null {
  if (typeof msg !== 'object' || msg === null) return null;
  const pp = msg as Partial<SignedPrePrepare>;
  const body = pp.body as { type?: unknown } | undefined;
  return typeof body === 'object' && body !== null && body.type === 'pre-prepare' && Array.isArray(pp.batch) && hasExactly(msg, PP_KEYS)
    ? (msg as SignedPrePrepare)
    : null;
}

/** a pre-prepare's JSON up to its batch: `{"body":…,"sig":…,"batch":` */
function prePrepareHead(pp: SignedPrePrepare): string {
  return `{"body":${JSON.stringify(pp.body)},"sig":${JSON.stringify(pp.sig)},"batch":`;
}

/** JSON of a message; a pre-prepare's is remembered by object, its batch's by array. */
export function messageJson(msg: unknown): string {
  if (typeof msg !== 'object' || msg === null) return JSON.stringify(msg);
  const known = prePrepareJson.get(msg);
  if (known !== undefined) return known;
  const pp = prePrepareShape(msg);
  if (pp === null) return JSON.stringify(msg);
  const s = `${prePrepareHead(pp)}${jsonOfBatch(pp.batch)}}`;
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

/**
 * Per request: `{"body":…,"sig":…,"mac":[` (its JSON up to the MAC entries), or null for a
 * request whose JSON is JSON.stringify's (no MAC authenticator, or a shape other than exactly
 * body, sig and a mac array). Shared by a batch's JSON for the durable log (jsonOfBatch) and the
 * pre-prepares sent (prePrepareJsonFor), so a primary encodes each request once.
 */
const requestShell = new WeakMap<object, string | null>();

function shellOf(r: unknown): string | null {
  if (typeof r !== 'object' || r === null) return null;
  let s = requestShell.get(r);
  if (s === undefined) {
    const q = r as { body?: unknown; sig?: unknown; mac?: unknown };
    s = Array.isArray(q.mac) && hasExactly(r, ['body', 'sig', 'mac']) ? `{"body":${JSON.stringify(q.body)},"sig":${JSON.stringify(q.sig)},"mac":[` : null;
    requestShell.set(r, s);
  }
  return s;
}

/** 'null,' repeated, by count (the MAC entries before the receiver's) */
const nullsBefore: string[] = [''];
/** ',null' repeated, by count (after it) */
const nullsAfter: string[] = [''];
function nulls(list: string[], piece: string, count: number): string {
  while (list.length <= count) list.push(list[list.length - 1]! + piece);
  return list[count]!;
}

/**
 * A pre-prepare as sent to replica `to`: each request's MAC authenticator keeps `to`'s entry
 * only (the others null), as a client's does for a replica it has no session with. A backup
 * checks its own entry alone (verifyRequestMac); the body and signature are sent whole (the
 * pre-prepare's digest and signature cover the bodies; the receiver's MAC entry covers its
 * request's body and signature, requestMacDigest). So each backup gets its n-th of the
 * authenticators: at n = 10 and 50 requests a pre-prepare carried about 17 KB of MACs to each of
 * nine backups. What a backup keeps is its own entry: a NEW-VIEW's pre-prepares and catch-up
 * entries are vouched for by their certificates, not by MACs, but a new primary that re-sends
 * a pre-prepare of its NEW-VIEW to a lagging backup has no entry of that backup's to give, and
 * the backup authenticates those requests by their signatures (or 2f prepares vouch for them).
 *
 * Returns a function of the receiver, or null when `msg` is not a pre-prepare in the shape
 * messageJson encodes (send messageJson's text then). Requests whose shell is null go as
 * JSON.stringify writes them.
 */
export function prePrepareJsonFor(msg: unknown, n: number): ((to: number) => string) | null {
  const pp = prePrepareShape(msg);
  if (pp === null) return null;
  const batch = pp.batch as unknown[];
  // (a MAC vector of another length than n goes whole)
  const shells = batch.map((r) => {
    const s = shellOf(r);
    return s !== null && (r as { mac: unknown[] }).mac.length === n ? s : null;
  });
  if (shells.every((s) => s === null)) {
    const whole = messageJson(msg);
    return () => whole;
  }
  const head = `${prePrepareHead(pp)}[`;
  const plain = shells.map((s, i) => (s === null ? JSON.stringify(batch[i]) : ''));
  return (to) => {
    if (!Number.isInteger(to) || to < 0 || to >= n) return messageJson(msg);
    const before = nulls(nullsBefore, 'null,', to);
    const after = nulls(nullsAfter, ',null', n - 1 - to);
    const parts: string[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const s = shells[i]!;
      if (s === null) parts[i] = plain[i]!;
      else {
        const m = (batch[i] as { mac: unknown[] }).mac[to];
        parts[i] = `${s}${before}${typeof m === 'string' ? JSON.stringify(m) : 'null'}${after}]}`;
      }
    }
    return `${head}${parts.join(',')}]}`;
  };
}
