/**
 * `pbft verify` as a library call: an audit of what a cluster did, from the replicas' own
 * audit ledgers (src/runtime/ledger.ts) and the public keys in cluster.json. Nothing in a ledger
 * is trusted: every record is validated, every signature checked.
 *
 * Checks:
 * - ledgers: each replica's ledger is readable (damaged frames are reported and skipped), belongs
 *   to this replica and cluster, and has no unexplained gap (sequence numbers a state transfer
 *   skipped are explained by the checkpoint certificate it installed);
 * - agreement (the BFT theorem): no two replicas executed different batches at one seq;
 * - certified (QCertified): every executed (seq, digest) has a certificate of 2f+1 (the quorum)
 *   COMMITs from distinct replicas, validly signed, matching view, seq and digest; every
 *   certificate a ledger holds is valid;
 * - checkpoints: stable-checkpoint certificates are valid and their digests agree, and no
 *   replica signed a checkpoint digest that contradicts one;
 * - state: each running replica's state digest matches its ledger (its own signed checkpoint or
 *   installed checkpoint at its lastExecuted; otherwise the replicas at the same lastExecuted).
 *   Stopped replicas are skipped, and said so.
 *
 * Evidence names replicas whose own records contradict a certificate: a batch executed against a
 * valid certificate for another, a certificate that does not verify, two signed votes for
 * different digests at one (view, seq), a signed checkpoint against a stable one. That is
 * evidence of a Byzantine replica (or of a ledger altered on disk), not of a crash: a crash
 * loses a tail, it does not contradict.
 *
 * Replicas known to be faulty (`faulty`: made Byzantine on purpose, by a chaos run or an operator)
 * are still read, and their valid signatures still count (a certificate's quorum is judged as
 * without them). But a problem attributable only to them (their executions, state, ledger,
 * certificates or checkpoints, their equivocations) is reported as expected evidence against them
 * and does not fail a check. Anything involving a replica not declared faulty fails as before;
 * and two valid certificates for different batches at one seq (more than f faulty) always fails.
 * At most f replicas may be declared faulty: with more, the quorum arguments prove nothing.
 *
 * Never throws for what is in the files or on the network; only for an unusable cluster
 * directory (cluster.json missing or invalid), and on abort.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { canonicalBytes } from '../core/canonical.js';
import { quorums } from '../core/quorum.js';
import type { CheckpointBody, CommitBody, Hex, Signed } from '../core/types.js';
import { KeyedAuthenticator, type Keyring, type SchemeName } from '../crypto/index.js';
import { EXIT, PbftError, abortError, describeError } from '../errors.js';
import { clusterStatus, unansweredRow, type ReplicaRow } from '../cluster/status.js';
import { loadCluster, type LoadedCluster } from '../runtime/config.js';
import { readLedger, type CheckpointRecord, type ExecRecord, type LedgerDamage, type LedgerRead, LEDGER_VERSION } from '../runtime/ledger.js';
import type { SigJob } from './sig-worker.js';

export type CheckStatus = 'pass' | 'fail' | 'incomplete' | 'skip';
export type CheckName = 'ledgers' | 'agreement' | 'certified' | 'checkpoints' | 'state';

export interface CheckResult {
  name: CheckName;
  status: CheckStatus;
  /** one line */
  summary: string;
  /** one line per problem found (capped; `more` counts the rest) */
  problems: string[];
  more: number;
  /** problems attributable only to replicas declared faulty: reported, not failing the check (capped; `expectedMore` counts the rest) */
  expected: string[];
  expectedMore: number;
}

export type EvidenceKind = 'conflicting-execution' | 'invalid-certificate' | 'equivocation' | 'checkpoint-contradiction' | 'state-mismatch' | 'foreign-ledger';

export interface Evidence {
  /** the replica the records speak against */
  replica: number;
  kind: EvidenceKind;
  seq: number | null;
  detail: string;
}

export interface ReplicaVerify {
  id: number;
  /** declared faulty (VerifyOptions.faulty) */
  faulty: boolean;
  /** running, paused, crashed, stopped, down (pbft status) */
  process: string;
  running: boolean;
  ledger: {
    dir: string;
    exists: boolean;
    segments: number;
    bytes: number;
    frames: number;
    executions: number;
    checkpoints: number;
    /** lowest and highest executed seq in the retained ledger (null: none) */
    firstSeq: number | null;
    lastSeq: number | null;
    /** highest seq covered: executions and installed or stable checkpoints */
    coveredTo: number;
    damaged: LedgerDamage[];
    tornTail: boolean;
    /** sequence numbers missing in its span that no checkpoint explains, as ranges */
    gaps: [number, number][];
  };
  /** its own line for the ledger check */
  ledgerStatus: CheckStatus;
  ledgerSummary: string;
  state: { status: CheckStatus; summary: string; lastExecuted: number | null; stateDigest: string | null };
}

