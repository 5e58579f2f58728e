/**
 * The contract of the sans-I/O PBFT core (see ../../docs/architecture in README).
 *
 * The core is a deterministic state machine: a driver feeds it `ReplicaEvent`s and carries
 * out the `ReplicaAction`s it returns. It never touches sockets, clocks, randomness or files.
 *
 * Driver contract (etcd's Ready/Advance, flattened): for one call to `step`, the driver must
 * make every `persist` action durable BEFORE it performs any `send`, `multicast` or `reply`
 * action of that same output. Timers are named; `setTimer` replaces a pending timer of the
 * same name; a driver fires `{type:'timer', name}` only for a timer that is still set.
 *
 * Wire values: every byte string (digest, signature, public key) is lower-case hex. Every
 * number is a non-negative safe integer. Messages are plain JSON objects, so a driver can
 * ship them with JSON.stringify and hand what it parses straight back to `step`: the core
 * validates everything it receives.
 */

export type ReplicaId = number;
export type ClientId = string;
export type Hex = string;

// ---------------------------------------------------------------------------------------
// Protocol parameters
// ---------------------------------------------------------------------------------------

export interface ProtocolParams {
  /** number of replicas, n >= 3f+1 */
  n: number;
  /** faults tolerated: floor((n-1)/3) */
  f: number;
  /** K: a checkpoint every K executed sequence numbers */
  checkpointInterval: number;
  /** L: high watermark H = h + L, L a multiple of K */
  logWindow: number;
  /** maximum requests in one pre-prepare */
  maxBatchSize: number;
  /** maximum sequence numbers the primary keeps pre-prepared but not yet executed */
  maxInFlight: number;
  /** longest an idle primary holds a partial batch for clients it has just answered (0: never) */
  batchHoldMs: number;
  /** view-change timer in view v+1; doubles on each consecutive failed view change */
  viewChangeTimeoutMs: number;
  /** upper bound for the doubled view-change timeout */
  maxViewChangeTimeoutMs: number;
  /** period of STATUS messages, which drive retransmission, catch-up and state transfer */
  statusIntervalMs: number;
  /** largest operation (bytes of its string) a request may carry */
  maxOpBytes: number;
}

// ---------------------------------------------------------------------------------------
// Messages. A signed message is { body, sig } with sig over canonical(body).
// ---------------------------------------------------------------------------------------

export interface Signed<B> {
  body: B;
  sig: Hex;
}

export interface RequestBody {
  type: 'request';
  client: ClientId;
  /** per-client timestamp, strictly increasing */
  timestamp: number;
  /** application operation, opaque to the core */
  op: string;
  /** the client asks for the read-only path (executed at once, needs 2f+1 replies) */
  readOnly: boolean;
}
/**
 * A request is signed by its client (third-party verifiable: certificates, audits) and may also
 * carry a MAC authenticator: `mac[i]` is an HMAC under the session key the client shares with
 * replica i (see SessionMacs), null where it has none. The MACs are outside every digest and
 * signature: replicas use their own entry to authenticate the request cheaply (README,
 * "Authentication").
 */
export interface SignedRequest extends Signed<RequestBody> {
  mac?: (Hex | null)[];
}

export interface ReplyBody {
  type: 'reply';
  view: number;
  timestamp: number;
  client: ClientId;
  replica: ReplicaId;
  result: string;
  /** true when produced by the read-only (tentative) path */
  tentative: boolean;
}
/**
 * A reply carries exactly one of: `mac`, an HMAC under the session key of the client's
 * connection to that replica, or `sig`, the replica's signature (no session).
 */
export interface SignedReply {
  body: ReplyBody;
  sig?: Hex;
  mac?: Hex;
}

export interface PrePrepareBody {
  type: 'pre-prepare';
  view: number;
  seq: number;
  /** batch digest: hash(canonical(list of request digests)); the null request is [] */
  digest: Hex;
  replica: ReplicaId;
}
/** A pre-prepare travels with its batch, which is outside the primary's signature. */
export interface SignedPrePrepare extends Signed<PrePrepareBody> {
  batch: SignedRequest[];
}

