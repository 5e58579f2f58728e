/**
 * `pbft bench` on a real 4-replica cluster: no MaxListenersExceededWarning with more than 10
 * clients, and the report shows the mean batch at the primary and each replica's CPU seconds;
 * clients on shared connections (the default) and on their own.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCluster, type TestCluster } from '../helpers/cluster.js';
import { pbft } from './cli-helpers.js';

describe('pbft bench', () => {
  let tc: TestCluster;
  beforeAll(async () => {
    tc = await createTestCluster({ replicas: 4 });
    await tc.startAll();
  }, 60_000);
  afterAll(async () => {
    await tc?.cleanup();
  });

  it('12 clients, --json: no listener warning; mean batch size and replica CPU seconds reported', async () => {
    const r = await pbft(['bench', '--dir', tc.dir, '--clients', '12', '--duration', '1', '--warmup', '0.5', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/MaxListenersExceededWarning|Warning/);
    const out = JSON.parse(r.stdout) as {
      warmupMs: number;
      warmupCompleted: number;
      completed: number;
      meanBatchSize: number | null;
      prePrepares: number | null;
      replicaCpuSeconds: { id: number; seconds: number }[];
      loadGeneratorCpuSeconds: number;
      hostCpu: { cores: number; busy: number; user: number; system: number } | null;
      connections: string;
      clientFrames: { requests: number; requestFrames: number; replies: number; replyFrames: number } | null;
      batchHolds: { started: number; allBack: number; ranOut: number } | null;
    };
    // 12 closed-loop clients: the primary held batches open for them, and every hold ended
    const holds = out.batchHolds!;
    expect(holds.started).toBeGreaterThan(0);
    expect(holds.allBack + holds.ranOut).toBeGreaterThanOrEqual(holds.started - 1);
    expect(out.connections).toBe('shared'); // the default: one connection per replica for all 12
    // ... which carry batched frames: every completed request had f+1 replies or more, in fewer frames
    const fr = out.clientFrames!;
    expect(fr.requests).toBeGreaterThanOrEqual(out.completed + out.warmupCompleted);
    expect(fr.replies).toBeGreaterThanOrEqual(2 * (out.completed + out.warmupCompleted));
    expect(fr.replyFrames).toBeLessThan(fr.replies);
    expect(fr.requestFrames).toBeLessThan(fr.requests);
    expect(out.completed).toBeGreaterThan(0);
    expect(out.warmupMs).toBe(500);
    expect(out.warmupCompleted).toBeGreaterThan(0); // load ran before the window, and is not in the figures
    expect(out.meanBatchSize).toBeGreaterThanOrEqual(1);
    expect(out.prePrepares).toBeGreaterThan(0);
    expect(out.meanBatchSize! * out.prePrepares!).toBeGreaterThanOrEqual(out.completed - 0.5); // every completed request was in a batch
    expect(out.replicaCpuSeconds.map((c) => c.id)).toEqual([0, 1, 2, 3]);
    for (const c of out.replicaCpuSeconds) expect(c.seconds).toBeGreaterThan(0);
    expect(out.loadGeneratorCpuSeconds).toBeGreaterThan(0);
    if (existsSync('/proc/stat')) {
      // the machine was busy with at least the load generator's work during the window
      const h = out.hostCpu!;
      expect(h.cores).toBeGreaterThanOrEqual(1);
      expect(h.busy).toBeGreaterThan(0);
      expect(h.busy).toBeLessThanOrEqual(1);
      expect(h.busy).toBeGreaterThanOrEqual(h.user);
    }
  });

  it('text output has the batching and replica CPU lines (clients on their own connections)', async () => {
    const r = await pbft(['bench', '--dir', tc.dir, '--clients', '11', '--duration', '1', '--warmup', '0', '--connections', 'own']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('MaxListenersExceededWarning');
    expect(r.stdout).toMatch(/^batching +mean \d+\.\d\d requests per pre-prepare at the primary \(r0\), \d+ pre-prepares$/m);
    expect(r.stdout).toMatch(
      /^batch hold +\d+ waits? for the clients just answered: \d+ ended with all of them back, \d+ ran out \(protocol\.batchHoldMs \d+\)(; \d+ windows? ended with none back yet and waited on)?$/m,
    );
    expect(r.stdout).toMatch(/^replica CPU +r0 \d+\.\d\d s, r1 \d+\.\d\d s, r2 \d+\.\d\d s, r3 \d+\.\d\d s {2}\(user \+ system during the run; /m);
    expect(r.stdout).toMatch(/^load gen CPU \d+\.\d\d s {2}\(this process: 11 clients on their own connections, /m);
    expect(r.stdout).not.toMatch(/^frames /m);
    if (existsSync('/proc/stat')) expect(r.stdout).toMatch(/^machine CPU {2}\d+% busy over the window, \d+ cores? \(user \d+%, system \d+%, iowait \d+%/m);
  });
});