export interface VerifyReport {
  /** every check passed (skips allowed: a stopped replica's state) */
  ok: boolean;
  /** violation: a check failed; incomplete: no violation found, but something could not be checked (damaged ledger, unreadable replica) */
  outcome: 'ok' | 'violation' | 'incomplete';
  /** 0 ok, 8 violation, 9 incomplete */
  exitCode: number;
  dir: string;
  cluster: { name: string; n: number; f: number; quorum: number };
  replicas: ReplicaVerify[];
  checks: CheckResult[];
  /** replicas declared faulty (VerifyOptions.faulty), sorted */
  faulty: number[];
  /** evidence against replicas not declared faulty: each one is a violation */
  evidence: Evidence[];
  /** replicas named by `evidence` */
  accused: number[];
  /** evidence against the replicas declared faulty: expected, not a violation */
  expectedEvidence: Evidence[];
  stats: {
    sequenceNumbers: number;
    executions: number;
    certificates: number;
    signaturesVerified: number;
    /** worker threads that checked signatures (0: all on the calling thread) */
    signatureWorkers: number;
    ledgerBytes: number;
    ms: number;
  };
}

export interface VerifyOptions {
  dir: string;
  signal?: AbortSignal;
  /** how long to wait for a replica's status answer (default 2000 ms) */
  timeoutMs?: number;
  /**
   * replicas known to be faulty (made Byzantine on purpose): problems attributable only to them
   * are expected evidence, not violations. At most f ids, each a replica of the cluster.
   */
  faulty?: readonly number[];
  /**
   * worker threads that check signatures in parallel (default: one per core the process may
   * use; below 2, or for small ledgers, the checks run on the calling thread)
   */
  workers?: number;
  /** fewest signatures to check for workers to start (default 2000: below, starting them costs more) */
  parallelMinSignatures?: number;
  /**
   * the compiled signature worker (default: sig-worker.js beside this module, when it runs from
   * dist/; tests running the sources pass dist/'s, which a build made from the same sources)
   */
  signatureWorkerUrl?: URL;
}

const MAX_PROBLEMS = 50;

class Check {
  problems: string[] = [];
  more = 0;
  expected: string[] = [];
  expectedMore = 0;
  /** the faulty replicas the expected lines are about */
  readonly against = new Set<number>();
  failed = false;
  incomplete = false;
  constructor(
    readonly name: CheckName,
    private readonly faulty: ReadonlySet<number>,
  ) {}
  /**
   * A problem. When `culprits` (the replicas it is attributable to) is not empty and all of them
   * are declared faulty, it is expected: listed apart, and the check does not fail.
   */
  fail(line: string, culprits: readonly number[] = []): void {
    if (culprits.length > 0 && culprits.every((r) => this.faulty.has(r))) {
      for (const r of culprits) this.against.add(r);
      if (this.expected.length < MAX_PROBLEMS) this.expected.push(line);
      else this.expectedMore++;
      return;
    }
    this.failed = true;
    this.add(line);
  }
  unsure(line: string): void {
    this.incomplete = true;
    this.add(line);
  }
  private add(line: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(line);
    else this.more++;
  }
  result(pass: string, fail: string): CheckResult {
    const status: CheckStatus = this.failed ? 'fail' : this.incomplete ? 'incomplete' : 'pass';
    const k = this.expected.length + this.expectedMore;
    const aside =
      status === 'pass' && k > 0
        ? `; ${k} problem${k > 1 ? 's' : ''} of faulty replica${this.against.size > 1 ? 's' : ''} ${[...this.against].sort((a, b) => a - b).join(',')} set aside`
        : '';
    return {
      name: this.name,
      status,
      summary: status === 'pass' ? pass + aside : fail,
      problems: this.problems,
      more: this.more,
      expected: this.expected,
      expectedMore: this.expectedMore,
    };
  }
}

const short = (d: string) => d.slice(0, 12);

function getOr<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = make();
    m.set(k, v);
  }
  return v;
}

/** Below this many signatures to check, starting worker threads costs more than it saves. */
const PARALLEL_MIN_SIGNATURES = 2000;

/** The compiled worker (sig-worker.js) beside this module, when it runs from dist/; else null. */
function defaultWorkerUrl(): URL | null {
  const url = new URL('./sig-worker.js', import.meta.url);
  return existsSync(fileURLToPath(url)) ? url : null;
}

/** Signatures sent to a worker at a time: what the copies of their bytes cost stays bounded. */
const PREFETCH_CHUNK = 4096;
/** A worker that has not answered a chunk within this (plus 1 ms per signature) is stopped; the checks do its share. */
const PREFETCH_CHUNK_TIMEOUT_MS = 30_000;

type SigItem = { key: string; replica: number; bytes: Uint8Array; sig: string };

