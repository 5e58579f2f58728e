/**
 * fuzz: a structure-aware Byzantine fuzzer, after ByzzFuzz (Winter, Buse, de Graaf, von
 * Gleissenthall and Kulahcioglu Ozkan, "Randomized Testing of Byzantine Fault Tolerant
 * Algorithms", OOPSLA 2023).
 *
 * The other strategies of the catalogue play attacks someone imagined; this one looks for
 * attacks by itself. It wraps the HONEST core, so the replica stays a credible participant (it
 * votes, checkpoints and changes views like everyone else), and:
 *
 * 1. keeps a bounded POOL of real protocol material: what it received (signatures checked) and
 *    what its own core sent or made durable: signed requests and batches, pre-prepares,
 *    prepares, commits, checkpoints and checkpoint proofs, prepared certificates, view-changes,
 *    new-views, commit certificates, snapshots with their proofs, STATUS, views and seqs;
 * 2. now and then BUILDS well-formed messages of every replica message type from the pool,
 *    signed with its own key or a colluder's: real digests, requests and certificates, at views
 *    and seqs picked at the boundaries the core checks (current view and ±1, far future; the
 *    watermarks h and H, H+1, H+K, 2^31, near Number.MAX_SAFE_INTEGER), and SETS (O and V of a
 *    NEW-VIEW, the certificates and checkpoint proof of a VIEW-CHANGE, the prepares of a
 *    certificate, catch-up entries and their commits, state proofs) with one entry repeated,
 *    left out, reordered or replaced by a stale or future one. Real signatures of other
 *    replicas are valid inside such sets: it cannot forge new ones, but it can reuse them;
 * 3. applies SMALL-SCOPE mutations to its core's own messages — ByzzFuzz's observation: one
 *    field changed a little (a view or seq off by one, another real digest, one set edited) is
 *    what reaches protocol logic, where random bytes only reach the parser — re-signed, and
 *    sends the mutated version to a random part of the peers and the original to the rest
 *    (equivocation along a partition);
 * 4. plays attacks that need memory: a NEW-VIEW whose O repeats one seq and omits another, then
 *    a pre-prepare with another real batch (and votes) at the omitted seq;
 * 5. colludes: given `ctx.colluders` (the other Byzantine replicas of the run, with their keys)
 *    and `ctx.shared`, the fuzz instances of a run share one pool, sign sets with all their
 *    keys, and hand each other messages to send under their own names (an outbox per replica).
 *
 * Every decision draws from ctx.rng, so a seed replays exactly; the rates themselves are drawn
 * from it once per instance, so different seeds explore differently. It never throws (an
 * internal error is counted as `internal-error` and the core's actions go out unchanged) and
 * never mutates what it is given: every message it sends is built new, so frozen inputs are fine.
 */
import { utf8 } from '../../core/canonical.js';
import { batchDigest, parseReplicaMessage, parseRequest, sign, verifyClientSig, verifyReplicaSig } from '../../core/messages.js';
import { quorums } from '../../core/quorum.js';
import { computeO } from '../../core/view-change.js';
import { snapshotStateDigest } from '../../core/replica.js';
import { KvStore } from '../../app/kv.js';
import type {
  Authenticator,
  CatchUpBody,
  CheckpointBody,
  CommitBody,
  CommittedEntry,
  FetchStateBody,
  Hex,
  NewViewBody,
  PersistRecord,
  PrePrepareBody,
  PreparedCert,
  PrepareBody,
  ReplicaAction,
  ReplicaEvent,
  ReplicaId,
  ReplicaMessage,
  Signed,
  SignedPrePrepare,
  SignedRequest,
  StateBody,
  StatusBody,
  ViewChangeBody,
} from '../../core/types.js';
import type { Colluder, StrategyContext } from '../types.js';
import { otherDigest, pick, randInt, randomHex, shuffle, targets, typeOf, withMsg, type OutMessage } from '../util.js';
import { BaseStrategy } from './base.js';

// ---------------------------------------------------------------------------------------------
// Limits: everything the fuzzer keeps is bounded, whatever the run length or the peers send
// ---------------------------------------------------------------------------------------------

/** Most items the pool keeps of each kind (the oldest is evicted first). */
export const FUZZ_POOL_LIMITS = {
  requests: 256,
  batches: 128,
  prePrepares: 256,
  prepares: 384,
  commits: 384,
  checkpoints: 256,
  proofs: 32,
  snapshots: 4,
  certs: 128,
  entries: 128,
  viewChanges: 96,
  /** a NEW-VIEW nests 2f+1 view-changes: few are worth keeping */
  newViews: 8,
  statuses: 32,
  seqs: 128,
} as const;
/** snapshots longer than this are not pooled (a STATE message carries the whole snapshot) */
const MAX_POOLED_SNAPSHOT_CHARS = 256 * 1024;
/** signature checks spent on pooling one inbound message (a NEW-VIEW nests hundreds) */
const VERIFY_BUDGET_PER_MESSAGE = 48;
/** messages queued for one colluder to send under its own name */
const OUTBOX_LIMIT = 32;
/** follow-up steps (e.g. pre-prepares at the seqs a NEW-VIEW omitted) waiting for a later output */
const DEFERRED_LIMIT = 32;
/** answers to peers' requests waiting for its core's next output */
const REACTIONS_LIMIT = 8;
/** (peer, checkpoint) pairs remembered so that a lagging peer gets one unasked-for STATE per checkpoint */
const PREEMPTED_LIMIT = 64;
/** the replica state of a fresh KV store with no clients (src/core/replica.ts snapshotState): restorable */
const EMPTY_STATE_SNAPSHOT = '{"app":"[]","clients":[]}';
/** outputs between two summary lines in the fault log: the simulator's trace ring is small */
const NOTE_EVERY_OUTPUTS = 128;
/** follow-ups go out this many outputs after the message that set them up (at most) */
const FOLLOW_UP_MAX_DELAY_OUTPUTS = 4;
/** catch-up entries per generated CATCH-UP (an honest replica sends at most 16 too) */
const MAX_GENERATED_ENTRIES = 16;
/** prepared certificates in most generated VIEW-CHANGEs (the others carry all it has) */
const MAX_GENERATED_CERTS = 4;
/** far-future views and seqs start here: well past any window, still a valid safe integer */
const FAR_2_31 = 2 ** 31;
/** far-future numbers near Number.MAX_SAFE_INTEGER stay at least this many steps below it (room for ±1, +K) */
const FAR_HEADROOM = 1 << 10;
/** the highest watermark it tracks (see clampSeq) */
const MAX_TRACKED_SEQ = 2 ** 50;
/** the shared-blackboard key of the pool that colluding fuzz instances share */
export const FUZZ_POOL_KEY = 'fuzz/pool';

/** inbound kinds every peer sends for every seq or period: only a sample is pooled */
const PLENTIFUL = new Set<string>(['prepare', 'commit', 'status', 'checkpoint']);
/** the share of PLENTIFUL inbound messages pooled */
const PLENTIFUL_SAMPLE = 0.3;
/** messages an honest replica accepts from any sender (they carry their own proof) */
const RELAYABLE = new Set<string>(['checkpoint', 'view-change', 'new-view']);

export const FUZZ_GENERATORS = [
  'request',
  'pre-prepare',
  'equivocation',
  'prepare',
  'commit',
  'checkpoint',
  'view-change',
  'new-view',
  'status',
  'catch-up',
  'fetch-state',
  'state',
  'collude',
] as const;
export type FuzzGenerator = (typeof FUZZ_GENERATORS)[number];

/**
 * Relative weights before the per-instance draw: lower for kinds that draw replies (status,
 * fetch-state) and for costly ones (view-change, new-view: each receiver checks dozens of
 * signatures, and the simulator's budget is CPU).
 */
const BASE_WEIGHT: Record<FuzzGenerator, number> = {
  request: 0.4,
  'pre-prepare': 1,
  equivocation: 0.8,
  prepare: 1,
  commit: 1,
  checkpoint: 1,
  'view-change': 0.5,
  'new-view': 0.2,
  status: 0.4,
  'catch-up': 0.6,
  'fetch-state': 0.3,
  state: 0.6,
  collude: 0.6,
};

export type SetEdit = 'repeat' | 'omit' | 'reorder' | 'replace' | 'repeat-omit';

/** Where a seq lies relative to the sender's window (h, H], for the counters. */
export type SeqClass = 'stale' | 'in-window' | 'just-outside' | 'far-future';

/** A message to send: to everyone but the sender ('all') or to some replicas. */
export interface Outgoing {
  msg: ReplicaMessage;
  to: ReplicaId[] | 'all';
}

export interface ProvenCheckpoint {
  seq: number;
  digest: Hex;
  proof: Signed<CheckpointBody>[];
}
export interface PooledSnapshot extends ProvenCheckpoint {
  snapshot: string;
}

// ---------------------------------------------------------------------------------------------
// The pool
// ---------------------------------------------------------------------------------------------

/** A bounded pool of one kind: deduplicated by key, oldest evicted first, random pick in O(1). */
export class Bag<T> {
  private readonly items: T[] = [];
  private readonly order: string[] = [];
  private readonly index = new Set<string>();
  constructor(readonly capacity: number) {}

  /** false when the key is already there */
  add(key: string, item: T): boolean {
    if (this.index.has(key)) return false;
    this.items.push(item);
    this.order.push(key);
    this.index.add(key);
    if (this.items.length > this.capacity) {
      const drop = this.items.length - this.capacity;
      for (const k of this.order.splice(0, drop)) this.index.delete(k);
      this.items.splice(0, drop);
    }
    return true;
  }
  has(key: string): boolean {
    return this.index.has(key);
  }
  get size(): number {
    return this.items.length;
  }
  all(): readonly T[] {
    return this.items;
  }
  pick(rng: () => number): T | undefined {
    return this.items.length === 0 ? undefined : this.items[Math.floor(rng() * this.items.length)];
  }
}

/**
 * What the fuzzer has seen, by kind. One pool per fuzz instance, or one per run shared by the
 * colluding instances (ctx.shared). Items are stored as received: never modified.
 */
