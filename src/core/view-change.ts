/**
 * NEW-VIEW's O, as a pure function (Castro & Liskov 2002, §4.4; pbft.md "View change"):
 * - min-s: the highest stable checkpoint among the view-changes in V;
 * - max-s: the highest sequence number in any prepared certificate in V;
 * - for each s in (min-s, max-s]: the digest of the certificate with the HIGHEST view that
 *   prepared at s, else the null request.
 * The new primary computes O from V; every backup recomputes it and rejects a NEW-VIEW whose
 * O differs. Validation of V (signatures, certificates) happens before this is called.
 */
import { batchDigest } from './messages.js';
import type { Authenticator, CheckpointBody, Hex, PreparedCert, Signed, SignedRequest, ViewChangeBody } from './types.js';

export interface ComputedO {
  minS: number;
  maxS: number;
  /** seq -> what the new primary must pre-prepare there */
  entries: Map<number, { digest: Hex; batch: SignedRequest[]; fromView: number | null }>;
  /** the checkpoint at min-s and its proof (null when min-s is 0) */
  checkpoint: { seq: number; digest: Hex; proof: Signed<CheckpointBody>[] } | null;
}

export function computeO(auth: Authenticator, V: Signed<ViewChangeBody>[], opts: { lowestViewBug?: boolean } = {}): ComputedO {
  let minS = 0;
  let checkpoint: ComputedO['checkpoint'] = null;
  for (const vc of V) {
    if (vc.body.stableSeq > minS && vc.body.checkpointProof.length > 0) {
      minS = vc.body.stableSeq;
      checkpoint = { seq: minS, digest: vc.body.checkpointProof[0]!.body.digest, proof: vc.body.checkpointProof };
    }
  }
  let maxS = minS;
  const best = new Map<number, PreparedCert>();
  for (const vc of V) {
    for (const c of vc.body.prepared) {
      const pp = c.prePrepare.body;
      if (pp.seq <= minS) continue;
      maxS = Math.max(maxS, pp.seq);
      const cur = best.get(pp.seq)?.prePrepare.body.view;
      const better = cur === undefined || (opts.lowestViewBug ? pp.view < cur : pp.view > cur);
      if (better) best.set(pp.seq, c);
    }
  }
  const entries: ComputedO['entries'] = new Map();
  const nullDigest = batchDigest(auth, []);
  for (let s = minS + 1; s <= maxS; s++) {
    const c = best.get(s);
    entries.set(
      s,
      c ? { digest: c.prePrepare.body.digest, batch: c.prePrepare.batch, fromView: c.prePrepare.body.view } : { digest: nullDigest, batch: [], fromView: null },
    );
  }
  return { minS, maxS, entries, checkpoint };
}
