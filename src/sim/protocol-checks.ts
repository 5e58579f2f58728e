/**
 * Protocol-level checks on what correct replicas SIGN and ACCEPT, written independently of the
 * core (src/core/replica.ts, src/core/view-change.ts), so that a mistake in the core's own
 * validation is not repeated here:
 *
 * - `VoteLedger`: no correct replica ever signs two different pre-prepares, prepares or
 *   commits for one (view, seq): equivocation by a correct replica is a bug even when every
 *   backup rejects the second message, because a slightly different backup would not.
 * - `newViewProblem`: every NEW-VIEW a correct replica enters is valid: V holds a quorum of
 *   validly signed view-changes for the view from distinct replicas, each with a valid
 *   checkpoint proof and valid prepared certificates, and O is EXACTLY what V determines
 *   (Castro & Liskov 2002, §4.4): one pre-prepare for each seq of (min-s, max-s], in order,
 *   each signed by the new primary for the new view, carrying the digest of the prepared
 *   certificate with the highest view at that seq, or the null request.
 */
import { canonicalBytes } from '../core/canonical.js';
import { batchDigest } from '../core/messages.js';
import { primaryOf, quorums } from '../core/quorum.js';
import type { Authenticator, Hex, ReplicaId, Signed } from '../core/types.js';

type Body = Record<string, unknown>;

function bodyOf(m: unknown): Body | null {
  const b = (m as { body?: unknown } | null)?.body;
  return typeof b === 'object' && b !== null ? (b as Body) : null;
}

function signedBy(verifier: Authenticator, m: unknown, replica: ReplicaId): boolean {
  const sig = (m as { sig?: unknown }).sig;
  const b = bodyOf(m);
  if (!b || typeof sig !== 'string') return false;
  try {
    return verifier.verifyReplica(replica, canonicalBytes(b), sig);
  } catch {
    return false;
  }
}