export class FuzzPool {
  readonly requests = new Bag<SignedRequest>(FUZZ_POOL_LIMITS.requests);
  /** real batches by digest (the null batch included once seen) */
  readonly batches = new Bag<{ digest: Hex; batch: SignedRequest[] }>(FUZZ_POOL_LIMITS.batches);
  readonly prePrepares = new Bag<SignedPrePrepare>(FUZZ_POOL_LIMITS.prePrepares);
  readonly prepares = new Bag<Signed<PrepareBody>>(FUZZ_POOL_LIMITS.prepares);
  readonly commits = new Bag<Signed<CommitBody>>(FUZZ_POOL_LIMITS.commits);
  readonly checkpoints = new Bag<Signed<CheckpointBody>>(FUZZ_POOL_LIMITS.checkpoints);
  /** checkpoint proofs (2f+1 matching checkpoints) by seq and digest */
  readonly proofs = new Bag<ProvenCheckpoint>(FUZZ_POOL_LIMITS.proofs);
  readonly snapshots = new Bag<PooledSnapshot>(FUZZ_POOL_LIMITS.snapshots);
  /** prepared certificates, by their pre-prepare */
  readonly certs = new Bag<PreparedCert>(FUZZ_POOL_LIMITS.certs);
  /** commit certificates (CommittedEntry) */
  readonly entries = new Bag<CommittedEntry>(FUZZ_POOL_LIMITS.entries);
  readonly viewChanges = new Bag<Signed<ViewChangeBody>>(FUZZ_POOL_LIMITS.viewChanges);
  readonly newViews = new Bag<Signed<NewViewBody>>(FUZZ_POOL_LIMITS.newViews);
  readonly statuses = new Bag<Signed<StatusBody>>(FUZZ_POOL_LIMITS.statuses);
  /** sequence numbers seen in any message */
  readonly seqs = new Bag<number>(FUZZ_POOL_LIMITS.seqs);
  /** the highest view seen (within what a core would accept) */
  maxView = 0;
  private readonly outboxes = new Map<ReplicaId, Outgoing[]>();

  /** queue a message for replica `signer` (a colluder) to send under its own name */
  queue(signer: ReplicaId, item: Outgoing): void {
    let box = this.outboxes.get(signer);
    if (!box) {
      box = [];
      this.outboxes.set(signer, box);
    }
    box.push(item);
    if (box.length > OUTBOX_LIMIT) box.splice(0, box.length - OUTBOX_LIMIT);
  }

  /** what the colluders queued for `self`, emptied */
  take(self: ReplicaId): Outgoing[] {
    const box = this.outboxes.get(self);
    if (!box || box.length === 0) return [];
    this.outboxes.set(self, []);
    return box;
  }

  /** is a signed message with this signature pooled (any kind keyed by signature)? */
  knows(sig: string): boolean {
    return (
      this.prePrepares.has(sig) ||
      this.viewChanges.has(sig) ||
      this.newViews.has(sig) ||
      this.requests.has(sig) ||
      this.prepares.has(sig) ||
      this.commits.has(sig) ||
      this.checkpoints.has(sig) ||
      this.statuses.has(sig)
    );
  }

  /** how many items it holds, by kind (tests, and to check the bounds) */
  sizes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this)) if (v instanceof Bag) out[k] = v.size;
    let queued = 0;
    for (const b of this.outboxes.values()) queued += b.length;
    out.outboxes = queued;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Small pure helpers
// ---------------------------------------------------------------------------------------------

/**
 * A copy of `items` with one edit: an entry repeated, left out, two swapped, one replaced by (or
 * one added from) `fresh`, or one overwritten by another (repeat one, omit one: the count stays).
 * Null when no edit applies. Never longer than `max` (a longer set would only meet the parser).
 */
export function editSet<T>(rng: () => number, items: readonly T[], fresh: readonly T[], max: number, prefer?: SetEdit): { items: T[]; edit: SetEdit } | null {
  const edits: SetEdit[] = [];
  if (items.length >= 1 && items.length < max) edits.push('repeat');
  if (items.length >= 1) edits.push('omit');
  if (items.length >= 2) edits.push('reorder', 'repeat-omit');
  if (fresh.length > 0) edits.push('replace');
  if (edits.length === 0) return null;
  const edit = prefer !== undefined && edits.includes(prefer) ? prefer : pick(rng, edits);
  const out = items.slice();
  const at = Math.floor(rng() * out.length);
  switch (edit) {
    case 'repeat':
      out.splice(randInt(rng, 0, out.length), 0, out[at]!);
      break;
    case 'omit':
      out.splice(at, 1);
      break;
    case 'reorder': {
      const j = (at + randInt(rng, 1, out.length - 1)) % out.length;
      [out[at], out[j]] = [out[j]!, out[at]!];
      break;
    }
    case 'repeat-omit': {
      const j = (at + randInt(rng, 1, out.length - 1)) % out.length;
      out[at] = out[j]!;
      break;
    }
    case 'replace': {
      const x = pick(rng, fresh);
      if (out.length === 0 || (out.length < max && rng() < 0.3)) out.splice(randInt(rng, 0, out.length), 0, x);
      else out[at] = x;
      break;
    }
  }
  return { items: out.slice(0, max), edit };
}

/**
 * x + d kept a valid wire number (a non-negative safe integer): small-scope edits move numbers
 * by one or K, and a number already at an edge (0, or a far-future one) must stay on the wire.
 */
function bump(x: number, d: number): number {
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, x + d));
}

/** A random non-empty part of `ids`, not all of them when there are two or more. */
function partOf(rng: () => number, ids: readonly ReplicaId[]): ReplicaId[] {
  if (ids.length <= 1) return ids.slice();
  return shuffle(rng, ids).slice(0, randInt(rng, 1, ids.length - 1));
}

/** pick by weight; the weights need not sum to 1 */
function weighted<T>(rng: () => number, options: readonly (readonly [T, number])[]): T {
  let total = 0;
  for (const [, w] of options) total += w;
  let r = rng() * total;
  for (const [v, w] of options) {
    r -= w;
    if (r < 0) return v;
  }
  return options[options.length - 1]![0];
}

interface Budget {
  left: number;
}

interface Rates {
  /** per output: chance of building new messages from the pool */
  generate: number;
  /** per own outbound normal-case message: chance of a small-scope mutation */
  mutate: number;
  /** the same for the rare, high-value ones (view-change, new-view, catch-up, state) */
  mutateRare: number;
  /** a mutated message goes to a random part of the peers and the original to the rest */
  partition: number;
  /** a generated message is signed by a colluder rather than by itself (when it has colluders) */
  asColluder: number;
}

/** What a small-scope mutation produced, and what to do once it is out. */
interface Mutation {
  msg: ReplicaMessage;
  what: string;
  /** called with the replicas that got the mutated version */
  after?: (to: ReplicaId[]) => void;
}

const RARE_TYPES = new Set<string>(['view-change', 'new-view', 'catch-up', 'state']);

// ---------------------------------------------------------------------------------------------
// The strategy
// ---------------------------------------------------------------------------------------------

export class Fuzz extends BaseStrategy {
  readonly name = 'fuzz' as const;
  readonly pool: FuzzPool;
  private readonly rates: Rates;
  private readonly weights: (readonly [FuzzGenerator, number])[];
  private readonly focus: FuzzGenerator[];
  /** itself first, then the colluders: whose keys it may sign with */
  private readonly signers: Colluder[];
  private readonly quorum: number;
  /** matching prepares a prepared certificate needs (2f when n = 3f+1) */
  private readonly preparesNeeded: number;
  private readonly nullDigest: Hex;
  /** its core's low watermark h (last stable checkpoint) and last executed seq */
  private h = 0;
  private lastExecuted = 0;
  private outputs = 0;
  private readonly deferred: { due: number; items: Outgoing[] }[] = [];
  /** answers to what peers asked for (FETCH-STATE), sent with its core's next output */
  private readonly reactions: Outgoing[] = [];
  /** (peer, checkpoint) pairs it already sent an unasked-for STATE (see watchForLaggard) */
  private readonly preempted = new Bag<true>(PREEMPTED_LIMIT);
  /** what went out since the last summary note, by message type */
  private sinceNote = new Map<string, number>();
  private lastNoteAt = 0;

  constructor(ctx: StrategyContext) {
    super(ctx);
    const shared = ctx.shared?.get(FUZZ_POOL_KEY);
    if (shared instanceof FuzzPool) this.pool = shared;
    else {
      this.pool = new FuzzPool();
      ctx.shared?.set(FUZZ_POOL_KEY, this.pool);
    }
    const q = quorums(ctx.params.n, ctx.params.f);
    this.quorum = q.quorum;
    this.preparesNeeded = q.prepares;
    const seen = new Set<ReplicaId>([ctx.id]);
    this.signers = [{ id: ctx.id, auth: ctx.auth }];
    for (const c of ctx.colluders ?? []) {
      if (!Number.isSafeInteger(c.id) || c.id < 0 || c.id >= ctx.params.n || seen.has(c.id)) continue;
      seen.add(c.id);
      this.signers.push(c);
    }
    const rng = ctx.rng;
    // Drawn once per instance: one seed probes with many small lies, another with a few large ones.
    this.rates = {
      // shared among the colluders: the group's extra traffic does not grow with its size
      generate: (0.02 + 0.1 * rng()) / this.signers.length,
      mutate: 0.02 + 0.13 * rng(),
      mutateRare: 0.25 + 0.6 * rng(),
      partition: 0.3 + 0.5 * rng(),
      asColluder: 0.3 + 0.5 * rng(),
    };
    const hasColluders = this.signers.length > 1;
    const focus = shuffle(
      rng,
      FUZZ_GENERATORS.filter((g) => g !== 'collude' || hasColluders),
    ).slice(0, 2);
    this.focus = focus;
    this.weights = FUZZ_GENERATORS.map((g) => {
      if (g === 'collude' && !hasColluders) return [g, 0] as const;
      return [g, BASE_WEIGHT[g] * (0.25 + 1.5 * rng()) * (focus.includes(g) ? 4 : 1)] as const;
    });
    this.nullDigest = batchDigest(ctx.auth, []);
  }

  activate(): void {
    const r = this.rates;
    const pct = (x: number) => `${Math.round(x * 100)}%`;
    this.queueNote(
      `on: builds messages on ${pct(r.generate)} of outputs, mutates ${pct(r.mutate)} of its normal-case and ${pct(r.mutateRare)} of its view-change/new-view/catch-up/state messages (${pct(r.partition)} split across a partition); focus ${this.focus.join(', ')}` +
        (this.signers.length > 1
          ? `; colludes with ${this.signers
              .slice(1)
              .map((s) => `r${s.id}`)
              .join(', ')}`
          : ''),
    );
  }

  override onEvent(ev: ReplicaEvent): ReplicaEvent | null {
    try {
      if (ev.type === 'message') this.learnInbound(ev.msg);
      else if (ev.type === 'request') this.learnInboundRequest(ev.msg);
    } catch {
      this.count('internal-error');
    }
    return ev;
  }

  protected transform(actions: ReplicaAction[]): ReplicaAction[] {
    try {
      return this.fuzz(actions);
    } catch (e) {
      // never let a fuzzer bug take the replica down: its core's actions go out unchanged
      this.count('internal-error');
      if ((this.counters['internal-error'] ?? 0) === 1)
        return [...actions, this.note(`internal error, its core's actions pass unchanged: ${String((e as Error)?.message ?? e).slice(0, 120)}`)];
      return actions;
    }
  }