/** Signature checks, each (signer, body, signature) once. */
class Verifier {
  /** distinct signatures the checks asked about (answered by a worker or here) */
  count = 0;
  private readonly memo = new Map<string, boolean>();
  /** verdicts from the workers, not asked for by the checks yet (count counts what they ask) */
  private readonly prefetched = new Map<string, boolean>();
  /** memo keys of the messages prefetch saw (their canonical bytes, encoded once) */
  private readonly keys = new WeakMap<object, string>();
  constructor(private readonly auth: KeyedAuthenticator) {}
  private keyOf(m: Signed<{ replica: number }>, bytes: Uint8Array): string {
    return `${m.body.replica}|${m.sig}|${Buffer.from(bytes).toString('base64')}`;
  }
  replicaSig(m: Signed<{ replica: number }>): boolean {
    let key = this.keys.get(m);
    let bytes: Uint8Array | null = null;
    if (key === undefined) {
      bytes = canonicalBytes(m.body);
      key = this.keyOf(m, bytes);
    }
    let v = this.memo.get(key);
    if (v === undefined) {
      this.count++;
      v = this.prefetched.get(key);
      if (v !== undefined) this.prefetched.delete(key);
      else {
        try {
          v = this.auth.verifyReplica(m.body.replica, bytes ?? canonicalBytes(m.body), m.sig);
        } catch {
          v = false;
        }
      }
      this.memo.set(key, v);
    }
    return v;
  }
  /**
   * Check the signatures of `messages` on worker threads (at most `workers`), in chunks of
   * PREFETCH_CHUNK, so that replicaSig answers them without checking them itself: signature
   * checks are most of a large audit's time. The same verdicts as replicaSig's own (the same
   * scheme, keys and bytes: src/audit/sig-worker.ts), and `count` still counts only what the
   * checks ask. Does nothing below `minSignatures`, with fewer than two workers, for the
   * simulator's scheme, or without a compiled worker (`workerUrl`, default: beside this module,
   * so never a dist/ built from other sources); a worker that fails, or does not answer within
   * its chunk's timeout, is stopped and leaves its share to replicaSig. Returns how many
   * workers answered at least one chunk.
   */
  async prefetch(
    messages: Iterable<Signed<{ replica: number }>>,
    o: { scheme: SchemeName; keyring: Keyring; workers: number; minSignatures: number; workerUrl: URL | null; signal?: AbortSignal },
  ): Promise<number> {
    if (o.signal?.aborted) throw abortError(o.signal);
    if (o.scheme === 'sim' || o.workers < 2 || o.workerUrl === null) return 0;
    // the distinct signatures, keyed as replicaSig keys them (bytes copied only per chunk)
    const todo: Signed<{ replica: number }>[] = [];
    const queued = new Set<string>();
    for (const m of messages) {
      if (this.keys.has(m)) continue;
      const key = this.keyOf(m, canonicalBytes(m.body));
      this.keys.set(m, key);
      if (this.memo.has(key) || this.prefetched.has(key) || queued.has(key) || typeof m.sig !== 'string') continue;
      queued.add(key);
      todo.push(m);
    }
    queued.clear();
    if (todo.length < Math.max(1, o.minSignatures)) return 0;
    // chunks of at most PREFETCH_CHUNK, and enough of them for every worker
    const chunk = Math.min(PREFETCH_CHUNK, Math.ceil(todo.length / o.workers));
    const w = Math.min(o.workers, Math.ceil(todo.length / chunk));
    const url = o.workerUrl;
    const answered = new Set<number>();
    let next = 0;
    const take = (): SigItem[] => {
      const part = todo.slice(next, next + chunk);
      next += part.length;
      // the bytes from the key (its last part is their base64), not encoded again
      return part.map((m) => {
        const key = this.keys.get(m)!;
        return { key, replica: m.body.replica, bytes: Buffer.from(key.slice(key.lastIndexOf('|') + 1), 'base64'), sig: m.sig };
      });
    };
    const running = new Set<Worker>();
    const abort = () => {
      for (const t of running) void t.terminate();
    };
    o.signal?.addEventListener('abort', abort, { once: true });
    try {
      await Promise.all(
        Array.from({ length: w }, (_, i) =>
          (async () => {
            let worker: Worker;
            try {
              worker = new Worker(url);
            } catch {
              return; // replicaSig checks this worker's share itself
            }
            running.add(worker);
            try {
              for (;;) {
                if (o.signal?.aborted) return;
                const part = take();
                if (part.length === 0) return;
                const res = await new Promise<Uint8Array | null>((resolve) => {
                  const timer = setTimeout(() => finish(null), PREFETCH_CHUNK_TIMEOUT_MS + part.length);
                  const finish = (r: Uint8Array | null) => {
                    clearTimeout(timer);
                    worker.off('message', onMessage);
                    worker.off('error', onFail);
                    worker.off('messageerror', onFail);
                    worker.off('exit', onFail);
                    resolve(r);
                  };
                  const onMessage = (r: Uint8Array) => finish(r instanceof Uint8Array && r.length === part.length ? r : null);
                  const onFail = () => finish(null);
                  worker.on('message', onMessage);
                  worker.once('error', onFail);
                  worker.once('messageerror', onFail);
                  worker.once('exit', onFail);
                  const job: SigJob = {
                    scheme: o.scheme,
                    replicas: o.keyring.replicas,
                    domain: o.keyring.domain,
                    items: part.map(({ replica, bytes, sig }) => ({ replica, bytes, sig })),
                  };
                  worker.postMessage(job);
                });
                if (res === null) return; // stopped below; this chunk (and what is left) is the checks' own
                part.forEach((it, j) => this.prefetched.set(it.key, res[j] === 1));
                answered.add(i);
              }
            } finally {
              running.delete(worker);
              await worker.terminate();
            }
          })(),
        ),
      );
    } finally {
      o.signal?.removeEventListener('abort', abort);
    }
    if (o.signal?.aborted) throw abortError(o.signal);
    return answered.size;
  }
}

