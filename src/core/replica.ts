/**
 * The PBFT replica core (Castro & Liskov, "Practical Byzantine Fault Tolerance and Proactive
 * Recovery", ACM TOCS 20(4), 2002; the signature version of the view change, §4.4-4.5 of the
 * OSDI '99 paper). See /shared/protocol/pbft.md for the reference this follows.
 *
 * Sans-I/O: `step(event)` returns the actions a driver must carry out. No clocks (timers are
 * named actions), no randomness, no sockets, no files. Same inputs, same outputs.
 *
 * Handlers are named `on<Message>`. Every message from outside is validated (structure, then
 * sender, signature, view, window, digest) before it touches state; failures are counted as
 * "ignore" (stale, duplicate: harmless) or "reject" (invalid: evidence against the sender).
 */
import { canonicalJson, utf8 } from './canonical.js';
import {
  batchDigest,
  limitsFor,
  makePrePrepare,
  makeReply,
  makeRequest,
  parseReplicaMessage,
  parseRequest,
  requestDigest,
  sign,
  verifyClientSig,
  verifyReplicaSig,
  verifyRequestMac,
  type Limits,
} from './messages.js';
import { maxFaulty, primaryOf, quorums, type Quorums } from './quorum.js';
import { computeO, type ComputedO } from './view-change.js';
import { DigestMap } from './digest-map.js';
import type {
  Application,
  AuthCounts,
  BatchHoldCounts,
  Authenticator,
  CatchUpBody,
  CheckpointBody,
  ClientId,
  CommitBody,
  CommittedEntry,
  DropClass,
  DropCounts,
  DropReason,
  ExecutedRequest,
  FetchStateBody,
  Hex,
  NewViewBody,
  PersistRecord,
  PhaseEvent,
  PreparedCert,
  PrepareBody,
  ProtocolParams,
  ReplicaAction,
  ReplicaEvent,
  ReplicaId,
  ReplicaMessage,
  ReplicaStatus,
  Signed,
  SignedPrePrepare,
  SignedRequest,
  StateBody,
  StatusBody,
  ViewChangeBody,
} from './types.js';

/**
 * Deliberately broken behaviours, for proving that the adversaries and checkers can find them.
 * Never in production. Each is one small change to one rule; BUG_DESCRIPTIONS says which.
 */
export const BUG_DESCRIPTIONS = {
  'commit-on-2f': 'commits with 2f matching commits instead of a quorum',
  'new-view-lowest-view': 'O takes the prepared certificate with the LOWEST view at each sequence number',
  'skip-pre-prepare-digest-check': "a pre-prepare's digest is not checked against its batch",
  'execute-out-of-order': 'committed batches execute as soon as committed, not in sequence order',
  'new-view-count-only': "backups compare only the NUMBER of pre-prepares in a NEW-VIEW with O's size (one seq may repeat, another be missing)",
  'checkpoint-evict-lowest': 'CHECKPOINTs at any future seq are stored; when the table is full the LOWEST seq is evicted',
  'new-primary-stale-next-seq': 'entering a view, a new primary may propose from its old nextSeq before it is reset past O',
  'pre-prepare-outside-window': 'pre-prepares are accepted outside the watermarks (h, H]',
  'accept-conflicting-pre-prepare': 'a second pre-prepare for the same (view, seq) with another digest replaces the first',
  'new-view-too-few-view-changes': 'a NEW-VIEW is accepted with f+1 view-changes in V instead of a quorum',
  'state-no-digest-check': 'a fetched state snapshot is installed without checking it against the proven digest',
  'view-change-timeout-no-double': 'the view-change timeout never doubles',
  'view-change-skip-cert-check': 'prepared certificates in view-changes are not validated (prepares, signatures, primary)',
  'catch-up-skip-cert-check': 'catch-up entries are taken without checking their commit certificate',
  'restart-forget-prepared': 'a restarted replica forgets its prepared certificates (the durable ones are not restored)',
  'execute-on-prepared': 'a batch is decided as soon as it is prepared, without a commit quorum',
  'skip-client-signature-check': 'requests inside pre-prepares are not authenticated (neither MAC nor client signature)',
  'execute-duplicate-request': "execution skips a request only when its timestamp is OLDER than the client's last, so one (c, t) ordered twice runs twice",
  'prepare-quorum-short': 'a slot is prepared with 2f-1 matching prepares instead of 2f',
  'view-change-last-view-only': 'a VIEW-CHANGE carries only the certificates prepared in the view being left, not older ones',
  'recovery-skipped': 'a replica restarted with its durable log lost votes at once, as if nothing were lost (no recovery mode)',
  'snapshot-current-state': "a checkpoint's snapshot is built from the state NOW, not from its copy-on-write marks (the state at its seq)",
  'light-checkpoint-as-full': 'on restart, the newest light checkpoint is taken as stable and executed up to, without replaying the records after the full one',
} as const;
export type BugName = keyof typeof BUG_DESCRIPTIONS;
export const BUG_NAMES: readonly BugName[] = Object.keys(BUG_DESCRIPTIONS) as BugName[];

export interface ReplicaOptions {
  id: ReplicaId;
  params: ProtocolParams;
  auth: Authenticator;
  app: Application;
  /** durable records from a previous life, in the order they were persisted */
  persisted?: PersistRecord[];
  /**
   * Start amnesic: the durable log was lost or found damaged (a checksum failed before its
   * last record), so what this replica signed before is unknown. It recovers (see the class
   * comment on recovery) with a recovery request of this timestamp, larger than any it used
   * before (the runtime: wall-clock ms; the simulator: virtual time), and this nonce.
   */
  recover?: { timestamp: number; nonce: Hex };
  bugs?: Partial<Record<BugName, boolean>>;
  /**
   * Check the core's own invariants at every state transition and throw on a breach (default:
   * on, unless a bug is enabled: a broken core is there to show what the CHECKERS catch).
   */
  assertions?: boolean;
}

/** ProtocolParams.batchHoldMs unless set (cluster.json too) */
export const DEFAULT_BATCH_HOLD_MS = 25;

/** The longest batch hold a view-change timeout allows: a quarter of it (backups time the primary from when they hold a request). */
export function maxBatchHoldMs(viewChangeTimeoutMs: number): number {
  return Math.floor(viewChangeTimeoutMs / 4);
}

export function defaultParams(n: number, overrides: Partial<ProtocolParams> = {}): ProtocolParams {
  return {
    n,
    f: maxFaulty(n),
    checkpointInterval: 16,
    logWindow: 64,
    maxBatchSize: 64,
    maxInFlight: 8,
    batchHoldMs: DEFAULT_BATCH_HOLD_MS,
    viewChangeTimeoutMs: 1000,
    maxViewChangeTimeoutMs: 16000,
    statusIntervalMs: 250,
    maxOpBytes: 64 * 1024,
    ...overrides,
  };
}

/** Throws a RangeError naming the first parameter that is out of range. */
export function validateParams(p: ProtocolParams): void {
  quorums(p.n, p.f);
  const pos = (k: keyof ProtocolParams) => {
    if (!Number.isSafeInteger(p[k]) || p[k] < 1) throw new RangeError(`${k} must be a positive integer, got ${p[k]}`);
  };
  (
    [
      'checkpointInterval',
      'logWindow',
      'maxBatchSize',
      'maxInFlight',
      'viewChangeTimeoutMs',
      'maxViewChangeTimeoutMs',
      'statusIntervalMs',
      'maxOpBytes',
    ] as const
  ).forEach(pos);
  if (p.logWindow % p.checkpointInterval !== 0 || p.logWindow < 2 * p.checkpointInterval) {
    throw new RangeError(`logWindow (${p.logWindow}) must be a multiple of checkpointInterval (${p.checkpointInterval}) and at least twice it`);
  }
  if (!Number.isSafeInteger(p.batchHoldMs) || p.batchHoldMs < 0) throw new RangeError(`batchHoldMs must be a non-negative integer, got ${p.batchHoldMs}`);
  if (p.batchHoldMs > maxBatchHoldMs(p.viewChangeTimeoutMs))
    throw new RangeError(`batchHoldMs (${p.batchHoldMs}) must not exceed a quarter of viewChangeTimeoutMs (${p.viewChangeTimeoutMs})`);
  if (p.maxInFlight > p.logWindow) throw new RangeError(`maxInFlight (${p.maxInFlight}) must not exceed logWindow (${p.logWindow})`);
  if (p.maxViewChangeTimeoutMs < p.viewChangeTimeoutMs) throw new RangeError('maxViewChangeTimeoutMs must be >= viewChangeTimeoutMs');
}

/**
 * A checkpoint record with its snapshot (a full one): a new segment starts with it, and older
 * segments it covers may go. A light one (the proof only) is appended like any record: a restart
 * replays the committed records between the last full one and it.
 */
export function isFullCheckpoint(r: PersistRecord): r is Extract<PersistRecord, { kind: 'checkpoint' }> & { snapshot: string } {
  return r.kind === 'checkpoint' && typeof r.snapshot === 'string';
}

/** Fold a durable log: what a restarted replica needs, nothing older than its checkpoint. */
export function compactRecords(records: PersistRecord[]): PersistRecord[] {
  /** the newest full checkpoint (with its snapshot), and the newest light one */
  let cp: Extract<PersistRecord, { kind: 'checkpoint' }> | undefined;
  let light: Extract<PersistRecord, { kind: 'checkpoint' }> | undefined;
  let view: Extract<PersistRecord, { kind: 'view' }> | undefined;
  let newView: Extract<PersistRecord, { kind: 'new-view' }> | undefined;
  let recovery: Extract<PersistRecord, { kind: 'recovery' }> | undefined;
  let target: Extract<PersistRecord, { kind: 'target' }> | undefined;
  for (const r of records) {
    if (r.kind === 'recovery') recovery = r;
    else if (r.kind === 'target') {
      if (!target || r.seq > target.seq) target = r;
    } else if (r.kind === 'checkpoint') {
      if (r.snapshot === undefined) {
        if (!light || r.seq > light.seq) light = r;
      } else if (!cp || r.seq > cp.seq) cp = r;
    } else if (r.kind === 'view' && (!view || r.view >= view.view)) view = r;
    else if (r.kind === 'new-view' && (!newView || r.msg.body.newView >= newView.msg.body.newView)) newView = r;
  }
  const h = cp?.seq ?? 0;
  const out: PersistRecord[] = [];
  // an unfinished recovery must survive every compaction: until it is done, this replica
  // does not know what it signed before its log was lost
  if (recovery && !recovery.done) out.push(recovery);
  if (view) out.push(view);
  if (cp) out.push(cp);
  // a light checkpoint above it: the records after the full one must stay, to replay up to it
  if (light && light.seq > h) out.push(light);
  if (target && target.seq > h) out.push(target);
  if (newView && (!view || newView.msg.body.newView >= view.view)) out.push(newView);
  for (const r of records) {
    if (r.kind === 'pre-prepare' && r.msg.body.seq > h) out.push(r);
    else if (r.kind === 'prepared' && r.cert.prePrepare.body.seq > h) out.push(r);
    else if (r.kind === 'committed' && r.entry.seq > h) out.push(r);
  }
  return out;
}

interface Slot {
  seq: number;
  /** the pre-prepare accepted for this seq in view `ppView` (or -1) */
  ppView: number;
  prePrepare: SignedPrePrepare | null;
  prepared: boolean;
  /** the prepared certificate with the highest view formed here (reported in view changes) */
  preparedCert: PreparedCert | null;
  /** the decision: set once committed-local, or from a verified commit certificate */
  committed: CommittedEntry | null;
  /** status ticks when the slot last changed: retransmit only what is stuck */
  touchedTick: number;
  /**
   * A pre-prepare of the current view that passed every check except that this replica could
   * not authenticate one of its requests (no valid MAC entry, bad signature): it is accepted
   * once 2f matching prepares from distinct backups vouch for it (tryVouched). Not persisted.
   */
  unvouched?: SignedPrePrepare | null;
}

interface Votes {
  prepares: Map<ReplicaId, Signed<PrepareBody>>;
  commits: Map<ReplicaId, Signed<CommitBody>>;
}

interface ClientRecord {
  timestamp: number;
  result: string;
}

/**
 * The replica state at a checkpoint: its snapshot, or copy-on-write marks of the application
 * and the client table to build it when it is needed (stateSnapshot), then kept.
 */
interface StateAt {
  snapshot?: string;
  appMark?: number;
  clientsMark?: number;
}

interface Stable {
  seq: number;
  digest: Hex;
  proof: Signed<CheckpointBody>[];
  state: StateAt;
}

const MAX_PENDING_REQUESTS = 10_000;
/**
 * Clients whose request a primary must verify by signature before proposing it (a request
 * proposed and not committed before a view change; a suspect client's every request): at most
 * this many of each, the oldest forgotten first (liveness only: see markProposalsForSignature).
 */
const MAX_SIGNATURE_MARKS = 4096;
const MAX_CATCH_UP_ENTRIES = 16;
/** status ticks between two FETCH-STATE answers to one peer (a snapshot is the largest message) */
const FETCH_STATE_EVERY_TICKS = 4;
/** views ahead of ours for which view-changes are kept */
const VIEW_CHANGE_LOOKAHEAD_PER_REPLICA = 4;
/** own view-changes kept for retransmission to replicas still collecting for an older view */
const SENT_VIEW_CHANGES_KEPT = 8;

/** Counts of everything a replica keeps in memory; see `footprintLimits` for their bounds. */
export interface Footprint {
  /** log slots, and the span of their sequence numbers above the low watermark */
  slots: number;
  slotSpan: number;
  /** (view, seq) vote sets and the prepares and commits in them */
  voteSets: number;
  votes: number;
  /** checkpoint messages held: inside the window table, and one newest per peer beyond it */
  checkpointSeqs: number;
  checkpoints: number;
  farCheckpoints: number;
  snapshots: number;
  /** view-changes held for views above ours, and the views they are for */
  viewChangeViews: number;
  viewChanges: number;
  sentViewChanges: number;
  pendingRequests: number;
  peers: number;
  /** clients marked for a signature check before a proposal, and suspect clients */
  signatureMarks: number;
  /** (primary) clients tracked for batch holds: answered, quick and awaited */
  batchHoldClients: number;
}

/** Upper bounds of every Footprint field for these parameters: memory is bounded whatever arrives. */
export function footprintLimits(p: ProtocolParams): Footprint {
  const cps = (2 * p.logWindow) / p.checkpointInterval + 1;
  const views = VIEW_CHANGE_LOOKAHEAD_PER_REPLICA * p.n + 1;
  return {
    // (h, H], and beyond it the window of a checkpoint being fetched: at most 2L
    slots: 2 * p.logWindow,
    slotSpan: p.logWindow,
    voteSets: 2 * p.logWindow,
    votes: 4 * p.n * p.logWindow,
    checkpointSeqs: cps,
    checkpoints: cps * p.n,
    farCheckpoints: p.n,
    snapshots: p.logWindow / p.checkpointInterval + 1,
    viewChangeViews: views,
    viewChanges: views * p.n,
    sentViewChanges: SENT_VIEW_CHANGES_KEPT + 1,
    pendingRequests: MAX_PENDING_REQUESTS,
    peers: p.n,
    signatureMarks: 2 * MAX_SIGNATURE_MARKS,
    batchHoldClients: 3 * MAX_TRACKED_CLIENTS + p.maxBatchSize,
  };
}

