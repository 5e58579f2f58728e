/**
 * Invariant checkers: what must hold in every run (/shared/protocol/pbft.md, "What must hold").
 * A driver (the simulator, or a test) reports what correct replicas and clients did; the
 * checker verifies, incrementally where it can and at the end for the rest:
 *
 * - agreement (the BFT theorem): at each seq, correct replicas execute the same digest AND the
 *   same requests (client, timestamp, op) with the same results;
 * - qcertified: every execution is backed by 2f+1 validly signed matching commits from
 *   distinct replicas (the certificate itself is checked), or is a re-execution after restart;
 * - total-order: each replica executes consecutive seqs; histories are prefixes of each other;
 * - checkpoint-agreement: stable checkpoint digests agree; installed state has a valid proof;
 * - validity: only requests clients issued execute, each (client, timestamp) once (a Byzantine
 *   client's requests count as issued when it signed them: see onByzantineRequest);
 * - linearizability: the KV history clients observed (src/sim/linearizability.ts);
 * - liveness: every request invoked by the deadline completed by it.
 *
 * Events about replicas not in `correct` (Byzantine ones) are ignored: they may do anything.
 */
import { parseKvOp, parseKvResult, type KvOp } from '../app/kv.js';
import { verifyReplicaSig } from '../core/messages.js';
import { isRecoveryClient, RECOVERY_CLIENT_PREFIX } from '../core/replica.js';
import { quorums } from '../core/quorum.js';
import type {
  Authenticator,
  CheckpointBody,
  ClientId,
  CommitBody,
  ExecutedRequest,
  Hex,
  PersistRecord,
  ReplicaAction,
  ReplicaId,
  Signed,
} from '../core/types.js';
import { checkKvHistory, type HistoryOp, type LinearizabilityOptions } from './linearizability.js';

/**
 * Where a restart must resume: the seq of the newest checkpoint written with its state (a full
 * one) among the durable records it starts from; 0 for none. The checker's own reading of the
 * records (a light checkpoint, without its state, is reached again by replay, not resumed at).
 */
export function newestFullCheckpoint(records: readonly PersistRecord[]): number {
  let seq = 0;
  for (const r of records) if (r.kind === 'checkpoint' && typeof r.snapshot === 'string' && r.seq > seq) seq = r.seq;
  return seq;
}

export type InvariantName = 'agreement' | 'qcertified' | 'total-order' | 'checkpoint-agreement' | 'validity' | 'linearizability' | 'liveness';

export const INVARIANT_NAMES: readonly InvariantName[] = [
  'agreement',
  'qcertified',
  'total-order',
  'checkpoint-agreement',
  'validity',
  'linearizability',
  'liveness',
];

export interface Violation {
  invariant: InvariantName;
  message: string;
  replica?: ReplicaId;
  seq?: number;
  timeMs?: number;
}

export interface CheckerOptions {
  n: number;
  f: number;
  /** verifies replica and client signatures; never signs */
  verifier: Authenticator;
  /** replicas that are not Byzantine */
  correct: ReplicaId[];
  /**
   * Byzantine clients (the simulator's `clients` adversary): their requests are not operations
   * of the checked history; validity accepts exactly those they signed (onByzantineRequest).
   */
  byzantineClient?: (client: ClientId) => boolean;
  /** most violations kept (default 1000); further ones are counted in `suppressed` */
  maxViolations?: number;
  linearizability?: LinearizabilityOptions;
}

type ExecutedAction = Extract<ReplicaAction, { type: 'executed' }>;
type StateInstalledAction = Extract<ReplicaAction, { type: 'state-installed' }>;

interface ReplicaTrack {
  life: number;
  /** next seq this replica must execute */
  expectNext: number;
  /** restarted and not yet executed or installed anything */
  afterRestart: boolean;
  lastExecuted: number;
  /** highest stable checkpoint reported (stable or installed) */
  stable: number;
  /** highest checkpoint whose state is durable (a full stable checkpoint, or an installed state): where a restart resumes */
  durable: number;
  /** seqs executed since the last state install below them: seq -> digest */
  history: Map<number, Hex>;
  /** the seq its current history starts after (0, or the last installed checkpoint) */
  base: number;
  /** (client, timestamp) -> seq, for this life and state (cleared on restart, pruned on install) */
  segment: Map<string, number>;
  /** seq -> digest it executed with a valid certificate (any life) */
  certified: Map<number, Hex>;
}

