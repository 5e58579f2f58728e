/**
 * Building, signing, digesting and strictly validating protocol messages.
 *
 * Validation here is structural (shape, types, ranges, sizes, no unknown keys), so anything
 * that passes has exactly one canonical encoding. Signatures, membership and protocol rules are
 * checked by the replica, which knows the context.
 */
import { canonicalBytes, canonicalJson, deepFreeze, memoFrozen, utf8 } from './canonical.js';
import type {
  Authenticator,
  CatchUpBody,
  CheckpointBody,
  CommitBody,
  CommittedEntry,
  FetchStateBody,
  Hex,
  MessageType,
  NewViewBody,
  PrePrepareBody,
  PreparedCert,
  PrepareBody,
  ProtocolParams,
  ReplicaMessage,
  ReplyBody,
  RequestBody,
  Signed,
  SignedPrePrepare,
  SignedReply,
  SignedRequest,
  StateBody,
  StatusBody,
  ViewChangeBody,
} from './types.js';

export function sign<B>(auth: Authenticator, body: B): Signed<B> {
  if (auth.freezeSigned) deepFreeze(body);
  return { body, sig: auth.sign(canonicalBytes(body)) };
}

/** `compute()`, remembered in `memo` when `key` is frozen (see Authenticator.frozenMemo). */
function memoized<T>(memo: WeakMap<object, T> | undefined, key: object, compute: () => T): T {
  return memo ? memoFrozen(memo, key, compute) : compute();
}

export function verifyReplicaSig(auth: Authenticator, m: Signed<{ replica: number }>): boolean {
  return memoized(auth.frozenMemo?.replicaSig, m, () => auth.verifyReplica(m.body.replica, canonicalBytes(m.body), m.sig));
}

export function verifyClientSig(auth: Authenticator, m: SignedRequest): boolean {
  return memoized(auth.frozenMemo?.clientSig, m, () => auth.verifyClient(m.body.client, canonicalBytes(m.body), m.sig));
}

export function requestDigest(auth: Authenticator, req: SignedRequest): Hex {
  const known = auth.requestDigests;
  if (known !== undefined) {
    let d = known.get(req.body);
    if (d === undefined) {
      d = auth.hash(canonicalBytes(req.body));
      known.set(req.body, d);
    }
    return d;
  }
  return memoized(auth.frozenMemo?.digest, req, () => auth.hash(canonicalBytes(req.body)));
}

/** Batch digest: hash of the canonical list of request digests. The null request is []. */
export function batchDigest(auth: Authenticator, batch: SignedRequest[]): Hex {
  return memoized(auth.frozenMemo?.digest, batch, () => auth.hash(utf8(canonicalJson(batch.map((r) => requestDigest(auth, r))))));
}

export function makePrePrepare(auth: Authenticator, view: number, seq: number, replica: number, batch: SignedRequest[]): SignedPrePrepare {
  const body: PrePrepareBody = { type: 'pre-prepare', view, seq, digest: batchDigest(auth, batch), replica };
  return { ...sign(auth, body), batch };
}

export function makeRequest(auth: Authenticator, client: string, timestamp: number, op: string, readOnly = false): SignedRequest {
  return sign<RequestBody>(auth, { type: 'request', client, timestamp, op, readOnly });
}

/**
 * What a request's MAC authenticator covers: its digest AND its signature. So a valid MAC vouches
 * for the very signature sent with it: a copy whose signature someone else replaced (a Byzantine
 * replica forwarding an honest client's request) is not authenticated by the client's MACs, and a
 * valid MAC beside a bad signature is the client's own doing.
 */
export function requestMacDigest(auth: Authenticator, req: SignedRequest): Hex {
  return auth.hash(utf8(`pbft-request-mac/1\n${requestDigest(auth, req)}\n${req.sig}`));
}

/**
 * The request with a fresh MAC authenticator from the client's current session keys (none when
 * the authenticator has no session table, or no session at all).
 */
export function withMacs(auth: Authenticator, req: SignedRequest): SignedRequest {
  const macs = auth.macs;
  const plain: SignedRequest = { body: req.body, sig: req.sig };
  if (!macs) return plain;
  const vec = macs.requestMacs(requestMacDigest(auth, req));
  return vec.some((m) => m !== null) ? { ...plain, mac: vec } : plain;
}

