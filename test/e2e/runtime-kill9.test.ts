/**
 * kill -9 under load, repeated, on real replica processes with fsync on: every replica in turn,
 * then the whole cluster at once, twice. Writes go on throughout from concurrent clients, each to
 * a key of its own, so a later read tells exactly whether a write survived. A write the cluster
 * acknowledged (f+1 matching replies) must never be lost; a write that timed out is
 * indeterminate and may or may not have happened (Jepsen's "info"), so it is not judged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCluster } from '../../src/audit/index.js';
import { createTestCluster, kv, type TestCluster } from '../helpers/cluster.js';

const WRITERS = 3;

describe('kill -9 of every replica under load, repeated (n = 4, fsync on)', () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await createTestCluster({ replicas: 4, protocol: { checkpointInterval: 8, logWindow: 16 } });
    await tc.startAll();
  }, 90_000);
  afterAll(async () => {
    await tc?.cleanup();
  });

  it('loses no acknowledged write: rolling kills, then two whole-cluster kills', async () => {
    const acked = new Map<string, string>();
    const indeterminate = new Set<string>();
    let stop = false;
    const writer = async (w: number) => {
      const c = await tc.client();
      for (let i = 0; !stop; i++) {
        const key = `w${w}-${i}`;
        const value = `v${w}-${i}`;
        try {
          const r = await c.request(kv.put(key, value), { timeoutMs: 4_000 });
          if (JSON.parse(r.result).ok === true) acked.set(key, value);
        } catch {
          indeterminate.add(key);
        }
      }
    };
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
    const ackedAtLeast = async (k: number) => {
      const target = acked.size + k;
      while (acked.size < target) await new Promise((r) => setTimeout(r, 20));
    };

    // rolling: each replica in turn, killed mid-load and restarted at once (at most f down)
    for (const id of [0, 1, 2, 3, 0, 1, 2, 3]) {
      await ackedAtLeast(5);
      await tc.kill(id, 'SIGKILL');
      await tc.start(id);
    }
    // the whole cluster at once, twice: everything in flight dies with it
    for (let round = 0; round < 2; round++) {
      await ackedAtLeast(10);
      await Promise.all([0, 1, 2, 3].map((id) => tc.kill(id, 'SIGKILL')));
      await tc.startAll();
    }
    await ackedAtLeast(10);
    stop = true;
    await Promise.all(writers);

    expect(acked.size).toBeGreaterThanOrEqual(8 * 5 + 3 * 10);
    // every acknowledged write is there, read through the protocol
    const c = await tc.client();
    const lost: string[] = [];
    for (const [key, value] of acked) {
      const r = JSON.parse((await c.request(kv.get(key), { timeoutMs: 20_000 })).result) as { ok: boolean; value: string | null };
      if (r.value !== value) lost.push(`${key}: wrote ${value}, read ${String(r.value)}`);
    }
    expect(lost).toEqual([]);
    // and the replicas agree on the state
    await tc.waitConverged({ ids: [0, 1, 2, 3], timeoutMs: 30_000 });
    // and their audit ledgers survived the kills: complete, certified, in agreement
    const audit = await verifyCluster({ dir: tc.dir });
    expect(
      audit.checks.filter((x) => x.status !== 'pass'),
      JSON.stringify(audit.checks),
    ).toEqual([]);
    console.log(`kill -9: 8 single kills, 2 whole-cluster kills; ${acked.size} writes acknowledged, all present; ${indeterminate.size} indeterminate`);
  }, 240_000);
});
