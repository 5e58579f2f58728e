/**
 * `pbft status` as a library call: every replica's pid file and liveness, plus what it
 * reports on its admin channel (view, primary, lastExecuted, checkpoint, digest, peers, drops).
 */
import { fetchStatus, type RuntimeStatus } from '../runtime/admin.js';
import type { LoadedCluster } from '../runtime/config.js';
import { describeError } from '../errors.js';
import { quorums } from '../core/quorum.js';
import { replicaProcessState } from './processes.js';

export interface ReplicaRow {
  id: number;
  host: string;
  port: number;
  /** a replica process is running (pid file + live process) or it answered */
  up: boolean;
  pid: number | null;
  /** it answered the status query */
  reachable: boolean;
  error?: string;
  view: number | null;
  primary: number | null;
  viewChanging: boolean | null;
  lastExecuted: number | null;
  stableCheckpoint: number | null;
  stateDigest: string | null;
  connectedPeers: number[] | null;
  /** dropped messages by reason: core (ignored + rejected), transport and runtime */
  dropped: Record<string, number>;
  /** faults in force, human-readable (issue 4) */
  faults: string[];
  /** the full status as reported, when reachable */
  status?: RuntimeStatus;
}

function addCounts(into: Record<string, number>, from: Record<string, number | undefined> | undefined, prefix = ''): void {
  for (const [k, v] of Object.entries(from ?? {})) if (typeof v === 'number' && v > 0) into[prefix + k] = (into[prefix + k] ?? 0) + v;
}

export function droppedByReason(s: RuntimeStatus): Record<string, number> {
  const out: Record<string, number> = {};
  addCounts(out, s.dropped?.ignore);
  addCounts(out, s.dropped?.reject);
  addCounts(out, s.transportDropped);
  addCounts(out, s.runtimeDropped);
  return out;
}

export async function clusterStatus(cluster: LoadedCluster, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ReplicaRow[]> {
  return Promise.all(
    cluster.config.replicas.map(async (r): Promise<ReplicaRow> => {
      const proc = await replicaProcessState(cluster.dir, r.id);
      const base: ReplicaRow = {
        id: r.id,
        host: r.host,
        port: r.port,
        up: proc.running,
        pid: proc.pid,
        reachable: false,
        view: null,
        primary: null,
        viewChanging: null,
        lastExecuted: null,
        stableCheckpoint: null,
        stateDigest: null,
        connectedPeers: null,
        dropped: {},
        faults: [],
      };
      let s: RuntimeStatus;
      try {
        s = await fetchStatus(cluster, r.id, { timeoutMs: o.timeoutMs ?? 2000, ...(o.signal ? { signal: o.signal } : {}) });
      } catch (e) {
        // a replica without a process is simply down; one with a process that does not answer is worth a note
        return proc.running ? { ...base, error: describeError(e) } : base;
      }
      return {
        ...base,
        up: true,
        pid: s.pid ?? proc.pid,
        reachable: true,
        view: s.view,
        primary: s.primary,
        viewChanging: s.viewChanging,
        lastExecuted: s.lastExecuted,
        stableCheckpoint: s.stableCheckpoint,
        stateDigest: s.stateDigest,
        connectedPeers: s.connectedPeers ?? [],
        dropped: droppedByReason(s),
        faults: s.faults?.active ?? [],
        status: s,
      };
    }),
  );
}

export interface StatusSummary {
  n: number;
  up: number;
  reachable: number;
  quorum: number;
  /** the highest view any reachable replica is in */
  view: number | null;
  /** the replicas that agree on the most common (lastExecuted, stateDigest) */
  agreeing: number[];
  /** every reachable replica has the same lastExecuted and stateDigest */
  converged: boolean;
}

export function summarizeStatus(cluster: LoadedCluster, rows: ReplicaRow[]): StatusSummary {
  const reach = rows.filter((r) => r.reachable);
  const groups = new Map<string, number[]>();
  for (const r of reach) {
    const k = `${r.lastExecuted}/${r.stateDigest}`;
    groups.set(k, [...(groups.get(k) ?? []), r.id]);
  }
  const agreeing = [...groups.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  return {
    n: rows.length,
    up: rows.filter((r) => r.up).length,
    reachable: reach.length,
    quorum: quorums(cluster.config.replicas.length, cluster.params.f).quorum,
    view: reach.length ? Math.max(...reach.map((r) => r.view ?? 0)) : null,
    agreeing,
    converged: reach.length > 0 && groups.size === 1,
  };
}

/** "stale:3 duplicate:2" (most frequent first, at most `max` reasons) */
export function formatDropped(d: Record<string, number>, max = 3): string {
  const e = Object.entries(d).sort((a, b) => b[1] - a[1]);
  if (e.length === 0) return '0';
  const shown = e.slice(0, max).map(([k, v]) => `${k}:${v}`);
  if (e.length > max) shown.push(`+${e.slice(max).reduce((s, [, v]) => s + v, 0)}`);
  return shown.join(' ');
}