/**
 * Replica `id`'s check of its own entry of a request's MAC authenticator: true only for a valid
 * MAC under the session key it shares with the request's client. (Absent, null or wrong: false,
 * and the caller falls back to the client's signature.)
 */
export function verifyRequestMac(auth: Authenticator, req: SignedRequest, id: number): boolean {
  const mac = req.mac?.[id];
  if (typeof mac !== 'string' || !auth.macs) return false;
  return auth.macs.verifyRequestMac(req.body.client, requestMacDigest(auth, req), mac);
}

// ---------------------------------------------------------------------------------------
// Structural validation
// ---------------------------------------------------------------------------------------

export interface Limits {
  n: number;
  maxBatchSize: number;
  maxOpBytes: number;
  /** most prepared certificates / O entries / catch-up entries in one message */
  maxEntries: number;
  maxSnapshotBytes: number;
}

export function limitsFor(p: ProtocolParams): Limits {
  return {
    n: p.n,
    maxBatchSize: p.maxBatchSize,
    maxOpBytes: p.maxOpBytes,
    maxEntries: p.logWindow,
    maxSnapshotBytes: 256 * 1024 * 1024,
  };
}

class Invalid extends Error {}

function fail(what: string): never {
  throw new Invalid(what);
}

type Obj = Record<string, unknown>;
function obj(v: unknown, what: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${what} is not an object`);
  return v as Obj;
}
function keys(o: Obj, allowed: readonly string[], what: string): void {
  const ks = Object.keys(o);
  if (ks.length !== allowed.length) fail(`${what} has ${ks.length} fields, expected ${allowed.length}`);
  for (const k of ks) if (!allowed.includes(k)) fail(`${what} has unexpected field ${k}`);
}
function nat(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} is not a non-negative integer`);
  return v;
}
const HEX64 = /^[0-9a-f]{64}$/;
const SIG = /^[0-9a-f]{64,128}$/;
/** a MAC: HMAC-SHA256 truncated to 16 bytes */
export const MAC_RE = /^[0-9a-f]{32}$/;
function hex64(v: unknown, what: string): Hex {
  if (typeof v !== 'string' || !HEX64.test(v)) fail(`${what} is not a 32-byte hex digest`);
  return v;
}
function sig(v: unknown, what: string): Hex {
  if (typeof v !== 'string' || !SIG.test(v)) fail(`${what} is not a hex signature`);
  return v;
}
function replicaId(v: unknown, l: Limits, what: string): number {
  const id = nat(v, what);
  if (id >= l.n) fail(`${what} ${id} is not a member`);
  return id;
}
function arr(v: unknown, max: number, what: string): unknown[] {
  if (!Array.isArray(v)) fail(`${what} is not an array`);
  if (v.length > max) fail(`${what} has ${v.length} items, more than ${max}`);
  return v;
}
function str(v: unknown, maxBytes: number, what: string): string {
  if (typeof v !== 'string') fail(`${what} is not a string`);
  if (v.length > maxBytes || (v.length * 3 > maxBytes && Buffer.byteLength(v) > maxBytes)) fail(`${what} is larger than ${maxBytes} bytes`);
  return v;
}
function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') fail(`${what} is not a boolean`);
  return v;
}
function type(o: Obj, t: MessageType, what: string): void {
  if (o.type !== t) fail(`${what} is not a ${t}`);
}

const MAX_CLIENT_ID = 256;

function signedShell(v: unknown, what: string, extra: readonly string[] = []): Obj {
  const o = obj(v, what);
  keys(o, ['body', 'sig', ...extra], what);
  sig(o.sig, `${what}.sig`);
  return obj(o.body, `${what}.body`);
}