interface SeqRecord {
  view: number;
  digest: Hex;
  requests: ExecutedRequest[];
  replica: ReplicaId;
  timeMs: number;
}

interface Invocation {
  client: ClientId;
  timestamp: number;
  op: string;
  invokeMs: number;
  invokeOrder: number;
  completeMs?: number;
  completeOrder?: number;
  result?: string;
  /** the timestamp the completion came with (the client re-issues a failed read-only request as t+1) */
  completedAs?: number;
}

const reqKey = (client: ClientId, timestamp: number): string => `${client}\u0000${timestamp}`;

export function shortHex(d: unknown): string {
  return typeof d === 'string' ? (d.length > 12 ? `${d.slice(0, 12)}…` : d) : String(d);
}

function showOp(op: string): string {
  return op.length > 80 ? `${JSON.stringify(op.slice(0, 77))}…` : JSON.stringify(op);
}

function showRequests(reqs: readonly { client: ClientId; timestamp: number; op: string }[]): string {
  if (reqs.length === 0) return '[] (null batch)';
  const shown = reqs.slice(0, 5).map((r) => `${r.client}#${r.timestamp} ${showOp(r.op)}`);
  return `[${shown.join(', ')}${reqs.length > 5 ? `, … ${reqs.length - 5} more` : ''}]`;
}

function sameRequests(a: readonly ExecutedRequest[], b: readonly ExecutedRequest[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.client !== y.client || x.timestamp !== y.timestamp || x.op !== y.op) return false;
  }
  return true;
}

/** isReadOnlyKvOp's answers by op text (a run repeats a few ops many times); cleared when large */
const readOnlyOps = new Map<string, boolean>();

function isReadOnlyKvOp(op: string): boolean {
  let ro = readOnlyOps.get(op);
  if (ro === undefined) {
    const p = parseKvOp(op);
    ro = typeof p !== 'string' && p.op === 'get';
    if (readOnlyOps.size >= 10_000) readOnlyOps.clear();
    readOnlyOps.set(op, ro);
  }
  return ro;
}

/**
 * Why a commit certificate does not prove (view, seq, digest), or null when it does: at least
 * 2f+1 commits from distinct members, every one a commit for exactly (view, seq, digest) whose
 * signature verifies (QCertified).
 */
export function certificateProblem(verifier: Authenticator, cert: unknown, view: number, seq: number, digest: Hex, n: number, quorum: number): string | null {
  if (!Array.isArray(cert)) return 'the certificate is not a list of commits';
  const signers = new Set<ReplicaId>();
  const problems: string[] = [];
  cert.forEach((c: unknown, i) => {
    try {
      const b = (c as { body?: Record<string, unknown> } | null)?.body;
      if (typeof b !== 'object' || b === null) return void problems.push(`commit #${i} has no body`);
      const r = b.replica;
      if (b.type !== 'commit') return void problems.push(`entry #${i} is a ${JSON.stringify(b.type)}, not a commit`);
      if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 0 || r >= n) return void problems.push(`commit #${i} names non-member ${JSON.stringify(r)}`);
      if (b.view !== view || b.seq !== seq || b.digest !== digest || Object.keys(b).length !== 5) {
        return void problems.push(
          `commit #${i} from r${r} is for (view ${String(b.view)}, seq ${String(b.seq)}, digest ${shortHex(b.digest)}), not (view ${view}, seq ${seq}, digest ${shortHex(digest)})`,
        );
      }
      const sig = (c as { sig?: unknown }).sig;
      if (typeof sig !== 'string' || !verifyReplicaSig(verifier, c as Signed<CommitBody>))
        return void problems.push(`commit #${i} from r${r} has a signature that does not verify`);
      signers.add(r);
    } catch (e) {
      problems.push(`commit #${i} is unreadable (${(e as Error).message})`);
    }
  });
  if (problems.length > 0) return problems.join('; ');
  if (signers.size < quorum)
    return `${cert.length} commit(s) from only ${signers.size} distinct replica(s) [${[...signers].sort((a, b) => a - b).join(', ')}]; QCertified needs 2f+1 = ${quorum}`;
  return null;
}