export interface PrepareBody {
  type: 'prepare';
  view: number;
  seq: number;
  digest: Hex;
  replica: ReplicaId;
}
export interface CommitBody {
  type: 'commit';
  view: number;
  seq: number;
  digest: Hex;
  replica: ReplicaId;
}
export interface CheckpointBody {
  type: 'checkpoint';
  seq: number;
  /** digest of the replica state (application + client table) after executing seq */
  digest: Hex;
  replica: ReplicaId;
}

/** A prepared certificate: the pre-prepare (with batch) and 2f matching prepares. */
export interface PreparedCert {
  prePrepare: SignedPrePrepare;
  prepares: Signed<PrepareBody>[];
}

export interface ViewChangeBody {
  type: 'view-change';
  newView: number;
  /** last stable checkpoint sequence number */
  stableSeq: number;
  /** its proof: 2f+1 signed checkpoints for stableSeq (empty when stableSeq is 0) */
  checkpointProof: Signed<CheckpointBody>[];
  /** one prepared certificate per sequence number above stableSeq that it prepared */
  prepared: PreparedCert[];
  replica: ReplicaId;
}

export interface NewViewBody {
  type: 'new-view';
  newView: number;
  /** V: 2f+1 view-changes for newView from distinct replicas */
  viewChanges: Signed<ViewChangeBody>[];
  /** O: the pre-prepares for (min-s, max-s], signed by the new primary */
  prePrepares: SignedPrePrepare[];
  replica: ReplicaId;
}

/** Periodic announcement that lets peers retransmit what a replica is missing. */
export interface StatusBody {
  type: 'status';
  view: number;
  /** true while waiting for a new-view for `view` */
  viewChanging: boolean;
  lastExecuted: number;
  stableSeq: number;
  replica: ReplicaId;
  /**
   * Present while this replica recovers from a lost log and waits for a view formed after its
   * recovery request executed: the seq at which it saw that. Replicas that executed the
   * request and hold a stable checkpoint at or above it start a view change to give it one
   * (once per recovery request).
   */
  recoveringAfter?: number;
  /**
   * Present while this replica recovers from a lost log, votes again in a fresh view, and
   * waits for a stable checkpoint at or above this seq before it takes part in view changes.
   * An idle primary that executed its recovery request orders null requests up to the first
   * checkpoint at or above it (once per recovery request, at most one log window ahead), so
   * recovery ends without client load.
   */
  recoveringUntil?: number;
}

/** A committed entry and its proof: 2f+1 matching commits (QCertified). */
export interface CommittedEntry {
  view: number;
  seq: number;
  digest: Hex;
  batch: SignedRequest[];
  commits: Signed<CommitBody>[];
}
export interface CatchUpBody {
  type: 'catch-up';
  entries: CommittedEntry[];
  replica: ReplicaId;
}

export interface FetchStateBody {
  type: 'fetch-state';
  /** the stable checkpoint wanted (the sender's proof names it) */
  seq: number;
  replica: ReplicaId;
}
export interface StateBody {
  type: 'state';
  seq: number;
  digest: Hex;
  /** replica state snapshot (application snapshot + client table) */
  snapshot: string;
  /** 2f+1 signed checkpoints proving digest at seq */
  proof: Signed<CheckpointBody>[];
  replica: ReplicaId;
}

export type ReplicaMessage =
  /** a client request forwarded by a backup to the primary */
  | SignedRequest
  | SignedPrePrepare
  | Signed<PrepareBody>
  | Signed<CommitBody>
  | Signed<CheckpointBody>
  | Signed<ViewChangeBody>
  | Signed<NewViewBody>
  | Signed<StatusBody>
  | Signed<CatchUpBody>
  | Signed<FetchStateBody>
  | Signed<StateBody>;

