/**
 * A replica in this process (n = 1, on a free 127.0.0.1 port): "fsync": false in replica.json
 * means no fsync anywhere (durable log, conversion, pid file, directories); the status reports
 * batching and CPU time; a restart recovers exactly what was committed, through segment files.
 */
import fs, { readdirSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LoadedCluster } from '../../src/runtime/config.js';
import type { ReplicaNode } from '../../src/runtime/replica-node.js';
import { encodeLegacyLine } from '../../src/runtime/storage.js';
import { kv } from '../helpers/cluster.js';
import { SoloNode } from '../helpers/solo-node.js';

const solo = new SoloNode('pbft-node-');
afterEach(async () => {
  vi.restoreAllMocks();
  syncBuiltinESMExports();
  await solo.cleanup();
});
const soloCluster = (replicaJson: Record<string, unknown>) => solo.cluster(replicaJson);
const startNode = (cluster: LoadedCluster) => solo.start(cluster);

async function stopNode(node: ReplicaNode): Promise<void> {
  await node.stop();
  solo.forget(node);
}

describe('ReplicaNode and its durable log', () => {
  it('"fsync": false: a whole life (conversion, start, requests, checkpoints, stop) without one fsync', async () => {
    const cluster = await soloCluster({ fsync: false });
    // an old-format log to convert, too
    writeFileSync(cluster.paths.wal(0), encodeLegacyLine([{ kind: 'view', view: 0, viewChanging: false }]), { mode: 0o600 });
    const calls: string[] = [];
    const syncFlags = (fs.constants.O_SYNC ?? 0) | (fs.constants.O_DSYNC ?? 0);
    for (const name of ['fsync', 'fsyncSync', 'fdatasync', 'fdatasyncSync'] as const) {
      const orig = fs[name] as (...a: unknown[]) => unknown;
      vi.spyOn(fs, name).mockImplementation(((...a: unknown[]) => {
        calls.push(name);
        return orig(...a);
      }) as never);
    }
    for (const name of ['open', 'openSync'] as const) {
      const orig = fs[name] as (...a: unknown[]) => unknown;
      vi.spyOn(fs, name).mockImplementation(((...a: unknown[]) => {
        if (typeof a[1] === 'number' && (a[1] & syncFlags) !== 0) calls.push(`${name}(${String(a[0])}) with a sync flag`);
        return orig(...a);
      }) as never);
    }
    syncBuiltinESMExports();
    const node = await startNode(cluster);
    const c = await solo.connect(cluster);
    for (let i = 0; i < 10; i++) expect(JSON.parse((await c.request(kv.put(`k${i}`, `v${i}`))).result)).toEqual({ ok: true, value: null });
    const st = node.status();
    expect(st.stableCheckpoint).toBeGreaterThanOrEqual(8);
    expect(st.wal.compactions).toBeGreaterThanOrEqual(1); // a segment started at the full checkpoint (8: every logWindow seqs)
    expect(st.batching).toMatchObject({ prePrepares: 10, requests: 10, max: 1 });
    expect(st.cpu!.userMs + st.cpu!.systemMs).toBeGreaterThan(0);
    await stopNode(node);
    expect(calls).toEqual([]);
  });

  it('restarts from its segments with the state it had, and old segments are gone', async () => {
    const cluster = await soloCluster({ fsync: true });
    let node = await startNode(cluster);
    let c = await solo.connect(cluster);
    for (let i = 0; i < 13; i++) await c.request(kv.put(`k${i % 5}`, `v${i}`));
    const before = node.status();
    await stopNode(node);
    c.close();
    const files = readdirSync(cluster.paths.walDir(0));
    expect(files.length).toBeLessThanOrEqual(3);
    expect(files.every((f) => /^\d{16}\.log$/.test(f))).toBe(true);
    node = await startNode(cluster);
    const after = node.status();
    expect({ lastExecuted: after.lastExecuted, stateDigest: after.stateDigest, stableCheckpoint: after.stableCheckpoint }).toEqual({
      lastExecuted: before.lastExecuted,
      stateDigest: before.stateDigest,
      stableCheckpoint: before.stableCheckpoint,
    });
    c = await solo.connect(cluster);
    expect(JSON.parse((await c.request(kv.get('k2'))).result)).toEqual({ ok: true, value: 'v12' });
  });

  it('a damaged log: the recovery is recorded beside it first, so a crash before the new log holds it recovers again', async () => {
    // Found in review: the only durable trace of the recovery was the core's 'recovery' record
    // in the new log's first frame; a crash after the move and before that frame was durable
    // left an empty log, and the next start was a fresh replica that votes at once.
    const cluster = await soloCluster({ fsync: true });
    const node = await startNode(cluster);
    const c = await solo.connect(cluster);
    for (let i = 0; i < 6; i++) await c.request(kv.put(`k${i}`, `v${i}`));
    c.close();
    solo.clients.length = 0;
    await stopNode(node);
    // damage a frame that is not the last one
    const walDir = cluster.paths.walDir(0);
    const damaged = readdirSync(walDir)
      .sort()
      .some((n) => {
        const f = `${walDir}/${n}`;
        const b = fs.readFileSync(f);
        const nl = b.indexOf(0x0a);
        if (nl <= 0 || nl >= b.length - 1) return false;
        b[nl - 3] = b[nl - 3] === 0x31 ? 0x32 : 0x31;
        writeFileSync(f, b);
        return true;
      });
    expect(damaged).toBe(true);
    // the start moves it aside and recovers; its first commit never completes (the crash)
    const { DurableLog } = await import('../../src/runtime/storage.js');
    vi.spyOn(DurableLog.prototype, 'commit').mockImplementation(() => undefined);
    const r1 = await startNode(cluster);
    const first = r1.core.status().recovery;
    expect(first).toBeDefined();
    expect(fs.existsSync(`${walDir}.recovering`)).toBe(true);
    await stopNode(r1);
    vi.restoreAllMocks();
    // the next start recovers again, and once its log holds the recovery the marker goes
    const r2 = await startNode(cluster);
    expect(r2.core.status().recovery).toEqual(first);
    await vi.waitFor(() => expect(fs.existsSync(`${walDir}.recovering`)).toBe(false));
    await stopNode(r2);
  });
});