/** Why a checkpoint proof does not prove (seq, digest), or null when it does. */
export function checkpointProofProblem(verifier: Authenticator, proof: unknown, seq: number, digest: Hex, n: number, quorum: number): string | null {
  if (!Array.isArray(proof)) return 'the proof is not a list of checkpoints';
  const signers = new Set<ReplicaId>();
  const problems: string[] = [];
  proof.forEach((c: unknown, i) => {
    try {
      const b = (c as { body?: Record<string, unknown> } | null)?.body;
      if (typeof b !== 'object' || b === null) return void problems.push(`checkpoint #${i} has no body`);
      const r = b.replica;
      if (b.type !== 'checkpoint' || typeof r !== 'number' || !Number.isSafeInteger(r) || r < 0 || r >= n)
        return void problems.push(`entry #${i} is not a checkpoint from a member`);
      if (b.seq !== seq || b.digest !== digest)
        return void problems.push(`checkpoint #${i} from r${r} is for (seq ${String(b.seq)}, digest ${shortHex(b.digest)})`);
      if (typeof (c as { sig?: unknown }).sig !== 'string' || !verifyReplicaSig(verifier, c as Signed<CheckpointBody>))
        return void problems.push(`checkpoint #${i} from r${r} has a signature that does not verify`);
      signers.add(r);
    } catch (e) {
      problems.push(`checkpoint #${i} is unreadable (${(e as Error).message})`);
    }
  });
  if (problems.length > 0) return problems.join('; ');
  if (signers.size < quorum) return `checkpoints from only ${signers.size} distinct replica(s); a proof needs 2f+1 = ${quorum}`;
  return null;
}

export class InvariantChecker {
  private readonly n: number;
  private readonly quorum: number;
  private readonly verifier: Authenticator;
  private readonly correct: Set<ReplicaId>;
  private readonly recoveryIssued = new Set<string>();
  private readonly maxViolations: number;
  private readonly linOpts: LinearizabilityOptions;

  private readonly found: Violation[] = [];
  private readonly reportedKeys = new Set<string>();
  private suppressedCount = 0;
  private readonly infoNotes: string[] = [];
  private finished = false;

  private readonly replicas = new Map<ReplicaId, ReplicaTrack>();
  /** the first correct execution at each seq */
  private readonly agreed = new Map<number, SeqRecord>();
  private readonly agreementSeqs = new Set<number>();
  /** seq -> digest -> first correct replica that executed it with a valid certificate */
  private readonly certifiedBy = new Map<number, Map<Hex, ReplicaId>>();
  /** null-certificate executions not justified yet */
  private pendingNull: { replica: ReplicaId; seq: number; digest: Hex; timeMs: number }[] = [];
  /** stable checkpoints: seq -> first digest a correct replica reported */
  private readonly checkpoints = new Map<number, { digest: Hex; replica: ReplicaId }>();
  /** (client, timestamp) -> the seq where correct replicas executed it */
  private readonly executedAt = new Map<string, { seq: number; replica: ReplicaId; result: string; op: string }>();
  private readonly invocations = new Map<string, Invocation>();
  private order = 0;
  private readonly byzantineClient: ((client: ClientId) => boolean) | undefined;
  /** requests Byzantine clients signed: (client, timestamp, op) -> may it execute (valid) or never */
  private readonly byzantineIssued = new Map<string, boolean>();

  constructor(o: CheckerOptions) {
    const q = quorums(o.n, o.f);
    this.n = o.n;
    this.quorum = q.quorum;
    this.verifier = o.verifier;
    this.correct = new Set(o.correct);
    this.maxViolations = o.maxViolations ?? 1000;
    this.linOpts = o.linearizability ?? {};
    this.byzantineClient = o.byzantineClient;
  }

  // -------------------------------------------------------------------------------------
  // Reporting
  // -------------------------------------------------------------------------------------

  private report(v: Violation, dedupe?: string): void {
    if (dedupe !== undefined) {
      if (this.reportedKeys.has(dedupe)) return;
      this.reportedKeys.add(dedupe);
    }
    if (this.found.length >= this.maxViolations) {
      this.suppressedCount++;
      return;
    }
    this.found.push(v);
  }

  /** violations found so far (incremental checks) */
  violations(): Violation[] {
    return this.found.slice();
  }