/** Batches in flight below which the primary proposes a batch that is not full (propose). */
const PARTIAL_BATCH_DEPTH = 1;
/** A client is quick (a batch hold waits for it) when its next request came within this many proposals of its answer. */
const QUICK_RETURN_PROPOSALS = 2;
/** Proposals during which a client a batch hold waited for in vain is not waited for again. */
const HOLD_MISS_PROPOSALS = 16;
/**
 * The longest a batch hold lasts, in windows (batchHoldMs; and never more than maxBatchHoldMs).
 * A hold ends batchHoldMs after the first of its clients came back, or when all are; until one
 * is, it waits on, up to this limit. On a slow machine, or at n >= 7, a closed loop's cycle
 * outlasts one window from the primary's execution (the clients await f+1 replies, and the
 * backups execute later): a window counted from there ran out before any came back, and the
 * clients split into batches that alternate (README, Performance).
 */
const HOLD_LIMIT_WINDOWS = 4;
/** Most clients the primary tracks for batch holds, per table (oldest forgotten first). */
const MAX_TRACKED_CLIENTS = 4096;

/** Status periods between two sends of a recovery request not executed yet. */
const RECOVERY_RESEND_TICKS = 4;

/** Client ids of recovery requests: `replica:<id>`, signed with that replica's key. */
export const RECOVERY_CLIENT_PREFIX = 'replica:';
export function recoveryClientId(id: ReplicaId): ClientId {
  return `${RECOVERY_CLIENT_PREFIX}${id}`;
}
export function isRecoveryClient(client: ClientId): boolean {
  return client.startsWith(RECOVERY_CLIENT_PREFIX);
}
/** The op of a recovery request: the nonce makes it, and its result, unique. */
export function recoveryOp(nonce: Hex): string {
  return canonicalJson({ nonce, op: 'pbft/recover' });
}
function recoveryResult(op: string): string {
  try {
    const v = JSON.parse(op) as { nonce?: unknown };
    if (typeof v.nonce === 'string' && v.nonce.length <= 128) return `recovered ${v.nonce}`;
  } catch {
    // not a recovery op: it still executes, as a no-op
  }
  return 'recovered';
}

interface Recovery {
  request: SignedRequest;
  timestamp: number;
  nonce: Hex;
  expectedResult: string;
  /** lastExecuted when the recovery request's execution was first seen in our state */
  after: number | null;
  /** a view whose NEW-VIEW was formed after that: voting there is safe */
  freshView: number | null;
}

/**
 * The replica core.
 *
 * Recovery mode (a durable log lost or damaged). A replica that does not know what it signed
 * must not sign again where it may have signed before, nor take part in a view change with a
 * log that may omit prepared certificates: either could break agreement, as one more faulty
 * replica would. After the paper's recovery (simplified):
 * 1. It orders a recovery request, signed with its own key as client `replica:<id>`. That
 *    request is ordered after the crash, at a seq s_r above every checkpoint it knew before,
 *    so whatever it signed before is at seqs up to s_r + L. It sees the request executed in
 *    its state at some lastExecuted = after >= s_r (by executing it, or in a fetched state).
 * 2. Until then, and until it is in a view formed after that, it sends no PRE-PREPARE,
 *    PREPARE, COMMIT, VIEW-CHANGE or NEW-VIEW. It learns decisions from commit certificates
 *    (catch-up) and proven checkpoints (state transfer), executes, replies, and sends
 *    CHECKPOINTs (its state is the correct one).
 * 3. A view is formed after it when every VIEW-CHANGE of its NEW-VIEW proves a stable
 *    checkpoint at or above `after`. Those 2f+1 view-changes were sent after the request was
 *    ordered, and f+1 or more of them by correct replicas other than itself; the request could
 *    only be ordered in a view no lower than the highest view that had 2f+1 view-changes when
 *    it crashed, and it had sent view-changes for no view above that one plus one. So that
 *    view is above every view it signed anything in: it votes there (no vote of its own can
 *    conflict), following the NEW-VIEW's O like everyone. It advertises the wait in its STATUS
 *    (recoveringAfter); a replica that executed its request and holds a stable checkpoint at
 *    or above `after` starts a view change for it, once per recovery request.
 * 4. It takes part in view changes again (recovery done) once its stable checkpoint reaches
 *    after + L: its view-changes then omit nothing it may have prepared before. It says so in
 *    its STATUS (recoveringUntil), and an idle primary orders null requests up to there, so
 *    recovery ends without client load (padForRecovery).
 * Liveness needs 2f+1 others to order its request and change views: a recovering replica
 * counts against f, as a crashed one does.
 */
export class Replica {
  readonly id: ReplicaId;
  private readonly p: ProtocolParams;
  private readonly q: Quorums;
  private readonly auth: Authenticator;
  private readonly app: Application;
  private readonly limits: Limits;
  private readonly bugs: Partial<Record<BugName, boolean>>;

  private view = 0;
  private viewChanging = false;
  private lastExecuted = 0;
  private stable: Stable;
  private readonly slots = new Map<number, Slot>();
  private readonly votes = new Map<string, Votes>();
  /** checkpoint messages by seq, then replica: seqs in (h, h + 2L] only (bounded, never evicted) */
  private readonly checkpoints = new Map<number, Map<ReplicaId, Signed<CheckpointBody>>>();
  /**
   * Beyond h + 2L: each peer's newest checkpoint only. A replica far behind still learns a
   * proven checkpoint from 2f+1 peers, and a faulty peer holds exactly one entry, whatever it sends.
   */
  private readonly farCheckpoints = new Map<ReplicaId, Signed<CheckpointBody>>();
  /** own state snapshots at checkpoint seqs not yet stable */
  private readonly snapshots = new Map<number, { digest: Hex; state: StateAt }>();
  /** seq of the last checkpoint written to the durable log with its snapshot (a full one) */
  private lastFullSnapshot = 0;
  /** the client table (last timestamp and result per client): part of the state, digest kept incrementally */
  private clients: DigestMap<ClientRecord>;
  /** backups: requests held and not executed; primary: requests waiting for a sequence number */
  private readonly pending = new Map<ClientId, SignedRequest>();
  /** (primary) clients this replica answered by executing, not heard from since: a batch-hold waits for them (propose) */
  private readonly awaited = new Set<ClientId>();
  /** (primary) a batch-hold timer is set */
  private holding = false;
  /** (primary) one of the clients this hold awaits is back (its window now runs from there) */
  private holdAnyBack = false;
  /** (primary) an execution of this step answered a quick client whose next request is here already */
  private answeredBack = false;
  /** the longest a batch hold lasts: HOLD_LIMIT_WINDOWS windows, within maxBatchHoldMs; above batchHoldMs, a hold can wait on */
  private readonly holdLimitMs: number;
  /** (primary) batches this replica has proposed, ever: the clock of quick returns */
  private proposals = 0;
  /** (primary) when (proposals) each client was last answered by an execution here */
  private readonly answeredAt = new Map<ClientId, number>();
  /** (primary) clients whose last request came within QUICK_RETURN_PROPOSALS of their answer, while the primary was busy */
  private readonly quick = new Set<ClientId>();
  /** (primary) clients a hold waited for in vain: not quick again before this many proposals (HOLD_MISS_PROPOSALS) */
  private readonly missedHold = new Map<ClientId, number>();
  private nextSeq = 1;
  /** valid view-changes by target view, then sender */
  private readonly viewChanges = new Map<number, Map<ReplicaId, Signed<ViewChangeBody>>>();
  /** the NEW-VIEW that put this replica into its current view (to help laggards) */
  private currentNewView: Signed<NewViewBody> | null = null;
  private sentNewView: Signed<NewViewBody> | null = null;
  private ownViewChange: Signed<ViewChangeBody> | null = null;
  /** the view-changes this replica sent for recent views, to retransmit to replicas still there */
  private readonly sentViewChanges = new Map<number, Signed<ViewChangeBody>>();
  private vcTimeoutMs: number;
  private vcTimerRunning = false;
  /** a proven checkpoint above what we executed: fetch state if we make no progress */
  private target: { seq: number; digest: Hex; proof: Signed<CheckpointBody>[] } | null = null;
  private targetSeenAtExecuted = -1;
  /**
   * After a restart: the newest light checkpoint above the full one, which replaying the
   * committed records reaches again (takeCheckpoint makes it stable there), whatever proven
   * target may be pending above it. Null outside restore().
   */
  private replayTo: { seq: number; digest: Hex; proof: Signed<CheckpointBody>[] } | null = null;
  private statusTick = 0;
  /** each peer's last STATUS (view, execution), for the catching-up rule of the request timer */
  private readonly peerStatus = new Map<ReplicaId, { view: number; viewChanging: boolean; lastExecuted: number }>();
  /** per peer, the status tick of the last catch-up help and of the last state served: rate limits */
  private readonly servedAt = new Map<ReplicaId, { help: number; state: number }>();
  /** set while entering a view: nothing is proposed until O is in place and nextSeq is past it */
  private enteringView = false;
  private readonly assertions: boolean;
  private readonly dropped: DropCounts = { ignore: {}, reject: {} };
  private readonly holdCounts: BatchHoldCounts = { started: 0, allBack: 0, ranOut: 0, waitedOn: 0 };
  private readonly authCounts: AuthCounts = {
    requestsByMac: 0,
    requestsBySignature: 0,
    requestsUnauthenticated: 0,
    prePreparesVouched: 0,
    proposalsSignatureChecked: 0,
    proposalsDropped: 0,
    repliesByMac: 0,
    repliesBySignature: 0,
  };
  /** client -> the newest timestamp of its requests that were proposed and not committed before a view change */
  private readonly resign = new Map<ClientId, number>();
  /** clients caught with a request whose MAC was valid here and whose signature is bad */
  private readonly suspects = new Set<ClientId>();
  /** requests authenticated here by MAC only (their signature not checked) */
  private readonly macOnly = new WeakSet<SignedRequest>();
  private restored: PersistRecord[] | null;
  private out: ReplicaAction[] = [];
  private started = false;
  /** set while recovering from a lost or damaged durable log (see the class comment) */
  private recovery: Recovery | null = null;
  /** the lowest stable checkpoint among the view-changes of the NEW-VIEW we entered this view by */
  private viewMinStable = -1;
  /** per peer, the timestamp of the last recovery request we changed view for (helpRecovery) */
  private readonly helpedRecovery = new Map<ReplicaId, { timestamp: number; times: number; view: number }>();
  /** status tick at which we last sent a recovering peer the NEW-VIEW of our view (helpRecovery) */
  private readonly newViewHelp = new Map<ReplicaId, number>();
  /** peers that said (STATUS recoveringAfter) they wait for a view formed after that seq */
  private readonly recoveringPeers = new Map<ReplicaId, number>();
  /** per peer, the timestamp of the last recovery request we padded for (padForRecovery) */
  private readonly paddedFor = new Map<ReplicaId, number>();
  /** as primary with nothing pending, order null requests up to here (padForRecovery) */
  private padUntil = 0;
  /** the view for which, as its new primary, we waited for fresh view-changes (tryNewView) */
  private newViewWaitFor = -1;

  constructor(opts: ReplicaOptions) {
    validateParams(opts.params);
    if (!Number.isSafeInteger(opts.id) || opts.id < 0 || opts.id >= opts.params.n) {
      throw new RangeError(`replica id ${opts.id} is not in 0..${opts.params.n - 1}`);
    }
    this.id = opts.id;
    this.p = opts.params;
    this.q = quorums(opts.params.n, opts.params.f);
    this.auth = opts.auth;
    this.app = opts.app;
    this.limits = limitsFor(opts.params);
    this.holdLimitMs = Math.max(
      opts.params.batchHoldMs,
      Math.min(HOLD_LIMIT_WINDOWS * opts.params.batchHoldMs, maxBatchHoldMs(opts.params.viewChangeTimeoutMs)),
    );
    this.bugs = opts.bugs ?? {};
    this.assertions = opts.assertions ?? !Object.values(this.bugs).some(Boolean);
    this.vcTimeoutMs = opts.params.viewChangeTimeoutMs;
    this.clients = newClientTable(this.auth);
    this.stable = { seq: 0, digest: this.stateDigest(), proof: [], state: { snapshot: this.snapshotState() } };
    this.restored = opts.persisted && opts.persisted.length > 0 ? compactRecords(opts.persisted) : null;
    if (opts.recover && !this.bugs['recovery-skipped']) {
      const { timestamp, nonce } = opts.recover;
      if (!Number.isSafeInteger(timestamp) || timestamp < 1) throw new RangeError('recover.timestamp must be a positive safe integer');
      if (typeof nonce !== 'string' || !/^[0-9a-f]{8,64}$/.test(nonce)) throw new RangeError('recover.nonce must be 8 to 64 hex digits');
      this.recovery = this.makeRecovery(timestamp, nonce, null);
    }
  }

  private makeRecovery(timestamp: number, nonce: Hex, after: number | null): Recovery {
    const op = recoveryOp(nonce);
    const request = makeRequest(this.auth, recoveryClientId(this.id), timestamp, op);
    return { request, timestamp, nonce, expectedResult: recoveryResult(op), after, freshView: null };
  }

  private persistRecovery(done: boolean): void {
    const r = this.recovery;
    if (r) this.persist({ kind: 'recovery', timestamp: r.timestamp, nonce: r.nonce, after: r.after, done });
  }

  /** May this replica sign votes and view changes? Not while recovering (class comment). */
  private get recovering(): boolean {
    return this.recovery !== null;
  }

  /** Move recovery on: note where its request executed; finish once safe. */
  private checkRecovery(): void {
    const r = this.recovery;
    if (!r) return;
    if (r.after === null) {
      const e = this.clients.get(recoveryClientId(this.id));
      if (!e || e.timestamp !== r.timestamp || e.result !== r.expectedResult) return;
      r.after = this.lastExecuted;
      this.persistRecovery(false);
      this.log({ phase: 'recovery', view: this.view, seq: r.after, detail: `recovery request executed by seq ${r.after}: waiting for a view formed after it` });
    }
    // a view formed after the request executed (every view-change of its NEW-VIEW proves a
    // checkpoint at or above r.after), or any later one
    if (r.freshView === null && !this.viewChanging && this.viewMinStable >= r.after) {
      r.freshView = this.view;
      this.log({
        phase: 'recovery',
        view: this.view,
        seq: this.lastExecuted,
        detail: `view ${this.view} was formed after its recovery request: votes again; view changes once stable at ${r.after + this.p.logWindow}`,
      });
    }
    if (r.freshView === null || this.stable.seq < r.after + this.p.logWindow) return;
    this.persistRecovery(true);
    this.recovery = null;
    this.log({ phase: 'recovery', view: this.view, seq: this.stable.seq, detail: 'recovered: voting again' });
    this.emit({ type: 'recovered', view: this.view, seq: this.stable.seq });
  }

  private recoveryStatus(): ReplicaStatus['recovery'] {
    const r = this.recovery;
    if (!r) return undefined;
    const boundSeq = r.after === null ? null : r.after + this.p.logWindow;
    const phase = r.after === null ? 'ordering' : r.freshView === null ? 'awaiting-view' : 'rejoining';
    return { phase, boundSeq };
  }

  /** May it pre-prepare, prepare and commit? Not while recovering until a fresh view (class comment). */
  private get voting(): boolean {
    const r = this.recovery;
    return !r || (r.freshView !== null && this.view >= r.freshView);
  }

  // -------------------------------------------------------------------------------------
  // Entry points
  // -------------------------------------------------------------------------------------

  /** Call once before any step: restores the durable log (re-executing it) and sets timers. */
  start(): ReplicaAction[] {
    if (this.started) throw new Error('start() called twice');
    this.started = true;
    if (this.restored) this.restore(this.restored);
    this.restored = null;
    if (this.recovery) {
      const r = this.recovery;
      this.persistRecovery(false);
      this.log({
        phase: 'recovery',
        view: this.view,
        seq: this.lastExecuted,
        detail:
          r.after === null
            ? `durable log lost or damaged: recovering (request ${r.timestamp}); no votes until done`
            : `resuming recovery: no votes at or below seq ${r.after + this.p.logWindow}`,
      });
      if (r.after === null) this.multicast(r.request);
    }
    this.emit({ type: 'setTimer', name: 'status', afterMs: this.p.statusIntervalMs });
    if (this.viewChanging) this.sendViewChange('restarted during a view change');
    this.emit({ type: 'view-entered', view: this.view, primary: this.primary() });
    this.assertInvariants('start');
    return this.flush();
  }