export type AnyBody =
  | RequestBody
  | ReplyBody
  | PrePrepareBody
  | PrepareBody
  | CommitBody
  | CheckpointBody
  | ViewChangeBody
  | NewViewBody
  | StatusBody
  | CatchUpBody
  | FetchStateBody
  | StateBody;

export type MessageType = AnyBody['type'];

// ---------------------------------------------------------------------------------------
// Crypto and application, injected
// ---------------------------------------------------------------------------------------

/**
 * Authentication as seen by one node. Backends: node:crypto Ed25519, @noble/ed25519, and a
 * fast simulation scheme. All byte strings are hex on the wire.
 */
export interface Authenticator {
  /** sign as this node */
  sign(data: Uint8Array): Hex;
  /** verify a signature by replica `id`; false for non-members */
  verifyReplica(id: ReplicaId, data: Uint8Array, sig: Hex): boolean;
  /** verify a signature by client `client`; false for unknown clients */
  verifyClient(client: ClientId, data: Uint8Array, sig: Hex): boolean;
  /** SHA-256, hex */
  hash(data: Uint8Array): Hex;
  /**
   * Results about FROZEN messages, shared by every authenticator that would compute the same
   * ones (same scheme, same keyring). A frozen message cannot change, so neither can whether
   * its signature verifies or what its digest is. The simulator deep-freezes everything it
   * delivers, and one message is checked by each replica it reaches and again inside every
   * certificate that carries it. Absent: nothing is remembered.
   */
  readonly frozenMemo?: FrozenMemo;
  /**
   * Deep-freeze every body before signing it (the simulator, whose network deep-freezes what is
   * sent anyway): its encoding is then computed once, for the signature, and remembered for
   * every replica that verifies it. Absent or false: bodies are left as they are.
   */
  readonly freezeSigned?: boolean;
  /**
   * Session keys shared with clients (replica side) or replicas (client side), for MAC
   * authenticators. Absent: everything is signed and verified by signature, as before.
   */
  readonly macs?: SessionMacs;
  /**
   * Request digests remembered by request body, for a driver whose messages are never changed
   * once parsed or built (the real runtime: nothing writes to a message after it is made): a
   * request's digest is then computed once per process, not again at its MAC check, its batch's
   * digest, its execution and its ledger record. Absent: computed each time (frozen bodies use
   * frozenMemo).
   */
  readonly requestDigests?: WeakMap<object, Hex>;
}

/**
 * MACs under per-(client, replica) session keys (established by an authenticated key exchange
 * when the client connects: src/runtime/transport.ts; deterministic keys in the simulator).
 * The table behind it is the driver's; the core only asks. Every method is cheap (an HMAC).
 */
export interface SessionMacs {
  /** replica side: is `mac` this replica's valid entry for a request of `client` with this digest? */
  verifyRequestMac(client: ClientId, digest: Hex, mac: Hex): boolean;
  /** replica side: the MAC of a reply to `client` (over its canonical body), or null without a session */
  replyMac(client: ClientId, data: Uint8Array): Hex | null;
  /** client side: the authenticator for a request digest, one entry per replica (null: no session) */
  requestMacs(digest: Hex): (Hex | null)[];
  /** client side: is `mac` replica `replica`'s valid MAC over a reply's canonical body? */
  verifyReplyMac(replica: ReplicaId, data: Uint8Array, mac: Hex): boolean;
}

export interface FrozenMemo {
  replicaSig: WeakMap<object, boolean>;
  clientSig: WeakMap<object, boolean>;
  digest: WeakMap<object, Hex>;
}