  /** whether any violation was found so far (asked after every event: no copy) */
  hasViolations(): boolean {
    return this.found.length > 0;
  }

  /** violations beyond maxViolations, not kept */
  get suppressed(): number {
    return this.suppressedCount;
  }

  /** informational findings that are not violations (an inconclusive linearizability search) */
  notes(): string[] {
    return this.infoNotes.slice();
  }

  private track(replica: ReplicaId): ReplicaTrack {
    let r = this.replicas.get(replica);
    if (!r) {
      r = {
        life: 0,
        expectNext: 1,
        afterRestart: false,
        lastExecuted: 0,
        stable: 0,
        durable: 0,
        history: new Map(),
        base: 0,
        segment: new Map(),
        certified: new Map(),
      };
      this.replicas.set(replica, r);
    }
    return r;
  }

  // -------------------------------------------------------------------------------------
  // Replica events
  // -------------------------------------------------------------------------------------

  onExecuted(replica: ReplicaId, a: ExecutedAction, timeMs: number): void {
    if (!this.correct.has(replica)) return;
    const r = this.track(replica);
    const { seq, digest, view } = a;
    const requests = Array.isArray(a.requests) ? a.requests : [];
    this.checkOrder(replica, r, seq, timeMs);
    r.lastExecuted = seq;
    r.expectNext = seq + 1;
    r.history.set(seq, digest);
    this.checkCertificate(replica, r, a, timeMs);
    this.checkAgreement(replica, seq, view, digest, requests, timeMs);
    this.checkValidity(replica, r, seq, requests, timeMs);
  }

  /** total-order: "Execute committed requests strictly in sequence order" (pbft.md, normal case 6) */
  private checkOrder(replica: ReplicaId, r: ReplicaTrack, seq: number, timeMs: number): void {
    if (r.afterRestart) {
      r.afterRestart = false;
      // A restarted replica re-executes from its last full stable checkpoint (its durable log).
      const resumed = seq - 1;
      if (resumed !== r.stable) {
        this.report({
          invariant: 'total-order',
          replica,
          seq,
          timeMs,
          message: `replica ${replica} restarted and first executed seq ${seq}, but its last stable checkpoint is ${r.stable}: it must resume at ${r.stable + 1}${resumed < r.stable ? ' (it went back below a stable checkpoint it reported)' : ` (seqs ${r.stable + 1}..${seq - 1} skipped)`}`,
        });
      }
      return;
    }
    if (seq === r.expectNext) return;
    const message =
      seq < r.expectNext
        ? `replica ${replica} executed seq ${seq} after seq ${r.lastExecuted}: out of order (${seq <= r.lastExecuted ? 'already executed in this life and state' : 'behind'})`
        : `replica ${replica} executed seq ${seq} right after seq ${r.expectNext - 1}: seqs ${r.expectNext}..${seq - 1} skipped (no state transfer in between)`;
    this.report({ invariant: 'total-order', replica, seq, timeMs, message });
  }

  /** QCertified: "backed by a certificate of 2f+1 validly signed matching commits" */
  private checkCertificate(replica: ReplicaId, r: ReplicaTrack, a: ExecutedAction, timeMs: number): void {
    const { seq, digest, view } = a;
    if (a.certificate === null) {
      if (r.life === 0) {
        this.report({
          invariant: 'qcertified',
          replica,
          seq,
          timeMs,
          message: `replica ${replica} executed seq ${seq} (digest ${shortHex(digest)}) with no certificate in its first life: a null certificate is only for re-executing its own durable log after a restart`,
        });
        return;
      }
      if (r.certified.get(seq) === digest || this.certifiedBy.get(seq)?.has(digest)) return;
      this.pendingNull.push({ replica, seq, digest, timeMs });
      return;
    }
    const problem = certificateProblem(this.verifier, a.certificate, view, seq, digest, this.n, this.quorum);
    if (problem) {
      this.report({
        invariant: 'qcertified',
        replica,
        seq,
        timeMs,
        message: `replica ${replica} executed seq ${seq} (view ${view}, digest ${shortHex(digest)}) on a certificate that does not prove it: ${problem}`,
      });
      return;
    }
    r.certified.set(seq, digest);
    let m = this.certifiedBy.get(seq);
    if (!m) {
      m = new Map();
      this.certifiedBy.set(seq, m);
    }
    if (!m.has(digest)) {
      m.set(digest, replica);
      if (this.pendingNull.length > 0) this.pendingNull = this.pendingNull.filter((p) => p.seq !== seq || p.digest !== digest);
    }
  }

