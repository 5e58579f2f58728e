/**
 * One replica in this process (n = 1, on a free 127.0.0.1 port, checkpoints every 4 requests),
 * for tests of the node's storage and ledger. Call cleanup() in afterEach: it closes the clients,
 * stops the nodes and removes the cluster directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PbftClient } from '../../src/runtime/client.js';
import { loadCluster, type LoadedCluster } from '../../src/runtime/config.js';
import { initCluster } from '../../src/runtime/init.js';
import { ReplicaNode } from '../../src/runtime/replica-node.js';
import { freePorts } from './cluster.js';

export class SoloNode {
  dir: string | undefined;
  readonly nodes: ReplicaNode[] = [];
  readonly clients: PbftClient[] = [];
  constructor(private readonly prefix: string) {}

  /** a fresh one-replica cluster whose replica.json is `replicaJson` */
  async cluster(replicaJson: Record<string, unknown>): Promise<LoadedCluster> {
    this.dir = mkdtempSync(path.join(os.tmpdir(), this.prefix));
    const [port] = await freePorts(1);
    await initCluster({ dir: this.dir, replicas: 1, ports: [port!], protocol: { checkpointInterval: 4, logWindow: 8, maxInFlight: 4 } });
    const cluster = await loadCluster(this.dir);
    writeFileSync(cluster.paths.replicaJson(0), JSON.stringify(replicaJson));
    return cluster;
  }

  /** start replica 0 and wait until it is ready */
  async start(cluster: LoadedCluster, opts: { onFatal?: () => void } = {}): Promise<ReplicaNode> {
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const node = await ReplicaNode.start({ cluster, id: 0, log: () => undefined, onReady: () => ready(), ...opts });
    this.nodes.push(node);
    await isReady;
    return node;
  }

  /** a client of the cluster, closed by cleanup() */
  async connect(cluster: LoadedCluster): Promise<PbftClient> {
    const c = await PbftClient.connect(cluster);
    this.clients.push(c);
    return c;
  }

  /** forget a node the test stopped or crashed itself */
  forget(node: ReplicaNode): void {
    const i = this.nodes.indexOf(node);
    if (i >= 0) this.nodes.splice(i, 1);
  }

  async cleanup(): Promise<void> {
    for (const c of this.clients.splice(0)) c.close();
    for (const n of this.nodes.splice(0)) await n.stop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