  step(ev: ReplicaEvent): ReplicaAction[] {
    if (!this.started) throw new Error('step() before start()');
    try {
      switch (ev.type) {
        case 'message':
          this.onMessage(ev.from, ev.msg);
          break;
        case 'request':
          this.onRequestEvent(ev.msg);
          break;
        case 'timer':
          if (ev.name === 'status') this.onStatusTimer();
          else if (ev.name === 'view-change') this.onViewChangeTimer();
          else if (ev.name === 'new-view-wait') this.onNewViewWaitTimer();
          else if (ev.name === 'batch-hold' || ev.name === 'batch-hold-limit') this.onBatchHoldTimer(ev.name === 'batch-hold-limit');
          break;
        default:
          this.drop('reject', 'malformed', undefined, 'unknown event');
      }
    } catch (e) {
      // A bug in the core must never be triggered by input alone; if it is, fail loudly in
      // tests (the simulator rethrows) but keep the actions computed so far consistent.
      this.out = [];
      throw e;
    }
    this.assertInvariants(ev.type);
    return this.flush();
  }

  /** What this replica holds in memory, by kind (every count is bounded: footprintLimits). */
  footprint(): Footprint {
    let votes = 0;
    for (const v of this.votes.values()) votes += v.prepares.size + v.commits.size;
    let checkpoints = 0;
    for (const m of this.checkpoints.values()) checkpoints += m.size;
    let viewChanges = 0;
    for (const m of this.viewChanges.values()) viewChanges += m.size;
    let maxSlot = this.h();
    for (const k of this.slots.keys()) if (k > maxSlot) maxSlot = k;
    return {
      slots: this.slots.size,
      slotSpan: maxSlot - (this.logTop() - this.p.logWindow),
      voteSets: this.votes.size,
      votes,
      checkpointSeqs: this.checkpoints.size,
      checkpoints,
      farCheckpoints: this.farCheckpoints.size,
      snapshots: this.snapshots.size,
      viewChangeViews: this.viewChanges.size,
      viewChanges,
      sentViewChanges: this.sentViewChanges.size,
      pendingRequests: this.pending.size,
      peers: Math.max(this.peerStatus.size, this.servedAt.size),
      signatureMarks: this.resign.size + this.suspects.size,
      batchHoldClients: this.answeredAt.size + this.quick.size + this.missedHold.size + this.awaited.size,
    };
  }

  // -------------------------------------------------------------------------------------
  // Assertions (TigerBeetle-style): a breach is a bug in this core, never an input to handle
  // -------------------------------------------------------------------------------------

  private assert(cond: boolean, what: () => string): void {
    if (this.assertions && !cond) throw new Error(`replica ${this.id} assertion failed: ${what()}`);
  }

  /** After every step: h <= lastExecuted <= H, and the log holds nothing at or below h. */
  private assertInvariants(where: string): void {
    if (!this.assertions) return;
    const h = this.h();
    this.assert(h <= this.lastExecuted && this.lastExecuted <= this.H(), () => `after ${where}: h=${h} lastExecuted=${this.lastExecuted} H=${this.H()}`);
    const top = this.logTop();
    for (const seq of this.slots.keys()) this.assert(seq > h && seq <= top, () => `after ${where}: slot ${seq} outside (${h}, ${top}]`);
  }

  /** Defence in depth: never vote for a digest other than the one decided at that seq. */
  private assertNotDecidedOtherwise(s: Slot, digest: Hex, what: string): void {
    const c = s.committed;
    this.assert(
      !c || c.digest === digest,
      () => `${what} (${this.view}, ${s.seq}) for digest ${digest.slice(0, 12)}, but ${c!.digest.slice(0, 12)} is committed there`,
    );
  }

  status(): ReplicaStatus {
    return {
      id: this.id,
      view: this.view,
      primary: this.primary(),
      viewChanging: this.viewChanging,
      lastExecuted: this.lastExecuted,
      stableCheckpoint: this.stable.seq,
      // current: state can change outside execution (a corrupt-state fault) and status is how
      // an operator sees that (the digests are kept up to date as the state changes)
      stateDigest: this.stateDigest(),
      lowWatermark: this.h(),
      highWatermark: this.H(),
      pendingRequests: this.pending.size,
      dropped: { ignore: { ...this.dropped.ignore }, reject: { ...this.dropped.reject } },
      auth: { ...this.authCounts },
      batchHolds: { ...this.holdCounts },
      ...(this.recovery ? { recovery: this.recoveryStatus() } : {}),
    };
  }

  // -------------------------------------------------------------------------------------
  // Small helpers
  // -------------------------------------------------------------------------------------

  private primary(view = this.view): ReplicaId {
    return primaryOf(view, this.p.n);
  }
  private isPrimary(): boolean {
    return this.primary() === this.id;
  }
  private h(): number {
    return this.stable.seq;
  }
  private H(): number {
    return this.stable.seq + this.p.logWindow;
  }
  /**
   * The highest seq the log may hold: H, or beyond it the window of a proven checkpoint we are
   * fetching (a NEW-VIEW's O starts at its min-s, which a lagging replica may not have yet) or
   * replaying up to.
   */
  private logTop(): number {
    const heading = Math.max(this.target?.seq ?? 0, this.replayTo?.seq ?? 0);
    return Math.max(this.H(), heading > 0 ? heading + this.p.logWindow : 0);
  }
  private emit(a: ReplicaAction): void {
    this.out.push(a);
  }
  private flush(): ReplicaAction[] {
    const o = this.out;
    this.out = [];
    return o;
  }
  private log(e: PhaseEvent): void {
    this.emit({ type: 'log', event: e });
  }
  private persist(record: PersistRecord): void {
    this.emit({ type: 'persist', record });
  }
  private multicast(msg: ReplicaMessage): void {
    this.emit({ type: 'multicast', msg });
  }
  private send(to: ReplicaId, msg: ReplicaMessage): void {
    if (to !== this.id) this.emit({ type: 'send', to, msg });
  }
  private drop(cls: DropClass, reason: DropReason, peer?: ReplicaId, detail?: string): void {
    const counts = this.dropped[cls];
    counts[reason] = (counts[reason] ?? 0) + 1;
    if (cls === 'reject') this.log({ phase: 'drop', view: this.view, peer, reason, detail });
  }
  private slot(seq: number): Slot {
    let s = this.slots.get(seq);
    if (!s) {
      s = { seq, ppView: -1, prePrepare: null, prepared: false, preparedCert: null, committed: null, touchedTick: this.statusTick };
      this.slots.set(seq, s);
    }
    return s;
  }
  private votesFor(view: number, seq: number): Votes {
    const k = `${view}:${seq}`;
    let v = this.votes.get(k);
    if (!v) {
      v = { prepares: new Map(), commits: new Map() };
      this.votes.set(k, v);
    }
    return v;
  }
  private reqKey(r: SignedRequest): string {
    return `${r.body.client}\u0000${r.body.timestamp}`;
  }

  /**
   * The state digest: the application's digest and the client table's (exactly-once needs it),
   * both kept up to date as the state changes (DigestMap: a partition tree of digests), so a
   * checkpoint costs what changed since the last one, not the size of the state.
   */
  private stateDigest(): Hex {
    return combineStateDigest(this.auth, this.app.digest(), this.clients.digest());
  }
  /**
   * The replica state as one string (application snapshot plus the client table): what a stable
   * checkpoint keeps for the durable log and for state transfer. Not canonical (its digest is
   * stateDigest's, computed from the contents): one JSON.stringify, no sorting.
   */
  private snapshotState(): string {
    const clients: [ClientId, number, string][] = [];
    this.clients.forEach((r, c) => clients.push([c, r.timestamp, r.result]));
    return this.wrapSnapshot(this.app.snapshot(), clients);
  }
  /**
   * The replica state snapshot around the application's: {"clients":[...],"appJson":<it>} when
   * the application says it is JSON (embedded as it is: no escaping of a large state), else
   * {"app":"<it as a string>","clients":[...]} (also how older versions wrote every snapshot;
   * parseSnapshot reads both).
   */
  private wrapSnapshot(app: string, clients: [ClientId, number, string][]): string {
    if (this.app.snapshotIsJson?.(app) === true) return `{"clients":${JSON.stringify(clients)},"appJson":${app}}`;
    return JSON.stringify({ app, clients });
  }
  /**
   * The state now, for a checkpoint: copy-on-write marks when the application has them (a
   * checkpoint then costs its digest only), else its snapshot.
   */
  private captureState(): StateAt {
    const app = this.app;
    if (app.mark && app.snapshotAt && app.release) return { appMark: app.mark(), clientsMark: this.clients.mark() };
    return { snapshot: this.snapshotState() };
  }
  /** The snapshot of a checkpoint's state (built from its marks the first time, then kept). */
  private stateSnapshot(st: StateAt): string {
    if (st.snapshot === undefined && this.bugs['snapshot-current-state']) st.snapshot = this.snapshotState();
    if (st.snapshot === undefined) {
      const clients: [ClientId, number, string][] = [];
      for (const [c, r] of this.clients.entriesAt(st.clientsMark!)) clients.push([c, r.timestamp, r.result]);
      st.snapshot = this.wrapSnapshot(this.app.snapshotAt!(st.appMark!), clients);
    }
    return st.snapshot;
  }
  /** Forget the copy-on-write marks no kept checkpoint state needs (older than the oldest one kept). */
  private pruneMarks(): void {
    if (!this.app.release) return;
    let app = Number.POSITIVE_INFINITY;
    let clients = Number.POSITIVE_INFINITY;
    const keep = (st: StateAt) => {
      if (st.snapshot !== undefined) return;
      if (st.appMark !== undefined) app = Math.min(app, st.appMark);
      if (st.clientsMark !== undefined) clients = Math.min(clients, st.clientsMark);
    };
    keep(this.stable.state);
    for (const s of this.snapshots.values()) keep(s.state);
    this.app.release(app);
    this.clients.release(clients);
  }
  /**
   * Replace the whole replica state with a snapshot. Throws on malformed input, or (`digest`)
   * when the snapshot's state digest is not that one, with the state unchanged: everything is
   * parsed and digested before anything is replaced, and Application.restore is all-or-nothing.
   */
  private installSnapshot(snapshot: string, digest?: Hex): void {
    const parsed = parseSnapshot(this.auth, snapshot);
    if (digest !== undefined && combineStateDigest(this.auth, this.app.snapshotDigest(parsed.app), parsed.clients.digest()) !== digest)
      throw new Error('does not match its proven digest');
    this.app.restore(parsed.app);
    parsed.clients.continueMarksOf(this.clients);
    this.clients = parsed.clients;
  }

  // -------------------------------------------------------------------------------------
  // Restart from the durable log
  // -------------------------------------------------------------------------------------

  private restore(records: PersistRecord[]): void {
    /** the newest light checkpoint (no snapshot): reached again by replaying committed records */
    let light: Extract<PersistRecord, { kind: 'checkpoint' }> | null = null;
    for (const r of records) {
      switch (r.kind) {
        case 'view':
          if (r.view > this.view || (r.view === this.view && r.viewChanging)) {
            this.view = r.view;
            this.viewChanging = r.viewChanging;
          }
          break;
        case 'checkpoint':
          if (r.snapshot === undefined) {
            if (!light || r.seq > light.seq) light = r;
          } else if (r.seq > this.stable.seq) {
            this.installSnapshot(r.snapshot);
            this.stable = { seq: r.seq, digest: r.digest, proof: r.proof, state: { snapshot: r.snapshot } };
            this.lastExecuted = r.seq;
            this.lastFullSnapshot = r.seq;
          }
          break;
        case 'new-view':
          this.sentNewView = r.msg;
          break;
        case 'pre-prepare': {
          const s = this.slot(r.msg.body.seq);
          if (r.msg.body.view >= s.ppView) {
            s.ppView = r.msg.body.view;
            s.prePrepare = r.msg;
            s.prepared = false;
          }
          break;
        }
        case 'prepared': {
          if (this.bugs['restart-forget-prepared']) break;
          const pp = r.cert.prePrepare.body;
          const s = this.slot(pp.seq);
          if (!s.preparedCert || s.preparedCert.prePrepare.body.view <= pp.view) s.preparedCert = r.cert;
          if (pp.view === s.ppView) s.prepared = true;
          break;
        }
        case 'committed':
          this.slot(r.entry.seq).committed = r.entry;
          break;
        case 'target':
          if (!this.target || r.seq > this.target.seq) this.target = { seq: r.seq, digest: r.digest, proof: r.proof };
          break;
        case 'recovery':
          // the newest record wins; an unfinished recovery resumes (a second loss, passed as
          // opts.recover, starts a new one instead)
          if (!this.recovery || this.recovery.timestamp <= r.timestamp) this.recovery = r.done ? null : this.makeRecovery(r.timestamp, r.nonce, r.after);
          break;
      }
    }
    // A light checkpoint above the full one: replaying the committed records after the full one
    // reaches it again, and takeCheckpoint makes it stable there (replayTo), even below a
    // proven target the log also holds (a state transfer under way at the crash: without the
    // light checkpoint stable, the replay would run past the full one's window).
    if (light && light.seq > this.stable.seq && this.bugs['light-checkpoint-as-full']) {
      this.stable = { seq: light.seq, digest: light.digest, proof: light.proof, state: this.captureState() };
      this.lastExecuted = light.seq;
    } else if (light && light.seq > this.stable.seq) this.replayTo = { seq: light.seq, digest: light.digest, proof: light.proof };
    if (this.target && this.target.seq <= this.stable.seq) this.target = null;
    this.targetSeenAtExecuted = this.lastExecuted;
    for (const seq of [...this.slots.keys()]) if (seq <= this.stable.seq) this.slots.delete(seq);
    this.restoreOwnVotes();
    if (this.sentNewView && this.sentNewView.body.newView === this.view && !this.viewChanging) this.currentNewView = this.sentNewView;
    this.nextSeq = Math.max(this.lastExecuted, ...[...this.slots.values()].filter((s) => s.ppView === this.view).map((s) => s.seq)) + 1;
    this.log({
      phase: 'state-transfer',
      view: this.view,
      seq: this.lastExecuted,
      detail: `restarted from durable log: checkpoint ${this.stable.seq}, ${records.length} records`,
    });
    const executedBefore = this.lastExecuted;
    this.executeReady(true);
    // not reached (a committed record missing, or a digest that differs): a proven target,
    // fetched like any other, unless a higher one is pending
    const unreached = this.replayTo;
    this.replayTo = null;
    if (unreached && unreached.seq > this.stable.seq && (!this.target || unreached.seq > this.target.seq)) {
      this.target = unreached;
      this.targetSeenAtExecuted = executedBefore;
    }
  }

  /**
   * After a restart, re-create the votes this replica sent in its current view, so that STATUS
   * retransmission can resend them: a backup sent a PREPARE for every pre-prepare it accepted,
   * and every replica sent a COMMIT for each certificate it prepared. Signing is deterministic,
   * so these are the very messages sent before the crash, never new votes.
   */
  private restoreOwnVotes(): void {
    if (this.viewChanging) return;
    for (const s of this.slots.values()) {
      const pp = s.prePrepare?.body;
      if (!pp || s.ppView !== this.view) continue;
      const v = this.votesFor(pp.view, pp.seq);
      if (pp.replica !== this.id)
        v.prepares.set(this.id, sign<PrepareBody>(this.auth, { type: 'prepare', view: pp.view, seq: pp.seq, digest: pp.digest, replica: this.id }));
      if (s.prepared && s.preparedCert) {
        for (const p of s.preparedCert.prepares) v.prepares.set(p.body.replica, p);
        v.commits.set(this.id, sign<CommitBody>(this.auth, { type: 'commit', view: pp.view, seq: pp.seq, digest: pp.digest, replica: this.id }));
      }
    }
  }