function vRequest(v: unknown, l: Limits, what = 'request'): SignedRequest {
  const hasMac = typeof v === 'object' && v !== null && 'mac' in v;
  const b = signedShell(v, what, hasMac ? ['mac'] : []);
  if (hasMac) {
    const m = arr((v as Obj).mac, l.n, `${what}.mac`);
    if (m.length !== l.n) fail(`${what}.mac has ${m.length} entries, expected ${l.n}`);
    for (let i = 0; i < m.length; i++) if (m[i] !== null && (typeof m[i] !== 'string' || !MAC_RE.test(m[i] as string))) fail(`${what}.mac[${i}] is not a MAC`);
  }
  keys(b, ['type', 'client', 'timestamp', 'op', 'readOnly'], what);
  type(b, 'request', what);
  str(b.client, MAX_CLIENT_ID, `${what}.client`);
  if ((b.client as string).length === 0) fail(`${what}.client is empty`);
  nat(b.timestamp, `${what}.timestamp`);
  str(b.op, l.maxOpBytes, `${what}.op`);
  bool(b.readOnly, `${what}.readOnly`);
  return v as SignedRequest;
}

function vReply(v: unknown, l: Limits, what = 'reply'): SignedReply {
  const o = obj(v, what);
  let b: Obj;
  if ('mac' in o) {
    keys(o, ['body', 'mac'], what);
    if (typeof o.mac !== 'string' || !MAC_RE.test(o.mac)) fail(`${what}.mac is not a MAC`);
    b = obj(o.body, `${what}.body`);
  } else {
    b = signedShell(v, what);
  }
  keys(b, ['type', 'view', 'timestamp', 'client', 'replica', 'result', 'tentative'], what);
  type(b, 'reply', what);
  nat(b.view, `${what}.view`);
  nat(b.timestamp, `${what}.timestamp`);
  str(b.client, MAX_CLIENT_ID, `${what}.client`);
  replicaId(b.replica, l, `${what}.replica`);
  str(b.result, l.maxOpBytes * 4 + 1024, `${what}.result`);
  bool(b.tentative, `${what}.tentative`);
  return v as SignedReply;
}

function vPrePrepare(v: unknown, l: Limits, what = 'pre-prepare'): SignedPrePrepare {
  const b = signedShell(v, what, ['batch']);
  keys(b, ['type', 'view', 'seq', 'digest', 'replica'], what);
  type(b, 'pre-prepare', what);
  nat(b.view, `${what}.view`);
  nat(b.seq, `${what}.seq`);
  hex64(b.digest, `${what}.digest`);
  replicaId(b.replica, l, `${what}.replica`);
  const batch = arr((v as Obj).batch, l.maxBatchSize, `${what}.batch`);
  batch.forEach((r, i) => vRequest(r, l, `${what}.batch[${i}]`));
  return v as SignedPrePrepare;
}

function vVote<T extends 'prepare' | 'commit'>(t: T, v: unknown, l: Limits, what: string): T extends 'prepare' ? Signed<PrepareBody> : Signed<CommitBody> {
  const b = signedShell(v, what);
  keys(b, ['type', 'view', 'seq', 'digest', 'replica'], what);
  type(b, t, what);
  nat(b.view, `${what}.view`);
  nat(b.seq, `${what}.seq`);
  hex64(b.digest, `${what}.digest`);
  replicaId(b.replica, l, `${what}.replica`);
  return v as T extends 'prepare' ? Signed<PrepareBody> : Signed<CommitBody>;
}

function vCheckpoint(v: unknown, l: Limits, what = 'checkpoint'): Signed<CheckpointBody> {
  const b = signedShell(v, what);
  keys(b, ['type', 'seq', 'digest', 'replica'], what);
  type(b, 'checkpoint', what);
  nat(b.seq, `${what}.seq`);
  hex64(b.digest, `${what}.digest`);
  replicaId(b.replica, l, `${what}.replica`);
  return v as Signed<CheckpointBody>;
}

function vPreparedCert(v: unknown, l: Limits, what: string): PreparedCert {
  const o = obj(v, what);
  keys(o, ['prePrepare', 'prepares'], what);
  vPrePrepare(o.prePrepare, l, `${what}.prePrepare`);
  arr(o.prepares, l.n, `${what}.prepares`).forEach((p, i) => vVote('prepare', p, l, `${what}.prepares[${i}]`));
  return v as PreparedCert;
}