/** A deterministic application replicated by the core. */
export interface Application {
  /** execute op for client, returning its result. Must be deterministic; must not throw. */
  execute(op: string, client: ClientId): string;
  /** may this op run on the read-only path? */
  isReadOnly(op: string): boolean;
  /** run a read-only op without changing state */
  query(op: string, client: ClientId): string;
  /** the state as a string (for the durable log and state transfer); need not be canonical */
  snapshot(): string;
  /** replace the state with a snapshot; throws on a malformed one, leaving the state unchanged */
  restore(snapshot: string): void;
  /**
   * digest of the state, hex: the same for the same state on every replica, whatever the order
   * of the operations that made it. Called at every checkpoint: keep it incremental.
   */
  digest(): Hex;
  /** the digest the state would have after restore(snapshot), without restoring; throws on a malformed one */
  snapshotDigest(snapshot: string): Hex;
  /**
   * Optional copy-on-write snapshots (all three or none): mark() names the current state at
   * little cost; snapshotAt(mark) is what snapshot() returned at that mark; release(mark)
   * forgets every older mark (release(Infinity): all). Marks must not be reused, even across
   * restore(). Without them the replica calls snapshot() at every checkpoint; with them, only
   * when a snapshot is written to the durable log or sent to a replica that lags behind.
   */
  mark?(): number;
  snapshotAt?(mark: number): string;
  release?(mark: number): void;
  /**
   * Optional: is this snapshot (as snapshot() or snapshotAt() returned it) JSON text? Then the
   * replica embeds it in its own state snapshot and durable log as it is, instead of as a JSON
   * string (escaping every quote of a large state twice), and restore() may get it back
   * re-serialized by JSON.parse then JSON.stringify: whitespace and escapes may differ, and only
   * values that survive that round trip may be in it (strings, booleans, null, and numbers that
   * are safe integers; not 1e400, nor integers beyond 2^53). Say true only for such text.
   */
  snapshotIsJson?(snapshot: string): boolean;
}

// ---------------------------------------------------------------------------------------
// Events in, actions out
// ---------------------------------------------------------------------------------------

/**
 * status: periodic STATUS; view-change: the request and view-change timer; new-view-wait: a new
 * primary's short wait for fresh view-changes (Replica.tryNewView); batch-hold and
 * batch-hold-limit: the primary's batch hold, its window and its overall limit
 */
export type TimerName = 'view-change' | 'status' | 'new-view-wait' | 'batch-hold' | 'batch-hold-limit';

export type ReplicaEvent =
  /** a message from a peer replica; `from` is the transport's claim, checked against the body */
  | { type: 'message'; from: ReplicaId; msg: unknown }
  /** a request from a client connection */
  | { type: 'request'; msg: unknown }
  | { type: 'timer'; name: TimerName };

export type DropReason =
  | 'malformed'
  | 'bad-signature'
  | 'not-member'
  | 'wrong-sender'
  | 'wrong-view'
  | 'out-of-window'
  | 'stale'
  | 'duplicate'
  | 'conflict'
  | 'bad-digest'
  | 'bad-request'
  | 'bad-certificate'
  | 'bad-new-view'
  | 'not-primary'
  | 'view-changing'
  | 'bad-state'
  | 'too-large'
  /** a vote or proposal reaching a replica that recovers from a lost log: it does not vote */
  | 'recovering'
  /**
   * a vote matching a certificate this replica already completed (prepared, or committed):
   * not needed, so its signature is not checked (a forged one would be ignored the same way)
   */
  | 'surplus';

/** ignore: harmless (stale, duplicate); reject: invalid, evidence against the sender */
export type DropClass = 'ignore' | 'reject';

/** The phases the core logs, in protocol order: the one list (the phase log adds the runtime's own). */
export const CORE_PHASES = [
  'request',
  'pre-prepare',
  'prepare',
  'prepared',
  'commit',
  'committed',
  'execute',
  'reply',
  'checkpoint',
  'stable',
  'view-change',
  'new-view',
  'enter-view',
  'state-transfer',
  'catch-up',
  'recovery',
  'drop',
  'fault',
] as const;
export type Phase = (typeof CORE_PHASES)[number];

export interface PhaseEvent {
  phase: Phase;
  view: number;
  seq?: number;
  digest?: Hex;
  /** the other party: sender of what was received, or target */
  peer?: ReplicaId;
  client?: ClientId;
  timestamp?: number;
  reason?: DropReason | string;
  detail?: string;
}