  // -------------------------------------------------------------------------------------
  // Client requests (§4.2: "request at a replica")
  // -------------------------------------------------------------------------------------

  private onRequestEvent(raw: unknown): void {
    const parsed = parseRequest(raw, this.limits);
    if (!parsed.ok) return this.drop('reject', 'malformed', undefined, parsed.error);
    const req = parsed.msg;
    if (!this.authenticRequest(req))
      return this.drop('reject', 'bad-signature', undefined, `request from ${req.body.client.slice(0, 24)}: no valid MAC, bad signature`);
    this.onRequest(req, true);
  }

  /**
   * Authenticate a client request (received directly, forwarded, or in a pre-prepare): by this
   * replica's entry of its MAC authenticator (the fast path), else by the client's signature.
   */
  private authenticRequest(req: SignedRequest): boolean {
    // a suspect client's requests are checked by signature (markSuspect)
    if (!this.suspects.has(req.body.client) && verifyRequestMac(this.auth, req, this.id)) {
      this.authCounts.requestsByMac++;
      this.macOnly.add(req);
      return true;
    }
    if (verifyClientSig(this.auth, req)) {
      this.authCounts.requestsBySignature++;
      return true;
    }
    this.authCounts.requestsUnauthenticated++;
    return false;
  }

  /** Must a primary verify this request's signature before proposing it (markProposalsForSignature)? */
  private needsSignature(req: SignedRequest): boolean {
    const c = req.body.client;
    return this.suspects.has(c) || (this.resign.get(c) ?? -1) >= req.body.timestamp;
  }

  /**
   * The MAC-split attack: a Byzantine client makes its MAC valid at the primary and some backups
   * and invalid (with a bad signature) at others, so its request is proposed but never prepared
   * and the view changes; sent again to every new primary, it would change views for ever.
   * So a request that was proposed (in a pre-prepare we saw) and not committed before a view
   * change must have its signature verified by a primary before it is proposed again; one that
   * fails is dropped and its client is suspect from then on (all its requests are checked).
   * Bounded: at most MAX_SIGNATURE_MARKS of each, the oldest forgotten first.
   */
  private markProposalsForSignature(): void {
    for (const s of this.slots.values()) {
      if (s.seq <= this.lastExecuted || s.committed) continue;
      for (const pp of [s.prePrepare, s.unvouched]) {
        if (!pp) continue;
        for (const r of pp.batch) {
          const { client, timestamp } = r.body;
          if ((this.resign.get(client) ?? -1) < timestamp) this.markResign(client, timestamp);
        }
      }
    }
  }

  /**
   * A request of this client came to us in a pre-prepare with neither a valid MAC for us nor a
   * good signature: its client split its MACs (or a Byzantine primary mangled them). As a primary
   * we check the signature of every request of that client before proposing it, whatever its
   * timestamp: a split request that reached only a primary is never prepared, and one per view,
   * each with a new timestamp, would otherwise cost a view change each (the resign marks of
   * markProposalsForSignature cover only timestamps already proposed). The cost, when a Byzantine
   * primary framed an honest client, is a signature check per request of that client here.
   */
  private requireSignatures(client: ClientId): void {
    this.markResign(client, Number.POSITIVE_INFINITY);
  }

  /** resign mark: requests of `client` up to `timestamp` need a good signature (bounded, oldest forgotten) */
  private markResign(client: ClientId, timestamp: number): void {
    this.resign.delete(client);
    this.resign.set(client, timestamp);
    if (this.resign.size > MAX_SIGNATURE_MARKS) this.resign.delete(this.resign.keys().next().value!);
  }

  /**
   * Verify a request's client signature (counted); one that fails is dropped with `why` and its
   * client becomes suspect. True when the signature is good.
   */
  private signatureOrSuspect(req: SignedRequest, why: string): boolean {
    this.authCounts.proposalsSignatureChecked++;
    if (verifyClientSig(this.auth, req)) return true;
    const { client, timestamp } = req.body;
    this.authCounts.proposalsDropped++;
    this.markSuspect(client);
    this.drop('reject', 'bad-request', undefined, `request ${client.slice(0, 24)}#${timestamp}: ${why}`);
    return false;
  }

  private markSuspect(client: ClientId): void {
    this.suspects.delete(client);
    this.suspects.add(client);
    if (this.suspects.size > MAX_SIGNATURE_MARKS) this.suspects.delete(this.suspects.values().next().value!);
  }

  private onRequest(req: SignedRequest, fromClient: boolean): void {
    const { client, timestamp } = req.body;
    const last = this.clients.get(client);
    if (last && timestamp <= last.timestamp) {
      // "If t is not newer than the last timestamp executed for c, resend the cached reply
      // when t equals it, otherwise ignore."
      if (timestamp === last.timestamp && fromClient) this.sendReply(client, timestamp, last.result, false);
      else this.drop('ignore', 'stale');
      return;
    }
    if (req.body.readOnly) {
      // §5.1.3: executed at once against the current state, tentative, needs 2f+1 replies.
      if (fromClient && !this.viewChanging) {
        this.sendReply(client, timestamp, this.app.query(req.body.op, client), true);
      }
      return;
    }
    const held = this.pending.get(client);
    if (held && held.body.timestamp >= timestamp) {
      if (held.body.timestamp > timestamp) return this.drop('ignore', 'stale');
      // a retransmission: a backup forwards it again (the primary may have lost it)
      if (!this.isPrimary() && !this.viewChanging && fromClient) this.send(this.primary(), req);
      return this.drop('ignore', 'duplicate');
    }
    if (this.isPrimary() && !this.viewChanging && this.isAssigned(req)) return this.drop('ignore', 'duplicate');
    if (this.pending.size >= MAX_PENDING_REQUESTS && !held) return this.drop('ignore', 'too-large', undefined, 'pending request table full');
    // Backups hold a request until it executes (it drives their view-change timer), even
    // once a pre-prepare assigned it: a faulty primary may never get it committed.
    this.pending.set(client, req);
    if (this.p.batchHoldMs > 0) this.noteReturn(client);
    this.log({ phase: 'request', view: this.view, client, timestamp });
    if (this.isPrimary() && !this.viewChanging) {
      this.propose();
    } else if (!this.isPrimary()) {
      // "A backup that holds a valid request it has not executed forwards it to the primary
      // and starts its view-change timer (if not already running)."
      if (!this.viewChanging) this.send(this.primary(), req);
      if (!this.vcTimerRunning && !this.viewChanging) this.startViewChangeTimer();
    }
  }

  /** Is this request already given a sequence number in the current view (and not executed)? */
  private isAssigned(req: SignedRequest): boolean {
    const k = this.reqKey(req);
    for (const s of this.slots.values()) {
      if (s.seq <= this.lastExecuted || s.ppView !== this.view || !s.prePrepare) continue;
      for (const r of s.prePrepare.batch) if (this.reqKey(r) === k) return true;
    }
    return false;
  }

  private sendReply(client: ClientId, timestamp: number, result: string, tentative: boolean): void {
    if (isRecoveryClient(client)) return; // a recovering replica reads its own state
    const msg = makeReply(this.auth, { view: this.view, timestamp, client, replica: this.id, result, tentative });
    if (msg.mac !== undefined) this.authCounts.repliesByMac++;
    else this.authCounts.repliesBySignature++;
    this.emit({ type: 'reply', client, msg });
  }

  // -------------------------------------------------------------------------------------
  // Normal case: pre-prepare, prepare, commit (§4.2)
  // -------------------------------------------------------------------------------------

  /** The primary closes batches while the pipeline has room and the window allows. */
  private propose(): void {
    if (!this.isPrimary() || this.viewChanging || this.enteringView || !this.voting) return;
    while (this.pending.size > 0 && this.nextSeq - 1 - this.lastExecuted < this.p.maxInFlight && this.nextSeq <= this.H()) {
      // Adaptive batching: with PARTIAL_BATCH_DEPTH batches in flight, only a full batch goes
      // out; a partial one fills up until the pipeline drains (execute() proposes again). An
      // idle primary proposes at once, so a lone request waits for nothing.
      if (this.nextSeq - 1 - this.lastExecuted >= PARTIAL_BATCH_DEPTH && this.pending.size < this.p.maxBatchSize) break;
      // Batch hold: an idle primary that has just answered quick clients (closed loops) which
      // have not sent their next request yet waits for them, for at most batchHoldMs after the
      // execution that answered them (noteAnswered), so such clients share one batch instead of
      // splitting into groups that alternate.
      if (this.awaited.size > 0 && this.pending.size < this.p.maxBatchSize) break;
      const batch: SignedRequest[] = [];
      for (const [client, req] of this.pending) {
        this.pending.delete(client);
        const last = this.clients.get(client);
        if (last && req.body.timestamp <= last.timestamp) continue;
        if (this.isAssigned(req)) continue;
        if (this.needsSignature(req) && !this.signatureOrSuspect(req, 'proposed before a view change (or from a suspect client) and its signature is bad'))
          continue;
        batch.push(req);
        if (batch.length >= this.p.maxBatchSize) break;
      }
      if (batch.length === 0) break;
      this.prePrepareNext(batch, `${batch.length} request(s)`);
    }
    // idle, and a recovering peer needs a checkpoint further on: null requests (padForRecovery)
    while (this.pending.size === 0 && this.nextSeq <= this.padUntil && this.nextSeq - 1 - this.lastExecuted < this.p.maxInFlight && this.nextSeq <= this.H()) {
      this.prePrepareNext([], 'null request: a recovering replica needs a checkpoint');
    }
  }

  private prePrepareNext(batch: SignedRequest[], detail: string): void {
    const seq = this.nextSeq++;
    this.proposals++;
    const pp = makePrePrepare(this.auth, this.view, seq, this.id, batch);
    const s = this.slot(seq);
    this.acceptPrePrepare(s, pp);
    this.log({ phase: 'pre-prepare', view: this.view, seq, digest: pp.body.digest, detail });
    this.multicast(pp);
    // with quorum 1 (n <= 2, f = 0) the primary needs no prepares at all
    this.checkPrepared(s);
  }

  private acceptPrePrepare(s: Slot, pp: SignedPrePrepare): void {
    s.ppView = pp.body.view;
    s.prePrepare = pp;
    s.prepared = false;
    s.touchedTick = this.statusTick;
    this.persist({ kind: 'pre-prepare', msg: pp });
  }

  private onPrePrepare(m: SignedPrePrepare, from: ReplicaId): void {
    const { view, seq, digest } = m.body;
    if (m.body.replica !== this.primary(view))
      return this.drop('reject', 'not-primary', from, `pre-prepare from ${m.body.replica}, primary of view ${view} is ${this.primary(view)}`);
    if (!verifyReplicaSig(this.auth, m)) return this.drop('reject', 'bad-signature', from, 'pre-prepare');
    // recovering: it learns decisions from certificates, it does not vote (class comment)
    if (!this.voting) return this.drop('ignore', 'recovering');
    if (view < this.view) return this.drop('ignore', 'stale');
    if (view > this.view) return this.drop('ignore', 'wrong-view');
    if (this.viewChanging) return this.drop('ignore', 'view-changing');
    if ((seq <= this.h() || seq > this.H()) && !this.bugs['pre-prepare-outside-window']) return this.drop('ignore', 'out-of-window');
    // Executed here already: a commit certificate decided it, nothing to vote on.
    if (seq <= this.lastExecuted) return this.drop('ignore', 'stale');
    const s = this.slot(seq);
    if (s.ppView === view && s.prePrepare) {
      if (s.prePrepare.body.digest === digest) return this.drop('ignore', 'duplicate');
      if (!this.bugs['accept-conflicting-pre-prepare'])
        return this.drop('reject', 'conflict', from, `second pre-prepare for (${view}, ${seq}) with another digest`);
    }
    // Decided here (by a commit certificate, e.g. from catch-up) but not executed yet: a correct
    // primary proposes the decided digest or nothing at this seq; never prepare against it.
    if (s.committed && s.committed.digest !== digest)
      return this.drop('reject', 'conflict', from, `pre-prepare (${view}, ${seq}) conflicts with the digest committed there`);
    if (!this.bugs['skip-pre-prepare-digest-check'] && batchDigest(this.auth, m.batch) !== digest) {
      return this.drop('reject', 'bad-digest', from, `pre-prepare (${view}, ${seq}) digest does not match its batch`);
    }
    const unauthenticated = this.bugs['skip-client-signature-check'] ? [] : m.batch.filter((r) => !this.authenticRequest(r));
    if (unauthenticated.length > 0) {
      // Not authenticated here (a MAC split by a Byzantine client, or a forged request): no
      // prepare from us, but 2f matching prepares from distinct backups vouch for it (tryVouched).
      // Its client's requests need a good signature before we propose any of them (requireSignatures).
      for (const r of unauthenticated) this.requireSignatures(r.body.client);
      const held = s.unvouched;
      if (held && held.body.view === view) {
        if (held.body.digest === digest) return this.drop('ignore', 'duplicate');
        return this.drop('reject', 'conflict', from, `second pre-prepare for (${view}, ${seq}) with another digest`);
      }
      s.unvouched = m;
      this.log({ phase: 'pre-prepare', view, seq, digest, peer: from, detail: 'a request not authenticated here: waiting for 2f matching prepares' });
      return this.tryVouched(s);
    }
    this.acceptPrePrepare(s, m);
    this.log({ phase: 'pre-prepare', view, seq, digest, peer: from });
    this.sendPrepare(s);
    this.checkPrepared(s);
  }

  /**
   * Accept a pre-prepare held back because one of its requests was not authenticated here, once
   * 2f matching prepares from distinct backups (not the primary, not us) vouch for it: at least
   * f of them are correct (and f >= 1 when 2f > 0), and the first correct replica to prepare a
   * batch authenticated it itself, so its client did send every request in it. Every other
   * pre-prepare check is made again here (the view, the window, a conflicting pre-prepare or
   * decision).
   */
  private tryVouched(s: Slot): void {
    const m = s.unvouched;
    if (!m) return;
    const { view, seq, digest } = m.body;
    if (view !== this.view || this.viewChanging || !this.voting) return;
    if (seq <= this.lastExecuted || seq <= this.h() || seq > this.H()) return;
    if (s.ppView === view && s.prePrepare) {
      s.unvouched = null;
      return;
    }
    if (s.committed && s.committed.digest !== digest) return;
    const votes = this.votes.get(`${view}:${seq}`);
    if (!votes) return;
    let vouchers = 0;
    for (const [from, p] of votes.prepares) if (from !== this.id && from !== this.primary(view) && p.body.digest === digest) vouchers++;
    if (vouchers < this.q.prepares) return;
    s.unvouched = null;
    this.authCounts.prePreparesVouched++;
    this.acceptPrePrepare(s, m);
    this.log({ phase: 'pre-prepare', view, seq, digest, peer: m.body.replica, detail: `accepted on ${vouchers} matching prepares` });
    this.sendPrepare(s);
    this.checkPrepared(s);
  }

  private sendPrepare(s: Slot): void {
    const pp = s.prePrepare!.body;
    this.assertNotDecidedOtherwise(s, pp.digest, 'PREPARE');
    const prepare = sign<PrepareBody>(this.auth, { type: 'prepare', view: pp.view, seq: pp.seq, digest: pp.digest, replica: this.id });
    this.votesFor(pp.view, pp.seq).prepares.set(this.id, prepare);
    this.log({ phase: 'prepare', view: pp.view, seq: pp.seq, digest: pp.digest });
    this.multicast(prepare);
  }