  /** BFT theorem: correct replicas that execute at seq execute the same digest and requests. */
  private checkAgreement(replica: ReplicaId, seq: number, view: number, digest: Hex, requests: ExecutedRequest[], timeMs: number): void {
    const first = this.agreed.get(seq);
    if (!first) {
      this.agreed.set(seq, { view, digest, requests, replica, timeMs });
      return;
    }
    let message: string | null = null;
    if (first.digest !== digest) {
      message = `seq ${seq}: replica ${first.replica} executed digest ${shortHex(first.digest)} (view ${first.view}) ${showRequests(first.requests)} but replica ${replica} executed digest ${shortHex(digest)} (view ${view}) ${showRequests(requests)}`;
    } else if (!sameRequests(first.requests, requests)) {
      message = `seq ${seq}: same digest ${shortHex(digest)} but different requests: replica ${first.replica} executed ${showRequests(first.requests)}, replica ${replica} executed ${showRequests(requests)}`;
    } else {
      const i = first.requests.findIndex((x, j) => x.result !== requests[j]!.result);
      if (i >= 0) {
        const x = first.requests[i]!;
        message = `seq ${seq}: same requests but different results for ${x.client}#${x.timestamp} ${showOp(x.op)}: replica ${first.replica} got ${showOp(x.result)}, replica ${replica} got ${showOp(requests[i]!.result)} (their states diverged)`;
      }
    }
    if (message) {
      this.agreementSeqs.add(seq);
      this.report({ invariant: 'agreement', replica, seq, timeMs, message }, `agreement:${seq}:${replica}`);
    }
  }

  /** Validity: "every executed request was signed by its client; each (c, t) runs once". */
  private checkValidity(replica: ReplicaId, r: ReplicaTrack, seq: number, requests: ExecutedRequest[], timeMs: number): void {
    for (const req of requests) {
      const key = reqKey(req.client, req.timestamp);
      if (isRecoveryClient(req.client)) {
        // a recovery request: issued by that replica's core (onRecoveryRequest), or signed by a
        // replica that is not correct (which may sign anything as itself); never the app's
        const id = Number(req.client.slice(RECOVERY_CLIENT_PREFIX.length));
        if (this.correct.has(id) && !this.recoveryIssued.has(`${key}\u0000${req.op}`)) {
          this.report(
            {
              invariant: 'validity',
              replica,
              seq,
              timeMs,
              message: `replica ${replica} executed recovery request ${req.client}#${req.timestamp} ${showOp(req.op)} at seq ${seq}, which replica ${id} never issued`,
            },
            `issued:${key}:${replica}`,
          );
        }
      } else {
        const byz = this.byzantineClient?.(req.client) ? this.byzantineIssued.get(`${key}\u0000${req.op}`) : null;
        const inv = byz === null ? (this.invocations.get(key) ?? this.reissueOf(req.client, req.timestamp, req.op)) : undefined;
        if (byz !== null) {
          // a Byzantine client: anything it signed may run (even two ops with one timestamp), once
          if (byz === undefined) {
            this.report(
              {
                invariant: 'validity',
                replica,
                seq,
                timeMs,
                message: `replica ${replica} executed ${req.client}#${req.timestamp} ${showOp(req.op)} at seq ${seq}, which Byzantine client ${req.client.slice(0, 24)} never signed`,
              },
              `issued:${key}:${replica}`,
            );
          } else if (!byz) {
            this.report(
              {
                invariant: 'validity',
                replica,
                seq,
                timeMs,
                message: `replica ${replica} executed ${req.client}#${req.timestamp} ${showOp(req.op)} at seq ${seq}: Byzantine client ${req.client.slice(0, 24)} signed it, but it is invalid (oversized or malformed) and must be rejected`,
              },
              `issued:${key}:${replica}`,
            );
          }
        } else if (!inv) {
          this.report(
            {
              invariant: 'validity',
              replica,
              seq,
              timeMs,
              message: `replica ${replica} executed ${req.client}#${req.timestamp} ${showOp(req.op)} at seq ${seq}, which no client issued`,
            },
            `issued:${key}:${replica}`,
          );
        } else if (inv.op !== req.op) {
          this.report(
            {
              invariant: 'validity',
              replica,
              seq,
              timeMs,
              message: `replica ${replica} executed ${req.client}#${req.timestamp} at seq ${seq} with op ${showOp(req.op)}, but the client issued ${showOp(inv.op)}`,
            },
            `issued:${key}:${replica}`,
          );
        }
      }
      const before = r.segment.get(key);
      if (before !== undefined) {
        this.report({
          invariant: 'validity',
          replica,
          seq,
          timeMs,
          message: `replica ${replica} executed ${req.client}#${req.timestamp} ${showOp(req.op)} twice in one life: at seq ${before} and again at seq ${seq}`,
        });
      }
      r.segment.set(key, seq);
      const at = this.executedAt.get(key);
      if (!at) {
        this.executedAt.set(key, { seq, replica, result: req.result, op: req.op });
        this.crossCheckCompletion(key);
      } else if (at.seq !== seq) {
        this.report(
          {
            invariant: 'validity',
            replica,
            seq,
            timeMs,
            message: `${req.client}#${req.timestamp} ${showOp(req.op)} executed at seq ${at.seq} by replica ${at.replica} and at seq ${seq} by replica ${replica}: a request must run once`,
          },
          `twice:${key}:${seq}`,
        );
      }
    }
  }