function vViewChange(v: unknown, l: Limits, what = 'view-change'): Signed<ViewChangeBody> {
  const b = signedShell(v, what);
  keys(b, ['type', 'newView', 'stableSeq', 'checkpointProof', 'prepared', 'replica'], what);
  type(b, 'view-change', what);
  nat(b.newView, `${what}.newView`);
  nat(b.stableSeq, `${what}.stableSeq`);
  arr(b.checkpointProof, l.n, `${what}.checkpointProof`).forEach((c, i) => vCheckpoint(c, l, `${what}.checkpointProof[${i}]`));
  arr(b.prepared, l.maxEntries, `${what}.prepared`).forEach((c, i) => vPreparedCert(c, l, `${what}.prepared[${i}]`));
  replicaId(b.replica, l, `${what}.replica`);
  return v as Signed<ViewChangeBody>;
}

function vNewView(v: unknown, l: Limits, what = 'new-view'): Signed<NewViewBody> {
  const b = signedShell(v, what);
  keys(b, ['type', 'newView', 'viewChanges', 'prePrepares', 'replica'], what);
  type(b, 'new-view', what);
  nat(b.newView, `${what}.newView`);
  arr(b.viewChanges, l.n, `${what}.viewChanges`).forEach((c, i) => vViewChange(c, l, `${what}.viewChanges[${i}]`));
  arr(b.prePrepares, l.maxEntries, `${what}.prePrepares`).forEach((c, i) => vPrePrepare(c, l, `${what}.prePrepares[${i}]`));
  replicaId(b.replica, l, `${what}.replica`);
  return v as Signed<NewViewBody>;
}

const STATUS_KEYS = ['type', 'view', 'viewChanging', 'lastExecuted', 'stableSeq', 'replica'] as const;
const STATUS_OPTIONAL_KEYS = ['recoveringAfter', 'recoveringUntil'] as const;
function vStatus(v: unknown, l: Limits, what = 'status'): Signed<StatusBody> {
  const b = signedShell(v, what);
  keys(b, [...STATUS_KEYS, ...STATUS_OPTIONAL_KEYS.filter((k) => k in b)], what);
  type(b, 'status', what);
  for (const k of STATUS_OPTIONAL_KEYS) if (k in b) nat(b[k], `${what}.${k}`);
  nat(b.view, `${what}.view`);
  bool(b.viewChanging, `${what}.viewChanging`);
  nat(b.lastExecuted, `${what}.lastExecuted`);
  nat(b.stableSeq, `${what}.stableSeq`);
  replicaId(b.replica, l, `${what}.replica`);
  return v as Signed<StatusBody>;
}

function vEntry(v: unknown, l: Limits, what: string): CommittedEntry {
  const o = obj(v, what);
  keys(o, ['view', 'seq', 'digest', 'batch', 'commits'], what);
  nat(o.view, `${what}.view`);
  nat(o.seq, `${what}.seq`);
  hex64(o.digest, `${what}.digest`);
  arr(o.batch, l.maxBatchSize, `${what}.batch`).forEach((r, i) => vRequest(r, l, `${what}.batch[${i}]`));
  arr(o.commits, l.n, `${what}.commits`).forEach((c, i) => vVote('commit', c, l, `${what}.commits[${i}]`));
  return v as CommittedEntry;
}

function vCatchUp(v: unknown, l: Limits, what = 'catch-up'): Signed<CatchUpBody> {
  const b = signedShell(v, what);
  keys(b, ['type', 'entries', 'replica'], what);
  type(b, 'catch-up', what);
  arr(b.entries, l.maxEntries, `${what}.entries`).forEach((e, i) => vEntry(e, l, `${what}.entries[${i}]`));
  replicaId(b.replica, l, `${what}.replica`);
  return v as Signed<CatchUpBody>;
}

function vFetchState(v: unknown, l: Limits, what = 'fetch-state'): Signed<FetchStateBody> {
  const b = signedShell(v, what);
  keys(b, ['type', 'seq', 'replica'], what);
  type(b, 'fetch-state', what);
  nat(b.seq, `${what}.seq`);
  replicaId(b.replica, l, `${what}.replica`);
  return v as Signed<FetchStateBody>;
}

function vState(v: unknown, l: Limits, what = 'state'): Signed<StateBody> {
  const b = signedShell(v, what);
  keys(b, ['type', 'seq', 'digest', 'snapshot', 'proof', 'replica'], what);
  type(b, 'state', what);
  nat(b.seq, `${what}.seq`);
  hex64(b.digest, `${what}.digest`);
  str(b.snapshot, l.maxSnapshotBytes, `${what}.snapshot`);
  arr(b.proof, l.n, `${what}.proof`).forEach((c, i) => vCheckpoint(c, l, `${what}.proof[${i}]`));
  replicaId(b.replica, l, `${what}.replica`);
  return v as Signed<StateBody>;
}