  /** Common checks for prepare and commit messages. */
  private voteAdmissible(m: Signed<PrepareBody | CommitBody>, from: ReplicaId): boolean {
    const { view, seq } = m.body;
    if (!verifyReplicaSig(this.auth, m)) {
      this.drop('reject', 'bad-signature', from, m.body.type);
      return false;
    }
    const ignore: DropReason | null = !this.voting
      ? 'recovering'
      : view < this.view
        ? 'stale'
        : view > this.view
          ? 'wrong-view'
          : seq <= this.h() || seq > this.H()
            ? 'out-of-window'
            : null;
    if (ignore === null) return true;
    this.drop('ignore', ignore);
    return false;
  }

  /**
   * A vote for the digest of a certificate this replica has already completed at (view, seq):
   * prepared (for a PREPARE) or decided (for a COMMIT). Nothing needs it, so it is ignored
   * before its signature is checked, which is most of a vote's cost: at n = 4 one prepare and
   * one commit of every three arrive after the quorum. A vote for another digest is still
   * checked (it may be evidence of equivocation).
   */
  private surplusVote(m: Signed<PrepareBody | CommitBody>): boolean {
    const b = m.body;
    if (b.view !== this.view || this.viewChanging) return false;
    const s = this.slots.get(b.seq);
    if (!s || s.ppView !== b.view || s.prePrepare?.body.digest !== b.digest) return false;
    return b.type === 'prepare' ? s.prepared : s.committed?.digest === b.digest;
  }

  private onPrepare(m: Signed<PrepareBody>, from: ReplicaId): void {
    if (m.body.replica === this.primary(m.body.view)) return this.drop('reject', 'wrong-sender', from, 'the primary sends no prepare');
    if (this.surplusVote(m)) return this.drop('ignore', 'surplus');
    if (!this.voteAdmissible(m, from)) return;
    const v = this.votesFor(m.body.view, m.body.seq);
    const had = v.prepares.get(m.body.replica);
    if (had) {
      if (had.body.digest === m.body.digest) return this.drop('ignore', 'duplicate');
      return this.drop('reject', 'conflict', from, `two prepares for (${m.body.view}, ${m.body.seq})`);
    }
    v.prepares.set(m.body.replica, m);
    this.log({ phase: 'prepare', view: m.body.view, seq: m.body.seq, digest: m.body.digest, peer: from });
    const s = this.slots.get(m.body.seq);
    if (s?.unvouched) this.tryVouched(s);
    if (s) this.checkPrepared(s);
  }

  /** prepared(m, v, s, i): the pre-prepare and 2f matching prepares from distinct backups. */
  private checkPrepared(s: Slot): void {
    if (s.prepared || !s.prePrepare || s.ppView !== this.view || this.viewChanging) return;
    const pp = s.prePrepare.body;
    const matching = [...this.votesFor(pp.view, pp.seq).prepares.values()].filter((p) => p.body.digest === pp.digest);
    if (matching.length < (this.bugs['prepare-quorum-short'] ? this.q.prepares - 1 : this.q.prepares)) return;
    this.assertNotDecidedOtherwise(s, pp.digest, 'COMMIT');
    s.prepared = true;
    s.touchedTick = this.statusTick;
    const cert: PreparedCert = { prePrepare: s.prePrepare, prepares: matching.slice(0, this.q.prepares) };
    s.preparedCert = cert;
    this.persist({ kind: 'prepared', cert });
    this.log({ phase: 'prepared', view: pp.view, seq: pp.seq, digest: pp.digest });
    const commit = sign<CommitBody>(this.auth, { type: 'commit', view: pp.view, seq: pp.seq, digest: pp.digest, replica: this.id });
    this.votesFor(pp.view, pp.seq).commits.set(this.id, commit);
    this.log({ phase: 'commit', view: pp.view, seq: pp.seq, digest: pp.digest });
    this.multicast(commit);
    this.checkCommitted(s);
  }

  private onCommit(m: Signed<CommitBody>, from: ReplicaId): void {
    if (this.surplusVote(m)) return this.drop('ignore', 'surplus');
    if (!this.voteAdmissible(m, from)) return;
    const v = this.votesFor(m.body.view, m.body.seq);
    const had = v.commits.get(m.body.replica);
    if (had) {
      if (had.body.digest === m.body.digest) return this.drop('ignore', 'duplicate');
      return this.drop('reject', 'conflict', from, `two commits for (${m.body.view}, ${m.body.seq})`);
    }
    v.commits.set(m.body.replica, m);
    this.log({ phase: 'commit', view: m.body.view, seq: m.body.seq, digest: m.body.digest, peer: from });
    const s = this.slots.get(m.body.seq);
    if (s) this.checkCommitted(s);
  }

  /** committed-local(m, v, s, i): prepared and 2f+1 matching commits (its own may count). */
  private checkCommitted(s: Slot): void {
    if (s.committed || !s.prepared || !s.prePrepare || s.seq <= this.lastExecuted) return;
    const pp = s.prePrepare.body;
    const votes = this.votes.get(`${pp.view}:${pp.seq}`);
    if (!votes) return;
    const matching = [...votes.commits.values()].filter((c) => c.body.digest === pp.digest);
    const needed = this.bugs['execute-on-prepared'] ? 1 : this.bugs['commit-on-2f'] ? this.q.quorum - 1 : this.q.quorum;
    if (matching.length < needed) return;
    const entry: CommittedEntry = { view: pp.view, seq: pp.seq, digest: pp.digest, batch: s.prePrepare.batch, commits: matching.slice(0, this.q.quorum) };
    this.decide(s, entry);
  }

  private decide(s: Slot, entry: CommittedEntry): void {
    this.assert(
      !s.committed || s.committed.digest === entry.digest,
      () => `seq ${s.seq} decided twice: ${s.committed!.digest.slice(0, 12)} then ${entry.digest.slice(0, 12)}`,
    );
    this.assert(s.seq > this.h() && s.seq <= this.H(), () => `seq ${s.seq} decided outside (${this.h()}, ${this.H()}]`);
    s.committed = entry;
    s.touchedTick = this.statusTick;
    this.persist({ kind: 'committed', entry });
    this.log({ phase: 'committed', view: entry.view, seq: entry.seq, digest: entry.digest });
    this.executeReady(false);
  }

  // -------------------------------------------------------------------------------------
  // Execution, replies, checkpoints (§4.3)
  // -------------------------------------------------------------------------------------

  /** "Execute committed requests strictly in sequence order, each exactly once per (c, t)." */
  private executeReady(replaying: boolean): void {
    let executedRequest = false;
    const ordered = this.bugs['execute-out-of-order']
      ? [...this.slots.values()].filter((s) => s.committed && s.seq > this.lastExecuted).map((s) => s.seq)
      : null;
    for (;;) {
      let s: Slot | undefined;
      if (ordered) {
        const seq = ordered.shift();
        if (seq === undefined) break;
        s = this.slots.get(seq);
      } else {
        s = this.slots.get(this.lastExecuted + 1);
      }
      // (above H only when a restart's replay did not reach its light checkpoint: it waits for
      // a stable checkpoint, fetched, like any seq beyond the window)
      if (!s?.committed || s.seq <= this.stable.seq || s.seq > this.H()) break;
      this.assert(s.seq === this.lastExecuted + 1, () => `executing seq ${s!.seq} after ${this.lastExecuted}`);
      const entry = s.committed;
      const executed: ExecutedRequest[] = [];
      for (const req of entry.batch) {
        const { client, timestamp, op } = req.body;
        const last = this.clients.get(client);
        if (last && (this.bugs['execute-duplicate-request'] ? timestamp < last.timestamp : timestamp <= last.timestamp)) continue; // exactly once per (c, t)
        // a recovery request never reaches the application: its result marks it executed
        const result = isRecoveryClient(client) ? recoveryResult(op) : this.app.execute(op, client);
        this.clients.set(client, { timestamp, result });
        executed.push({ client, timestamp, op, result, digest: requestDigest(this.auth, req) });
        const held = this.pending.get(client);
        if (held && held.body.timestamp <= timestamp) this.pending.delete(client);
        if (!replaying) this.sendReply(client, timestamp, result, false);
        if (!replaying && this.p.batchHoldMs > 0 && this.isPrimary()) this.noteAnswered(client);
        executedRequest = true;
      }
      // (honest: s.seq is lastExecuted + 1; the out-of-order bug may skip ahead)
      if (this.resign.size > 0) for (const r of executed) if ((this.resign.get(r.client) ?? Infinity) <= r.timestamp) this.resign.delete(r.client);
      this.lastExecuted = Math.max(this.lastExecuted, s.seq);
      this.emit({
        type: 'executed',
        view: entry.view,
        seq: entry.seq,
        digest: entry.digest,
        requests: executed,
        certificate: replaying ? null : entry.commits,
      });
      this.log({ phase: 'execute', view: entry.view, seq: entry.seq, digest: entry.digest, detail: `${executed.length} request(s)` });
      if (s.seq % this.p.checkpointInterval === 0) this.takeCheckpoint(s.seq);
    }
    if (executedRequest) {
      // "stops it when it executes; restarts it when it executes one and others are pending".
      // The timeout keeps the value that let a view change succeed (see makeStable for how it
      // comes back down): resetting it here to the initial value made a network slower than
      // that value (partial synchrony's unknown bound) cost a view change per request, for
      // ever (found by the simulator's slow healed networks).
      if (this.vcTimerRunning && !this.viewChanging) {
        if (this.pending.size > 0 && !this.isPrimary()) this.startViewChangeTimer();
        else this.stopViewChangeTimer();
      }
    }
    if (executedRequest && this.awaited.size > 0) {
      // the hold window: batchHoldMs from this execution (a later one restarts it), within
      // the hold's limit from its start
      if (!this.holding) {
        this.holdCounts.started++;
        this.holding = true;
        this.holdAnyBack = false;
        if (this.holdLimitMs > this.p.batchHoldMs) this.emit({ type: 'setTimer', name: 'batch-hold-limit', afterMs: this.holdLimitMs });
      }
      if (this.answeredBack) this.holdAnyBack = true;
      this.emit({ type: 'setTimer', name: 'batch-hold', afterMs: this.p.batchHoldMs });
    }
    this.answeredBack = false;
    this.checkRecovery();
    this.propose();
  }

  /** A request from `client` arrived at the primary: was it quick to come back? */
  private noteReturn(client: ClientId): void {
    if (this.awaited.delete(client) && this.holding) {
      if (this.awaited.size === 0) {
        this.holdCounts.allBack++;
        this.stopHoldTimers();
      } else if (!this.holdAnyBack) {
        // the first one back: the others get a window from now (the clients' cycle is what it
        // is; the window bounds how far behind the first one the rest may be), within the limit
        this.holdAnyBack = true;
        if (this.holdLimitMs > this.p.batchHoldMs) this.emit({ type: 'setTimer', name: 'batch-hold', afterMs: this.p.batchHoldMs });
      }
    }
    const at = this.answeredAt.get(client);
    if (at === undefined) return;
    this.answeredAt.delete(client);
    // quick: back within a couple of proposals, and while other work was pending or in flight
    // (under load; a client that returns to an idle primary is not waited for)
    const busy = this.pending.size > 1 || this.nextSeq - 1 > this.lastExecuted;
    const missed = this.missedHold.get(client);
    if (missed !== undefined && missed <= this.proposals) this.missedHold.delete(client);
    if (busy && this.proposals - at <= QUICK_RETURN_PROPOSALS && (missed === undefined || missed <= this.proposals)) {
      if (!this.quick.has(client) && this.quick.size >= MAX_TRACKED_CLIENTS) this.quick.delete(this.quick.values().next().value as ClientId);
      this.quick.add(client);
    } else this.quick.delete(client);
  }

  /** The primary executed a request of `client` and answered it. */
  private noteAnswered(client: ClientId): void {
    if (isRecoveryClient(client)) return;
    // its next request is here already (this primary executed after the f+1 replies its client
    // needed): it is back, nothing to wait for, and a hold's window runs from now
    if (this.pending.has(client)) {
      if (this.quick.has(client)) this.answeredBack = true;
      return;
    }
    if (this.answeredAt.size >= MAX_TRACKED_CLIENTS) this.answeredAt.delete(this.answeredAt.keys().next().value as ClientId);
    this.answeredAt.set(client, this.proposals);
    if (this.quick.has(client) && this.awaited.size < this.p.maxBatchSize) this.awaited.add(client);
  }

  private stopHoldTimers(): void {
    this.holding = false;
    this.emit({ type: 'cancelTimer', name: 'batch-hold' });
    if (this.holdLimitMs > this.p.batchHoldMs) this.emit({ type: 'cancelTimer', name: 'batch-hold-limit' });
  }

  /** The hold's window (or its limit) ended: propose whatever is pending. */
  private onBatchHoldTimer(limit: boolean): void {
    if (!limit && this.holding && !this.holdAnyBack && this.holdLimitMs > this.p.batchHoldMs) {
      // none of them is back yet: their cycle is longer than a window; wait on (the first one
      // back starts the last window; the limit timer ends it if none comes). Not cut short by
      // requests of clients not awaited: two groups of slow clients would keep cutting each
      // other's holds and stay split (measured in the unit test's harness)
      this.holdCounts.waitedOn++;
      return;
    }
    if (this.holding) {
      this.holdCounts.ranOut++;
      this.stopHoldTimers();
    }
    // those still missing are not waited for again for a while: a client (Byzantine, or gone)
    // that makes holds expire costs the others a window after the first client back (or, when
    // none was back, the limit) per HOLD_MISS_PROPOSALS proposals
    for (const c of this.awaited) {
      this.quick.delete(c);
      if (!this.missedHold.has(c) && this.missedHold.size >= MAX_TRACKED_CLIENTS) this.missedHold.delete(this.missedHold.keys().next().value as ClientId);
      this.missedHold.set(c, this.proposals + HOLD_MISS_PROPOSALS);
    }
    this.awaited.clear();
    this.propose();
  }

  /** Leaving a view: no batch hold, and nobody awaited (the next primary has its own). */
  private endBatchHold(): void {
    this.awaited.clear();
    if (this.holding) this.stopHoldTimers();
  }

  private takeCheckpoint(seq: number): void {
    const digest = this.stateDigest();
    // the state (copy-on-write marks, or its snapshot): for the durable log when this
    // checkpoint is stable and full, and for state transfer while it is the stable one
    const state = this.captureState();
    this.snapshots.set(seq, { digest, state });
    const cp = sign<CheckpointBody>(this.auth, { type: 'checkpoint', seq, digest, replica: this.id });
    this.checkpointsAt(seq).set(this.id, cp);
    this.log({ phase: 'checkpoint', view: this.view, seq, digest });
    this.multicast(cp);
    // the proven checkpoint we were heading for (the light checkpoint a restart replays up to,
    // or a state transfer's target), reached with the proven digest: stable at once
    const replay = this.replayTo?.seq === seq;
    const t = replay ? this.replayTo : this.target;
    if (t && t.seq === seq && t.digest === digest && seq > this.h()) {
      if (replay) this.replayTo = null;
      if (this.target && this.target.seq <= seq) this.target = null;
      this.makeStable(seq, digest, t.proof, state, false);
      return;
    }
    this.checkStable(seq);
  }

  private checkpointsAt(seq: number): Map<ReplicaId, Signed<CheckpointBody>> {
    let m = this.checkpoints.get(seq);
    if (!m) {
      m = new Map();
      this.checkpoints.set(seq, m);
    }
    return m;
  }