  /** A read-only request that got no quorum is re-issued by the client core as timestamp t+1. */
  private reissueOf(client: ClientId, timestamp: number, op: string): Invocation | undefined {
    const inv = this.invocations.get(reqKey(client, timestamp - 1));
    return inv && inv.op === op ? inv : undefined;
  }

  onStateInstalled(replica: ReplicaId, a: StateInstalledAction, timeMs: number): void {
    if (!this.correct.has(replica)) return;
    const r = this.track(replica);
    // "Never accept state that does not match a proven digest."
    const problem = checkpointProofProblem(this.verifier, a.proof, a.seq, a.digest, this.n, this.quorum);
    if (problem) {
      this.report({
        invariant: 'checkpoint-agreement',
        replica,
        seq: a.seq,
        timeMs,
        message: `replica ${replica} installed state at seq ${a.seq} (digest ${shortHex(a.digest)}) without a valid proof: ${problem}`,
      });
    }
    this.checkCheckpoint(replica, a.seq, a.digest, timeMs, 'installed state');
    r.afterRestart = false;
    r.expectNext = a.seq + 1;
    r.lastExecuted = a.seq;
    r.stable = Math.max(r.stable, a.seq);
    r.durable = Math.max(r.durable, a.seq);
    r.base = a.seq;
    for (const s of [...r.history.keys()]) if (s > a.seq) r.history.delete(s);
    for (const [k, s] of [...r.segment]) if (s > a.seq) r.segment.delete(k);
  }

  /** `full`: its state was written with it (else a restart replays up to it from the last full one) */
  onCheckpointStable(replica: ReplicaId, seq: number, digest: Hex, timeMs: number, full = true): void {
    if (!this.correct.has(replica)) return;
    const r = this.track(replica);
    this.checkCheckpoint(replica, seq, digest, timeMs, 'stable checkpoint');
    r.stable = Math.max(r.stable, seq);
    if (full) r.durable = Math.max(r.durable, seq);
  }

  /** "their state digests agree at every checkpoint" */
  private checkCheckpoint(replica: ReplicaId, seq: number, digest: Hex, timeMs: number, what: string): void {
    const first = this.checkpoints.get(seq);
    if (!first) {
      this.checkpoints.set(seq, { digest, replica });
      return;
    }
    if (first.digest !== digest) {
      this.report(
        {
          invariant: 'checkpoint-agreement',
          replica,
          seq,
          timeMs,
          message: `seq ${seq}: replica ${replica}'s ${what} has state digest ${shortHex(digest)}, but replica ${first.replica}'s stable checkpoint has ${shortHex(first.digest)}`,
        },
        `checkpoint:${seq}:${replica}`,
      );
    }
  }

