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
import { loadCluster } from '../../src/runtime/config.js';
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

/** what happened, in order: a frame handed to a replica's durable log, or a reply sent */
type Event = { kind: 'frame'; replica: number; seqs: number[]; timestamps: number[] } | { kind: 'reply'; replica: number; timestamp: number };

describe('lazy committed records', () => {
  it('a reply goes out before its committed record is written; that record rides a later frame, and an idle replica writes it too', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-lazy-'));
    const ports = await freePorts(4);
    await initCluster({ dir, replicas: 4, ports, protocol: { checkpointInterval: 4, logWindow: 8 } });
    const cluster = await loadCluster(dir);

    const events: Event[] = [];
    const commit = DurableLog.prototype.commit;
    vi.spyOn(DurableLog.prototype, 'commit').mockImplementation(function (this: DurableLog, records: PersistRecord[], cb) {
      const replica = Number(/replica (\d+)/.exec((this as unknown as { label: string }).label)?.[1]);
      const committed = records.flatMap((r) => (r.kind === 'committed' ? [r.entry] : []));
      events.push({ kind: 'frame', replica, seqs: committed.map((e) => e.seq), timestamps: committed.flatMap((e) => e.batch.map((q) => q.body.timestamp)) });
      return commit.call(this, records, cb);
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
    const c = await PbftClient.connect(cluster);
    clients.push(c);
    const requests = 6;
    for (let i = 0; i < requests; i++) expect(JSON.parse((await c.request(kv.put(`k${i}`, `v${i}`))).result)).toMatchObject({ ok: true });

    // Idle now: within LAZY_FLUSH_MS every replica writes the committed record of the last seq.
    await vi.waitFor(
      () => {
        for (let id = 0; id < 4; id++) expect(events.some((e) => e.kind === 'frame' && e.replica === id && e.seqs.includes(requests))).toBe(true);
      },
      { timeout: 5_000, interval: 5 },
    );

    // A reply sent before any frame holding its request's committed record: the lazy path.
    // Without it a reply always waits for that frame (0 of the 24 here); with it, a backup whose
    // commits came after it prepared takes it for every request.
    let early = 0;
    for (let id = 0; id < 4; id++) {
      const mine = events.filter((e) => e.replica === id);
      for (const r of mine) {
        if (r.kind !== 'reply') continue;
        const written = mine.findIndex((e) => e.kind === 'frame' && e.timestamps.includes(r.timestamp));
        expect(written, `replica ${id} wrote the committed record of ${r.timestamp}`).toBeGreaterThanOrEqual(0);
        if (mine.indexOf(r) < written) early++;
      }
    }
    expect(early).toBeGreaterThanOrEqual(requests);
    // every committed record is written exactly once, in seq order, at every replica
    for (let id = 0; id < 4; id++) {
      const seqs = events.flatMap((e) => (e.kind === 'frame' && e.replica === id ? e.seqs : []));
      expect(seqs).toEqual(Array.from({ length: requests }, (_, i) => i + 1));
    }

    // a graceful stop loses nothing: every ledger holds every execution, and the audit agrees
    for (const n of nodes.splice(0)) await n.stop();
    const report = await verifyCluster({ dir });
    expect(report.outcome, JSON.stringify(report.checks)).toBe('ok');
  });
});