/**
 * What the core asks to be made durable, in order. `compactRecords` (replica.ts) folds a list.
 * Safety across a crash needs: the view (never go back), every pre-prepare accepted (never
 * accept a conflicting one for the same view and seq, so never vote twice), every prepared
 * certificate (a view change must report what prepared here: Castro & Liskov 2002, §4.5),
 * every committed entry (replies are never lost), and the stable checkpoint.
 */
export type PersistRecord =
  | { kind: 'view'; view: number; viewChanging: boolean }
  /** a pre-prepare this replica accepted (or, as primary, sent) */
  | { kind: 'pre-prepare'; msg: SignedPrePrepare }
  /** a prepared certificate formed here, before the commit that depends on it is sent */
  | { kind: 'prepared'; cert: PreparedCert }
  /** an entry committed here, with its certificate, before its replies are sent */
  | { kind: 'committed'; entry: CommittedEntry }
  /** a NEW-VIEW this replica sent as primary (re-sent as is after a restart, never re-made) */
  | { kind: 'new-view'; msg: Signed<NewViewBody> }
  /** a stable checkpoint with its state and proof; everything at or below seq is obsolete */
  /**
   * A stable checkpoint. With `snapshot` (a full one) the state itself; without it (a light one)
   * only the proof: a restart rebuilds that state from the last full one and the committed
   * records after it, which the durable log keeps until the next full one. The replica writes a
   * full one at least every logWindow seqs and after every state transfer. A snapshot is always
   * the JSON text of an object: the replica's own (Replica.wrapSnapshot) or one it parsed and
   * checked before installing it; the durable log relies on that to store it unescaped.
   */
  | { kind: 'checkpoint'; seq: number; digest: Hex; snapshot?: string; proof: Signed<CheckpointBody>[] }
  /**
   * A proven checkpoint above the stable one whose state is being fetched: slots above the
   * window (a NEW-VIEW's O past it) belong to it. Kept until that checkpoint is stable.
   */
  | { kind: 'target'; seq: number; digest: Hex; proof: Signed<CheckpointBody>[] }
  /**
   * Recovery after a lost or damaged durable log (see Replica's recovery mode): the recovery
   * request (timestamp, nonce), the seq at which its execution was seen (null until then), and
   * whether recovery is complete. Kept until it is.
   */
  | { kind: 'recovery'; timestamp: number; nonce: Hex; after: number | null; done: boolean };

/** One executed request, reported for drivers, logs and checkers. */
export interface ExecutedRequest {
  client: ClientId;
  timestamp: number;
  op: string;
  result: string;
  /** the request's own digest */
  digest: Hex;
}

export type ReplicaAction =
  | { type: 'send'; to: ReplicaId; msg: ReplicaMessage }
  /** to every replica except this one */
  | { type: 'multicast'; msg: ReplicaMessage }
  | { type: 'reply'; client: ClientId; msg: SignedReply }
  | { type: 'persist'; record: PersistRecord }
  | { type: 'setTimer'; name: TimerName; afterMs: number }
  | { type: 'cancelTimer'; name: TimerName }
  /**
   * The core executed a committed batch at seq. `certificate` is the 2f+1 matching commits
   * that let it commit (QCertified); null when the batch was re-executed from this
   * replica's own durable log on restart (the certificate was reported the first time).
   */
  | {
      type: 'executed';
      view: number;
      seq: number;
      digest: Hex;
      requests: ExecutedRequest[];
      certificate: Signed<CommitBody>[] | null;
    }
  /** installed a stable checkpoint fetched from others (state transfer) */
  | { type: 'state-installed'; seq: number; digest: Hex; proof: Signed<CheckpointBody>[] }
  /** full: its state was written to the durable log with it (a restart resumes from the last full one) */
  | { type: 'checkpoint-stable'; seq: number; digest: Hex; full: boolean }
  | { type: 'view-entered'; view: number; primary: ReplicaId }
  /** recovery from a lost or damaged durable log is complete: it votes again from here */
  | { type: 'recovered'; view: number; seq: number }
  | { type: 'log'; event: PhaseEvent };