  /** A crashed replica restarts from its durable log: it re-executes from its last stable checkpoint. */
  /**
   * A correct replica restarted: from its durable log, or (lostLog) empty after its log was found
   * damaged, in recovery mode: it starts again from the initial state (seq 0), and its history
   * and certificates of the lives before stay to judge it.
   */
  onRestart(replica: ReplicaId, _timeMs: number, o: { lostLog?: boolean; fullCheckpoint?: number } = {}): void {
    if (!this.correct.has(replica)) return;
    const r = this.track(replica);
    r.life++;
    if (o.lostLog) {
      r.durable = 0;
      r.base = 0;
    } else if (o.fullCheckpoint !== undefined && o.fullCheckpoint > r.durable) {
      // written whole in the step it crashed in (its checkpoint-stable or state-installed
      // action never seen): the records say so, not a guess from where it resumes
      r.durable = o.fullCheckpoint;
      r.base = Math.max(r.base, o.fullCheckpoint);
    }
    // it resumes from the state it wrote last; light checkpoints above are reached again by replay
    r.stable = r.durable;
    r.afterRestart = true;
    r.expectNext = r.stable + 1;
    r.lastExecuted = r.stable;
    r.segment.clear();
    for (const s of [...r.history.keys()]) if (s > r.stable) r.history.delete(s);
  }

  // -------------------------------------------------------------------------------------
  // Client events
  // -------------------------------------------------------------------------------------

  /** A correct replica restarted amnesic and issued this recovery request. */
  onRecoveryRequest(client: ClientId, timestamp: number, op: string): void {
    this.recoveryIssued.add(`${reqKey(client, timestamp)}\u0000${op}`);
  }

  /**
   * A Byzantine client signed (client, timestamp, op): valid = a request replicas may execute
   * (once); invalid = one they must reject (oversized, malformed). Not part of the checked
   * history: Byzantine clients observe nothing the checker trusts.
   */
  onByzantineRequest(client: ClientId, timestamp: number, op: string, valid = true): void {
    const k = `${reqKey(client, timestamp)}\u0000${op}`;
    if (!this.byzantineIssued.has(k) || valid) this.byzantineIssued.set(k, valid);
  }

  onInvoke(client: ClientId, timestamp: number, op: string, timeMs: number): void {
    const key = reqKey(client, timestamp);
    if (this.invocations.has(key)) return;
    this.invocations.set(key, { client, timestamp, op, invokeMs: timeMs, invokeOrder: this.order++ });
  }

  onComplete(client: ClientId, timestamp: number, result: string, timeMs: number): void {
    let inv = this.invocations.get(reqKey(client, timestamp));
    if (!inv || inv.completeMs !== undefined) {
      const prev = this.invocations.get(reqKey(client, timestamp - 1));
      if (prev && prev.completeMs === undefined) inv = prev;
    }
    if (!inv) {
      this.report({
        invariant: 'linearizability',
        timeMs,
        message: `client ${client} accepted result ${showOp(result)} for timestamp ${timestamp}, which it never issued`,
      });
      return;
    }
    if (inv.completeMs !== undefined) return; // a duplicate completion
    inv.completeMs = timeMs;
    inv.completeOrder = this.order++;
    inv.result = result;
    inv.completedAs = timestamp;
    this.crossCheckCompletion(reqKey(client, timestamp));
  }

  /**
   * A client accepts a result only with f+1 matching replies, so at least one correct replica
   * produced it: it must be what correct replicas executed. (Gets are skipped: a read-only get
   * may legitimately answer from tentative state.)
   */
  private crossCheckCompletion(key: string): void {
    const ex = this.executedAt.get(key);
    if (!ex || isReadOnlyKvOp(ex.op)) return;
    const [client, ts] = key.split('\u0000') as [string, string];
    const timestamp = Number(ts);
    const inv = this.invocations.get(key) ?? this.invocations.get(reqKey(client, timestamp - 1));
    if (!inv || inv.result === undefined || inv.completedAs !== timestamp) return;
    if (inv.result !== ex.result) {
      this.report(
        {
          invariant: 'linearizability',
          timeMs: inv.completeMs,
          seq: ex.seq,
          message: `client ${client} accepted ${showOp(inv.result)} for ${client}#${timestamp} ${showOp(inv.op)}, but correct replica ${ex.replica} executed it at seq ${ex.seq} with result ${showOp(ex.result)}`,
        },
        `result:${key}`,
      );
    }
  }