/** null when `cert` proves (view, seq, digest) committed; else what is wrong. */
export function checkCommitCertificate(
  v: { replicaSig(m: Signed<{ replica: number }>): boolean },
  n: number,
  quorum: number,
  e: { view: number; seq: number; digest: Hex },
  cert: readonly Signed<CommitBody>[] | null,
): string | null {
  if (cert === null) return 'no certificate';
  const from = new Set<number>();
  for (const c of cert) {
    const b = c.body;
    if (b.view !== e.view || b.seq !== e.seq || b.digest !== e.digest)
      return `a COMMIT of replica ${b.replica} is for view ${b.view} seq ${b.seq} digest ${short(b.digest)}, not view ${e.view} seq ${e.seq} digest ${short(e.digest)}`;
    if (b.replica >= n) return `a COMMIT from replica ${b.replica}, which is not a member`;
    if (from.has(b.replica)) return `two COMMITs from replica ${b.replica}`;
    if (!v.replicaSig(c)) return `the COMMIT of replica ${b.replica} has a bad signature`;
    from.add(b.replica);
  }
  if (from.size < quorum) return `${from.size} COMMITs from distinct replicas, ${quorum} needed`;
  return null;
}

/** null when `proof` proves the state digest at seq; else what is wrong. */
export function checkCheckpointProof(
  v: { replicaSig(m: Signed<{ replica: number }>): boolean },
  n: number,
  quorum: number,
  seq: number,
  digest: Hex,
  proof: readonly Signed<CheckpointBody>[],
): string | null {
  const from = new Set<number>();
  for (const c of proof) {
    const b = c.body;
    if (b.seq !== seq || b.digest !== digest)
      return `a CHECKPOINT of replica ${b.replica} is for seq ${b.seq} digest ${short(b.digest)}, not seq ${seq} digest ${short(digest)}`;
    if (b.replica >= n) return `a CHECKPOINT from replica ${b.replica}, which is not a member`;
    if (from.has(b.replica)) return `two CHECKPOINTs from replica ${b.replica}`;
    if (!v.replicaSig(c)) return `the CHECKPOINT of replica ${b.replica} has a bad signature`;
    from.add(b.replica);
  }
  if (from.size < quorum) return `${from.size} CHECKPOINTs from distinct replicas, ${quorum} needed`;
  return null;
}

interface Loaded {
  id: number;
  read: LedgerRead;
  execs: ExecRecord[];
  checkpoints: CheckpointRecord[];
  own: Signed<CheckpointBody>[];
  foreign: string[];
}

/** The signed messages in the ledgers: commit certificates, checkpoint proofs, own checkpoints. */
function* signedIn(ledgers: Iterable<Loaded>): Generator<Signed<{ replica: number }>> {
  for (const l of ledgers) {
    for (const e of l.execs) if (e.cert !== null) yield* e.cert;
    for (const c of l.checkpoints) yield* c.proof;
    yield* l.own;
  }
}

function load(cluster: LoadedCluster, id: number): Loaded {
  let read: LedgerRead;
  try {
    read = readLedger(cluster.paths.ledgerDir(id));
  } catch (e) {
    read = {
      dir: cluster.paths.ledgerDir(id),
      exists: false,
      segments: [],
      bytes: 0,
      frames: [],
      damaged: [{ file: cluster.paths.ledgerDir(id), line: 0, reason: describeError(e) }],
      tornTail: false,
    };
  }
  const l: Loaded = { id, read, execs: [], checkpoints: [], own: [], foreign: [] };
  for (const f of read.frames) {
    for (const r of f.records) {
      if (r.k === 'head') {
        if (r.v !== LEDGER_VERSION) l.foreign.push(`${f.file}: ledger format version ${r.v}, this pbft reads ${LEDGER_VERSION}`);
        if (r.replica !== id) l.foreign.push(`${f.file}: written by replica ${r.replica}`);
        if (r.cluster !== cluster.keyring.clusterId) l.foreign.push(`${f.file}: written for another cluster (id ${short(r.cluster)})`);
      } else if (r.k === 'exec') l.execs.push(r);
      else if (r.k === 'checkpoint') l.checkpoints.push(r);
      else if (r.k === 'own-checkpoint') l.own.push(r.msg);
    }
  }
  return l;
}

function ranges(nums: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const x of nums) {
    const last = out[out.length - 1];
    if (last && x === last[1] + 1) last[1] = x;
    else out.push([x, x]);
  }
  return out;
}

/** The declared-faulty ids, sorted and unique; BAD_ARGUMENT / UNKNOWN_REPLICA when not replica ids or more than f. */
export function checkFaultyIds(ids: readonly number[], n: number, f: number): number[] {
  for (const id of ids) {
    if (!Number.isSafeInteger(id)) throw new PbftError('BAD_ARGUMENT', `faulty replica "${id}" is not a replica id`, { hint: `give ids from 0 to ${n - 1}` });
    if (id < 0 || id >= n)
      throw new PbftError('UNKNOWN_REPLICA', `faulty replica ${id}: this cluster has replicas 0-${n - 1}`, { hint: 'use ids from that range' });
  }
  const out = [...new Set(ids)].sort((a, b) => a - b);
  if (out.length > f)
    throw new PbftError(
      'BAD_ARGUMENT',
      `${out.length} replicas declared faulty (${out.join(',')}), but this cluster of ${n} tolerates at most f = ${f}: with more, the checks prove nothing`,
      { hint: `declare at most ${f} replica${f === 1 ? '' : 's'} faulty` },
    );
  return out;
}

