/**
 * The bench's client factory for a real cluster: one PbftClient per bench client, each with
 * an ephemeral self-certifying identity (pk:<hex>), or the configured clients when the
 * cluster does not accept open clients.
 */
import type { LoadedCluster } from '../runtime/config.js';
import { PbftClient, ephemeralClientIdentity } from '../runtime/client.js';
import { isPbftError } from '../errors.js';
import type { BenchClient } from './bench.js';
import { CliError } from './errors.js';
import { replicaProcessState } from './processes.js';

export async function benchClientFactory(
  cluster: LoadedCluster,
  o: { signal?: AbortSignal; connectTimeoutMs?: number } = {},
): Promise<(i: number) => Promise<BenchClient>> {
  const configured = cluster.config.clients;
  return async (i: number) => {
    let opts: { clientId: string; secretKey?: string };
    if (cluster.config.openClients) opts = ephemeralClientIdentity(cluster);
    else if (i < configured.length) opts = { clientId: configured[i]!.id };
    else {
      throw new CliError(
        'BAD_ARGUMENT',
        `this cluster does not accept ephemeral clients (openClients is false) and lists only ${configured.length} client${configured.length === 1 ? '' : 's'}`,
        'set "openClients": true in cluster.json, or use --clients ' + Math.max(1, configured.length),
      );
    }
    const c = await PbftClient.connect(cluster, { ...opts, ...(o.signal ? { signal: o.signal } : {}) });
    try {
      await c.waitConnected(cluster.params.n, { timeoutMs: o.connectTimeoutMs ?? 3000, ...(o.signal ? { signal: o.signal } : {}) }).catch(async (e) => {
        // all replicas are best; f+1 are enough to make progress
        await c.waitConnected(undefined, { timeoutMs: 1000, ...(o.signal ? { signal: o.signal } : {}) }).catch(() => {
          throw e;
        });
      });
    } catch (e) {
      c.close();
      if (isPbftError(e, 'NO_QUORUM')) {
        const states = await Promise.all(cluster.config.replicas.map((r) => replicaProcessState(cluster.dir, r.id)));
        if (states.every((s) => !s.running)) throw new CliError('CLUSTER_DOWN', `the cluster in ${cluster.dir} is down (no replica is running)`, `start it with: pbft up --dir ${cluster.dir}`);
      }
      throw e;
    }
    return { request: (op, ro) => c.request(op, ro), close: () => c.close() };
  };
}

export interface ReplicaMemory {
  id: number;
  pid: number;
  /** peak resident set size since the process started (VmHWM), bytes */
  peakRssBytes: number;
  /** current resident set size (VmRSS), bytes */
  rssBytes: number;
}

/** Peak and current RSS of the running replicas (Linux /proc; empty elsewhere). */
export async function replicaMemory(cluster: LoadedCluster): Promise<ReplicaMemory[]> {
  const { readFile } = await import('node:fs/promises');
  const out: ReplicaMemory[] = [];
  for (const r of cluster.config.replicas) {
    const st = await replicaProcessState(cluster.dir, r.id);
    if (!st.running || st.pid === null) continue;
    try {
      const text = await readFile(`/proc/${st.pid}/status`, 'utf8');
      const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
      out.push({ id: r.id, pid: st.pid, peakRssBytes: kb('VmHWM'), rssBytes: kb('VmRSS') });
    } catch {
      /* not Linux, or it just exited */
    }
  }
  return out;
}