  private onCheckpoint(m: Signed<CheckpointBody>, from: ReplicaId): void {
    if (!verifyReplicaSig(this.auth, m)) return this.drop('reject', 'bad-signature', from, 'checkpoint');
    const { seq } = m.body;
    if (seq <= this.h()) return this.drop('ignore', 'stale');
    if (seq % this.p.checkpointInterval !== 0)
      return this.drop('reject', 'out-of-window', from, `checkpoint at ${seq}, not a multiple of ${this.p.checkpointInterval}`);
    if (this.bugs['checkpoint-evict-lowest']) {
      // the broken rule: any future seq is stored, and a full table evicts its LOWEST seq
      // (far-future checkpoints of one faulty replica then evict every real one)
      this.checkpointsAt(seq);
      while (this.checkpoints.size > 2 * (this.p.logWindow / this.p.checkpointInterval) + 4) this.checkpoints.delete(Math.min(...this.checkpoints.keys()));
    } else if (seq > this.h() + 2 * this.p.logWindow) {
      // Far beyond our window: a correct peer is that far only if we are far behind. Keep its
      // newest one; 2f+1 peers' newest at one seq and digest prove a checkpoint to fetch.
      const prev = this.farCheckpoints.get(m.body.replica);
      if (prev && prev.body.seq === seq && prev.body.digest === m.body.digest) return this.drop('ignore', 'duplicate');
      // A newer one stays unless no one else vouches for it: f+1 signers at its seq and digest
      // include a correct one. Without that exception, a checkpoint a replica invented while it
      // was faulty (far in the future) shut out all its later, real ones for good, and with them
      // every proof that needed its signature: a replica left behind never caught up once that
      // replica was correct again (pbft chaos, seed 11, r2 partitioned after r3's fuzz spell).
      if (prev && prev.body.seq >= seq && this.farSupport(prev) >= this.q.weak) return this.drop('ignore', 'stale');
      this.farCheckpoints.set(m.body.replica, m);
      return this.checkStable(seq);
    }
    const at = this.bugs['checkpoint-evict-lowest'] ? this.checkpoints.get(seq) : this.checkpointsAt(seq);
    if (!at) return; // (evicted by the broken rule above)
    const had = at.get(m.body.replica);
    if (had)
      return this.drop(
        had.body.digest === m.body.digest ? 'ignore' : 'reject',
        had.body.digest === m.body.digest ? 'duplicate' : 'conflict',
        from,
        'checkpoint',
      );
    at.set(m.body.replica, m);
    this.checkStable(seq);
  }

  /** Signers of far checkpoints at c's seq and digest (c's own signer included). */
  private farSupport(c: Signed<CheckpointBody>): number {
    let n = 0;
    for (const x of this.farCheckpoints.values()) if (x.body.seq === c.body.seq && x.body.digest === c.body.digest) n++;
    return n;
  }

  /** A proof: 2f+1 matching checkpoint messages at seq, or null. */
  private proofAt(seq: number): { digest: Hex; proof: Signed<CheckpointBody>[] } | null {
    const all = new Map(this.checkpoints.get(seq));
    for (const [r, c] of this.farCheckpoints) if (c.body.seq === seq && !all.has(r)) all.set(r, c);
    if (all.size === 0) return null;
    const byDigest = new Map<Hex, Signed<CheckpointBody>[]>();
    for (const c of all.values()) {
      const l = byDigest.get(c.body.digest) ?? [];
      l.push(c);
      byDigest.set(c.body.digest, l);
    }
    for (const [digest, l] of byDigest) if (l.length >= this.q.quorum) return { digest, proof: l.slice(0, this.q.quorum) };
    return null;
  }

  private checkStable(seq: number): void {
    if (seq <= this.h()) return;
    const proven = this.proofAt(seq);
    if (proven) this.adoptProvenCheckpoint(seq, proven.digest, proven.proof);
  }

  /** A checkpoint proven by 2f+1: make it stable, or notice we are behind or diverged. */
  private adoptProvenCheckpoint(seq: number, digest: Hex, proof: Signed<CheckpointBody>[]): void {
    if (seq <= this.h()) return;
    const own = this.snapshots.get(seq);
    if (this.lastExecuted >= seq && own) {
      if (own.digest === digest) return this.makeStable(seq, digest, proof, own.state, false);
      // "A replica whose own checkpoint digest differs from a stable one has diverged."
      this.log({
        phase: 'state-transfer',
        view: this.view,
        seq,
        digest,
        detail: `own checkpoint digest ${own.digest.slice(0, 12)} differs from the stable one: fetching state`,
      });
      this.setTarget(seq, digest, proof, true);
      return;
    }
    if (this.lastExecuted >= seq) {
      // executed past it without a snapshot (cannot happen unless restarted mid-interval):
      // the stable state is still needed to serve others; fetch it.
      this.setTarget(seq, digest, proof, true);
      return;
    }
    this.setTarget(seq, digest, proof, false);
  }

  private setTarget(seq: number, digest: Hex, proof: Signed<CheckpointBody>[], fetchNow: boolean): void {
    if (!this.target || seq > this.target.seq) {
      this.target = { seq, digest, proof };
      this.targetSeenAtExecuted = this.lastExecuted;
      // durable: slots above the window that belong to it (O of a NEW-VIEW past it) come back
      // with it after a restart (long-run seed 700482 n=4 cuts)
      this.persist({ kind: 'target', seq, digest, proof });
      // Slots above our window that the proven checkpoint covers are decided by it: drop them
      // (and their votes), or a target raised twice would keep the old target's window as
      // well, past the 2L bound (sim seed 5014 n=4, twins). Our view-changes report the
      // target from now on, so no prepared certificate at or below it is needed.
      const top = this.H();
      for (const k of this.slots.keys()) if (k > top && k <= seq) this.slots.delete(k);
      for (const k of this.votes.keys()) {
        const at = Number(k.slice(k.indexOf(':') + 1));
        if (at > top && at <= seq) this.votes.delete(k);
      }
    }
    if (fetchNow) this.fetchState();
  }

  /**
   * `installed`: the state came from a state transfer (it is then written whole: the committed
   * records that led to it are not in this replica's log).
   */
  private makeStable(seq: number, digest: Hex, proof: Signed<CheckpointBody>[], state: StateAt, installed: boolean): void {
    // K more requests ordered in this view: the network kept up with the current timeout, so
    // halve it back towards the configured one.
    if (!this.viewChanging) this.vcTimeoutMs = Math.max(this.p.viewChangeTimeoutMs, Math.floor(this.vcTimeoutMs / 2));
    this.stable = { seq, digest, proof, state };
    // A full checkpoint (with the state) at least every logWindow seqs and after a state
    // transfer; light ones (the proof only) in between, so a snapshot is built and written once
    // per window, not at every checkpoint. A restart replays what follows the last full one:
    // its committed records stay in the log until the next full one (fewer than L seqs, so the
    // replayed slots fit below the light checkpoint's window: restore).
    const full = installed || seq - this.lastFullSnapshot >= this.p.logWindow;
    if (full) {
      this.lastFullSnapshot = seq;
      this.persist({ kind: 'checkpoint', seq, digest, snapshot: this.stateSnapshot(state), proof });
    } else this.persist({ kind: 'checkpoint', seq, digest, proof });
    this.emit({ type: 'checkpoint-stable', seq, digest, full });
    this.log({ phase: 'stable', view: this.view, seq, digest });
    if (this.target && this.target.seq <= seq) this.target = null;
    this.garbageCollect(seq);
    this.checkRecovery();
    this.propose();
  }

  /** "Discard log entries, pre-prepares, prepares, commits and older checkpoints <= s." */
  private garbageCollect(seq: number): void {
    for (const k of this.slots.keys()) if (k <= seq) this.slots.delete(k);
    for (const k of this.votes.keys()) if (Number(k.slice(k.indexOf(':') + 1)) <= seq) this.votes.delete(k);
    for (const k of this.checkpoints.keys()) if (k <= seq) this.checkpoints.delete(k);
    // far checkpoints that the new window covers move into the table
    for (const [r, c] of this.farCheckpoints) {
      if (c.body.seq <= seq) this.farCheckpoints.delete(r);
      else if (c.body.seq <= seq + 2 * this.p.logWindow) {
        this.farCheckpoints.delete(r);
        if (!this.checkpointsAt(c.body.seq).has(r)) this.checkpointsAt(c.body.seq).set(r, c);
      }
    }
    for (const k of this.snapshots.keys()) if (k <= seq) this.snapshots.delete(k);
    this.pruneMarks();
    if (this.nextSeq <= seq) this.nextSeq = seq + 1;
  }

  // -------------------------------------------------------------------------------------
  // State transfer
  // -------------------------------------------------------------------------------------

  private fetchState(): void {
    if (!this.target) return;
    const ask = sign<FetchStateBody>(this.auth, { type: 'fetch-state', seq: this.target.seq, replica: this.id });
    this.log({ phase: 'state-transfer', view: this.view, seq: this.target.seq, digest: this.target.digest, detail: 'fetching state' });
    // ask the replicas whose checkpoint is in the proof; any one correct one suffices
    for (const c of this.target.proof) this.send(c.body.replica, ask);
  }

  private onFetchState(m: Signed<FetchStateBody>, from: ReplicaId): void {
    if (!verifyReplicaSig(this.auth, m)) return this.drop('reject', 'bad-signature', from, 'fetch-state');
    if (this.stable.seq < m.body.seq || this.stable.seq === 0) return this.drop('ignore', 'stale');
    // the largest message there is: at most one per peer every few status periods
    const served = this.served(m.body.replica);
    if (this.statusTick - served.state < FETCH_STATE_EVERY_TICKS) return this.drop('ignore', 'duplicate');
    served.state = this.statusTick;
    const st = sign<StateBody>(this.auth, {
      type: 'state',
      seq: this.stable.seq,
      digest: this.stable.digest,
      snapshot: this.stateSnapshot(this.stable.state),
      proof: this.stable.proof,
      replica: this.id,
    });
    this.send(m.body.replica, st);
  }

  private served(peer: ReplicaId): { help: number; state: number } {
    let s = this.servedAt.get(peer);
    if (!s) {
      s = { help: -Infinity, state: -Infinity };
      this.servedAt.set(peer, s);
    }
    return s;
  }

  private validCheckpointProof(seq: number, digest: Hex, proof: Signed<CheckpointBody>[]): boolean {
    const seen = new Set<ReplicaId>();
    for (const c of proof) {
      if (c.body.seq !== seq || c.body.digest !== digest || seen.has(c.body.replica)) return false;
      if (!verifyReplicaSig(this.auth, c)) return false;
      seen.add(c.body.replica);
    }
    return seen.size >= this.q.quorum;
  }

  /** "Never accept state that does not match a proven digest." */
  private onState(m: Signed<StateBody>, from: ReplicaId): void {
    if (!verifyReplicaSig(this.auth, m)) return this.drop('reject', 'bad-signature', from, 'state');
    const { seq, digest, snapshot, proof } = m.body;
    const wanted = this.target;
    if (!wanted || seq < wanted.seq) return this.drop('ignore', 'stale');
    if (!this.validCheckpointProof(seq, digest, proof)) return this.drop('reject', 'bad-certificate', from, `state at ${seq} without a valid checkpoint proof`);
    try {
      // the snapshot's digest is computed from its contents (as the state's own is kept)
      this.installSnapshot(snapshot, this.bugs['state-no-digest-check'] ? undefined : digest); // leaves the state unchanged when it throws
    } catch (e) {
      return this.drop('reject', 'bad-state', from, `state at ${seq}: ${(e as Error).message}`);
    }
    // (a diverged replica may have executed past seq: it rolls back and re-executes from its log;
    // its own checkpoints above seq describe the state it no longer has, and their copy-on-write
    // marks name the replaced maps: gone, a re-execution takes them again)
    for (const k of this.snapshots.keys()) if (k > seq) this.snapshots.delete(k);
    this.lastExecuted = seq;
    this.target = null;
    this.emit({ type: 'state-installed', seq, digest, proof });
    this.log({ phase: 'state-transfer', view: this.view, seq, digest, peer: from, detail: 'installed state' });
    for (const [client, req] of this.pending) {
      const last = this.clients.get(client);
      if (last && req.body.timestamp <= last.timestamp) this.pending.delete(client);
    }
    // the state now, in this replica's own encoding (never the peer's bytes: a Byzantine peer's
    // text may carry whitespace or keys that parse the same and would otherwise be kept, logged
    // and served on)
    this.makeStable(seq, digest, proof, this.captureState(), true);
    this.executeReady(false);
  }

  // -------------------------------------------------------------------------------------
  // Status, retransmission and catch-up (§5.2 of the TOCS paper: status messages)
  // -------------------------------------------------------------------------------------

  private onStatusTimer(): void {
    this.statusTick++;
    // recovering and its request not executed yet: send it again now and then (it may have
    // reached no correct primary, or been lost)
    if (this.recovery && this.recovery.after === null && this.statusTick % RECOVERY_RESEND_TICKS === 0) this.multicast(this.recovery.request);
    const r = this.recovery;
    const waiting = r && r.after !== null && r.freshView === null ? r.after : undefined;
    const until = r && r.after !== null && r.freshView !== null ? r.after + this.p.logWindow : undefined;
    const st = sign<StatusBody>(this.auth, {
      type: 'status',
      view: this.view,
      viewChanging: this.viewChanging,
      lastExecuted: this.lastExecuted,
      stableSeq: this.stable.seq,
      replica: this.id,
      ...(waiting !== undefined ? { recoveringAfter: waiting } : {}),
      ...(until !== undefined ? { recoveringUntil: until } : {}),
    });
    this.multicast(st);
    // a proven checkpoint above us and no progress since the last tick: fetch the state
    if (this.target) {
      if (this.target.seq <= this.lastExecuted && this.snapshots.get(this.target.seq)?.digest === this.target.digest) {
        const t = this.target;
        this.target = null;
        this.makeStable(t.seq, t.digest, t.proof, this.snapshots.get(t.seq)!.state, false);
      } else if (this.lastExecuted === this.targetSeenAtExecuted || this.target.seq <= this.lastExecuted) {
        this.fetchState();
      }
      this.targetSeenAtExecuted = this.lastExecuted;
    }
    this.emit({ type: 'setTimer', name: 'status', afterMs: this.p.statusIntervalMs });
  }

