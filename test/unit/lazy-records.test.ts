/**
 * Lazy records (replica-node.ts, isLazyRecord): a turn whose only durable records are
 * `committed` acts at once, and those records ride the next durable-log frame (or are written
 * alone once the replica is idle). Four replicas in this process, on free 127.0.0.1 ports, with
 * fsync on; one client sending one request at a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifyCluster } from '../../src/audit/index.js';
import type { PersistRecord, SignedReply } from '../../src/core/types.js';
import { PbftClient } from '../../src/runtime/client.js';
import { loadCluster, type LoadedCluster } from '../../src/runtime/config.js';
import { initCluster } from '../../src/runtime/init.js';
import { ReplicaNode } from '../../src/runtime/replica-node.js';
import { DurableLog } from '../../src/runtime/storage.js';
import { ReplicaTransport } from '../../src/runtime/transport.js';
import { freePorts, kv } from '../helpers/cluster.js';

let dir: string | undefined;
const nodes: ReplicaNode[] = [];
const clients: PbftClient[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of clients.splice(0)) c.close();
  for (const n of nodes.splice(0)) await n.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** what happened, in order: a frame handed to a replica's durable log, its completion, or a reply sent */
type Event =
  | { kind: 'frame'; replica: number; frame: number; seqs: number[]; committed: number[]; prepared: number[] }
  | { kind: 'durable'; replica: number; frame: number }
  | { kind: 'reply'; replica: number; timestamp: number };

/** Four replicas in this process, every durable-log frame and reply recorded in `events`. */
async function fourReplicas(events: Event[]): Promise<LoadedCluster> {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-lazy-'));
  const ports = await freePorts(4);
  await initCluster({ dir, replicas: 4, ports, protocol: { checkpointInterval: 4, logWindow: 8 } });
  const cluster = await loadCluster(dir);
  let frames = 0;
  const commit = DurableLog.prototype.commit;
  vi.spyOn(DurableLog.prototype, 'commit').mockImplementation(function (this: DurableLog, records: PersistRecord[], cb) {
    const replica = Number(/replica (\d+)/.exec((this as unknown as { label: string }).label)?.[1]);
    const frame = frames++;
    const committed = records.flatMap((r) => (r.kind === 'committed' ? [r.entry] : []));
    events.push({
      kind: 'frame',
      replica,
      frame,
      seqs: committed.map((e) => e.seq),
      committed: committed.flatMap((e) => e.batch.map((q) => q.body.timestamp)),
      prepared: records.flatMap((r) => (r.kind === 'prepared' ? r.cert.prePrepare.batch.map((q) => q.body.timestamp) : [])),
    });
    return commit.call(this, records, (err) => {
      events.push({ kind: 'durable', replica, frame });
      cb(err);
    });
  });
  const sendToClient = ReplicaTransport.prototype.sendToClient;
  vi.spyOn(ReplicaTransport.prototype, 'sendToClient').mockImplementation(function (this: ReplicaTransport, client, frame, reply?: SignedReply) {
    if (reply) events.push({ kind: 'reply', replica: reply.body.replica, timestamp: reply.body.timestamp });
    return sendToClient.call(this, client, frame, reply);
  });
  // ready means connected to a quorum: start them all, then wait
  const ready: Promise<void>[] = [];
  for (let id = 0; id < 4; id++) {
    let onReady!: () => void;
    ready.push(new Promise<void>((r) => (onReady = r)));
    nodes.push(await ReplicaNode.start({ cluster, id, log: () => undefined, onReady: () => onReady(), pidFile: false }));
  }
  await Promise.all(ready);
  return cluster;
}

async function requests(cluster: LoadedCluster, count: number): Promise<void> {
  const c = await PbftClient.connect(cluster);
  clients.push(c);
  for (let i = 0; i < count; i++) expect(JSON.parse((await c.request(kv.put(`k${i}`, `v${i}`))).result)).toMatchObject({ ok: true });
}

describe('lazy committed records', () => {
  it('a reply goes out before its committed record is written, never before its own prepared record is durable; a stop writes what waits', async () => {
    const events: Event[] = [];
    const cluster = await fourReplicas(events);
    const count = 6;
    await requests(cluster, count);
    // stopped at once, lazy records still waiting for a frame: stop() writes them
    for (const n of nodes.splice(0)) await n.stop();

    let early = 0;
    for (let id = 0; id < 4; id++) {
      const mine = events.filter((e) => e.replica === id);
      const at = (pred: (e: Event) => boolean) => mine.findIndex(pred);
      for (const [i, r] of mine.entries()) {
        if (r.kind !== 'reply') continue;
        // its committed record reached the log (in a later frame, the idle flush, or the stop)
        const written = at((e) => e.kind === 'frame' && e.committed.includes(r.timestamp));
        expect(written, `replica ${id} wrote the committed record of ${r.timestamp}`).toBeGreaterThanOrEqual(0);
        const frame = (mine[written] as { frame: number }).frame;
        expect(at((e) => e.kind === 'durable' && e.frame === frame)).toBeGreaterThan(written);
        if (i < written) early++;
        // ... but the replica's own prepared record for it was durable before the reply
        const prepared = at((e) => e.kind === 'frame' && e.prepared.includes(r.timestamp));
        if (prepared >= 0) {
          const pf = (mine[prepared] as { frame: number }).frame;
          const durable = at((e) => e.kind === 'durable' && e.frame === pf);
          expect(durable, `replica ${id}: prepared of ${r.timestamp} durable before its reply`).toBeGreaterThanOrEqual(0);
          expect(durable).toBeLessThan(i);
        }
      }
      // every committed record written once, in seq order, from seq 1
      const seqs = mine.flatMap((e) => (e.kind === 'frame' ? e.seqs : []));
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, k) => k + 1));
    }
    // Without lazy records a reply always waits for the frame of its committed record (0 of
    // up to 24 here); with them, a backup whose commits came after it prepared takes it for
    // every request (21-22 of 24 in trial runs).
    expect(early).toBeGreaterThanOrEqual(count);

    // the ledgers hold every execution the durable logs do, and the audit agrees
    const report = await verifyCluster({ dir: dir! });
    expect(report.outcome, JSON.stringify(report.checks)).toBe('ok');
  });

  it('an idle replica writes its lazy records on its own', async () => {
    const events: Event[] = [];
    const cluster = await fourReplicas(events);
    const count = 3;
    await requests(cluster, count);
    // no next frame comes: each replica writes the last committed record within LAZY_FLUSH_MS
    await vi.waitFor(
      () => {
        for (let id = 0; id < 4; id++) expect(events.some((e) => e.kind === 'frame' && e.replica === id && e.seqs.includes(count))).toBe(true);
      },
      { timeout: 5_000, interval: 5 },
    );
  });
});