const fmtRanges = (r: [number, number][]) =>
  r
    .slice(0, 5)
    .map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`))
    .join(', ') + (r.length > 5 ? `, … (${r.length} ranges)` : '');

/** Audit a cluster directory. See the module comment. */
export async function verifyCluster(opts: VerifyOptions): Promise<VerifyReport> {
  const t0 = performance.now();
  const cluster = await loadCluster(opts.dir);
  const signal = opts.signal;
  const { n, f } = cluster.params;
  const q = quorums(n, f);
  const v = new Verifier(new KeyedAuthenticator(cluster.scheme, null, cluster.keyring));
  const ids = cluster.config.replicas.map((r) => r.id);
  const faultyIds = checkFaultyIds(opts.faulty ?? [], n, f);
  const faulty: ReadonlySet<number> = new Set(faultyIds);

  // Status first, ledgers after: a running replica's ledger is then at least as far as its status.
  let rows: ReplicaRow[];
  try {
    rows = await clusterStatus(cluster, { timeoutMs: opts.timeoutMs ?? 2000, ...(signal ? { signal } : {}) });
  } catch (e) {
    if (signal?.aborted) throw abortError(signal);
    const error = describeError(e);
    rows = cluster.config.replicas.map((r) => ({ ...unansweredRow(r), error }));
  }
  if (signal?.aborted) throw abortError(signal);
  const loaded = new Map<number, Loaded>();
  for (const id of ids) loaded.set(id, load(cluster, id));
  // The core counts an execution before the ledger write that records it completes: a running
  // replica may be a moment ahead of its ledger. Re-read until covered, for a bounded while.
  for (const row of rows) {
    if (!row.reachable || row.lastExecuted === null) continue;
    const deadline = Date.now() + 3000;
    while (coveredTo(loaded.get(row.id)!) < row.lastExecuted && Date.now() < deadline) {
      if (signal?.aborted) throw abortError(signal);
      await new Promise((r) => setTimeout(r, 50));
      loaded.set(row.id, load(cluster, row.id));
    }
  }

  // every signature the checks below may need, checked first on worker threads (large audits)
  const signatureWorkers = await v.prefetch(signedIn(loaded.values()), {
    scheme: cluster.scheme.name,
    keyring: cluster.keyring,
    workers: opts.workers ?? os.availableParallelism(),
    minSignatures: opts.parallelMinSignatures ?? PARALLEL_MIN_SIGNATURES,
    workerUrl: opts.signatureWorkerUrl ?? defaultWorkerUrl(),
    ...(signal ? { signal } : {}),
  });

  const evidence: Evidence[] = [];
  const expectedEvidence: Evidence[] = [];
  const accuse = (e: Evidence) => {
    const list = faulty.has(e.replica) ? expectedEvidence : evidence;
    if (list.length < 1000) list.push(e);
  };

  // ---- certificates (QCertified), per replica's records ---------------------------------
  const certified = new Check('certified', faulty);
  /** seq -> digest -> {view of a valid certificate} */
  const validCert = new Map<number, Map<Hex, number>>();
  let certificates = 0;
  const signedCommits = new Map<string, { digest: Hex; replica: number; view: number; seq: number; holder: number }>();
  const equivocations = new Set<string>();
  /** every equivocation found, for its check (the evidence lists are capped; this is not) */
  const equivocated: { kind: string; replica: number; detail: string }[] = [];
  const noteVote = (kind: string, view: number, seq: number, digest: Hex, replica: number, holder: number) => {
    const k = `${kind}|${replica}|${view}|${seq}`;
    const prev = signedCommits.get(k);
    if (!prev) signedCommits.set(k, { digest, replica, view, seq, holder });
    else if (prev.digest !== digest && !equivocations.has(k)) {
      equivocations.add(k);
      const detail = `replica ${replica} signed ${kind}s for two digests at ${kind === 'commit' ? `view ${view} ` : ''}seq ${seq}: ${short(prev.digest)} (in replica ${prev.holder}'s ledger) and ${short(digest)} (in replica ${holder}'s)`;
      equivocated.push({ kind, replica, detail });
      accuse({ replica, kind: 'equivocation', seq, detail });
    }
  };
  for (const l of loaded.values()) {
    for (const e of l.execs) {
      if (signal?.aborted) throw abortError(signal);
      if (e.cert === null) continue;
      certificates++;
      const why = checkCommitCertificate(v, n, q.quorum, e, e.cert);
      if (why) {
        certified.fail(`replica ${l.id}: seq ${e.seq} view ${e.view} digest ${short(e.digest)}: its certificate is invalid: ${why}`, [l.id]);
        accuse({
          replica: l.id,
          kind: 'invalid-certificate',
          seq: e.seq,
          detail: `replica ${l.id} recorded executing seq ${e.seq} (digest ${short(e.digest)}) with a certificate that does not verify: ${why}`,
        });
        continue;
      }
      const m = getOr(validCert, e.seq, () => new Map<Hex, number>());
      if (!m.has(e.digest)) m.set(e.digest, e.view);
      for (const c of e.cert) noteVote('commit', c.body.view, c.body.seq, c.body.digest, c.body.replica, l.id);
    }
  }

  // ---- agreement (the BFT theorem) and executions without any certificate ---------------
  const agreement = new Check('agreement', faulty);
  /** seq -> digest -> replicas that executed it */
  const executed = new Map<number, Map<Hex, Set<number>>>();
  let executions = 0;
  for (const l of loaded.values()) {
    for (const e of l.execs) {
      executions++;
      getOr(
        getOr(executed, e.seq, () => new Map<Hex, Set<number>>()),
        e.digest,
        () => new Set<number>(),
      ).add(l.id);
    }
  }
  for (const [seq, byDigest] of [...executed].sort((a, b) => a[0] - b[0])) {
    const certs = validCert.get(seq);
    if (byDigest.size > 1) {
      const parts = [...byDigest].map(([d, rs]) => `${short(d)} by ${[...rs].sort((a, b) => a - b).join(',')}${certs?.has(d) ? ' (certified)' : ''}`);
      // agreement among the correct replicas: at most one batch executed by a replica not declared
      // faulty; the others, executed only by faulty replicas, are attributable to them alone
      const correct = [...byDigest].filter(([, rs]) => [...rs].some((r) => !faulty.has(r))).map(([d]) => d);
      const culprits = correct.length > 1 ? [] : [...byDigest].filter(([d]) => d !== correct[0]).flatMap(([, rs]) => [...rs]);
      agreement.fail(`seq ${seq}: different batches executed: ${parts.join('; ')}`, culprits);
      if (certs && certs.size > 1) agreement.fail(`seq ${seq}: valid commit certificates for ${certs.size} different batches: more than f replicas are faulty`);
    }
    for (const [d, rs] of byDigest) {
      if (certs?.has(d)) continue;
      const who = [...rs].sort((a, b) => a - b);
      if (certs && certs.size > 0) {
        const other = [...certs.keys()].map(short).join(', ');
        for (const r of who)
          accuse({
            replica: r,
            kind: 'conflicting-execution',
            seq,
            detail: `replica ${r} executed ${short(d)} at seq ${seq}, but a valid commit certificate commits ${other} there`,
          });
        // the replicas not declared faulty in one line (a failure), the faulty ones in another (expected)
        for (const group of [who.filter((r) => !faulty.has(r)), who.filter((r) => faulty.has(r))])
          if (group.length > 0)
            certified.fail(
              `seq ${seq}: replica${group.length > 1 ? 's' : ''} ${group.join(',')} executed ${short(d)}, which no valid certificate commits (${other} is certified)`,
              group.every((r) => faulty.has(r)) ? group : [],
            );
      } else if (who.every((r) => loaded.get(r)!.execs.some((e) => e.seq === seq && e.digest === d && e.cert === null))) {
        certified.fail(`seq ${seq}: ${short(d)} executed by replica${who.length > 1 ? 's' : ''} ${who.join(',')} with no certificate in any ledger`, who);
      }
    }
  }

  // ---- checkpoints ----------------------------------------------------------------------
  const checkpoints = new Check('checkpoints', faulty);
  /** seq -> digest -> holders, for valid stable certificates */
  const stable = new Map<number, Map<Hex, Set<number>>>();
  let checkpointCerts = 0;
  for (const l of loaded.values()) {
    for (const c of l.checkpoints) {
      checkpointCerts++;
      const why = checkCheckpointProof(v, n, q.quorum, c.seq, c.digest, c.proof);
      if (why) {
        checkpoints.fail(`replica ${l.id}: stable checkpoint ${c.seq} (${short(c.digest)}): its certificate is invalid: ${why}`, [l.id]);
        accuse({
          replica: l.id,
          kind: 'invalid-certificate',
          seq: c.seq,
          detail: `replica ${l.id} recorded a stable checkpoint at ${c.seq} with a certificate that does not verify: ${why}`,
        });
        continue;
      }
      getOr(
        getOr(stable, c.seq, () => new Map<Hex, Set<number>>()),
        c.digest,
        () => new Set<number>(),
      ).add(l.id);
      for (const p of c.proof) noteVote('checkpoint', 0, p.body.seq, p.body.digest, p.body.replica, l.id);
    }
  }
  for (const [seq, m] of stable) {
    if (m.size > 1)
      checkpoints.fail(
        `checkpoint ${seq}: valid certificates for different state digests: ${[...m].map(([d, rs]) => `${short(d)} (held by ${[...rs].join(',')})`).join('; ')}`,
      );
  }
  for (const l of loaded.values()) {
    for (const c of l.own) {
      if (c.body.replica !== l.id) {
        checkpoints.fail(`replica ${l.id}: its ledger holds a signed checkpoint of replica ${c.body.replica} as its own`, [l.id]);
        continue;
      }
      if (!v.replicaSig(c)) {
        checkpoints.fail(`replica ${l.id}: its own checkpoint at ${c.body.seq} has a bad signature`, [l.id]);
        accuse({
          replica: l.id,
          kind: 'invalid-certificate',
          seq: c.body.seq,
          detail: `replica ${l.id}'s own checkpoint at ${c.body.seq} has a bad signature`,
        });
        continue;
      }
      noteVote('checkpoint', 0, c.body.seq, c.body.digest, l.id, l.id);
      const m = stable.get(c.body.seq);
      if (m && m.size === 1 && !m.has(c.body.digest)) {
        const d = [...m.keys()][0]!;
        checkpoints.fail(
          `replica ${l.id}: it signed state digest ${short(c.body.digest)} at checkpoint ${c.body.seq}; the stable checkpoint there is ${short(d)}`,
          [l.id],
        );
        accuse({
          replica: l.id,
          kind: 'checkpoint-contradiction',
          seq: c.body.seq,
          detail: `replica ${l.id} signed state digest ${short(c.body.digest)} at ${c.body.seq}, against the stable checkpoint certificate's ${short(d)}: its state diverged`,
        });
      }
    }
  }
  for (const e of equivocated) (e.kind === 'checkpoint' ? checkpoints : certified).fail(e.detail, [e.replica]);

  // ---- ledgers, per replica -------------------------------------------------------------
  const ledgers = new Check('ledgers', faulty);
  const replicas: ReplicaVerify[] = [];
  for (const id of ids) {
    const l = loaded.get(id)!;
    const row = rows.find((r) => r.id === id);
    const seqs = [...new Set(l.execs.map((e) => e.seq))].sort((a, b) => a - b);
    const cps = new Set(l.checkpoints.map((c) => c.seq));
    // a seq is missing if in (first, last] it has no execution and is not under a checkpoint
    // that the next execution follows (state transfer, or a restart from a checkpoint)
    const missing: number[] = [];
    for (let i = 1; i < seqs.length; i++) {
      const a = seqs[i - 1]!;
      const b = seqs[i]!;
      if (b === a + 1) continue;
      // a state transfer (or a restart) to checkpoint b-1, then execution from b
      if (!cps.has(b - 1)) for (let s = a + 1; s < b && missing.length < 100_000; s++) missing.push(s);
    }
    const gaps = ranges(missing);
    const problems: string[] = [];
    let status: CheckStatus = 'pass';
    if (!l.read.exists) {
      status = 'incomplete';
      problems.push(`no ledger at ${l.read.dir}`);
      ledgers.unsure(`replica ${id}: no ledger at ${l.read.dir}`);
    }
    for (const d of l.read.damaged) {
      status = 'incomplete';
      const line = `replica ${id}: damaged ledger record at ${d.file}${d.line ? `:${d.line}` : ''} (${d.reason}); checked the rest`;
      problems.push(line);
      ledgers.unsure(line);
    }
    for (const w of l.foreign) {
      status = 'fail';
      problems.push(w);
      ledgers.fail(`replica ${id}: ${w}`, [id]);
      accuse({ replica: id, kind: 'foreign-ledger', seq: null, detail: `replica ${id}'s ledger: ${w}` });
    }
    if (gaps.length > 0) {
      const line = `replica ${id}: no record of seq ${fmtRanges(gaps)}${l.read.damaged.length ? ' (the damaged records may have held them)' : ''}`;
      problems.push(line);
      if (l.read.damaged.length) {
        if (status === 'pass') status = 'incomplete';
        ledgers.unsure(line);
      } else {
        status = 'fail';
        ledgers.fail(line, [id]);
      }
    }
    const ledgerSummary =
      problems.length === 0
        ? l.read.exists
          ? `${l.execs.length} executions${seqs.length ? ` (seq ${seqs[0]}-${seqs[seqs.length - 1]})` : ''}, ${l.checkpoints.length} checkpoint certificates, ${l.read.segments.length} segment${l.read.segments.length === 1 ? '' : 's'}, ${l.read.bytes} bytes`
          : 'no ledger'
        : problems.join('; ');
    replicas.push({
      id,
      faulty: faulty.has(id),
      process: row?.process ?? 'down',
      running: !!row?.reachable,
      ledger: {
        dir: l.read.dir,
        exists: l.read.exists,
        segments: l.read.segments.length,
        bytes: l.read.bytes,
        frames: l.read.frames.length,
        executions: l.execs.length,
        checkpoints: l.checkpoints.length,
        firstSeq: seqs[0] ?? null,
        lastSeq: seqs[seqs.length - 1] ?? null,
        coveredTo: coveredTo(l),
        damaged: l.read.damaged,
        tornTail: l.read.tornTail,
        gaps,
      },
      ledgerStatus: status,
      ledgerSummary,
      state: { status: 'skip', summary: '', lastExecuted: row?.lastExecuted ?? null, stateDigest: row?.stateDigest ?? null },
    });
  }

  // ---- state of running replicas --------------------------------------------------------
  const state = new Check('state', faulty);
  for (const r of replicas) {
    const row = rows.find((x) => x.id === r.id);
    const l = loaded.get(r.id)!;
    if (!row?.reachable || row.lastExecuted === null || row.stateDigest === null) {
      r.state.status = 'skip';
      r.state.summary =
        row?.process === 'running'
          ? `running but not answering${row.error ? ` (${row.error})` : ''}: state not checked`
          : `${row?.process ?? 'down'}: state not checked (its ledger was)`;
      if (row?.process === 'running') state.unsure(`replica ${r.id}: ${r.state.summary}`);
      continue;
    }
    const E = row.lastExecuted;
    const D = row.stateDigest;
    const cover = coveredTo(l);
    if (cover < E) {
      r.state.status = 'fail';
      r.state.summary = `lastExecuted ${E}, but its ledger records only up to ${cover}`;
      state.fail(`replica ${r.id}: ${r.state.summary}`, [r.id]);
      continue;
    }
    const own = l.own.find((c) => c.body.seq === E);
    const inst = l.checkpoints.find((c) => c.seq === E);
    const anchor = own ? { digest: own.body.digest, what: 'its signed checkpoint' } : inst ? { digest: inst.digest, what: 'its stable checkpoint' } : null;
    if (anchor) {
      if (anchor.digest === D) {
        r.state.status = 'pass';
        r.state.summary = `state digest ${short(D)} at lastExecuted ${E} matches ${anchor.what} at ${E}`;
      } else {
        r.state.status = 'fail';
        r.state.summary = `state digest ${short(D)} at lastExecuted ${E}, but ${anchor.what} at ${E} says ${short(anchor.digest)}`;
        state.fail(`replica ${r.id}: ${r.state.summary}`, [r.id]);
        accuse({ replica: r.id, kind: 'state-mismatch', seq: E, detail: `replica ${r.id}: ${r.state.summary}` });
      }
      continue;
    }
    // Between checkpoints: its ledger covers E; compare with the replicas at the same point (a
    // correct replica only with the other correct ones: a faulty one's state proves nothing).
    const peers = replicas.filter((o) => o.id !== r.id && o.state.lastExecuted === E && rows.find((x) => x.id === o.id)?.reachable && (r.faulty || !o.faulty));
    const same = peers.filter((o) => o.state.stateDigest === D).map((o) => o.id);
    const differ = peers.filter((o) => o.state.stateDigest !== D).map((o) => o.id);
    if (same.length >= differ.length && same.length > 0) {
      r.state.status = 'pass';
      r.state.summary = `ledger covers lastExecuted ${E}; state digest ${short(D)} is that of replica${same.length > 1 ? 's' : ''} ${same.join(',')} at ${E} (no checkpoint at ${E})`;
    } else if (differ.length > 0) {
      r.state.status = 'fail';
      r.state.summary = `state digest ${short(D)} at lastExecuted ${E} differs from replica${differ.length > 1 ? 's' : ''} ${differ.join(',')} at the same point, after the same batches`;
      state.fail(`replica ${r.id}: ${r.state.summary}`, [r.id]);
      if (r.faulty) accuse({ replica: r.id, kind: 'state-mismatch', seq: E, detail: `replica ${r.id}: ${r.state.summary}` });
    } else {
      r.state.status = 'pass';
      r.state.summary = `ledger covers lastExecuted ${E}; no checkpoint at ${E} and no other replica there to compare the state digest with`;
    }
  }

  const correctWord = faulty.size > 0 ? ' correct' : '';
  const checks: CheckResult[] = [
    ledgers.result(`${replicas.filter((r) => r.ledger.exists).length}/${n} ledgers read, complete in their retained span`, 'problems in the ledgers'),
    agreement.result(
      `no two${correctWord} replicas executed different batches at one seq (${executed.size} sequence numbers)`,
      'replicas executed different batches at one seq',
    ),
    certified.result(
      `every executed batch has a valid certificate of ${q.quorum} COMMITs (${certificates} certificates checked)`,
      'executions without a valid commit certificate',
    ),
    checkpoints.result(
      `${stable.size} stable checkpoints, ${checkpointCerts} certificates valid, digests agree, no replica signed against them`,
      'checkpoint certificates disagree or do not verify',
    ),
    state.result(
      `every running${correctWord} replica's state matches its ledger (${replicas.filter((r) => r.state.status === 'pass').length} checked, ${replicas.filter((r) => r.state.status === 'skip').length} not running)`,
      "a running replica's state does not match its ledger",
    ),
  ];
  const violation = checks.some((c) => c.status === 'fail') || evidence.length > 0;
  const incomplete = checks.some((c) => c.status === 'incomplete');
  const outcome = violation ? 'violation' : incomplete ? 'incomplete' : 'ok';
  return {
    ok: outcome === 'ok',
    outcome,
    exitCode: outcome === 'ok' ? EXIT.ok : outcome === 'violation' ? EXIT.violation : EXIT.unverified,
    dir: cluster.dir,
    cluster: { name: cluster.config.name, n, f, quorum: q.quorum },
    replicas,
    checks,
    faulty: faultyIds,
    evidence,
    expectedEvidence,
    accused: [...new Set(evidence.map((e) => e.replica))].sort((a, b) => a - b),
    stats: {
      sequenceNumbers: executed.size,
      executions,
      certificates: certificates + checkpointCerts,
      signaturesVerified: v.count,
      signatureWorkers,
      ledgerBytes: replicas.reduce((s, r) => s + r.ledger.bytes, 0),
      ms: Math.round(performance.now() - t0),
    },
  };
}

function coveredTo(l: Loaded): number {
  let c = 0;
  for (const e of l.execs) if (e.seq > c) c = e.seq;
  for (const k of l.checkpoints) if (k.seq > c) c = k.seq;
  return c;
}