  // -------------------------------------------------------------------------------------
  // End of run
  // -------------------------------------------------------------------------------------

  /** End of run: the remaining qcertified cases, prefixes, linearizability and liveness. */
  finish(o: { nowMs: number; livenessDeadlineMs: number }): Violation[] {
    if (this.finished) return this.violations();
    this.finished = true;
    for (const p of this.pendingNull) {
      this.report({
        invariant: 'qcertified',
        replica: p.replica,
        seq: p.seq,
        timeMs: p.timeMs,
        message: `replica ${p.replica} re-executed seq ${p.seq} (digest ${shortHex(p.digest)}) after a restart with no certificate, and no correct replica (itself included) ever executed seq ${p.seq} with a valid certificate for that digest`,
      });
    }
    this.checkPrefixes();
    this.checkLinearizability();
    this.checkLiveness(o.nowMs, o.livenessDeadlineMs);
    return this.violations();
  }

  /** "the executed histories of correct replicas are prefixes of one another" */
  private checkPrefixes(): void {
    const ids = [...this.replicas.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      const r = this.replicas.get(id)!;
      for (let s = r.base + 1; s <= r.lastExecuted; s++) {
        if (!r.history.has(s)) {
          this.report(
            {
              invariant: 'total-order',
              replica: id,
              seq: s,
              message: `replica ${id}'s history has a hole at seq ${s} (it executed up to ${r.lastExecuted} from ${r.base})`,
            },
            `hole:${id}`,
          );
          break;
        }
      }
    }
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const a = this.replicas.get(ids[i]!)!;
        const b = this.replicas.get(ids[j]!)!;
        for (const [seq, d] of a.history) {
          const e = b.history.get(seq);
          if (e !== undefined && e !== d && !this.agreementSeqs.has(seq)) {
            this.report(
              {
                invariant: 'total-order',
                seq,
                message: `histories of replicas ${ids[i]} and ${ids[j]} are not prefixes of each other: at seq ${seq} digests ${shortHex(d)} and ${shortHex(e)}`,
              },
              `prefix:${ids[i]}:${ids[j]}`,
            );
            break;
          }
        }
      }
    }
  }

  /** The KV history as the checker of src/sim/linearizability.ts takes it. */
  kvHistory(): HistoryOp[] {
    const out: HistoryOp[] = [];
    for (const inv of this.invocations.values()) {
      const op = parseKvOp(inv.op);
      if (typeof op === 'string') continue; // not a KV operation: it changes nothing
      const h: HistoryOp = {
        client: inv.client,
        op: op as KvOp,
        invokeMs: inv.invokeMs,
        invokeOrder: inv.invokeOrder,
        label: `${inv.client}#${inv.timestamp}`,
      };
      if (inv.completeMs !== undefined) {
        h.completeMs = inv.completeMs;
        h.completeOrder = inv.completeOrder;
        h.result = parseKvResult(inv.result!);
      }
      out.push(h);
    }
    return out;
  }

  private checkLinearizability(): void {
    const r = checkKvHistory(this.kvHistory(), this.linOpts);
    if (r.ok === false) this.report({ invariant: 'linearizability', message: `the client-observed history is not linearizable: ${r.message}` });
    else if (r.ok === 'unknown') this.infoNotes.push(`linearizability inconclusive: ${r.message ?? 'search bound reached'}`);
  }

  /** "every request of a correct client completes" once the network is stable */
  private checkLiveness(nowMs: number, deadlineMs: number): void {
    if (nowMs < deadlineMs) return;
    for (const inv of this.invocations.values()) {
      if (inv.invokeMs > deadlineMs) continue;
      if (inv.completeMs !== undefined && inv.completeMs <= deadlineMs) continue;
      const how = inv.completeMs === undefined ? 'never completed' : `completed only at ${inv.completeMs}ms`;
      this.report({
        invariant: 'liveness',
        timeMs: inv.invokeMs,
        message: `request ${inv.client}#${inv.timestamp} ${showOp(inv.op)} invoked at ${inv.invokeMs}ms ${how}; the deadline was ${deadlineMs}ms`,
      });
    }
  }
}