  // -------------------------------------------------------------------------------------------
  // One output
  // -------------------------------------------------------------------------------------------

  private fuzz(actions: ReplicaAction[]): ReplicaAction[] {
    this.outputs++;
    // Its core's messages are well-formed by contract; checked anyway (structure only, no
    // signatures: cheap), so that nothing malformed gets into the pool or its watermarks.
    const own = actions.map((a) => (a.type === 'send' || a.type === 'multicast' ? this.parseOwn(a.msg) : null));
    actions.forEach((a, i) => this.observe(a, own[i] ?? null));
    const out: ReplicaAction[] = [];
    actions.forEach((a, i) => {
      const m = own[i];
      if (m && (a.type === 'send' || a.type === 'multicast')) out.push(...this.maybeMutate({ ...a, msg: m } as OutMessage));
      else out.push(a);
    });
    // answers to requests, what colluders queued for it to send under its own name, and
    // follow-ups that are due
    for (const item of this.reactions.splice(0)) this.push(out, item);
    for (const item of this.pool.take(this.ctx.id)) this.push(out, item);
    for (let i = 0; i < this.deferred.length; ) {
      if (this.deferred[i]!.due <= this.outputs) {
        for (const item of this.deferred[i]!.items) this.send(out, item.msg, item.to);
        this.deferred.splice(i, 1);
      } else i++;
    }
    if (this.rand() < this.rates.generate) {
      const k = this.rand() < 0.3 ? 2 : 1;
      for (let i = 0; i < k; i++) this.generate(out, weighted(this.ctx.rng, this.weights));
    }
    if (this.outputs - this.lastNoteAt >= NOTE_EVERY_OUTPUTS && this.sinceNote.size > 0) {
      const parts = [...this.sinceNote.entries()].sort((a, b) => b[1] - a[1]).map(([t, c]) => `${t}×${c}`);
      out.push(this.note(`in the last ${this.outputs - this.lastNoteAt} outputs sent ${parts.join(' ')}`));
      this.sinceNote = new Map();
      this.lastNoteAt = this.outputs;
    }
    return out;
  }

  /** its own message (or a request its core forwards to the primary), well-formed; else null */
  private parseOwn(msg: unknown): ReplicaMessage | null {
    const p = parseReplicaMessage(msg, this.limits);
    if (!p.ok) return null;
    return p.msg.body.type === 'request' || p.msg.body.replica === this.ctx.id ? p.msg : null;
  }

  // -------------------------------------------------------------------------------------------
  // Learning: the pool
  // -------------------------------------------------------------------------------------------

  /**
   * Its core's output: trusted material for the pool (no signature checks), and its watermarks.
   * `own`: the action's message, parsed, when it is its own.
   */
  private observe(a: ReplicaAction, own: ReplicaMessage | null): void {
    switch (a.type) {
      case 'send':
      case 'multicast':
        if (!own) return;
        if (own.body.type === 'status') {
          this.h = this.clampSeq(Math.max(this.h, own.body.stableSeq));
          this.lastExecuted = this.clampSeq(own.body.lastExecuted);
        }
        this.learn(own, null);
        return;
      case 'persist':
        return this.learnRecord(a.record);
      case 'executed':
        this.lastExecuted = this.clampSeq(Math.max(this.lastExecuted, a.seq));
        return;
      case 'checkpoint-stable':
        this.h = this.clampSeq(Math.max(this.h, a.seq));
        return;
      case 'state-installed':
        this.h = this.clampSeq(Math.max(this.h, a.seq));
        this.lastExecuted = this.clampSeq(a.seq);
        return;
      default:
        return;
    }
  }

  /**
   * Watermarks are what it builds seqs around (H+1, H+K, ...): keep them where such sums stay
   * safe integers, whatever a broken input says (a real core's are far below this).
   */
  private clampSeq(seq: number): number {
    return Number.isSafeInteger(seq) && seq >= 0 ? Math.min(seq, MAX_TRACKED_SEQ) : 0;
  }

  private learnRecord(r: PersistRecord): void {
    switch (r.kind) {
      case 'pre-prepare':
        return this.learnPrePrepare(r.msg, null);
      case 'prepared':
        return this.learnCert(r.cert, null);
      case 'committed':
        return this.learnEntry(r.entry, null);
      case 'new-view':
        return this.learnNewView(r.msg, null);
      case 'checkpoint':
        this.h = this.clampSeq(Math.max(this.h, r.seq));
        this.learnProof(r.seq, r.digest, r.proof, null);
        // a full checkpoint carries the state; a light one only the proof
        if (r.snapshot !== undefined) this.learnSnapshot({ seq: r.seq, digest: r.digest, proof: r.proof, snapshot: r.snapshot }, null);
        return;
      case 'view':
        this.seenView(r.view);
        return;
    }
  }

  private learnInboundRequest(raw: unknown): void {
    const p = parseRequest(raw, this.limits);
    if (p.ok) this.learnRequest(p.msg, { left: 1 });
  }

  private learnInbound(raw: unknown): void {
    this.watchForLaggard(raw);
    // The plentiful kinds (a vote, status or checkpoint from every peer for every seq) are
    // pooled one time in a few: plenty of them either way, and each costs a signature check.
    if (PLENTIFUL.has(typeOf(raw) ?? '') && this.rand() >= PLENTIFUL_SAMPLE) return;
    // a retransmission or a duplicate: already pooled, not worth parsing again
    const sig = (raw as { sig?: unknown } | null)?.sig;
    if (typeof sig === 'string' && this.pool.knows(sig)) return;
    const p = parseReplicaMessage(raw, this.limits);
    if (p.ok) this.learn(p.msg, { left: VERIFY_BUDGET_PER_MESSAGE });
  }

  /** `budget` null: trusted (its own core built it); otherwise each signature is checked, within the budget */
  private verified(m: Signed<{ replica: ReplicaId }>, budget: Budget | null): boolean {
    if (budget === null) return true;
    if (budget.left <= 0) return false;
    budget.left--;
    return verifyReplicaSig(this.ctx.auth, m);
  }

  private learn(m: ReplicaMessage, budget: Budget | null): void {
    switch (m.body.type) {
      case 'request':
        return this.learnRequest(m as SignedRequest, budget);
      case 'pre-prepare':
        return this.learnPrePrepare(m as SignedPrePrepare, budget);
      case 'prepare': {
        const p = m as Signed<PrepareBody>;
        if (!this.pool.prepares.has(p.sig) && this.verified(p, budget)) {
          this.pool.prepares.add(p.sig, p);
          this.seenSeq(p.body.seq, p.body.view);
        }
        return;
      }
      case 'commit': {
        const c = m as Signed<CommitBody>;
        if (!this.pool.commits.has(c.sig) && this.verified(c, budget)) {
          this.pool.commits.add(c.sig, c);
          this.seenSeq(c.body.seq, c.body.view);
        }
        return;
      }
      case 'checkpoint': {
        const c = m as Signed<CheckpointBody>;
        if (!this.pool.checkpoints.has(c.sig) && this.verified(c, budget)) this.pool.checkpoints.add(c.sig, c);
        return;
      }
      case 'view-change':
        return this.learnViewChange(m as Signed<ViewChangeBody>, budget);
      case 'new-view':
        return this.learnNewView(m as Signed<NewViewBody>, budget);
      case 'status': {
        const s = m as Signed<StatusBody>;
        if (!this.pool.statuses.has(s.sig) && this.verified(s, budget)) {
          this.pool.statuses.add(s.sig, s);
          this.seenView(s.body.view);
        }
        return;
      }
      case 'catch-up': {
        const c = m as Signed<CatchUpBody>;
        if (!this.verified(c, budget)) return;
        for (const e of c.body.entries) this.learnEntry(e, budget);
        return;
      }
      case 'fetch-state':
        if (budget !== null) this.reactToFetchState(m as Signed<FetchStateBody>);
        return;
      case 'state': {
        const s = m as Signed<StateBody>;
        if (!this.verified(s, budget)) return;
        this.learnProof(s.body.seq, s.body.digest, s.body.proof, budget);
        this.learnSnapshot({ seq: s.body.seq, digest: s.body.digest, proof: s.body.proof, snapshot: s.body.snapshot }, budget);
        return;
      }
    }
  }

  private learnRequest(r: SignedRequest, budget: Budget | null): void {
    if (this.pool.requests.has(r.sig)) return;
    if (budget !== null) {
      if (budget.left <= 0) return;
      budget.left--;
      if (!verifyClientSig(this.ctx.auth, r)) return;
    }
    this.pool.requests.add(r.sig, r);
  }

  private learnPrePrepare(pp: SignedPrePrepare, budget: Budget | null): void {
    if (this.pool.prePrepares.has(pp.sig) || !this.verified(pp, budget)) return;
    // only a pre-prepare whose batch matches its digest is "real" material (not another liar's)
    if (!this.pool.batches.has(pp.body.digest)) {
      if (budget !== null && batchDigest(this.ctx.auth, pp.batch) !== pp.body.digest) return;
      this.pool.batches.add(pp.body.digest, { digest: pp.body.digest, batch: pp.batch });
    }
    this.pool.prePrepares.add(pp.sig, pp);
    for (const r of pp.batch) if (!r.body.readOnly) this.learnRequest(r, budget);
    this.seenSeq(pp.body.seq, pp.body.view);
  }

  private learnCert(c: PreparedCert, budget: Budget | null): void {
    if (this.pool.certs.has(c.prePrepare.sig)) return;
    this.learnPrePrepare(c.prePrepare, budget);
    if (!this.pool.prePrepares.has(c.prePrepare.sig)) return;
    for (const p of c.prepares) if (!this.verified(p, budget)) return;
    this.pool.certs.add(c.prePrepare.sig, c);
    for (const p of c.prepares) this.pool.prepares.add(p.sig, p);
  }

  private learnEntry(e: CommittedEntry, budget: Budget | null): void {
    const key = `${e.view}:${e.seq}:${e.digest}`;
    if (this.pool.entries.has(key)) return;
    if (budget !== null) {
      if (batchDigest(this.ctx.auth, e.batch) !== e.digest) return;
      for (const c of e.commits) if (!this.verified(c, budget)) return;
    }
    this.pool.entries.add(key, e);
    this.pool.batches.add(e.digest, { digest: e.digest, batch: e.batch });
    for (const c of e.commits) this.pool.commits.add(c.sig, c);
    this.seenSeq(e.seq, e.view);
  }

  private learnProof(seq: number, digest: Hex, proof: Signed<CheckpointBody>[], budget: Budget | null): void {
    const key = `${seq}:${digest}`;
    if (seq === 0 || this.pool.proofs.has(key)) return;
    const from = new Set<ReplicaId>();
    for (const c of proof) {
      if (c.body.seq !== seq || c.body.digest !== digest) return;
      from.add(c.body.replica);
    }
    if (from.size < this.quorum) return;
    for (const c of proof) if (!this.verified(c, budget)) return;
    this.pool.proofs.add(key, { seq, digest, proof });
    for (const c of proof) this.pool.checkpoints.add(c.sig, c);
  }

