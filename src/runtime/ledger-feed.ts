/**
 * What a replica node writes to its audit ledger (ledger.ts), derived from the core's output of
 * a turn: its `executed` actions (with their commit certificates), its stable checkpoints (the
 * `persist` checkpoint records, marked `state-transfer` after a `state-installed`), and the
 * CHECKPOINT messages it signs itself.
 *
 * After a restart the core re-executes the batches of its durable log with no certificate (it
 * was reported the first time). Those already in the ledger are not written again. One that is
 * missing (a crash after the durable log's write and before the ledger's) gets its certificate
 * from the durable log's own `committed` record, and the durable log's latest stable checkpoint
 * is recorded if the ledger lacks it.
 */
import type { CheckpointBody, CommitBody, Hex, PersistRecord, ReplicaAction, ReplicaId, Signed } from '../core/types.js';
import type { LedgerRecord } from './ledger.js';

export class LedgerFeed {
  /** highest seq written or queued (executions and checkpoints) */
  private recordedSeq: number;
  private recordedCheckpoint: number;
  private ownCheckpoint = 0;
  /** certificates from the durable log, for re-executions at start-up (dropped after the first turn) */
  private restartCerts: Map<number, { digest: Hex; commits: Signed<CommitBody>[] }> | null = new Map();
  private initial: LedgerRecord[] = [];

  constructor(
    private readonly id: ReplicaId,
    ledgerLastSeq: number,
    ledgerLastCheckpoint: number,
    persisted: readonly PersistRecord[],
  ) {
    this.recordedSeq = ledgerLastSeq;
    this.recordedCheckpoint = ledgerLastCheckpoint;
    let cp: Extract<PersistRecord, { kind: 'checkpoint' }> | null = null;
    for (const r of persisted) {
      if (r.kind === 'committed') this.restartCerts!.set(r.entry.seq, { digest: r.entry.digest, commits: r.entry.commits });
      else if (r.kind === 'checkpoint' && (!cp || r.seq > cp.seq)) cp = r;
    }
    if (cp && cp.seq > this.recordedCheckpoint) {
      this.initial.push({ k: 'checkpoint', seq: cp.seq, digest: cp.digest, proof: cp.proof, src: 'restart' });
      this.recordedCheckpoint = cp.seq;
      this.recordedSeq = Math.max(this.recordedSeq, cp.seq);
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