  private onStatus(m: Signed<StatusBody>, from: ReplicaId): void {
    if (!verifyReplicaSig(this.auth, m)) return this.drop('reject', 'bad-signature', from, 'status');
    const peer = m.body.replica;
    const st = m.body;
    this.peerStatus.set(peer, { view: st.view, viewChanging: st.viewChanging, lastExecuted: st.lastExecuted });
    if (st.recoveringAfter !== undefined) {
      this.recoveringPeers.set(peer, st.recoveringAfter);
      this.helpRecovery(peer, st.recoveringAfter);
    } else this.recoveringPeers.delete(peer);
    if (st.recoveringUntil !== undefined) this.padForRecovery(peer, st.recoveringUntil);
    // Everything below answers with messages, some large: at most once per status period per
    // peer, so a flood of STATUS costs a faulty peer more than it costs us.
    const served = this.served(peer);
    if (served.help === this.statusTick) return this.drop('ignore', 'duplicate');
    served.help = this.statusTick;
    // Views: help a replica that is behind, or still waiting for the new-view we entered.
    if (st.view < this.view || (st.view === this.view && st.viewChanging && !this.viewChanging)) {
      if (!this.viewChanging && this.currentNewView) this.send(peer, this.currentNewView);
      else if (this.viewChanging && this.ownViewChange) this.send(peer, this.ownViewChange);
      // It may still be collecting view-changes for its view, and ours for that view may have
      // been lost before we moved on: without it, it can never gather 2f+1 (and its timer
      // never starts). Retransmit what we sent for its view.
      const old = st.viewChanging && st.view < this.view ? this.sentViewChanges.get(st.view) : undefined;
      if (old) this.send(peer, old);
    } else if (st.view === this.view && st.viewChanging && this.viewChanging) {
      if (this.ownViewChange) this.send(peer, this.ownViewChange);
      if (this.sentNewView?.body.newView === this.view) this.send(peer, this.sentNewView);
    }
    // Execution catch-up works across views: a commit certificate or a checkpoint proof is a
    // proof whatever view either side is in, so a replica that is alone in a view change still
    // keeps up with the decisions (and replies to clients).
    // Its stable checkpoint is behind ours: give it the proof. Behind it in execution, it will
    // fetch the state; past it (its own checkpoint messages were lost), it makes it stable.
    if (st.stableSeq < this.stable.seq) for (const c of this.stable.proof) this.send(peer, c);
    // Checkpoints we took above both stable checkpoints: our CHECKPOINT may have been lost on
    // its way (they are sent once). Without a retransmission, a window whose checkpoints all
    // missed a few correct replicas stays full for good: every replica executed up to H and
    // none can advance h (sim seed 207866 n=10, clients).
    for (let seq = Math.max(st.stableSeq, this.stable.seq) + this.p.checkpointInterval; seq <= this.lastExecuted; seq += this.p.checkpointInterval) {
      const mine = this.checkpoints.get(seq)?.get(this.id);
      if (mine) this.send(peer, mine);
    }
    if (st.lastExecuted < this.stable.seq) return;
    // Behind our execution: send commit certificates (each proves its decision: QCertified).
    if (st.lastExecuted < this.lastExecuted) {
      const entries: CommittedEntry[] = [];
      for (let seq = st.lastExecuted + 1; seq <= this.lastExecuted && entries.length < MAX_CATCH_UP_ENTRIES; seq++) {
        const e = this.slots.get(seq)?.committed;
        if (!e) break;
        entries.push(e);
      }
      if (entries.length > 0) this.send(peer, sign<CatchUpBody>(this.auth, { type: 'catch-up', entries, replica: this.id }));
      return;
    }
    if (st.view !== this.view || st.viewChanging || this.viewChanging) return;
    // Stuck slots above what both executed: retransmit what we sent for them.
    for (let seq = this.lastExecuted + 1; seq <= Math.min(this.H(), this.lastExecuted + this.p.maxInFlight); seq++) {
      const s = this.slots.get(seq);
      if (!s?.prePrepare || s.ppView !== this.view || this.statusTick - s.touchedTick < 2) continue;
      const v = this.votes.get(`${this.view}:${seq}`);
      if (this.isPrimary()) this.send(peer, s.prePrepare);
      else {
        const mine = v?.prepares.get(this.id);
        if (mine) this.send(peer, mine);
      }
      const c = v?.commits.get(this.id);
      if (c) this.send(peer, c);
    }
  }

  /**
   * A peer recovers from a lost log and waits for a view formed after its recovery request:
   * start one, once per recovery request we executed (a Byzantine peer gets one view change per
   * request it has ordered), and only with a stable checkpoint at or above the seq it names, so
   * that our view-change counts as formed after it.
   */
  private helpRecovery(peer: ReplicaId, after: number): void {
    if (this.recovering || this.viewChanging || this.stable.seq < after) return;
    const done = this.clients.get(recoveryClientId(peer));
    if (!done) return;
    // the view we are in was formed after it already: send it that NEW-VIEW (it may have
    // entered our view without it: restarted from a durable log that records the view only)
    if (this.viewMinStable >= after) {
      const st = this.peerStatus.get(peer);
      if (this.currentNewView && st && st.view === this.view && !st.viewChanging && this.newViewHelp.get(peer) !== this.statusTick) {
        this.newViewHelp.set(peer, this.statusTick); // at most once per status period per peer
        this.send(peer, this.currentNewView);
      }
      return;
    }
    // Once per view, at most f+1 times per recovery request: a NEW-VIEW whose V holds a stale
    // view-change (a Byzantine replica's, say) is not fresh, and of f+1 primaries in a row one
    // is correct. A Byzantine peer buys at most f+1 view changes per request it gets ordered.
    const h = this.helpedRecovery.get(peer);
    const times = h && h.timestamp === done.timestamp ? h.times : 0;
    if (times > this.p.f || (h && h.timestamp === done.timestamp && h.view > this.view)) return;
    this.helpedRecovery.set(peer, { timestamp: done.timestamp, times: times + 1, view: this.view + 1 });
    this.startViewChange(this.view + 1, `replica ${peer} recovers from a lost log and needs a view formed after its recovery request`);
  }

  /**
   * A peer recovering from a lost log votes again but waits for a stable checkpoint at or above
   * `until` (its recovery bound) before it takes part in view changes. With no client load that
   * checkpoint never comes, so the primary orders null requests up to it while nothing else is
   * pending. Once per recovery request we executed, and only for a bound at most one log window
   * above what we executed: a Byzantine peer buys at most L + K null requests per request of
   * its own it gets ordered, and only while the cluster is idle.
   */
  private padForRecovery(peer: ReplicaId, until: number): void {
    const done = this.clients.get(recoveryClientId(peer));
    if (!done || this.paddedFor.get(peer) === done.timestamp) return;
    if (until > this.lastExecuted + this.p.logWindow) return;
    const K = this.p.checkpointInterval;
    const target = Math.ceil(until / K) * K;
    this.paddedFor.set(peer, done.timestamp);
    if (target > this.padUntil) this.padUntil = target;
    this.propose();
  }

  private validCommittedEntry(e: CommittedEntry): boolean {
    if (batchDigest(this.auth, e.batch) !== e.digest) return false;
    const seen = new Set<ReplicaId>();
    for (const c of e.commits) {
      const b = c.body;
      if (b.view !== e.view || b.seq !== e.seq || b.digest !== e.digest || seen.has(b.replica)) return false;
      if (!verifyReplicaSig(this.auth, c)) return false;
      seen.add(b.replica);
    }
    // No client signatures checked: 2f+1 commits mean at least one correct replica authenticated
    // every request of the batch (by MAC or signature) before it prepared (README, Authentication).
    return seen.size >= this.q.quorum;
  }

  private onCatchUp(m: Signed<CatchUpBody>, from: ReplicaId): void {
    if (!verifyReplicaSig(this.auth, m)) return this.drop('reject', 'bad-signature', from, 'catch-up');
    let took = 0;
    for (const e of m.body.entries) {
      // only inside the window: beyond H the peer's stable checkpoint proof moves us first
      if (e.seq <= this.lastExecuted || e.seq > this.H()) continue;
      const s = this.slot(e.seq);
      if (s.committed) continue;
      if (!this.bugs['catch-up-skip-cert-check'] && !this.validCommittedEntry(e))
        return this.drop('reject', 'bad-certificate', from, `catch-up entry ${e.seq} has no valid commit certificate`);
      s.committed = e;
      s.touchedTick = this.statusTick;
      this.persist({ kind: 'committed', entry: e });
      took++;
    }
    if (took > 0) {
      this.log({ phase: 'catch-up', view: this.view, peer: from, detail: `${took} committed entr${took === 1 ? 'y' : 'ies'} with certificates` });
      this.executeReady(false);
    }
  }

  // -------------------------------------------------------------------------------------
  // View change (§4.4, signature version)
  // -------------------------------------------------------------------------------------

  private startViewChangeTimer(): void {
    this.vcTimerRunning = true;
    this.emit({ type: 'setTimer', name: 'view-change', afterMs: this.vcTimeoutMs });
  }
  private stopViewChangeTimer(): void {
    this.vcTimerRunning = false;
    this.emit({ type: 'cancelTimer', name: 'view-change' });
  }

  private onViewChangeTimer(): void {
    if (this.recovering || (!this.viewChanging && (this.pending.size === 0 || this.isPrimary()))) {
      this.vcTimerRunning = false;
      return;
    }
    if (!this.viewChanging && (this.target || this.peersAhead() >= this.q.weak)) {
      // We are behind: f+1 replicas in this view (so at least one correct one) executed more
      // than we did, or a proven checkpoint is above us. The request we wait for may be among
      // what we have not caught up on yet; blaming the primary now would send us alone into
      // the next view. Wait another period; once caught up, the timer applies as usual.
      this.log({ phase: 'view-change', view: this.view, detail: 'timer expired while catching up: not suspecting the primary yet' });
      this.startViewChangeTimer();
      return;
    }
    if (!this.viewChanging && !this.blameablePending()) {
      this.vcTimerRunning = false;
      return;
    }
    // "If the timer for v+1 expires before the new-view arrives, move on to v+2 with the
    // timeout doubled." We double on a normal-case expiry too: when the network is slower
    // than the timeout, each view change does execute what was prepared, so counting only
    // failed view changes kept the timeout below one request's latency and every request
    // cost a view change (sim seed 206724 n=4, clients). makeStable halves it back.
    if (!this.bugs['view-change-timeout-no-double']) this.vcTimeoutMs = Math.min(this.vcTimeoutMs * 2, this.p.maxViewChangeTimeoutMs);
    this.startViewChange(this.view + 1, 'timer expired');
  }

  /**
   * Before a backup blames the primary for the requests it holds, it verifies the signature of
   * those it authenticated by MAC only: a Byzantine client can make its MAC valid here and
   * invalid at the primary (with a bad signature), so the primary rightly drops the request and
   * the backups would change views for nothing, request after request. One with a bad signature
   * is dropped and its client is suspect (its requests are verified by signature from then on).
   * Is anything left to wait for?
   */
  private blameablePending(): boolean {
    for (const [client, req] of this.pending) {
      if (!this.macOnly.has(req)) continue;
      if (this.signatureOrSuspect(req, 'valid MAC here, bad signature (checked before blaming the primary)')) this.macOnly.delete(req);
      else this.pending.delete(client);
    }
    return this.pending.size > 0;
  }

  /** peers whose last status says they are in our view, normal, and executed more than us */
  private peersAhead(): number {
    let n = 0;
    for (const s of this.peerStatus.values()) if (s.view === this.view && !s.viewChanging && s.lastExecuted > this.lastExecuted) n++;
    return n;
  }

  private startViewChange(newView: number, why: string): void {
    if (newView <= this.view) return;
    // recovering: its view-change could omit what it prepared before its log was lost; it
    // follows the NEW-VIEWs the others form instead
    if (this.recovering) return;
    this.markProposalsForSignature();
    this.endBatchHold();
    this.view = newView;
    this.viewChanging = true;
    this.currentNewView = null;
    this.persist({ kind: 'view', view: newView, viewChanging: true });
    // the normal-case timer is over; the view-change timer waits for 2f+1 view-changes
    if (this.vcTimerRunning) this.stopViewChangeTimer();
    this.sendViewChange(why);
    for (const k of this.viewChanges.keys()) if (k < newView) this.viewChanges.delete(k);
    // votes of the views we leave are stale from now on (voteAdmissible): drop them
    for (const k of this.votes.keys()) if (Number(k.slice(0, k.indexOf(':'))) < newView) this.votes.delete(k);
    this.tryNewView();
  }

  /** VIEW-CHANGE <v+1, s, C, P, i>: the stable checkpoint, its proof, and prepared certificates. */
  private sendViewChange(why: string): void {
    const newView = this.view;
    // A proven checkpoint we are still fetching the state of is as good a base as our stable
    // one (the paper's replica discards its log on the proof, and fetches the state after):
    // it lets setTarget drop the slots it supersedes.
    const base = this.target && this.target.seq > this.stable.seq ? this.target : this.stable;
    const prepared: PreparedCert[] = [];
    for (const s of [...this.slots.values()].sort((a, b) => a.seq - b.seq)) {
      if (s.seq > base.seq && s.preparedCert && (!this.bugs['view-change-last-view-only'] || s.preparedCert.prePrepare.body.view === newView - 1))
        prepared.push(s.preparedCert);
    }
    const vc = sign<ViewChangeBody>(this.auth, {
      type: 'view-change',
      newView,
      stableSeq: base.seq,
      checkpointProof: base.proof,
      prepared,
      replica: this.id,
    });
    this.ownViewChange = vc;
    this.sentViewChanges.set(newView, vc);
    for (const v of this.sentViewChanges.keys()) if (v < newView - SENT_VIEW_CHANGES_KEPT) this.sentViewChanges.delete(v);
    this.viewChangesFor(newView).set(this.id, vc);
    this.log({ phase: 'view-change', view: newView, seq: this.stable.seq, detail: `${why}; ${prepared.length} prepared certificate(s)` });
    this.multicast(vc);
    this.armViewChangeTimer();
  }

  /**
   * §4.5.2: "If a replica receives a set of 2f+1 valid view-change messages for view v+1 it
   * starts its timer"; if it expires before a valid new-view arrives, it moves on to v+2
   * with the timeout doubled. Starting it earlier lets one replica run ahead alone through
   * views the others never join.
   */
  private armViewChangeTimer(): void {
    if (!this.viewChanging || this.vcTimerRunning) return;
    if ((this.viewChanges.get(this.view)?.size ?? 0) >= this.q.quorum) this.startViewChangeTimer();
  }

  private viewChangesFor(view: number): Map<ReplicaId, Signed<ViewChangeBody>> {
    let m = this.viewChanges.get(view);
    if (!m) {
      m = new Map();
      this.viewChanges.set(view, m);
    }
    return m;
  }

  /** Validate a view-change's checkpoint proof and every prepared certificate in it. */
  private validViewChange(vc: Signed<ViewChangeBody>): string | null {
    const b = vc.body;
    if (b.stableSeq % this.p.checkpointInterval !== 0) return 'stable checkpoint not at a checkpoint interval';
    if (b.stableSeq === 0) {
      if (b.checkpointProof.length !== 0) return 'proof for checkpoint 0';
    } else {
      const d = b.checkpointProof[0]?.body.digest;
      if (d === undefined || !this.validCheckpointProof(b.stableSeq, d, b.checkpointProof)) return `invalid checkpoint proof for ${b.stableSeq}`;
    }
    const seqs = new Set<number>();
    for (const c of b.prepared) {
      const pp = c.prePrepare.body;
      if (seqs.has(pp.seq)) return `two certificates for seq ${pp.seq}`;
      seqs.add(pp.seq);
      if (this.bugs['view-change-skip-cert-check']) continue;
      if (pp.view >= b.newView) return `certificate from view ${pp.view} >= ${b.newView}`;
      if (pp.seq <= b.stableSeq || pp.seq > b.stableSeq + this.p.logWindow) return `certificate for seq ${pp.seq} outside its window`;
      if (pp.replica !== this.primary(pp.view)) return `certificate pre-prepare not from the primary of view ${pp.view}`;
      if (!verifyReplicaSig(this.auth, c.prePrepare)) return `certificate for ${pp.seq}: bad pre-prepare signature`;
      if (batchDigest(this.auth, c.prePrepare.batch) !== pp.digest) return `certificate for ${pp.seq}: digest does not match batch`;
      // (no client signatures: a prepared certificate vouches for its requests; README, Authentication)
      const from = new Set<ReplicaId>();
      for (const p of c.prepares) {
        const pb = p.body;
        if (pb.view !== pp.view || pb.seq !== pp.seq || pb.digest !== pp.digest) return `certificate for ${pp.seq}: mismatched prepare`;
        if (pb.replica === pp.replica || from.has(pb.replica)) return `certificate for ${pp.seq}: prepare from the primary or repeated`;
        if (!verifyReplicaSig(this.auth, p)) return `certificate for ${pp.seq}: bad prepare signature`;
        from.add(pb.replica);
      }
      if (from.size < this.q.prepares) return `certificate for ${pp.seq}: ${from.size} prepares, ${this.q.prepares} needed`;
    }
    return null;
  }

