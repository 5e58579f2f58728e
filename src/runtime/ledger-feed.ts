/**
 * What a replica node writes to its audit ledger (ledger.ts), derived from the core's output of
 * a turn: its `executed` actions (with their commit certificates), its stable checkpoints (the
 * `persist` checkpoint records, marked `state-transfer` after a `state-installed`), and the
 * CHECKPOINT messages it signs itself.
 *
 * The node writes these records AFTER the durable log's frame of the same turn, trailing it
 * (replica-node.ts): a crash can leave the ledger a few batches behind the durable log, and the
 * ledger is repaired here, at the next start, from what the durable log kept. The durable log
 * keeps every segment whose records the ledger may still lack (the node releases segment
 * deletions only once the ledger has caught up), so the repair is complete:
 *
 * - executions below the durable log's stable checkpoint (not re-executed at restart) and
 *   missing from the ledger are recorded from the durable log's `committed` records, in seq
 *   order while they follow one another (src `restart`; the requests are the batch's, a
 *   duplicate request the execution skipped included);
 * - every stable checkpoint in the durable log newer than the ledger's is recorded (src `restart`);
 * - after a restart the core re-executes the batches above its stable checkpoint with no
 *   certificate (it was reported the first time). Those already in the ledger are not written
 *   again; one that is missing gets its certificate from the durable log's `committed` record.
 *
 * What the durable log does not hold cannot be repaired: the CHECKPOINT messages this replica
 * signed in the last batches before a crash (`own-checkpoint`) may be missing.
 */
import type { CheckpointBody, CommitBody, Hex, PersistRecord, ReplicaAction, ReplicaId, Signed, SignedRequest } from '../core/types.js';
import type { LedgerRecord } from './ledger.js';

export class LedgerFeed {
  /** highest seq written or queued (executions and checkpoints) */
  private recordedSeq: number;
  private recordedCheckpoint: number;
  private ownCheckpoint = 0;
  /** certificates from the durable log, for re-executions at start-up (dropped after the first turn) */
  private restartCerts: Map<number, { digest: Hex; commits: Signed<CommitBody>[] }> | null = new Map();
  private initial: LedgerRecord[] = [];

  /**
   * `requestDigest`: the digest of a request (core/messages.ts requestDigest), for executions
   * recorded from the durable log's `committed` records.
   */
  constructor(
    private readonly id: ReplicaId,
    ledgerLastSeq: number,
    ledgerLastCheckpoint: number,
    persisted: readonly PersistRecord[],
    requestDigest: (r: SignedRequest) => Hex = () => '',
  ) {
    this.recordedSeq = ledgerLastSeq;
    this.recordedCheckpoint = ledgerLastCheckpoint;
    const committed = new Map<number, Extract<PersistRecord, { kind: 'committed' }>['entry']>();
    const checkpoints = new Map<number, Extract<PersistRecord, { kind: 'checkpoint' }>>();
    let stable = 0;
    for (const r of persisted) {
      if (r.kind === 'committed') {
        this.restartCerts!.set(r.entry.seq, { digest: r.entry.digest, commits: r.entry.commits });
        committed.set(r.entry.seq, r.entry);
      } else if (r.kind === 'checkpoint') {
        if (!checkpoints.has(r.seq)) checkpoints.set(r.seq, r);
        stable = Math.max(stable, r.seq);
      }
    }
    // Walk up from what the ledger holds to the durable log's stable checkpoint: executions
    // while they follow one another, and the stable checkpoints on the way (a checkpoint
    // explains a gap below it: a state transfer).
    const cps = [...checkpoints.keys()].filter((s) => s > this.recordedCheckpoint).sort((a, b) => a - b);
    let next = this.recordedSeq + 1;
    for (const cp of [...cps, Number.POSITIVE_INFINITY]) {
      const upTo = Math.min(cp, stable);
      for (; next <= upTo; next++) {
        const e = committed.get(next);
        if (!e) break;
        this.initial.push({
          k: 'exec',
          view: e.view,
          seq: e.seq,
          digest: e.digest,
          requests: e.batch.map((r) => ({ client: r.body.client, timestamp: r.body.timestamp, digest: requestDigest(r) })),
          cert: e.commits,
          src: 'restart',
        });
        this.recordedSeq = next;
      }
      if (cp === Number.POSITIVE_INFINITY) break;
      const c = checkpoints.get(cp)!;
      this.initial.push({ k: 'checkpoint', seq: c.seq, digest: c.digest, proof: c.proof, src: 'restart' });
      this.recordedCheckpoint = c.seq;
      this.recordedSeq = Math.max(this.recordedSeq, c.seq);
      next = Math.max(next, c.seq + 1);
    }
  }

  /** The ledger records of one turn (persist records and the other actions, in order). */
  collect(persists: readonly PersistRecord[], effects: readonly ReplicaAction[]): LedgerRecord[] {
    const out = this.initial;
    this.initial = [];
    let installed = -1;
    for (const a of effects) {
      if (a.type === 'state-installed') installed = Math.max(installed, a.seq);
      else if (a.type === 'executed') {
        if (a.certificate !== null) {
          out.push({ k: 'exec', view: a.view, seq: a.seq, digest: a.digest, requests: ids(a.requests), cert: a.certificate, src: 'commit' });
          this.recordedSeq = Math.max(this.recordedSeq, a.seq);
        } else if (a.seq > this.recordedSeq) {
          const c = this.restartCerts?.get(a.seq);
          const cert = c && c.digest === a.digest ? c.commits : null;
          out.push({ k: 'exec', view: a.view, seq: a.seq, digest: a.digest, requests: ids(a.requests), cert, src: 'restart' });
          this.recordedSeq = a.seq;
        }
      } else if (a.type === 'multicast' || a.type === 'send') {
        // (a Byzantine strategy may send anything, null included)
        const m = a.msg as { body?: { type?: unknown; seq?: unknown; replica?: unknown; digest?: unknown }; sig?: unknown } | null;
        const b = typeof m === 'object' && m !== null ? m.body : undefined;
        if (b?.type === 'checkpoint' && b.replica === this.id && typeof b.seq === 'number' && b.seq > this.ownCheckpoint) {
          this.ownCheckpoint = b.seq;
          out.push({ k: 'own-checkpoint', msg: a.msg as Signed<CheckpointBody> });
        }
      }
    }
    for (const r of persists) {
      if (r.kind !== 'checkpoint' || r.seq <= this.recordedCheckpoint) continue;
      out.push({ k: 'checkpoint', seq: r.seq, digest: r.digest, proof: r.proof, src: r.seq === installed ? 'state-transfer' : 'stable' });
      this.recordedCheckpoint = r.seq;
      this.recordedSeq = Math.max(this.recordedSeq, r.seq);
    }
    this.restartCerts = null;
    return out;
  }
}

function ids(requests: readonly { client: string; timestamp: number; digest: Hex }[]): { client: string; timestamp: number; digest: Hex }[] {
  return requests.map((r) => ({ client: r.client, timestamp: r.timestamp, digest: r.digest }));
}
