/**
 * The audit ledger trails the durable log (replica-node.ts): a batch's ledger records are written
 * after its messages are sent. A crash between the two leaves the ledger behind; the durable log
 * keeps every segment the ledger still needs, and the next start repairs the ledger from it.
 * A replica in this process (n = 1, on a free 127.0.0.1 port), checkpoints every 4 requests.
 */
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifyCluster } from '../../src/audit/index.js';
import { PbftError } from '../../src/errors.js';
import type { LoadedCluster } from '../../src/runtime/config.js';
import { AuditLedger, readLedger } from '../../src/runtime/ledger.js';
import { kv } from '../helpers/cluster.js';
import { SoloNode } from '../helpers/solo-node.js';

const solo = new SoloNode('pbft-trail-');
afterEach(async () => {
  vi.restoreAllMocks();
  await solo.cleanup();
});
const soloCluster = (replicaJson: Record<string, unknown>) => solo.cluster(replicaJson);
const startNode = (cluster: LoadedCluster) => solo.start(cluster, { onFatal: () => undefined });

const execSeqs = (dir: string) =>
  readLedger(dir)
    .frames.flatMap((f) => f.records)
    .filter((r) => r.k === 'exec')
    .map((r) => (r as { seq: number }).seq);

describe('the audit ledger trails the durable log', () => {
  it("the first write after a start releases only the segments the start's stable checkpoint covers", async () => {
    // Found in review: the deferred deletion of the boot's leftovers was bounded by Infinity, so
    // when the first ledger write completed after later batches had made a newer checkpoint
    // stable, the segments holding those batches went too; a crash before their ledger write
    // lost their executions from the ledger, and the restart's repair hid the gap from verify.
    const cluster = await soloCluster({ fsync: true });
    const original = AuditLedger.prototype.commit;
    const stalled: Array<{ self: AuditLedger; records: Parameters<AuditLedger['commit']>[0]; cb: (e: PbftError | null) => void }> = [];
    vi.spyOn(AuditLedger.prototype, 'commit').mockImplementation(function (this: AuditLedger, records, cb) {
      stalled.push({ self: this, records, cb });
    });
    const node = await startNode(cluster);
    const c = await solo.connect(cluster);
    for (let i = 0; i < 20; i++) await c.request(kv.put(`k${i % 5}`, `v${i}`));
    expect(node.status().lastExecuted).toBe(20);
    expect(stalled.length).toBe(1); // the first ledger write (the start's repair), still in flight
    // it completes for real; the next one (every later batch) is in flight
    await new Promise<void>((resolve) =>
      original.call(stalled[0]!.self, stalled[0]!.records, (e) => {
        stalled[0]!.cb(e);
        resolve();
      }),
    );
    await vi.waitFor(() => expect(stalled.length).toBe(2));
    // the crash: the second write never happened
    stalled[1]!.cb(new PbftError('LEDGER_IO', 'crashed before the write'));
    await node.stop();
    solo.forget(node);
    c.close();
    vi.restoreAllMocks();
    const again = await startNode(cluster);
    expect(again.status().lastExecuted).toBe(20);
    await again.stop();
    solo.forget(again);
    // every execution is in the ledger: the durable log kept what the ledger lacked
    expect([...new Set(execSeqs(cluster.paths.ledgerDir(0)))].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await verifyCluster({ dir: solo.dir! })).outcome).toBe('ok');
  });

  it('a wall clock stepping back does not hold the ledger back (its interval is at most 50 ms)', async () => {
    // Found in review (session 9): the wait was computed from the wall clock, so a step back of
    // a minute armed a one-minute timer, and while it was pending nothing else wrote the ledger.
    const cluster = await soloCluster({ fsync: false });
    const node = await startNode(cluster);
    const c = await solo.connect(cluster);
    for (let i = 0; i < 3; i++) await c.request(kv.put(`k${i}`, `v${i}`));
    await vi.waitFor(() => expect(node.status().ledger!.lastSeq).toBe(3));
    const realNow = Date.now;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 60_000);
    for (let i = 3; i < 13; i++) await c.request(kv.put(`k${i}`, `v${i}`));
    await vi.waitFor(() => expect(node.status().ledger!.lastSeq).toBe(13), { timeout: 3_000, interval: 10 });
  });

  for (const fsync of [false, true])
    it(`a crash between a batch's send and its ledger write: the durable log keeps the segments, the restart repairs the ledger (fsync ${fsync})`, async () => {
      const cluster = await soloCluster({ fsync });
      const node = await startNode(cluster);
      const c = await solo.connect(cluster);
      for (let i = 0; i < 3; i++) await c.request(kv.put(`k${i}`, `v${i}`));
      // From now on the ledger's writes never complete (the process dies before they do).
      const stalled: Array<(err: PbftError | null) => void> = [];
      let crashed = false;
      vi.spyOn(AuditLedger.prototype, 'commit').mockImplementation((_records, cb) => {
        // after the crash no write happens either (stop() asks for one)
        if (crashed) cb(new PbftError('LEDGER_IO', 'crashed before the write'));
        else stalled.push(cb);
      });
      // replies arrive: nothing waits for the ledger
      for (let i = 3; i < 30; i++) expect(JSON.parse((await c.request(kv.put(`k${i % 7}`, `v${i}`))).result)).toMatchObject({ ok: true });
      const before = node.status();
      expect(before.lastExecuted).toBe(30);
      expect(before.stableCheckpoint).toBe(28);
      // at most one write in flight (none yet if the ledger's interval has not ended: it writes
      // at most once per LEDGER_MIN_INTERVAL_MS under load); the rest queued behind it
      expect(stalled.length).toBeLessThanOrEqual(1);
      expect(before.ledger!.lastSeq).toBeLessThanOrEqual(3);
      // every segment since the ledger's last write is still there: a segment starts at each full
      // checkpoint (every logWindow = 8 seqs: 8, 16, 24; 4, 12, 20 and 28 are light ones)
      expect(before.wal.deletedSegments).toBe(0);
      expect(readdirSync(cluster.paths.walDir(0)).length).toBeGreaterThanOrEqual(4);
      // the crash: the write never happened
      crashed = true;
      for (const cb of stalled) cb(new PbftError('LEDGER_IO', 'crashed before the write'));
      await node.stop();
      solo.forget(node);
      c.close();
      vi.restoreAllMocks();
      expect(Math.max(0, ...execSeqs(cluster.paths.ledgerDir(0)))).toBeLessThanOrEqual(3);

      // restart: the ledger is repaired from the durable log, and only then are old segments deleted
      const again = await startNode(cluster);
      const after = again.status();
      expect(after.lastExecuted).toBe(30);
      expect(after.stateDigest).toBe(before.stateDigest);
      await again.stop();
      solo.forget(again);
      const seqs = execSeqs(cluster.paths.ledgerDir(0));
      expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      const cps = readLedger(cluster.paths.ledgerDir(0))
        .frames.flatMap((f) => f.records)
        .filter((r) => r.k === 'checkpoint')
        .map((r) => (r as { seq: number }).seq);
      expect(cps).toEqual(expect.arrayContaining([4, 8, 12, 16, 20, 24, 28]));
      expect(readdirSync(cluster.paths.walDir(0)).length).toBeLessThanOrEqual(2);
      const report = await verifyCluster({ dir: solo.dir! });
      expect(report.outcome, JSON.stringify(report.checks)).toBe('ok');
    });
});