export interface DropCounts {
  ignore: Partial<Record<DropReason, number>>;
  reject: Partial<Record<DropReason, number>>;
}

/**
 * Batch holds of a primary: windows it opened after an execution to wait for the closed-loop
 * clients it had just answered; those that ended with every awaited client back, and those
 * that ran out first (some came back more than batchHoldMs after the first one back, or none
 * within the hold's limit). Holds that
 * ran out split closed-loop clients into smaller batches.
 */
export interface BatchHoldCounts {
  started: number;
  allBack: number;
  ranOut: number;
  /** windows that ended with none of the hold's clients back yet, so that it waited on (within its limit) */
  waitedOn: number;
}

export interface AuthCounts {
  /** requests (direct, forwarded or in pre-prepares) authenticated by this replica's MAC entry: the fast path */
  requestsByMac: number;
  /** ... by the client's signature (no MAC entry, or a bad one): the slow path */
  requestsBySignature: number;
  /** ... by neither: dropped (or, in a pre-prepare, left to 2f matching prepares) */
  requestsUnauthenticated: number;
  /** pre-prepares with a request this replica could not authenticate, accepted on 2f matching prepares */
  prePreparesVouched: number;
  /**
   * requests verified by signature before a proposal (a primary: proposed before a view change
   * and not committed, or of a suspect client) or before blaming the primary (a backup whose
   * view-change timer expired: those it authenticated by MAC only)
   */
  proposalsSignatureChecked: number;
  /** ... of which the signature was bad: dropped, and the client marked suspect */
  proposalsDropped: number;
  /** replies authenticated with a session MAC, and with a signature (no session) */
  repliesByMac: number;
  repliesBySignature: number;
}

export interface ReplicaStatus {
  id: ReplicaId;
  view: number;
  primary: ReplicaId;
  viewChanging: boolean;
  lastExecuted: number;
  stableCheckpoint: number;
  /** digest of the replica state after lastExecuted */
  stateDigest: Hex;
  lowWatermark: number;
  highWatermark: number;
  pendingRequests: number;
  dropped: DropCounts;
  /** how requests were authenticated here, and how replies were (README, "Authentication") */
  auth: AuthCounts;
  /** this replica's batch holds as primary (ProtocolParams.batchHoldMs), since it started */
  batchHolds: BatchHoldCounts;
  /** set while recovering from a lost or damaged durable log (Replica's recovery mode) */
  recovery?: RecoveryStatus;
}

export interface RecoveryStatus {
  /**
   * ordering: its recovery request is not executed yet; awaiting-view: no votes until a view
   * formed after that; rejoining: it votes again, and takes part in view changes once its
   * stable checkpoint reaches boundSeq
   */
  phase: 'ordering' | 'awaiting-view' | 'rejoining';
  /** it sends no view-change before its stable checkpoint reaches this (null until known) */
  boundSeq: number | null;
}

// ---------------------------------------------------------------------------------------
// Client core
// ---------------------------------------------------------------------------------------

export type ClientTimerName = 'retransmit';

export type ClientEvent = { type: 'reply'; from: ReplicaId; msg: unknown } | { type: 'timer'; name: ClientTimerName };

export interface ClientResult {
  timestamp: number;
  result: string;
  /** the replicas whose matching replies formed the quorum */
  replicas: ReplicaId[];
  view: number;
}

export type ClientAction =
  | { type: 'send'; to: ReplicaId; msg: SignedRequest }
  | { type: 'broadcast'; msg: SignedRequest }
  | { type: 'setTimer'; name: ClientTimerName; afterMs: number }
  | { type: 'cancelTimer'; name: ClientTimerName }
  | { type: 'done'; outcome: ClientResult }
  | { type: 'log'; event: PhaseEvent };
