/**
 * `pbft fault list`: the faults in force on each replica, from its process state (crashed,
 * paused) and, when it answers, the faults it reports itself (network faults, strategy).
 */
import { fetchStatus, type FaultState } from '../runtime/admin.js';
import type { LoadedCluster } from '../runtime/config.js';
import { describeError } from '../errors.js';
import { replicaRunState, type ProcessState } from './fault-state.js';

export interface ReplicaFaults {
  id: number;
  state: ProcessState;
  pid: number | null;
  /** it answered the status query */
  reachable: boolean;
  view: number | null;
  primary: number | null;
  /** fault commands accepted (null when it did not answer) */
  faultInjection: boolean | null;
  byzantine: string | null;
  byzantineCounters: Record<string, number>;
  net: FaultState['net'] | null;
  /** every fault in force, human-readable: process state first, then network and strategy */
  active: string[];
  error?: string;
}

export async function listFaults(cluster: LoadedCluster, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ReplicaFaults[]> {
  return Promise.all(
    cluster.config.replicas.map(async (r): Promise<ReplicaFaults> => {
      const p = await replicaRunState(cluster, r.id);
      const row: ReplicaFaults = {
        id: r.id,
        state: p.state,
        pid: p.pid,
        reachable: false,
        view: null,
        primary: null,
        faultInjection: null,
        byzantine: null,
        byzantineCounters: {},
        net: null,
        active: [],
      };
      if (p.state === 'paused') row.active.push('paused');
      if (p.state === 'crashed') row.active.push('crashed');
      if (p.state !== 'running') return row;
      try {
        const s = await fetchStatus(cluster, r.id, { timeoutMs: o.timeoutMs ?? 2000, ...(o.signal ? { signal: o.signal } : {}) });
        return {
          ...row,
          reachable: true,
          view: s.view,
          primary: s.primary,
          faultInjection: s.faults.enabled,
          byzantine: s.faults.byzantine,
          byzantineCounters: s.faults.byzantineCounters,
          net: s.faults.net,
          active: [...row.active, ...s.faults.active],
        };
      } catch (e) {
        return { ...row, error: describeError(e) };
      }
    }),
  );
}
