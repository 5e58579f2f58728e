/**
 * upCluster / upFailure / downCluster / clusterStatus on a real cluster directory (initCluster),
 * with a fake replica program, so the quorum logic, key checks and failure messages are
 * exercised without the protocol.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downCluster, upCluster, upFailure } from '../../src/cluster/lifecycle.js';
import { clusterStatus, summarizeStatus } from '../../src/cluster/status.js';
import { freePorts } from '../../src/cluster/demo.js';
import { initCluster } from '../../src/runtime/init.js';
import type { LoadedCluster } from '../../src/runtime/config.js';

const FAKE = `
const args = process.argv.slice(2);
const id = args[args.indexOf('--id') + 1];
if (process.env['FAKE_DIE_' + id]) { console.error('error: replica ' + id + ': port 9 on 127.0.0.1 is already in use; stop the other process'); process.exit(1); }
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => console.log(JSON.stringify({ event: 'ready', replica: Number(id) })), 20);
setInterval(() => {}, 1000);
`;

let root: string;
let entry: string;
let cluster: LoadedCluster;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'pbft-lifecycle-'));
  entry = join(root, 'fake.cjs');
  await writeFile(entry, FAKE);
  const res = await initCluster({ dir: join(root, 'c'), replicas: 4, ports: await freePorts(4) });
  cluster = res.cluster;
});

afterEach(async () => {
  await downCluster(cluster.dir, 4, { graceMs: 200 }).catch(() => undefined);
  delete process.env.FAKE_DIE_2;
  await rm(root, { recursive: true, force: true });
});

describe('upCluster', () => {
  it('starts everything, reports a quorum running, then down stops it', async () => {
    const r = await upCluster(cluster, { entry });
    expect(r.outcomes.map((o) => o.status)).toEqual(['ready', 'ready', 'ready', 'ready']);
    expect(r).toMatchObject({ running: [0, 1, 2, 3], quorum: 3, quorumRunning: true });
    expect(upFailure(cluster, r)).toBeNull();
    const stopped = await downCluster(cluster.dir, 4);
    expect(stopped.map((s) => s.status)).toEqual(['stopped', 'stopped', 'stopped', 'stopped']);
  });

  it('starting fewer than a quorum is not a failure', async () => {
    const r = await upCluster(cluster, { entry, ids: [0, 1] });
    expect(r.quorumRunning).toBe(false);
    expect(upFailure(cluster, r)).toBeNull();
    // adding a third makes a quorum
    const r2 = await upCluster(cluster, { entry, ids: [2] });
    expect(r2.quorumRunning).toBe(true);
    expect(r2.running).toEqual([0, 1, 2]);
  });

  it('turns an early exit into a one-line error naming the cause', async () => {
    process.env.FAKE_DIE_2 = '1';
    const r = await upCluster(cluster, { entry });
    const e = upFailure(cluster, r);
    expect(e?.code).toBe('PORT_IN_USE');
    expect(e?.message).toMatch(/^replica 2 exited with code 1 during start-up: replica 2: port 9 on 127\.0\.0\.1 is already in use/);
    expect(e?.hint).toContain('process.log');
  });

  it('checks replica keys before spawning anything', async () => {
    await writeFile(cluster.paths.replicaKey(1), 'zz\n', { mode: 0o600 });
    await expect(upCluster(cluster, { entry })).rejects.toMatchObject({ code: 'KEY_MALFORMED' });
    const rows = await clusterStatus(cluster, { timeoutMs: 500 });
    expect(rows.every((x) => !x.up)).toBe(true);
  });

  it('an aborted start is reported as interrupted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(upCluster(cluster, { entry, signal: ac.signal })).rejects.toMatchObject({ code: 'INTERRUPTED' });
  });
});

describe('clusterStatus', () => {
  it('shows a down cluster as down, without waiting for timeouts', async () => {
    const t0 = performance.now();
    const rows = await clusterStatus(cluster, { timeoutMs: 5000 });
    expect(performance.now() - t0).toBeLessThan(4000);
    expect(rows.map((r) => [r.id, r.up, r.pid, r.view])).toEqual([
      [0, false, null, null],
      [1, false, null, null],
      [2, false, null, null],
      [3, false, null, null],
    ]);
    const s = summarizeStatus(cluster, rows);
    expect(s).toMatchObject({ n: 4, up: 0, reachable: 0, quorum: 3, converged: false });
  });
});