  private onViewChange(m: Signed<ViewChangeBody>, from: ReplicaId): void {
    if (!verifyReplicaSig(this.auth, m)) return this.drop('reject', 'bad-signature', from, 'view-change');
    const nv = m.body.newView;
    if (nv < this.view || (nv === this.view && !this.viewChanging)) {
      // a replica still asking for a view we are already in: give it the new-view
      if (nv === this.view && this.currentNewView) this.send(m.body.replica, this.currentNewView);
      return this.drop('ignore', 'stale');
    }
    if (nv > this.view + VIEW_CHANGE_LOOKAHEAD_PER_REPLICA * this.p.n) return this.drop('ignore', 'wrong-view');
    const set = this.viewChangesFor(nv);
    if (set.has(m.body.replica)) return this.drop('ignore', 'duplicate');
    const bad = this.validViewChange(m);
    if (bad) return this.drop('reject', 'bad-certificate', from, `view-change from ${m.body.replica} for view ${nv}: ${bad}`);
    set.set(m.body.replica, m);
    this.log({ phase: 'view-change', view: nv, peer: m.body.replica, seq: m.body.stableSeq, detail: `${m.body.prepared.length} prepared certificate(s)` });
    if (nv === this.view) this.armViewChangeTimer();
    // "A replica that sees f+1 valid view-changes for views above its own joins the smallest."
    const senders = new Map<ReplicaId, number>();
    for (const [v, vcs] of this.viewChanges) {
      if (v <= this.view) continue;
      for (const r of vcs.keys()) if (r !== this.id) senders.set(r, Math.min(senders.get(r) ?? Infinity, v));
    }
    if (senders.size >= this.q.weak) {
      const smallest = Math.min(...senders.values());
      this.startViewChange(smallest, `${senders.size} replicas moved past view ${this.view}`);
      return;
    }
    this.tryNewView();
  }

  private computeO(V: Signed<ViewChangeBody>[]): ComputedO {
    return computeO(this.auth, V, { lowestViewBug: this.bugs['new-view-lowest-view'] });
  }

  private tryNewView(force = false): void {
    if (!this.viewChanging || this.primary() !== this.id || this.sentNewView?.body.newView === this.view) return;
    const set = this.viewChanges.get(this.view);
    if (!set || set.size < this.q.quorum || !set.has(this.id)) return;
    // A peer recovering from a lost log votes again only in a view whose every view-change
    // proves a stable checkpoint at or above `need` (class comment). When fewer than a quorum
    // do yet, and more view-changes may come, wait a little for them (a Byzantine replica's
    // stale view-change often comes first).
    const need = this.freshnessNeeded();
    if (need !== null && !force) {
      let fresh = 0;
      for (const m of set.values()) if (m.body.stableSeq >= need) fresh++;
      if (fresh < this.q.quorum && set.size < this.p.n - this.recoveringPeers.size) {
        if (this.newViewWaitFor !== this.view) {
          this.newViewWaitFor = this.view;
          this.emit({ type: 'setTimer', name: 'new-view-wait', afterMs: Math.max(1, Math.floor(this.vcTimeoutMs / 4)) });
        }
        return;
      }
    }
    // Own view-change first, then the others with the highest stable checkpoints first (ties by
    // id: deterministic); with a recovering peer, the highest first whoever sent them. Any 2f+1
    // make a valid V; fresh ones also leave O shorter.
    const byStable = (a: [ReplicaId, Signed<ViewChangeBody>], b: [ReplicaId, Signed<ViewChangeBody>]) =>
      b[1].body.stableSeq - a[1].body.stableSeq || a[0] - b[0];
    const V =
      need === null
        ? [
            set.get(this.id)!,
            ...[...set.entries()]
              .filter(([r]) => r !== this.id)
              .sort(byStable)
              .map(([, m]) => m),
          ].slice(0, this.q.quorum)
        : [...set.entries()]
            .sort(byStable)
            .map(([, m]) => m)
            .slice(0, this.q.quorum);
    const O = this.computeO(V);
    const prePrepares = [...O.entries.entries()].map(([seq, e]) => makePrePrepare(this.auth, this.view, seq, this.id, e.batch));
    const nv = sign<NewViewBody>(this.auth, { type: 'new-view', newView: this.view, viewChanges: V, prePrepares, replica: this.id });
    this.sentNewView = nv;
    this.persist({ kind: 'new-view', msg: nv });
    this.log({ phase: 'new-view', view: this.view, detail: `O covers (${O.minS}, ${O.maxS}]` });
    this.multicast(nv);
    this.enterView(nv, O);
  }

  private onNewViewWaitTimer(): void {
    if (this.newViewWaitFor === this.view) this.tryNewView(true);
  }

  /** The highest seq a recovering peer whose request we executed needs a fresh view after, or null. */
  private freshnessNeeded(): number | null {
    let need: number | null = null;
    for (const [peer, after] of this.recoveringPeers) {
      if (!this.clients.has(recoveryClientId(peer))) continue;
      if (need === null || after > need) need = after;
    }
    return need;
  }

  private onNewView(m: Signed<NewViewBody>, from: ReplicaId): void {
    const nv = m.body.newView;
    if (m.body.replica !== this.primary(nv)) return this.drop('reject', 'not-primary', from, `new-view for ${nv} from ${m.body.replica}`);
    if (!verifyReplicaSig(this.auth, m)) return this.drop('reject', 'bad-signature', from, 'new-view');
    // (a replica recovering from a lost log may be in that view without knowing whether it was
    // formed after its recovery request: it takes the NEW-VIEW for that, below)
    const learn = nv === this.view && !this.viewChanging && this.recovery !== null && this.recovery.freshView === null && this.currentNewView === null;
    if (!learn && (nv < this.view || (nv === this.view && !this.viewChanging))) return this.drop('ignore', 'stale');
    if (m.body.replica === this.id) return this.drop('ignore', 'duplicate');
    // V: 2f+1 valid view-changes for nv from distinct replicas
    const senders = new Set<ReplicaId>();
    for (const vc of m.body.viewChanges) {
      if (vc.body.newView !== nv || senders.has(vc.body.replica))
        return this.drop('reject', 'bad-new-view', from, `new-view ${nv}: V holds a mismatched or repeated view-change`);
      if (!verifyReplicaSig(this.auth, vc)) return this.drop('reject', 'bad-new-view', from, `new-view ${nv}: bad view-change signature`);
      const bad = this.validViewChange(vc);
      if (bad) return this.drop('reject', 'bad-new-view', from, `new-view ${nv}: ${bad}`);
      senders.add(vc.body.replica);
    }
    const vcNeeded = this.bugs['new-view-too-few-view-changes'] ? this.q.weak : this.q.quorum;
    if (senders.size < vcNeeded) return this.drop('reject', 'bad-new-view', from, `new-view ${nv}: ${senders.size} view-changes, ${this.q.quorum} needed`);
    // "Backups accept the new-view only if O is exactly what they compute from V."
    const O = this.computeO(m.body.viewChanges);
    if (m.body.prePrepares.length !== O.entries.size)
      return this.drop('reject', 'bad-new-view', from, `new-view ${nv}: O has ${m.body.prePrepares.length} entries, expected ${O.entries.size}`);
    // Exactly O: one pre-prepare for each seq of (min-s, max-s], in order. Equal counts are not
    // enough: a list that repeats one seq and leaves out another would let the new primary
    // put a different request at the seq it left out.
    if (!this.bugs['new-view-count-only']) {
      let expect = O.minS;
      for (const pp of m.body.prePrepares) {
        if (pp.body.seq !== ++expect)
          return this.drop('reject', 'bad-new-view', from, `new-view ${nv}: O's pre-prepare #${expect - O.minS} is for seq ${pp.body.seq}, expected ${expect}`);
      }
    }
    for (const pp of m.body.prePrepares) {
      const want = O.entries.get(pp.body.seq);
      if (
        !want ||
        pp.body.view !== nv ||
        pp.body.replica !== m.body.replica ||
        pp.body.digest !== want.digest ||
        batchDigest(this.auth, pp.batch) !== want.digest
      ) {
        return this.drop('reject', 'bad-new-view', from, `new-view ${nv}: O differs at seq ${pp.body.seq}`);
      }
      if (!verifyReplicaSig(this.auth, pp)) return this.drop('reject', 'bad-new-view', from, `new-view ${nv}: bad pre-prepare signature in O`);
    }
    if (learn) {
      // already in this view: only what recovery needs from its NEW-VIEW
      this.currentNewView = m;
      this.viewMinStable = Math.min(...m.body.viewChanges.map((vc) => vc.body.stableSeq));
      this.log({ phase: 'new-view', view: nv, peer: from, detail: 'learnt the NEW-VIEW of the current view (recovering)' });
      this.checkRecovery();
      return;
    }
    this.log({ phase: 'new-view', view: nv, peer: from, detail: `accepted; O covers (${O.minS}, ${O.maxS}]` });
    if (nv > this.view || !this.viewChanging) this.markProposalsForSignature();
    if (nv > this.view) {
      this.view = nv;
      this.viewChanging = true;
    }
    this.enterView(m, O);
  }

  private enterView(nv: Signed<NewViewBody>, O: ComputedO): void {
    const view = nv.body.newView;
    this.view = view;
    this.viewChanging = false;
    this.currentNewView = nv;
    this.ownViewChange = null;
    this.persist({ kind: 'view', view, viewChanging: false });
    // a hold of an earlier view (a jump through NEW-VIEW, or one started as the view changed)
    // does not carry into this one
    this.endBatchHold();
    this.viewMinStable = Math.min(...nv.body.viewChanges.map((vc) => vc.body.stableSeq));
    // A new primary must not propose until O is installed and nextSeq is past it: adopting O's
    // checkpoint below can make it stable, and making a checkpoint stable proposes. Proposing
    // from the old nextSeq there would sign a second pre-prepare for a seq that O fills.
    const stale = this.bugs['new-primary-stale-next-seq'];
    if (!stale) {
      this.enteringView = true;
      this.nextSeq = Math.max(O.maxS, O.minS, this.h()) + 1;
    }
    // the checkpoint min-s: make it stable if we have it, else it is the state we must fetch
    if (O.checkpoint && O.checkpoint.seq > this.h()) this.adoptProvenCheckpoint(O.checkpoint.seq, O.checkpoint.digest, O.checkpoint.proof);
    this.checkRecovery();
    for (const pp of nv.body.prePrepares) {
      const seq = pp.body.seq;
      if (seq <= this.h() || !this.voting) continue;
      const s = this.slot(seq);
      this.acceptPrePrepare(s, pp);
      if (!this.isPrimary()) this.sendPrepare(s);
    }
    for (const k of this.votes.keys()) if (Number(k.slice(0, k.indexOf(':'))) < view) this.votes.delete(k);
    for (const k of this.viewChanges.keys()) if (k <= view) this.viewChanges.delete(k);
    this.nextSeq = stale ? Math.max(O.maxS, O.minS, this.h()) + 1 : Math.max(this.nextSeq, O.maxS + 1, this.h() + 1);
    this.enteringView = false;
    this.emit({ type: 'view-entered', view, primary: this.primary() });
    this.log({ phase: 'enter-view', view, detail: `primary is ${this.primary()}` });
    // requests not yet ordered: the new primary queues them, backups forward them
    if (this.isPrimary()) {
      this.stopViewChangeTimer();
    } else {
      for (const req of this.pending.values()) this.send(this.primary(), req);
      if (this.pending.size > 0) this.startViewChangeTimer();
      else this.stopViewChangeTimer();
    }
    for (const s of this.slots.values()) this.checkPrepared(s);
    this.executeReady(false);
  }

  // -------------------------------------------------------------------------------------
  // Dispatch
  // -------------------------------------------------------------------------------------

  private onMessage(from: ReplicaId, raw: unknown): void {
    if (!Number.isSafeInteger(from) || from < 0 || from >= this.p.n || from === this.id)
      return this.drop('reject', 'not-member', undefined, `message from ${String(from)}`);
    const parsed = parseReplicaMessage(raw, this.limits);
    if (!parsed.ok) return this.drop('reject', 'malformed', from, parsed.error);
    const parsed0 = parsed.msg;
    if (parsed0.body.type === 'request') {
      const req = parsed0 as SignedRequest;
      if (!this.authenticRequest(req)) return this.drop('reject', 'bad-signature', from, 'forwarded request: no valid MAC, bad signature');
      return this.onRequest(req, false);
    }
    const m = parsed0 as Exclude<ReplicaMessage, SignedRequest>;
    const t = m.body.type;
    // Messages that carry their own proof may be relayed; the rest must come from their signer.
    if (t !== 'new-view' && t !== 'checkpoint' && t !== 'view-change' && m.body.replica !== from) {
      return this.drop('reject', 'wrong-sender', from, `${t} signed by ${m.body.replica} arrived from ${from}`);
    }
    if (m.body.replica === this.id) return this.drop('ignore', 'duplicate');
    switch (t) {
      case 'pre-prepare':
        return this.onPrePrepare(m as SignedPrePrepare, from);
      case 'prepare':
        return this.onPrepare(m as Signed<PrepareBody>, from);
      case 'commit':
        return this.onCommit(m as Signed<CommitBody>, from);
      case 'checkpoint':
        return this.onCheckpoint(m as Signed<CheckpointBody>, from);
      case 'view-change':
        return this.onViewChange(m as Signed<ViewChangeBody>, from);
      case 'new-view':
        return this.onNewView(m as Signed<NewViewBody>, from);
      case 'status':
        return this.onStatus(m as Signed<StatusBody>, from);
      case 'catch-up':
        return this.onCatchUp(m as Signed<CatchUpBody>, from);
      case 'fetch-state':
        return this.onFetchState(m as Signed<FetchStateBody>, from);
      case 'state':
        return this.onState(m as Signed<StateBody>, from);
    }
  }
}

// ---------------------------------------------------------------------------------------
// The state digest
// ---------------------------------------------------------------------------------------

function newClientTable(auth: Authenticator): DigestMap<ClientRecord> {
  return new DigestMap<ClientRecord>(
    (s) => auth.hash(utf8(s)),
    'pbft/clients',
    (r) => [r.timestamp, r.result],
  );
}

/** The replica state digest from the application's digest and the client table's. */
function combineStateDigest(auth: Authenticator, app: Hex, clients: Hex): Hex {
  return auth.hash(utf8(`pbft/state\n${app}\n${clients}`));
}

function parseSnapshot(auth: Authenticator, snapshot: string): { app: string; clients: DigestMap<ClientRecord> } {
  const v = JSON.parse(snapshot) as { app?: unknown; appJson?: unknown; clients?: unknown };
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !Array.isArray(v.clients)) throw new Error('malformed snapshot');
  // the application's snapshot: a string (app), or JSON embedded as it is (appJson: see wrapSnapshot)
  const hasApp = Object.hasOwn(v, 'app');
  const hasAppJson = Object.hasOwn(v, 'appJson');
  if (hasApp === hasAppJson || (hasApp && typeof v.app !== 'string') || Object.keys(v).length !== 2) throw new Error('malformed snapshot');
  const app = hasApp ? (v.app as string) : JSON.stringify(v.appJson);
  const clients = newClientTable(auth);
  for (const e of v.clients) {
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== 'string' || !Number.isSafeInteger(e[1]) || typeof e[2] !== 'string') {
      throw new Error('malformed snapshot client entry');
    }
    if (clients.has(e[0])) throw new Error('malformed snapshot: a client twice');
    clients.set(e[0], { timestamp: e[1], result: e[2] });
  }
  return { app, clients };
}

/**
 * The state digest of a replica state snapshot (what Replica would compute after installing it),
 * with `app` a fresh instance of the application: for tools and test strategies that build states.
 * Throws on a malformed snapshot.
 */
export function snapshotStateDigest(auth: Authenticator, app: Application, snapshot: string): Hex {
  const parsed = parseSnapshot(auth, snapshot);
  return combineStateDigest(auth, app.snapshotDigest(parsed.app), parsed.clients.digest());
}