  private learnSnapshot(s: PooledSnapshot, budget: Budget | null): void {
    const key = `${s.seq}:${s.digest}`;
    if (s.seq === 0 || s.snapshot.length > MAX_POOLED_SNAPSHOT_CHARS || this.pool.snapshots.has(key)) return;
    if (budget !== null && this.ctx.auth.hash(utf8(s.snapshot)) !== s.digest) return;
    this.pool.snapshots.add(key, s);
  }

  private learnViewChange(vc: Signed<ViewChangeBody>, budget: Budget | null): void {
    if (this.pool.viewChanges.has(vc.sig) || !this.verified(vc, budget)) return;
    this.pool.viewChanges.add(vc.sig, vc);
    this.seenView(vc.body.newView);
    const d = vc.body.checkpointProof[0]?.body.digest;
    if (d !== undefined) this.learnProof(vc.body.stableSeq, d, vc.body.checkpointProof, budget);
    for (const c of vc.body.prepared) this.learnCert(c, budget);
  }

  private learnNewView(nv: Signed<NewViewBody>, budget: Budget | null): void {
    if (this.pool.newViews.has(nv.sig) || !this.verified(nv, budget)) return;
    this.pool.newViews.add(nv.sig, nv);
    this.seenView(nv.body.newView);
    for (const vc of nv.body.viewChanges) this.learnViewChange(vc, budget);
    for (const pp of nv.body.prePrepares) this.learnPrePrepare(pp, budget);
  }

  private seenSeq(seq: number, view: number): void {
    this.pool.seqs.add(String(seq), seq);
    this.seenView(view);
  }

  private seenView(view: number): void {
    // a view beyond what a core accepts says nothing about the run (another liar made it up)
    if (view > this.pool.maxView && view <= this.view + 4 * this.n) this.pool.maxView = view;
  }

  // -------------------------------------------------------------------------------------------
  // Sending
  // -------------------------------------------------------------------------------------------

  /** the view its core is in (clamped like the watermarks: it builds views around it) */
  private get view(): number {
    return this.clampSeq(this.vt.view);
  }

  private get H(): number {
    return this.h + this.ctx.params.logWindow;
  }

  private seqClass(seq: number): SeqClass {
    if (seq <= this.h) return 'stale';
    if (seq <= this.H) return 'in-window';
    if (seq <= this.H + this.ctx.params.logWindow) return 'just-outside';
    return 'far-future';
  }

  /** the seqs a message names at top level (and a catch-up's entries), for the counters */
  private seqsOf(msg: ReplicaMessage): number[] {
    const b = msg.body as unknown as Record<string, unknown>;
    if (b.type === 'catch-up') return (b.entries as CommittedEntry[]).map((e) => e.seq);
    if (b.type === 'view-change') return (b.prepared as PreparedCert[]).map((c) => c.prePrepare.body.seq);
    if (b.type === 'new-view') return (b.prePrepares as SignedPrePrepare[]).map((pp) => pp.body.seq);
    return typeof b.seq === 'number' ? [b.seq] : [];
  }

  /**
   * Send a message it built. Signed by itself, or of a type any replica may relay: out now.
   * Signed by a colluder (and not relayable): into that colluder's outbox, which it sends.
   */
  private send(out: ReplicaAction[], msg: ReplicaMessage, to: ReplicaId[] | 'all'): void {
    const t = msg.body.type;
    const signer = t === 'request' ? this.ctx.id : (msg.body as { replica: ReplicaId }).replica;
    if (signer !== this.ctx.id) this.count('signed-as-colluder');
    if (signer === this.ctx.id || RELAYABLE.has(t)) this.push(out, { msg, to });
    else {
      this.pool.queue(signer, { msg, to });
      this.count('queued-for-colluder');
    }
  }

  /** counted by type and by where its seqs lie */
  private countSent(msg: ReplicaMessage): void {
    const t = msg.body.type;
    this.count(`sent-${t}`);
    this.sinceNote.set(t, (this.sinceNote.get(t) ?? 0) + 1);
    for (const s of this.seqsOf(msg)) this.count(`seq-${this.seqClass(s)}`);
  }

  /** out now, from itself */
  private push(out: ReplicaAction[], item: Outgoing): void {
    this.countSent(item.msg);
    if (item.to === 'all') out.push({ type: 'multicast', msg: item.msg });
    else for (const to of item.to) if (to !== this.ctx.id && to >= 0 && to < this.n) out.push({ type: 'send', to, msg: item.msg });
  }

  /** everyone (multicast) or a random part of the peers */
  private someTargets(): ReplicaId[] | 'all' {
    return this.rand() < 0.5 ? 'all' : partOf(this.ctx.rng, this.others());
  }

  private authOf(id: ReplicaId): Authenticator | null {
    for (const s of this.signers) if (s.id === id) return s.auth;
    return null;
  }

  /** itself, or (rates.asColluder of the time) a colluder */
  private pickSigner(): Colluder {
    if (this.signers.length > 1 && this.rand() < this.rates.asColluder) return pick(this.ctx.rng, this.signers.slice(1));
    return this.signers[0]!;
  }

  private signAs<B extends { replica: ReplicaId }>(body: B): Signed<B> {
    return sign(this.authOf(body.replica) ?? this.ctx.auth, body);
  }

  private prePrepareAs(replica: ReplicaId, view: number, seq: number, batch: SignedRequest[], digest?: Hex): SignedPrePrepare {
    const auth = this.authOf(replica) ?? this.ctx.auth;
    const body: PrePrepareBody = { type: 'pre-prepare', view, seq, digest: digest ?? batchDigest(auth, batch), replica };
    return { ...sign(auth, body), batch };
  }

  private defer(items: Outgoing[]): void {
    if (items.length === 0) return;
    this.deferred.push({ due: this.outputs + randInt(this.ctx.rng, 1, FOLLOW_UP_MAX_DELAY_OUTPUTS), items });
    if (this.deferred.length > DEFERRED_LIMIT) this.deferred.splice(0, this.deferred.length - DEFERRED_LIMIT);
  }

  // -------------------------------------------------------------------------------------------
  // Choosing values: at the boundaries the core checks
  // -------------------------------------------------------------------------------------------

  /** a far-future number that is still a valid safe integer (and a multiple of `step`) */
  private farNumber(step = 1): number {
    const base =
      this.rand() < 0.5
        ? Math.floor(FAR_2_31 / step) + randInt(this.ctx.rng, 0, 1 << 16)
        : Math.floor(Number.MAX_SAFE_INTEGER / step) - randInt(this.ctx.rng, FAR_HEADROOM, 1 << 16);
    return base * step;
  }

  private chooseView(): number {
    const v = this.view;
    const n = this.n;
    const kind = weighted(this.ctx.rng, [
      ['current', 0.5],
      ['next', 0.15],
      ['previous', 0.1],
      ['ahead', 0.07],
      ['beyond-lookahead', 0.05],
      ['far', 0.05],
      ['pool', 0.08],
    ] as const);
    switch (kind) {
      case 'current':
        return v;
      case 'next':
        return v + 1;
      case 'previous':
        return Math.max(0, v - 1);
      case 'ahead':
        return v + randInt(this.ctx.rng, 2, 4 * n);
      case 'beyond-lookahead':
        return v + 4 * n + randInt(this.ctx.rng, 1, 100);
      case 'far':
        return this.farNumber();
      case 'pool':
        return this.pool.maxView;
    }
  }

  private chooseSeq(): number {
    const K = this.ctx.params.checkpointInterval;
    const L = this.ctx.params.logWindow;
    const h = this.h;
    const H = this.H;
    const kind = weighted(this.ctx.rng, [
      ['in-window', 0.33],
      ['next', 0.15],
      ['pool', 0.1],
      ['low-watermark', 0.06],
      ['stale', 0.04],
      ['high-watermark', 0.05],
      ['just-above', 0.08],
      ['beyond', 0.08],
      ['far', 0.09],
      ['zero', 0.02],
    ] as const);
    switch (kind) {
      case 'in-window':
        return randInt(this.ctx.rng, h + 1, H);
      case 'next':
        return this.lastExecuted + randInt(this.ctx.rng, 1, Math.max(1, this.ctx.params.maxInFlight));
      case 'pool':
        return this.pool.seqs.pick(this.ctx.rng) ?? h + 1;
      case 'low-watermark':
        return h;
      case 'stale':
        return Math.max(0, h - randInt(this.ctx.rng, 1, K));
      case 'high-watermark':
        return H;
      case 'just-above':
        return H + 1;
      case 'beyond':
        return this.rand() < 0.5 ? H + K : H + randInt(this.ctx.rng, 2, L);
      case 'far':
        return this.farNumber();
      case 'zero':
        return 0;
    }
  }

  /** checkpoint seqs: multiples of K near and just beyond the window, far ones, stale ones */
  private chooseCheckpointSeq(): number {
    const K = this.ctx.params.checkpointInterval;
    const h = this.h;
    const H = this.H;
    const kind = weighted(this.ctx.rng, [
      ['in-window', 0.25],
      ['high-watermark', 0.1],
      ['near-future', 0.2],
      ['far', 0.25],
      ['stale', 0.1],
      ['unaligned', 0.05],
      ['pool', 0.05],
    ] as const);
    switch (kind) {
      case 'in-window':
        return h + K * randInt(this.ctx.rng, 1, Math.max(1, (H - h) / K));
      case 'high-watermark':
        return H;
      case 'near-future':
        return H + K * randInt(this.ctx.rng, 1, 2 * Math.max(1, this.ctx.params.logWindow / K) + 2);
      case 'far':
        // varied on purpose: each distinct far seq is one more entry a core must (not) keep
        return this.farNumber(K);
      case 'stale':
        return Math.max(0, h - K * randInt(this.ctx.rng, 0, 2));
      case 'unaligned':
        return h + randInt(this.ctx.rng, 1, this.ctx.params.logWindow);
      case 'pool':
        return this.pool.proofs.pick(this.ctx.rng)?.seq ?? h + K;
    }
  }

  /** digests really seen at `seq` (pre-prepares, certificates, commit certificates) */
  private digestsAt(seq: number): Hex[] {
    const out = new Set<Hex>();
    for (const pp of this.pool.prePrepares.all()) if (pp.body.seq === seq) out.add(pp.body.digest);
    for (const e of this.pool.entries.all()) if (e.seq === seq) out.add(e.digest);
    return [...out];
  }

