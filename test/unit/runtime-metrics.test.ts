/**
 * A replica's Prometheus /metrics and /healthz (replica.json metricsPort), served on loopback
 * by a replica in this process (n = 1): the protocol's figures are there and move with requests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PbftClient } from '../../src/runtime/client.js';
import { loadCluster } from '../../src/runtime/config.js';
import { initCluster } from '../../src/runtime/init.js';
import { ReplicaMetrics } from '../../src/runtime/metrics.js';
import type { RuntimeStatus } from '../../src/runtime/admin.js';
import { ReplicaNode } from '../../src/runtime/replica-node.js';
import { freePorts, kv } from '../helpers/cluster.js';

let dir: string | undefined;
const nodes: ReplicaNode[] = [];
const clients: PbftClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const n of nodes.splice(0)) await n.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** the value of one sample line, e.g. pbft_last_executed{...} 3 */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('replica metrics', () => {
  it('serves /metrics (view, watermarks, batches, requests, drops, phase histograms) and /healthz on its loopback port', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-metrics-'));
    const [port, metricsPort] = await freePorts(2);
    await initCluster({ dir, replicas: 1, ports: [port!], metricsPorts: [metricsPort!], protocol: { checkpointInterval: 4, logWindow: 8, maxInFlight: 4 } });
    const cluster = await loadCluster(dir);
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    nodes.push(await ReplicaNode.start({ cluster, id: 0, log: () => undefined, onReady: () => ready() }));
    await isReady;
    expect(nodes[0]!.status().metricsPort).toBe(metricsPort);

    const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, replica: 0, view: 0 });

    const c = await PbftClient.connect(cluster);
    clients.push(c);
    for (let i = 0; i < 6; i++) await c.request(kv.put(`k${i}`, `v${i}`));
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(sample(text, 'pbft_last_executed')).toBe(6);
    expect(sample(text, 'pbft_view')).toBe(0);
    expect(sample(text, 'pbft_stable_checkpoint')).toBe(4);
    expect(sample(text, 'pbft_requests_executed_total')).toBe(6);
    expect(sample(text, 'pbft_batches_executed_total')).toBeGreaterThan(0);
    expect(sample(text, 'pbft_is_primary')).toBe(1);
    expect(sample(text, 'pbft_phase_seconds_count', 'step="pre-prepare->executed"')).toBe(sample(text, 'pbft_batches_executed_total'));
    expect(text).toMatch(/# TYPE pbft_messages_dropped_total counter/);
    expect(text).toMatch(/# TYPE pbft_batch_holds_total counter/); // one client waiting for each answer: no holds yet
    expect(text).toMatch(/^pbft_authentications_total\{[^}]*kind="requestsBy(Mac|Signature)"[^}]*\} [1-9]/m);
    expect(text).toMatch(/cluster="/);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/nope`)).status).toBe(404);
  });

  it('a metrics port in use does not stop the replica: it runs without metrics and says so', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-metrics-'));
    const [port] = await freePorts(1);
    await initCluster({ dir, replicas: 1, ports: [port!], metricsPorts: [port!] });
    const cluster = await loadCluster(dir);
    const said: string[] = [];
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    nodes.push(await ReplicaNode.start({ cluster, id: 0, log: (l) => said.push(l), onReady: () => ready() }));
    await isReady;
    expect(nodes[0]!.status().metricsPort).toBeUndefined();
    expect(said.join('\n')).toMatch(/metrics: cannot listen on 127\.0\.0\.1:\d+/);
  });
});

describe('a scrape', () => {
  it("reads the replica's status once, and every metric of the scrape comes from that one snapshot", async () => {
    let calls = 0;
    const source = {
      status: () => {
        calls++;
        // each call sees a later replica: a collector that read its own would show another number
        return {
          id: 0,
          view: calls,
          viewChanging: false,
          lastExecuted: 10 * calls,
          stableCheckpoint: 0,
          highWatermark: 64,
          pendingRequests: 0,
          primary: 0,
          connectedPeers: [1, 2, 3],
          dropped: { ignore: { stale: calls }, reject: {} },
          auth: { requestsByMac: calls },
          batchHolds: { started: calls, allBack: 0, ranOut: 0, waitedOn: 0 },
        } as unknown as RuntimeStatus;
      },
      healthy: () => ({ ok: true, why: 'test' }),
    };
    const m = new ReplicaMetrics(source, { replica: 0, cluster: 'test' });
    const text = await m.scrape();
    expect(calls).toBe(1);
    expect(sample(text, 'pbft_view')).toBe(1);
    expect(sample(text, 'pbft_last_executed')).toBe(10);
    expect(sample(text, 'pbft_messages_dropped_total', 'reason="stale"')).toBe(1);
    expect(sample(text, 'pbft_authentications_total', 'kind="requestsByMac"')).toBe(1);
    expect(sample(text, 'pbft_batch_holds_total', 'outcome="started"')).toBe(1);
    const again = await m.scrape();
    expect(calls).toBe(2);
    expect(sample(again, 'pbft_view')).toBe(2);
    expect(sample(again, 'pbft_batch_holds_total', 'outcome="started"')).toBe(2);
  });
});
