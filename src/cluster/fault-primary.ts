/**
 * The TARGET "primary" of pbft fault: the primary that a quorum of running replicas, none of
 * them in the middle of a view change, report.
 */
import { fetchStatus, type RuntimeStatus } from '../runtime/admin.js';
import type { LoadedCluster } from '../runtime/config.js';
import { quorums } from '../core/quorum.js';
import { CliError } from './errors.js';
import { replicaRunState } from './fault-state.js';
import { cmd as hintCmd } from './hints.js';

export interface PrimaryInfo {
  primary: number;
  view: number;
  /** the replicas that report this view and primary (at least a quorum) */
  agreeing: number[];
  quorum: number;
}

/** Statuses of the replicas that answer (paused ones are skipped at once). */
async function reachableStatuses(cluster: LoadedCluster, o: { timeoutMs?: number; signal?: AbortSignal }): Promise<Map<number, RuntimeStatus>> {
  const out = new Map<number, RuntimeStatus>();
  await Promise.all(
    cluster.config.replicas.map(async (r) => {
      const p = await replicaRunState(cluster, r.id);
      if (p.state === 'paused') return;
      try {
        out.set(r.id, await fetchStatus(cluster, r.id, { timeoutMs: o.timeoutMs ?? 2000, ...(o.signal ? { signal: o.signal } : {}) }));
      } catch {
        /* down or unreachable: not counted */
      }
    }),
  );
  return out;
}

/**
 * The current primary: the one that a quorum of running replicas, none of them in the middle
 * of a view change, report. Throws NO_PRIMARY (with what was seen) when there is none.
 */
export async function resolvePrimary(cluster: LoadedCluster, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<PrimaryInfo> {
  const { quorum } = quorums(cluster.params.n, cluster.params.f);
  const st = await reachableStatuses(cluster, o);
  const groups = new Map<string, number[]>();
  for (const [id, s] of st) {
    if (s.viewChanging) continue;
    const k = `${s.view}/${s.primary}`;
    groups.set(k, [...(groups.get(k) ?? []), id]);
  }
  const best = [...groups.entries()].sort((a, b) => b[1].length - a[1].length)[0];
  if (best && best[1].length >= quorum) {
    const [view, primary] = best[0].split('/').map(Number) as [number, number];
    return { primary, view, agreeing: best[1].sort((a, b) => a - b), quorum };
  }
  const seen = [...st.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([id, s]) => `r${id}: view ${s.view}${s.viewChanging ? ' (view change)' : `, primary ${s.primary}`}`)
    .join('; ');
  throw new CliError(
    'NO_PRIMARY',
    `no primary that a quorum (${quorum}) of running replicas agree on: ${st.size === 0 ? 'no replica answered' : seen}`,
    st.size < quorum
      ? `start more replicas (${hintCmd('up', cluster.dir)}), or name a replica id instead of primary`
      : `wait for the view change to finish (${hintCmd('status', cluster.dir)}), or name a replica id instead of primary`,
  );
}