export type Parsed<T> = { ok: true; msg: T } | { ok: false; error: string };

function guard<T>(f: () => T): Parsed<T> {
  try {
    return { ok: true, msg: f() };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.message };
    return { ok: false, error: `unparseable: ${(e as Error).message}` };
  }
}

/**
 * Verdicts on FROZEN messages, by limits: a frozen message cannot change, so neither can its
 * verdict (the simulator deep-freezes what it delivers, and delivers one message to many).
 */
const parsedFrozen = new Map<string, WeakMap<object, Parsed<ReplicaMessage>>>();
const memoOfLimits = new WeakMap<Limits, WeakMap<object, Parsed<ReplicaMessage>>>();

function parsedMemo(l: Limits): WeakMap<object, Parsed<ReplicaMessage>> {
  let memo = memoOfLimits.get(l);
  if (memo) return memo;
  // equal limits share one memo (every replica of a simulated cluster has its own Limits object)
  const key = `${l.n}/${l.maxBatchSize}/${l.maxOpBytes}/${l.maxEntries}/${l.maxSnapshotBytes}`;
  memo = parsedFrozen.get(key);
  if (!memo) {
    if (parsedFrozen.size >= 64) parsedFrozen.clear();
    memo = new WeakMap();
    parsedFrozen.set(key, memo);
  }
  memoOfLimits.set(l, memo);
  return memo;
}

/** Validate a message received from a replica. */
export function parseReplicaMessage(raw: unknown, l: Limits): Parsed<ReplicaMessage> {
  if (typeof raw !== 'object' || raw === null || !Object.isFrozen(raw)) return parseReplicaMessageFresh(raw, l);
  return memoFrozen(parsedMemo(l), raw, () => parseReplicaMessageFresh(raw, l));
}

function parseReplicaMessageFresh(raw: unknown, l: Limits): Parsed<ReplicaMessage> {
  return guard(() => {
    const o = obj(raw, 'message');
    const body = obj(o.body, 'message.body');
    switch (body.type) {
      case 'request':
        return vRequest(raw, l);
      case 'pre-prepare':
        return vPrePrepare(raw, l);
      case 'prepare':
        return vVote('prepare', raw, l, 'prepare');
      case 'commit':
        return vVote('commit', raw, l, 'commit');
      case 'checkpoint':
        return vCheckpoint(raw, l);
      case 'view-change':
        return vViewChange(raw, l);
      case 'new-view':
        return vNewView(raw, l);
      case 'status':
        return vStatus(raw, l);
      case 'catch-up':
        return vCatchUp(raw, l);
      case 'fetch-state':
        return vFetchState(raw, l);
      case 'state':
        return vState(raw, l);
      default:
        return fail(`unknown message type ${JSON.stringify(body.type)?.slice(0, 40)}`);
    }
  });
}

export function parseRequest(raw: unknown, l: Limits): Parsed<SignedRequest> {
  return guard(() => vRequest(raw, l));
}

export function parseReply(raw: unknown, l: Limits): Parsed<SignedReply> {
  return guard(() => vReply(raw, l));
}

/** A reply: MAC'd under the client's session key when there is one, else signed. */
export function makeReply(auth: Authenticator, body: Omit<ReplyBody, 'type'>): SignedReply {
  const full: ReplyBody = { type: 'reply', ...body };
  const mac = auth.macs?.replyMac(full.client, canonicalBytes(full)) ?? null;
  return mac !== null ? { body: full, mac } : sign<ReplyBody>(auth, full);
}

/** A client's check of a reply from replica `from`: its session MAC, or its signature. */
export function verifyReply(auth: Authenticator, rep: SignedReply): 'ok' | 'bad-mac' | 'bad-signature' {
  if (rep.mac !== undefined) return auth.macs?.verifyReplyMac(rep.body.replica, canonicalBytes(rep.body), rep.mac) ? 'ok' : 'bad-mac';
  return rep.sig !== undefined && verifyReplicaSig(auth, rep as Signed<ReplyBody>) ? 'ok' : 'bad-signature';
}