  private chooseDigest(seq: number, not?: Hex): Hex {
    for (let tries = 0; tries < 4; tries++) {
      const kind = weighted(this.ctx.rng, [
        ['at-seq', 0.35],
        ['real', 0.25],
        ['null', 0.15],
        ['state', 0.05],
        ['random', 0.2],
      ] as const);
      let d: Hex | undefined;
      if (kind === 'at-seq') {
        const ds = this.digestsAt(seq);
        d = ds.length > 0 ? pick(this.ctx.rng, ds) : undefined;
      } else if (kind === 'real') d = this.pool.batches.pick(this.ctx.rng)?.digest;
      else if (kind === 'null') d = this.nullDigest;
      else if (kind === 'state') d = this.pool.checkpoints.pick(this.ctx.rng)?.body.digest;
      if (d !== undefined && d !== not) return d;
    }
    return otherDigest(this.ctx.rng, not);
  }

  /** a real batch, a subset or reordering of one, real requests put together, or the null batch */
  private chooseBatch(not?: Hex): SignedRequest[] {
    const max = this.ctx.params.maxBatchSize;
    for (let tries = 0; tries < 4; tries++) {
      const kind = weighted(this.ctx.rng, [
        ['real', 0.4],
        ['edited', 0.2],
        ['requests', 0.25],
        ['tampered', 0.05],
        ['null', 0.1],
      ] as const);
      let batch: SignedRequest[] | undefined;
      if (kind === 'real') batch = this.pool.batches.pick(this.ctx.rng)?.batch.slice();
      else if (kind === 'edited') {
        const b = this.pool.batches.pick(this.ctx.rng)?.batch;
        if (b && b.length > 0) batch = this.rand() < 0.5 ? b.slice(0, randInt(this.ctx.rng, 0, b.length - 1)) : b.slice().reverse();
      } else if (kind === 'requests') {
        const reqs = this.pool.requests.all().filter((r) => !r.body.readOnly);
        if (reqs.length > 0) batch = shuffle(this.ctx.rng, reqs).slice(0, randInt(this.ctx.rng, 1, Math.min(max, reqs.length)));
      } else if (kind === 'tampered') {
        // a real request with one field changed and its signature kept: only a replica that
        // checks client signatures inside pre-prepares can tell
        const r = this.pool.requests.pick(this.ctx.rng);
        if (r && !r.body.readOnly) {
          const body =
            this.rand() < 0.5
              ? { ...r.body, timestamp: r.body.timestamp + randInt(this.ctx.rng, 1, 3) }
              : { ...r.body, op: r.body.op.replace(/"value":"/, '"value":"~') };
          batch = [{ body, sig: r.sig }];
        }
      } else batch = [];
      if (batch === undefined || batch.length > max) continue;
      if (not === undefined || batchDigest(this.ctx.auth, batch) !== not) return batch;
    }
    return [];
  }

  /** the smallest view >= from whose primary is `id` */
  private nextViewOf(id: ReplicaId, from: number): number {
    return from + ((id - (from % this.n) + this.n) % this.n);
  }

  // -------------------------------------------------------------------------------------------
  // Building messages from the pool
  // -------------------------------------------------------------------------------------------

  private generate(out: ReplicaAction[], kind: FuzzGenerator): void {
    this.count(`gen-${kind}`);
    switch (kind) {
      case 'request':
        return this.genRequest(out);
      case 'pre-prepare':
        return this.genPrePrepare(out);
      case 'equivocation':
        return this.genEquivocation(out);
      case 'prepare':
      case 'commit':
        return this.genVote(out, kind);
      case 'checkpoint':
        return this.genCheckpoint(out);
      case 'view-change':
        return this.genViewChange(out);
      case 'new-view':
        return this.genNewView(out);
      case 'status':
        return this.genStatus(out);
      case 'catch-up':
        return this.genCatchUp(out);
      case 'fetch-state':
        return this.genFetchState(out);
      case 'state':
        return this.genState(out);
      case 'collude':
        return this.genCollude(out);
    }
  }

  /** a real client request, forwarded to the primary or to some peers (stale ones included) */
  private genRequest(out: ReplicaAction[]): void {
    const r = this.pool.requests.pick(this.ctx.rng);
    if (!r) return;
    const primary = this.primary(this.view);
    this.send(out, r, this.rand() < 0.5 && primary !== this.ctx.id ? [primary] : this.someTargets());
  }

  /** a pre-prepare as the primary of some view (its own, a colluder's, or not at all) */
  private genPrePrepare(out: ReplicaAction[]): void {
    const signer = this.pickSigner();
    const r = this.rand();
    const view = r < 0.6 ? this.nextViewOf(signer.id, this.view) : r < 0.8 ? this.nextViewOf(signer.id, this.view + 1) : this.chooseView();
    const seq = this.chooseSeq();
    const batch = this.chooseBatch();
    // now and then a signed digest that does not match the attached batch
    const digest = this.rand() < 0.15 ? this.chooseDigest(seq, batchDigest(this.ctx.auth, batch)) : undefined;
    this.send(out, this.prePrepareAs(signer.id, view, seq, batch, digest), this.someTargets());
  }

  /**
   * As the primary of the current view (itself or a colluder): two pre-prepares for one seq
   * with different real batches, to two parts of the backups; colluders prepare both.
   */
  private genEquivocation(out: ReplicaAction[]): void {
    const view = this.view;
    const primary = this.signers.find((s) => s.id === this.primary(view));
    if (!primary || this.vt.viewChanging) return this.genPrePrepare(out);
    // the next seq, or one its core (or a colluder) already pre-prepared in this view, or the one after
    const seqs = [this.lastExecuted + 1];
    for (const pp of this.pool.prePrepares.all())
      if (pp.body.view === view && pp.body.seq > this.h && pp.body.seq < this.H) seqs.push(pp.body.seq, bump(pp.body.seq, 1));
    const seq = pick(this.ctx.rng, seqs);
    const a = this.chooseBatch();
    const b = this.chooseBatch(batchDigest(this.ctx.auth, a));
    const ppA = this.prePrepareAs(primary.id, view, seq, a);
    const ppB = this.prePrepareAs(primary.id, view, seq, b);
    const backups = this.others().filter((r) => r !== primary.id);
    const toA = partOf(this.ctx.rng, backups);
    const toB = backups.filter((r) => !toA.includes(r));
    this.send(out, ppA, toA);
    if (toB.length > 0) this.send(out, ppB, toB);
    for (const s of this.signers) {
      if (s.id === primary.id) continue;
      this.send(out, this.signAs<PrepareBody>({ type: 'prepare', view, seq, digest: ppA.body.digest, replica: s.id }), toA);
      if (toB.length > 0) this.send(out, this.signAs<PrepareBody>({ type: 'prepare', view, seq, digest: ppB.body.digest, replica: s.id }), toB);
    }
    this.count('equivocations');
  }

  private genVote(out: ReplicaAction[], type: 'prepare' | 'commit'): void {
    const signer = this.pickSigner();
    const pp = this.rand() < 0.5 ? this.pool.prePrepares.pick(this.ctx.rng) : undefined;
    let view: number;
    let seq: number;
    let digest: Hex;
    if (pp) {
      // small scope around a real pre-prepare: its (view, seq), one of them off by one, or another digest
      const r = this.rand();
      view = r < 0.15 ? bump(pp.body.view, 1) : r < 0.25 ? bump(pp.body.view, -1) : pp.body.view;
      seq = this.rand() < 0.15 ? bump(pp.body.seq, this.rand() < 0.5 ? 1 : -1) : pp.body.seq;
      digest = this.rand() < 0.5 ? pp.body.digest : this.chooseDigest(seq, pp.body.digest);
    } else {
      view = this.chooseView();
      seq = this.chooseSeq();
      digest = this.chooseDigest(seq);
    }
    const body = { type, view, seq, digest, replica: signer.id };
    this.send(out, type === 'prepare' ? this.signAs<PrepareBody>(body as PrepareBody) : this.signAs<CommitBody>(body as CommitBody), this.someTargets());
  }

  private genCheckpoint(out: ReplicaAction[]): void {
    const signer = this.pickSigner();
    const seq = this.chooseCheckpointSeq();
    const real = this.rand() < 0.6 ? this.pool.checkpoints.pick(this.ctx.rng)?.body.digest : undefined;
    const digest = real ?? randomHex(this.ctx.rng, 32);
    this.send(out, this.signAs<CheckpointBody>({ type: 'checkpoint', seq, digest, replica: signer.id }), this.someTargets());
  }

  private latestProof(): ProvenCheckpoint | null {
    let best: ProvenCheckpoint | null = null;
    for (const p of this.pool.proofs.all()) if (!best || p.seq > best.seq) best = p;
    return best;
  }

  /**
   * A prepared certificate made with colluders' votes: a real pre-prepare, the real prepares for
   * it in the pool, and prepares signed by every colluder (not its primary). Enough of them make
   * a VALID certificate for something fewer correct replicas prepared: Byzantine replicas may
   * vote for anything, so this is fair, and quorum intersection must still hold.
   */
  private colluderCert(maxView: number): PreparedCert | null {
    const pps = this.pool.prePrepares.all().filter((pp) => pp.body.view < maxView);
    if (pps.length === 0) return null;
    const pp = pick(this.ctx.rng, pps);
    const { view, seq, digest } = pp.body;
    const byReplica = new Map<ReplicaId, Signed<PrepareBody>>();
    for (const s of this.signers)
      if (s.id !== pp.body.replica) byReplica.set(s.id, this.signAs<PrepareBody>({ type: 'prepare', view, seq, digest, replica: s.id }));
    for (const p of this.pool.prepares.all()) {
      const b = p.body;
      if (b.view === view && b.seq === seq && b.digest === digest && b.replica !== pp.body.replica && !byReplica.has(b.replica)) byReplica.set(b.replica, p);
    }
    const want = this.rand() < 0.8 ? this.preparesNeeded : Math.max(0, this.preparesNeeded - 1);
    return { prePrepare: pp, prepares: [...byReplica.values()].slice(0, want) };
  }

  /**
   * A VIEW-CHANGE for newView signed by `signer`. honest: its newest proof and the best pooled
   * certificate per seq, as a correct replica that saw the pool would send; otherwise with the
   * stable checkpoint, its proof or the certificate set edited.
   */
  private buildViewChange(signer: ReplicaId, newView: number, honest: boolean): Signed<ViewChangeBody> {
    const K = this.ctx.params.checkpointInterval;
    const L = this.ctx.params.logWindow;
    const latest = this.latestProof();
    let stableSeq = latest?.seq ?? 0;
    let checkpointProof: Signed<CheckpointBody>[] = latest?.proof ?? [];
    if (!honest) {
      const kind = weighted(this.ctx.rng, [
        ['latest', 0.4],
        ['stale', 0.2],
        ['none', 0.1],
        ['proof-set', 0.15],
        ['seq-mismatch', 0.15],
      ] as const);
      const other = this.pool.proofs.pick(this.ctx.rng);
      if (kind === 'stale' && other) {
        stableSeq = other.seq;
        checkpointProof = other.proof;
      } else if (kind === 'none') {
        stableSeq = 0;
        checkpointProof = [];
      } else if (kind === 'proof-set' && latest) {
        // replacements: checkpoints of other seqs or digests, and the colluders' own for this one
        const fresh = this.pool.checkpoints.all().filter((c) => c.body.seq !== latest.seq || c.body.digest !== latest.digest);
        const own = this.signers.map((s) => this.signAs<CheckpointBody>({ type: 'checkpoint', seq: latest.seq, digest: latest.digest, replica: s.id }));
        const e = editSet(this.ctx.rng, latest.proof, [...fresh.slice(-8), ...own], this.n);
        if (e) {
          checkpointProof = e.items;
          this.count(`set-${e.edit}`);
        }
      } else if (kind === 'seq-mismatch') {
        stableSeq = other && other.seq !== stableSeq ? other.seq : bump(stableSeq, K * (this.rand() < 0.5 ? 1 : -1));
      }
    }
    // the certificate with the highest view per seq above the stable checkpoint, in order
    const best = new Map<number, PreparedCert>();
    for (const c of this.pool.certs.all()) {
      const pp = c.prePrepare.body;
      if (pp.seq <= stableSeq || pp.seq > stableSeq + L || pp.view >= newView) continue;
      const cur = best.get(pp.seq);
      if (!cur || cur.prePrepare.body.view < pp.view) best.set(pp.seq, c);
    }
    let prepared = [...best.values()].sort((a, b) => a.prePrepare.body.seq - b.prePrepare.body.seq);
    if (!honest && prepared.length > MAX_GENERATED_CERTS && this.rand() < 0.75) {
      // most carry a few certificates only (leaving some out is a lie of its own): each costs
      // every receiver 2f+1 signature checks, and the simulator's budget is CPU
      const from = randInt(this.ctx.rng, 0, prepared.length - MAX_GENERATED_CERTS);
      prepared = prepared.slice(from, from + MAX_GENERATED_CERTS);
    }
    if (!honest && this.rand() < 0.6) {
      // replacements: stale certificates (lower views), ones outside the window, and colluders'
      const fresh = this.pool.certs.all().filter((c) => !prepared.includes(c));
      const extra = this.signers.length > 1 ? this.colluderCert(newView) : null;
      const e = editSet(this.ctx.rng, prepared, extra ? [...fresh.slice(-8), extra] : fresh.slice(-8), L);
      if (e) {
        prepared = e.items;
        this.count(`set-${e.edit}`);
      }
    }
    return this.signAs<ViewChangeBody>({ type: 'view-change', newView, stableSeq, checkpointProof, prepared: prepared.slice(0, L), replica: signer });
  }

  private genViewChange(out: ReplicaAction[]): void {
    const signer = this.pickSigner();
    const v = this.view;
    const kind = weighted(this.ctx.rng, [
      ['next', 0.4],
      ['current', 0.2],
      ['after-next', 0.1],
      ['colluder-primary', 0.2],
      ['beyond-lookahead', 0.1],
    ] as const);
    const newView =
      kind === 'next'
        ? v + 1
        : kind === 'current'
          ? v
          : kind === 'after-next'
            ? v + 2
            : kind === 'colluder-primary'
              ? this.nextViewOf(pick(this.ctx.rng, this.signers).id, v + 1)
              : v + 4 * this.n + randInt(this.ctx.rng, 1, 10);
    this.send(out, this.buildViewChange(signer.id, newView, false), this.someTargets());
  }

  /**
   * A NEW-VIEW as the primary of newView (itself or a colluder): V from the view-changes really
   * sent for newView plus fresh ones of its colluders, O computed from V and then (mostly)
   * edited; then a follow-up at the seqs the edit took out of O.
   */
  private genNewView(out: ReplicaAction[]): void {
    // views honest replicas are moving to, whose primary it can sign for, are the valuable ones
    const moving = [...new Set(this.pool.viewChanges.all().map((vc) => vc.body.newView))].filter(
      (v) => v >= this.view && this.authOf(this.primary(v)) !== null,
    );
    const newView =
      moving.length > 0 && this.rand() < 0.7
        ? pick(this.ctx.rng, moving)
        : this.nextViewOf(pick(this.ctx.rng, this.signers).id, this.view + (this.rand() < 0.5 ? 0 : 1));
    const primary = this.primary(newView);
    if (this.authOf(primary) === null) return;
    const byReplica = new Map<ReplicaId, Signed<ViewChangeBody>>();
    for (const vc of this.pool.viewChanges.all()) if (vc.body.newView === newView && !byReplica.has(vc.body.replica)) byReplica.set(vc.body.replica, vc);
    for (const s of this.signers) if (!byReplica.has(s.id)) byReplica.set(s.id, this.buildViewChange(s.id, newView, this.rand() < 0.8));
    let V = shuffle(this.ctx.rng, [...byReplica.values()]).slice(0, this.quorum);
    if (this.rand() < 0.25) {
      const fresh = this.pool.viewChanges
        .all()
        .filter((vc) => vc.body.newView !== newView)
        .slice(-4);
      const e = editSet(this.ctx.rng, V, fresh, this.n);
      if (e) {
        V = e.items;
        this.count(`set-${e.edit}`);
        this.count('nv-V-edited');
      }
    }
    const O = this.boundedO(primary, V);
    const prePrepares = [...O.entries.entries()].map(([seq, e]) => this.prePrepareAs(primary, newView, seq, e.batch));
    const body: NewViewBody = { type: 'new-view', newView, viewChanges: V, prePrepares, replica: primary };
    const to = this.someTargets();
    const mutated = this.rand() < 0.8 ? this.editNewView(body) : null;
    if (mutated) {
      this.send(out, mutated.msg, to);
      mutated.after?.(to === 'all' ? this.others() : to);
    } else this.send(out, this.signAs(body), to);
  }

  /**
   * O for V, with certificates above min-s + L left out of the computation. computeO walks
   * (min-s, max-s] one seq at a time: a pooled view-change with a certificate at a far seq
   * (another liar's) would make that walk endless. Honest cores validate V first (every
   * certificate inside its view-change's window), so for them nothing changes.
   */
  private boundedO(primary: ReplicaId, V: readonly Signed<ViewChangeBody>[]): ReturnType<typeof computeO> {
    let minS = 0;
    for (const vc of V) if (vc.body.stableSeq > minS && vc.body.checkpointProof.length > 0) minS = vc.body.stableSeq;
    const top = minS + this.ctx.params.logWindow;
    const sane = V.map((vc) => {
      const inWindow = vc.body.prepared.filter((c) => c.prePrepare.body.seq <= top);
      return inWindow.length === vc.body.prepared.length ? vc : { ...vc, body: { ...vc.body, prepared: inWindow } };
    });
    return computeO(this.authOf(primary) ?? this.ctx.auth, sane);
  }

  private genStatus(out: ReplicaAction[]): void {
    const signer = this.pickSigner();
    const K = this.ctx.params.checkpointInterval;
    const le = this.lastExecuted;
    const lastExecuted = weighted(this.ctx.rng, [
      [0, 0.2],
      [Math.max(0, le - randInt(this.ctx.rng, 1, this.ctx.params.logWindow)), 0.3],
      [le, 0.2],
      [le + randInt(this.ctx.rng, 1, this.ctx.params.logWindow), 0.2],
      [this.farNumber(), 0.1],
    ] as const);
    const stableSeq = weighted(this.ctx.rng, [
      [this.h, 0.5],
      [Math.max(0, this.h - K), 0.2],
      [this.h + K, 0.2],
      [0, 0.1],
    ] as const);
    const status: StatusBody = { type: 'status', view: this.chooseView(), viewChanging: this.rand() < 0.3, lastExecuted, stableSeq, replica: signer.id };
    this.send(out, this.signAs(status), this.someTargets());
  }

  /** a commit certificate edited: one that no longer proves its decision, or (colluders) still does */
  private editEntry(e: CommittedEntry): { entry: CommittedEntry; what: string } {
    const kind = weighted(this.ctx.rng, [
      ['commits', 0.45],
      ['batch', 0.2],
      ['digest', 0.1],
      ['seq', 0.25],
    ] as const);
    switch (kind) {
      case 'commits': {
        const own = this.signers.map((s) => this.signAs<CommitBody>({ type: 'commit', view: e.view, seq: e.seq, digest: e.digest, replica: s.id }));
        const others = this.pool.commits
          .all()
          .filter((c) => c.body.seq !== e.seq)
          .slice(-4);
        const ed = editSet(this.ctx.rng, e.commits, [...own, ...others], this.n);
        if (!ed) return { entry: e, what: 'as-is' };
        this.count(`set-${ed.edit}`);
        return { entry: { ...e, commits: ed.items }, what: `commits-${ed.edit}` };
      }
      case 'batch':
        return { entry: { ...e, batch: this.chooseBatch(e.digest) }, what: 'batch' };
      case 'digest':
        return { entry: { ...e, digest: this.chooseDigest(e.seq, e.digest) }, what: 'digest' };
      case 'seq':
        return { entry: { ...e, seq: this.chooseSeq() }, what: 'seq' };
    }
  }

  private genCatchUp(out: ReplicaAction[]): void {
    const signer = this.pickSigner();
    const all = this.pool.entries.all();
    if (all.length === 0) return;
    const kind = weighted(this.ctx.rng, [
      ['recent', 0.4],
      ['stale', 0.2],
      ['edited', 0.4],
    ] as const);
    const sorted = all.slice().sort((a, b) => a.seq - b.seq || a.view - b.view);
    let entries: CommittedEntry[];
    if (kind === 'stale') entries = sorted.filter((e) => e.seq <= this.h).slice(-MAX_GENERATED_ENTRIES);
    else entries = sorted.slice(-randInt(this.ctx.rng, 1, MAX_GENERATED_ENTRIES));
    if (entries.length === 0) entries = [pick(this.ctx.rng, all)];
    if (kind === 'edited') {
      const i = Math.floor(this.rand() * entries.length);
      const ed = this.editEntry(entries[i]!);
      entries = entries.slice();
      entries[i] = ed.entry;
      this.count(`entry-${ed.what}`);
    }
    if (this.rand() < 0.5) {
      const e = editSet(this.ctx.rng, entries, all.slice(-8), Math.min(this.limits.maxEntries, MAX_GENERATED_ENTRIES));
      if (e) {
        entries = e.items;
        this.count(`set-${e.edit}`);
      }
    }
    this.send(out, this.signAs<CatchUpBody>({ type: 'catch-up', entries: entries.slice(0, this.limits.maxEntries), replica: signer.id }), this.someTargets());
  }

  private genFetchState(out: ReplicaAction[]): void {
    const signer = this.pickSigner();
    const seq = weighted(this.ctx.rng, [
      [this.h, 0.3],
      [this.pool.proofs.pick(this.ctx.rng)?.seq ?? 0, 0.3],
      [this.chooseCheckpointSeq(), 0.3],
      [0, 0.1],
    ] as const);
    this.send(out, this.signAs<FetchStateBody>({ type: 'fetch-state', seq, replica: signer.id }), partOf(this.ctx.rng, this.others()));
  }

  /** a state message to some peers: stale but real, a bogus or stale snapshot under a real proof, reused or edited proofs */
  private genState(out: ReplicaAction[]): void {
    const body = this.buildState(this.pickSigner().id, 0);
    if (body) this.send(out, this.signAs(body), partOf(this.ctx.rng, this.others()));
  }

  /**
   * A peer asks for the state of a stable checkpoint: answer at once, before its honest core
   * does (if it does), with a lie built on a real proof for that checkpoint or a later one. A
   * STATE message reaches a replica's state-transfer logic only while it is fetching: answering
   * requests is how a fuzzer gets there.
   */
  private reactToFetchState(m: Signed<FetchStateBody>): void {
    // nearly always: it is one message to one replica, and state transfers are rare
    if (m.body.replica === this.ctx.id || this.rand() < 0.1) return;
    if (!verifyReplicaSig(this.ctx.auth, m)) return;
    const body = this.buildState(this.ctx.id, m.body.seq, true);
    if (!body) return;
    this.reactions.push({ msg: this.signAs(body), to: [m.body.replica] });
    if (this.reactions.length > REACTIONS_LIMIT) this.reactions.splice(0, this.reactions.length - REACTIONS_LIMIT);
    this.count('reacted-fetch-state');
  }

  /**
   * A peer whose STATUS says it executed less than its stable checkpoint is about to fetch
   * state (its core sends the peer the checkpoint proof, the peer then asks the replicas in it).
   * Its lie goes out a little later, to arrive once the peer wants the state and before the
   * honest answers to its request: answering before being asked wins the race.
   */
  private watchForLaggard(raw: unknown): void {
    const b = (raw as { body?: { type?: unknown; lastExecuted?: unknown; replica?: unknown } } | null)?.body;
    if (b?.type !== 'status' || typeof b.lastExecuted !== 'number' || b.lastExecuted >= this.h || this.h === 0) return;
    const p = parseReplicaMessage(raw, this.limits);
    if (!p.ok || p.msg.body.type !== 'status' || p.msg.body.replica === this.ctx.id || !verifyReplicaSig(this.ctx.auth, p.msg as Signed<StatusBody>)) return;
    const peer = p.msg.body.replica;
    // at most one pre-emptive lie per peer and stable checkpoint
    const key = `${peer}:${this.h}`;
    if (this.preempted.has(key) || this.rand() < 0.1) return;
    this.preempted.add(key, true);
    const body = this.buildState(this.ctx.id, this.h, true);
    if (!body) return;
    this.defer([{ msg: this.signAs(body), to: [peer] }]);
    this.count('preempted-fetch-state');
  }

  /** A STATE body from the pool, for a checkpoint at or above `atLeast` when it knows one. */
  private buildState(signer: ReplicaId, atLeast: number, lie = false): StateBody | null {
    const proofs = this.pool.proofs.all().filter((p) => p.seq >= atLeast);
    const proof = proofs.length > 0 ? pick(this.ctx.rng, proofs) : this.pool.proofs.pick(this.ctx.rng);
    const snaps = this.pool.snapshots.all();
    const snap = (proof && snaps.find((x) => x.seq === proof.seq && x.digest === proof.digest)) ?? (snaps.length > 0 ? pick(this.ctx.rng, snaps) : undefined);
    if (!snap && !proof) return null;
    const base: StateBody = proof
      ? { type: 'state', seq: proof.seq, digest: proof.digest, snapshot: snap?.snapshot ?? '{}', proof: proof.proof, replica: signer }
      : { type: 'state', seq: snap!.seq, digest: snap!.digest, snapshot: snap!.snapshot, proof: snap!.proof, replica: signer };
    const kind = weighted(this.ctx.rng, [
      ['real', lie ? 0 : 0.2],
      ['bogus-snapshot', lie ? 0.8 : 0.2],
      ['reused-proof', 0.2],
      ['proof-set', 0.2],
      ['unproven', 0.1],
      ['future', 0.1],
    ] as const);
    let body: StateBody = base;
    switch (kind) {
      case 'real':
        break;
      case 'bogus-snapshot': {
        // another real state (older or newer: plausible, restorable) or made-up text, under a real proof
        const other = snaps.filter((x) => x.digest !== base.digest);
        // (a lie is restorable: one a core would install if it skipped the digest check)
        const snapshot =
          other.length > 0 && this.rand() < 0.7
            ? pick(this.ctx.rng, other).snapshot
            : lie
              ? EMPTY_STATE_SNAPSHOT
              : pick(this.ctx.rng, ['{}', EMPTY_STATE_SNAPSHOT, '[]', randomHex(this.ctx.rng, 16)]);
        body = { ...base, snapshot };
        break;
      }
      case 'reused-proof': {
        const other = this.pool.proofs.all().find((p) => p.seq !== base.seq);
        body = other ? { ...base, seq: other.seq, proof: other.proof } : { ...base, seq: bump(base.seq, this.ctx.params.checkpointInterval) };
        break;
      }
      case 'proof-set': {
        const own = this.signers.map((s) => this.signAs<CheckpointBody>({ type: 'checkpoint', seq: base.seq, digest: base.digest, replica: s.id }));
        const e = editSet(this.ctx.rng, base.proof, [...own, ...this.pool.checkpoints.all().slice(-4)], this.n);
        if (e) {
          body = { ...base, proof: e.items };
          this.count(`set-${e.edit}`);
        }
        break;
      }
      case 'unproven': {
        // self-consistent (the digest is the snapshot's state digest) but proven only by colluders
        const snapshot = EMPTY_STATE_SNAPSHOT;
        const digest = snapshotStateDigest(this.ctx.auth, new KvStore(), snapshot);
        const proofOwn = this.signers.map((s) => this.signAs<CheckpointBody>({ type: 'checkpoint', seq: base.seq, digest, replica: s.id }));
        body = { ...base, snapshot, digest, proof: proofOwn };
        break;
      }
      case 'future':
        body = { ...base, seq: this.chooseCheckpointSeq() };
        break;
    }
    this.count(`state-${kind}`);
    return body;
  }

  /**
   * Colluders vote together: every signer prepares and commits one (view, seq) for one digest to
   * a part of the replicas, and for another digest to the rest; or they all sign one checkpoint.
   */
  private genCollude(out: ReplicaAction[]): void {
    if (this.signers.length < 2) return;
    if (this.rand() < 0.3) {
      const seq = this.chooseCheckpointSeq();
      const digest = this.pool.checkpoints.pick(this.ctx.rng)?.body.digest ?? randomHex(this.ctx.rng, 32);
      const to = this.someTargets();
      for (const s of this.signers) this.send(out, this.signAs<CheckpointBody>({ type: 'checkpoint', seq, digest, replica: s.id }), to);
      this.count('colluded-checkpoints');
      return;
    }
    const pp = this.pool.prePrepares.pick(this.ctx.rng);
    const view = pp && this.rand() < 0.7 ? pp.body.view : this.view;
    const seq = pp ? pp.body.seq : this.chooseSeq();
    const d1 = pp ? pp.body.digest : this.chooseDigest(seq);
    const d2 = this.chooseDigest(seq, d1);
    const part = partOf(this.ctx.rng, this.others());
    const rest = this.others().filter((r) => !part.includes(r));
    for (const s of this.signers) {
      for (const [digest, to] of [
        [d2, part],
        [d1, rest],
      ] as const) {
        if (to.length === 0) continue;
        if (s.id !== this.primary(view)) this.send(out, this.signAs<PrepareBody>({ type: 'prepare', view, seq, digest, replica: s.id }), to);
        this.send(out, this.signAs<CommitBody>({ type: 'commit', view, seq, digest, replica: s.id }), to);
      }
    }
    this.count('colluded-votes');
  }

  // -------------------------------------------------------------------------------------------
  // Small-scope mutations of its core's own messages
  // -------------------------------------------------------------------------------------------

  private maybeMutate(a: OutMessage): ReplicaAction[] {
    const t = a.msg.body.type;
    if (this.rand() >= (RARE_TYPES.has(t) ? this.rates.mutateRare : this.rates.mutate)) return [a];
    const m = this.smallScope(a.msg);
    if (!m) return [a];
    this.count(`mutated-${t}`);
    this.count(`mut-${m.what}`);
    const all = targets(a, this.n, this.ctx.id);
    const out: ReplicaAction[] = [];
    if (all.length > 1 && this.rand() < this.rates.partition) {
      // equivocation along a partition: the mutated version to some, the original to the rest
      const part = partOf(this.ctx.rng, all);
      for (const to of all) if (!part.includes(to)) out.push({ type: 'send', to, msg: a.msg });
      this.push(out, { msg: m.msg, to: part });
      this.count('partitioned');
      m.after?.(part);
    } else {
      out.push(withMsg(a, m.msg));
      this.countSent(m.msg);
      m.after?.(all);
    }
    return out;
  }

  /** One field of its own message changed a little, re-signed with its own key. */
  private smallScope(msg: ReplicaMessage): Mutation | null {
    const rng = this.ctx.rng;
    const K = this.ctx.params.checkpointInterval;
    const off = () => (this.rand() < 0.5 ? 1 : -1);
    switch (msg.body.type) {
      case 'request': {
        const other = this.pool.requests.pick(rng);
        return other && other.sig !== msg.sig ? { msg: other, what: 'request-other' } : null;
      }
      case 'pre-prepare': {
        const pp = msg as SignedPrePrepare;
        const b = pp.body;
        const kind = pick(rng, ['batch', 'batch', 'seq', 'view', 'digest', 'beyond'] as const);
        if (kind === 'batch') return { msg: this.prePrepareAs(this.ctx.id, b.view, b.seq, this.chooseBatch(b.digest)), what: 'pre-prepare-batch' };
        if (kind === 'digest')
          return { msg: { ...sign(this.ctx.auth, { ...b, digest: this.chooseDigest(b.seq, b.digest) }), batch: pp.batch }, what: 'pre-prepare-digest' };
        if (kind === 'seq') return { msg: { ...sign(this.ctx.auth, { ...b, seq: bump(b.seq, off()) }), batch: pp.batch }, what: 'pre-prepare-seq' };
        if (kind === 'view') return { msg: { ...sign(this.ctx.auth, { ...b, view: bump(b.view, off()) }), batch: pp.batch }, what: 'pre-prepare-view' };
        return { msg: { ...sign(this.ctx.auth, { ...b, seq: bump(this.H, 1) }), batch: pp.batch }, what: 'pre-prepare-beyond' };
      }
      case 'prepare':
      case 'commit': {
        const b = (msg as Signed<PrepareBody | CommitBody>).body;
        const kind = pick(rng, ['view', 'seq', 'digest', 'digest', 'edge'] as const);
        let body: PrepareBody | CommitBody;
        if (kind === 'view') body = { ...b, view: bump(b.view, off()) };
        else if (kind === 'seq') body = { ...b, seq: bump(b.seq, off()) };
        else if (kind === 'digest') body = { ...b, digest: this.chooseDigest(b.seq, b.digest) };
        else body = { ...b, seq: this.rand() < 0.5 ? bump(this.H, 1) : this.h };
        return { msg: sign(this.ctx.auth, body) as Signed<PrepareBody> | Signed<CommitBody>, what: `${b.type}-${kind}` };
      }
      case 'checkpoint': {
        const b = (msg as Signed<CheckpointBody>).body;
        const kind = pick(rng, ['seq', 'far', 'digest'] as const);
        const body: CheckpointBody =
          kind === 'seq'
            ? { ...b, seq: bump(b.seq, K * off()) }
            : kind === 'far'
              ? { ...b, seq: this.farNumber(K) }
              : { ...b, digest: this.rand() < 0.5 ? otherDigest(rng, b.digest) : this.chooseDigest(b.seq, b.digest) };
        return { msg: sign(this.ctx.auth, body), what: `checkpoint-${kind}` };
      }
      case 'view-change':
        return this.editViewChange((msg as Signed<ViewChangeBody>).body);
      case 'new-view':
        return this.editNewView((msg as Signed<NewViewBody>).body);
      case 'status': {
        const b = (msg as Signed<StatusBody>).body;
        const kind = pick(rng, ['view', 'executed', 'stable', 'changing'] as const);
        const body: StatusBody =
          kind === 'view'
            ? { ...b, view: bump(b.view, off()) }
            : kind === 'executed'
              ? { ...b, lastExecuted: bump(b.lastExecuted, off() * randInt(rng, 1, this.ctx.params.logWindow)) }
              : kind === 'stable'
                ? { ...b, stableSeq: bump(b.stableSeq, K * off()) }
                : { ...b, viewChanging: !b.viewChanging };
        return { msg: sign(this.ctx.auth, body), what: `status-${kind}` };
      }
      case 'catch-up': {
        const b = (msg as Signed<CatchUpBody>).body;
        let entries = b.entries;
        let what: string;
        if (entries.length > 0 && this.rand() < 0.5) {
          const i = Math.floor(this.rand() * entries.length);
          const ed = this.editEntry(entries[i]!);
          entries = entries.slice();
          entries[i] = ed.entry;
          what = `catch-up-entry-${ed.what}`;
        } else {
          const e = editSet(rng, entries, this.pool.entries.all().slice(-8), this.limits.maxEntries);
          if (!e) return null;
          entries = e.items;
          this.count(`set-${e.edit}`);
          what = `catch-up-entries-${e.edit}`;
        }
        return { msg: sign(this.ctx.auth, { ...b, entries }), what };
      }
      case 'fetch-state': {
        const b = (msg as Signed<FetchStateBody>).body;
        return { msg: sign(this.ctx.auth, { ...b, seq: this.chooseCheckpointSeq() }), what: 'fetch-state-seq' };
      }
      case 'state': {
        const b = (msg as Signed<StateBody>).body;
        const kind = pick(rng, ['proof', 'snapshot', 'seq'] as const);
        if (kind === 'proof') {
          const e = editSet(rng, b.proof, this.pool.checkpoints.all().slice(-8), this.n);
          if (!e) return null;
          this.count(`set-${e.edit}`);
          return { msg: sign(this.ctx.auth, { ...b, proof: e.items }), what: `state-proof-${e.edit}` };
        }
        if (kind === 'snapshot') {
          const other = this.pool.snapshots.all().find((s) => s.digest !== b.digest);
          return { msg: sign(this.ctx.auth, { ...b, snapshot: other ? other.snapshot : '{}' }), what: 'state-snapshot' };
        }
        return { msg: sign(this.ctx.auth, { ...b, seq: b.seq + K }), what: 'state-seq' };
      }
    }
  }

  /** its own VIEW-CHANGE with one thing changed: the view, the certificates, the proof, the stable seq */
  private editViewChange(b: ViewChangeBody): Mutation | null {
    const rng = this.ctx.rng;
    const K = this.ctx.params.checkpointInterval;
    const kind = weighted(rng, [
      ['view', 0.15],
      ['prepared', 0.4],
      ['proof', 0.2],
      ['stale-stable', 0.15],
      ['stable-seq', 0.1],
    ] as const);
    let body: ViewChangeBody = b;
    switch (kind) {
      case 'view':
        body = { ...b, newView: bump(b.newView, this.rand() < 0.5 ? 1 : -1) };
        break;
      case 'prepared': {
        const fresh = this.pool.certs
          .all()
          .filter((c) => !b.prepared.includes(c))
          .slice(-8);
        const extra = this.signers.length > 1 ? this.colluderCert(b.newView) : null;
        const e = editSet(rng, b.prepared, extra ? [...fresh, extra] : fresh, this.ctx.params.logWindow);
        if (!e) return null;
        this.count(`set-${e.edit}`);
        body = { ...b, prepared: e.items };
        break;
      }
      case 'proof': {
        const e = editSet(rng, b.checkpointProof, this.pool.checkpoints.all().slice(-8), this.n);
        if (!e) return null;
        this.count(`set-${e.edit}`);
        body = { ...b, checkpointProof: e.items };
        break;
      }
      case 'stale-stable': {
        const p = this.pool.proofs.all().find((x) => x.seq < b.stableSeq);
        if (!p) return null;
        body = {
          ...b,
          stableSeq: p.seq,
          checkpointProof: p.proof,
          prepared: b.prepared.filter((c) => c.prePrepare.body.seq <= p.seq + this.ctx.params.logWindow),
        };
        break;
      }
      case 'stable-seq':
        body = { ...b, stableSeq: bump(b.stableSeq, K * (this.rand() < 0.5 ? 1 : -1)) };
        break;
    }
    return { msg: this.signAs(body), what: `view-change-${kind}` };
  }

  /**
   * A NEW-VIEW (its core's, or one it built) with O or V edited, signed by its primary:
   * repeat one entry and omit another (the count stays), shift one entry's seq, give one entry
   * another real batch, drop one, add one past max-s, reorder, or edit V. Where O no longer
   * covers a seq, a follow-up pre-prepares another real batch there (and the colluders vote for
   * it) to the replicas that got this NEW-VIEW: if a backup accepted the edited O, that seq is
   * open again in the new view.
   */
  private editNewView(b: NewViewBody): Mutation | null {
    const rng = this.ctx.rng;
    const auth = this.authOf(b.replica);
    if (!auth) return null;
    const O = b.prePrepares;
    const ops: [string, number][] = [
      ['extra', 0.1],
      ['V', 0.1],
    ];
    if (O.length >= 2) ops.push(['repeat-omit', 0.35], ['reorder', 0.05]);
    if (O.length >= 1) ops.push(['shift', 0.15], ['swap-batch', 0.15], ['omit', 0.1]);
    const op = weighted(rng, ops);
    let prePrepares = O.slice();
    let viewChanges = b.viewChanges;
    const pp = (seq: number, batch: SignedRequest[]) => this.prePrepareAs(b.replica, b.newView, seq, batch);
    const at = Math.floor(this.rand() * O.length);
    switch (op) {
      case 'repeat-omit':
      case 'reorder':
      case 'omit': {
        const e = editSet(rng, O, [], this.limits.maxEntries, op === 'repeat-omit' ? 'repeat-omit' : op === 'reorder' ? 'reorder' : 'omit');
        if (!e) return null;
        prePrepares = e.items;
        this.count(`set-${e.edit}`);
        break;
      }
      case 'shift': {
        const x = O[at]!;
        prePrepares[at] = pp(bump(x.body.seq, this.rand() < 0.5 ? 1 : -1), x.batch);
        break;
      }
      case 'swap-batch': {
        const x = O[at]!;
        prePrepares[at] = pp(x.body.seq, this.chooseBatch(x.body.digest));
        break;
      }
      case 'extra': {
        let maxS = 0;
        for (const x of O) maxS = Math.max(maxS, x.body.seq);
        for (const vc of b.viewChanges) maxS = Math.max(maxS, vc.body.stableSeq);
        if (prePrepares.length >= this.limits.maxEntries) return null;
        prePrepares.push(pp(bump(maxS, 1), this.chooseBatch()));
        break;
      }
      case 'V': {
        const fresh = this.pool.viewChanges
          .all()
          .filter((vc) => !b.viewChanges.includes(vc))
          .slice(-6);
        const e = editSet(rng, b.viewChanges, fresh, this.n);
        if (!e) return null;
        viewChanges = e.items;
        this.count(`set-${e.edit}`);
        break;
      }
    }
    this.count(`nv-${op}`);
    const msg = sign(auth, { ...b, viewChanges, prePrepares });
    const kept = new Set(prePrepares.map((x) => x.body.seq));
    const omitted = O.filter((x) => !kept.has(x.body.seq));
    return {
      msg,
      what: `new-view-${op}`,
      after: (to) => {
        this.queueNote(
          `new-view ${b.newView} (primary r${b.replica}): ${op}${omitted.length ? `, O omits ${omitted.map((x) => x.body.seq).join(',')}` : ''}; to [${to.join(',')}]`,
        );
        this.followUpOmitted(b.newView, b.replica, omitted.slice(0, 2), to);
      },
    };
  }

  /**
   * After a NEW-VIEW whose O left out some seqs: at each, a pre-prepare in the new view with
   * another real batch than O had there, the colluders' prepares and everyone's commits for it.
   */
  private followUpOmitted(view: number, primary: ReplicaId, omitted: readonly SignedPrePrepare[], to: ReplicaId[]): void {
    const items: Outgoing[] = [];
    for (const x of omitted) {
      const alt = this.prePrepareAs(primary, view, x.body.seq, this.chooseBatch(x.body.digest));
      items.push({ msg: alt, to });
      for (const s of this.signers) {
        const vote = { view, seq: alt.body.seq, digest: alt.body.digest, replica: s.id };
        if (s.id !== primary) items.push({ msg: this.signAs<PrepareBody>({ type: 'prepare', ...vote }), to });
        items.push({ msg: this.signAs<CommitBody>({ type: 'commit', ...vote }), to });
      }
      this.count('follow-up-omitted-seq');
    }
    this.defer(items);
  }
}