function isSeq(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** What one correct replica signed, per (kind, view, seq): the first digest it signed. */
export class VoteLedger {
  private readonly signed = new Map<string, Hex>();

  /**
   * Record a message a correct replica sent. Returns a description of the equivocation when it
   * signed a different digest for the same (kind, view, seq) before, else null. NEW-VIEWs are
   * looked into: their O is a list of pre-prepares the sender signed.
   */
  observe(replica: ReplicaId, msg: unknown): string | null {
    const b = bodyOf(msg);
    if (!b || b.replica !== replica) return null;
    if (b.type === 'new-view' && Array.isArray(b.prePrepares)) {
      for (const pp of b.prePrepares) {
        const bad = this.observe(replica, pp);
        if (bad) return `${bad} (inside its NEW-VIEW for view ${String(b.newView)})`;
      }
      return null;
    }
    if (b.type !== 'pre-prepare' && b.type !== 'prepare' && b.type !== 'commit') return null;
    if (!isSeq(b.view) || !isSeq(b.seq) || typeof b.digest !== 'string') return null;
    const key = `${b.type}:${replica}:${b.view}:${b.seq}`;
    const had = this.signed.get(key);
    if (had === undefined) {
      this.signed.set(key, b.digest);
      return null;
    }
    if (had === b.digest) return null;
    return `correct replica ${replica} signed two ${b.type}s for (view ${b.view}, seq ${b.seq}): digests ${had.slice(0, 12)} and ${b.digest.slice(0, 12)}`;
  }
}

export interface NewViewCheckParams {
  n: number;
  f: number;
  checkpointInterval: number;
  logWindow: number;
}

/** Why this prepared certificate (from a view-change for `newView`) is invalid, or null. */
function certificateProblem(verifier: Authenticator, p: NewViewCheckParams, quorum: number, newView: number, stableSeq: number, cert: unknown): string | null {
  const c = cert as { prePrepare?: unknown; prepares?: unknown } | null;
  const pp = bodyOf(c?.prePrepare);
  if (pp?.type !== 'pre-prepare' || !isSeq(pp.view) || !isSeq(pp.seq) || typeof pp.digest !== 'string') return 'a certificate without a pre-prepare';
  const where = `certificate for seq ${pp.seq} (view ${pp.view})`;
  if (pp.view >= newView) return `${where} is not from an earlier view`;
  if (pp.seq <= stableSeq || pp.seq > stableSeq + p.logWindow) return `${where} is outside the window above checkpoint ${stableSeq}`;
  const primary = primaryOf(pp.view, p.n);
  if (pp.replica !== primary || !signedBy(verifier, c!.prePrepare, primary)) return `${where}: the pre-prepare is not signed by the primary of its view`;
  const batch = (c!.prePrepare as { batch?: unknown }).batch;
  if (!Array.isArray(batch)) return `${where}: no batch`;
  try {
    if (batchDigest(verifier, batch as never) !== pp.digest) return `${where}: the digest does not match the batch`;
  } catch {
    return `${where}: unreadable batch`;
  }
  if (!Array.isArray(c!.prepares)) return `${where}: no prepares`;
  const from = new Set<ReplicaId>();
  for (const m of c!.prepares) {
    const b = bodyOf(m);
    if (b?.type !== 'prepare' || b.view !== pp.view || b.seq !== pp.seq || b.digest !== pp.digest) return `${where}: a prepare for something else`;
    const r = b.replica;
    if (typeof r !== 'number' || r === primary || from.has(r) || !signedBy(verifier, m, r))
      return `${where}: a prepare from the primary, repeated, or not validly signed`;
    from.add(r);
  }
  if (from.size < quorum - 1) return `${where}: ${from.size} prepares, ${quorum - 1} needed`;
  return null;
}

function checkpointProofProblem(verifier: Authenticator, quorum: number, seq: number, proof: unknown): string | null {
  if (!Array.isArray(proof)) return 'no checkpoint proof';
  if (seq === 0) return proof.length === 0 ? null : 'a proof for checkpoint 0';
  const digest = bodyOf(proof[0])?.digest;
  const from = new Set<ReplicaId>();
  for (const m of proof) {
    const b = bodyOf(m);
    const r = b?.replica;
    if (b?.type !== 'checkpoint' || b.seq !== seq || b.digest !== digest || typeof r !== 'number' || from.has(r) || !signedBy(verifier, m, r))
      return `an invalid checkpoint proof for ${seq}`;
    from.add(r);
  }
  return from.size >= quorum ? null : `a checkpoint proof for ${seq} from ${from.size} replicas`;
}

/** Why `nv` is not a valid NEW-VIEW, or null when it is. */
export function newViewProblem(verifier: Authenticator, p: NewViewCheckParams, nv: Signed<unknown>): string | null {
  const quorum = quorums(p.n, p.f).quorum;
  const b = bodyOf(nv);
  if (b?.type !== 'new-view' || !isSeq(b.newView)) return 'not a new-view';
  const view = b.newView;
  const primary = primaryOf(view, p.n);
  if (b.replica !== primary || !signedBy(verifier, nv, primary)) return `not signed by the primary of view ${view}`;
  if (!Array.isArray(b.viewChanges) || !Array.isArray(b.prePrepares)) return 'no V or no O';
  // V
  const senders = new Set<ReplicaId>();
  let minS = 0;
  const best = new Map<number, { view: number; digest: Hex }>();
  let maxS = 0;
  for (const vc of b.viewChanges) {
    const v = bodyOf(vc);
    const r = v?.replica;
    if (v?.type !== 'view-change' || v.newView !== view || typeof r !== 'number' || senders.has(r))
      return 'V holds a view-change for another view, or two from one replica';
    if (!signedBy(verifier, vc, r)) return `V holds a view-change from ${r} that is not validly signed`;
    if (!isSeq(v.stableSeq) || v.stableSeq % p.checkpointInterval !== 0) return `the view-change from ${r} names a bad stable checkpoint`;
    const cp = checkpointProofProblem(verifier, quorum, v.stableSeq, v.checkpointProof);
    if (cp) return `the view-change from ${r} carries ${cp}`;
    if (!Array.isArray(v.prepared)) return `the view-change from ${r} has no P`;
    const seqs = new Set<number>();
    for (const c of v.prepared) {
      const bad = certificateProblem(verifier, p, quorum, view, v.stableSeq, c);
      if (bad) return `the view-change from ${r}: ${bad}`;
      const pp = bodyOf((c as { prePrepare: unknown }).prePrepare)!;
      if (seqs.has(pp.seq as number)) return `the view-change from ${r} has two certificates for seq ${String(pp.seq)}`;
      seqs.add(pp.seq as number);
    }
    senders.add(r);
    if (v.stableSeq > minS) minS = v.stableSeq;
  }
  if (senders.size < quorum) return `V holds ${senders.size} view-changes, a quorum is ${quorum}`;
  // O from V: the highest stable checkpoint; for each seq above it, the highest-view certificate
  for (const vc of b.viewChanges) {
    for (const c of bodyOf(vc)!.prepared as { prePrepare: unknown }[]) {
      const pp = bodyOf(c.prePrepare)!;
      const seq = pp.seq as number;
      if (seq <= minS) continue;
      if (seq > maxS) maxS = seq;
      const cur = best.get(seq);
      if (!cur || (pp.view as number) > cur.view) best.set(seq, { view: pp.view as number, digest: pp.digest as Hex });
    }
  }
  if (maxS < minS) maxS = minS;
  const nullDigest = batchDigest(verifier, []);
  const O = b.prePrepares;
  if (O.length !== maxS - minS) return `O has ${O.length} pre-prepares; V determines ${maxS - minS}, for seqs ${minS + 1}..${maxS}`;
  for (let i = 0; i < O.length; i++) {
    const pp = bodyOf(O[i]);
    const seq = minS + 1 + i;
    const want = best.get(seq)?.digest ?? nullDigest;
    if (pp?.type !== 'pre-prepare' || pp.seq !== seq) return `O's pre-prepare #${i + 1} is for seq ${String(pp?.seq)}, V determines seq ${seq} there`;
    if (pp.view !== view || pp.replica !== primary || !signedBy(verifier, O[i], primary))
      return `O's pre-prepare for seq ${seq} is not signed by the new primary for view ${view}`;
    if (pp.digest !== want) return `O puts ${String(pp.digest).slice(0, 12)} at seq ${seq}; V determines ${want.slice(0, 12)}`;
    const batch = (O[i] as { batch?: unknown }).batch;
    try {
      if (!Array.isArray(batch) || batchDigest(verifier, batch as never) !== want) return `O's batch at seq ${seq} does not match its digest`;
    } catch {
      return `O's batch at seq ${seq} is unreadable`;
    }
  }
  return null;
}
