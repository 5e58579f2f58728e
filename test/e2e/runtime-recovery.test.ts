/**
 * Storage faults on real replica processes: a flipped bit in an older record of a replica's
 * durable log is found by its checksum at restart. The replica does not trust the log: it moves
 * it aside, starts empty in recovery mode (no votes until safe, state by transfer) and recovers
 * while the cluster keeps serving requests.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCluster, kv, waitFor, type TestCluster } from '../helpers/cluster.js';

describe('a replica whose durable log is damaged recovers (n = 4)', () => {
  let tc: TestCluster;
  let seq = 0;
  async function puts(k: number): Promise<void> {
    const c = await tc.client();
    for (let i = 0; i < k; i++) {
      const r = await c.request(kv.put(`k${seq % 5}`, `v${seq++}`), { timeoutMs: 20_000 });
      expect(JSON.parse(r.result).ok).toBe(true);
    }
  }

  beforeAll(async () => {
    tc = await createTestCluster({ replicas: 4, protocol: { checkpointInterval: 4, logWindow: 8 } });
    await tc.startAll();
  }, 90_000);
  afterAll(async () => {
    await tc?.cleanup();
  });

  it('a flipped bit before the last record: moved aside, restarted empty, recovered by state transfer and a view change', async () => {
    await puts(10);
    const before = await tc.waitConverged();
    const victim = [0, 1, 2, 3].find((i) => i !== before[0]!.primary)!;
    await tc.kill(victim, 'SIGKILL');

    // flip one bit inside the first record of the first segment that has two or more
    const walDir = tc.cluster.paths.walDir(victim);
    const segments = readdirSync(walDir)
      .filter((f) => f.endsWith('.log'))
      .sort();
    const target = segments.map((f) => path.join(walDir, f)).find((f) => readFileSync(f).toString('latin1').split('\n').filter(Boolean).length >= 2);
    expect(target).toBeDefined();
    const bytes = readFileSync(target!);
    const at = bytes.indexOf(0x0a) - 5; // inside the first frame's JSON
    bytes[at] = bytes[at]! ^ 0x04;
    writeFileSync(target!, bytes);

    await tc.start(victim);
    const st = await tc.status(victim);
    expect(st.recovery).toBeDefined();
    const aside = readdirSync(path.dirname(walDir)).filter((f) => f.startsWith(`${path.basename(walDir)}.damaged-`));
    expect(aside).toHaveLength(1);

    // the others go on; its recovery request is ordered, they change view for it, it votes again
    await puts(24);
    await waitFor(async () => ((await tc.status(victim)).recovery === undefined ? true : undefined), {
      timeoutMs: 60_000,
      what: `replica ${victim} to recover`,
    });
    const all = await tc.waitConverged({ ids: [0, 1, 2, 3] });
    expect(all.every((s) => s.stateDigest === all[0]!.stateDigest)).toBe(true);
    const phases = readFileSync(tc.cluster.paths.phases(victim), 'utf8');
    expect(phases).toMatch(/"phase":"recovery"/);
  }, 120_000);
});
