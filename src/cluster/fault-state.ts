/**
 * What the process of a replica is doing, as pbft fault, status and ps report it: running,
 * paused (SIGSTOP), crashed (killed by pbft fault), stopped (a clean stop) or down. The pid file
 * and /proc tell a live process (src/cluster/processes.ts); for a dead one, the last record of
 * its phase log tells a crash from a stop. Also: whether signal faults are allowed on a replica,
 * and the `fault` record written for a replica that cannot write it itself.
 */
import { appendFile } from 'node:fs/promises';
import { loadReplicaOverrides, type LoadedCluster } from '../runtime/config.js';
import type { FaultAction } from './fault-request.js';
import { encodePhaseRecord, parsePhaseLine, type PhaseRecord } from '../phaselog/index.js';
import { isPaused, readCmdline, replicaProcessState, tailLines } from './processes.js';
import type { ProcessState } from './status-types.js';

export type { ProcessState } from './status-types.js';

export interface ReplicaProcessInfo {
  id: number;
  state: ProcessState;
  pid: number | null;
}

/** The last record of a replica's phase log, if any. */
export async function lastPhaseRecord(cluster: LoadedCluster, id: number): Promise<PhaseRecord | null> {
  const lines = await tailLines(cluster.paths.phases(id), 8);
  for (let i = lines.length - 1; i >= 0; i--) {
    const r = parsePhaseLine(lines[i]!);
    if (r) return r;
  }
  return null;
}

/** What the process of replica `id` is doing, from its pid file, /proc and its phase log. */
export async function replicaRunState(cluster: LoadedCluster, id: number): Promise<ReplicaProcessInfo> {
  const p = await replicaProcessState(cluster.dir, id);
  if (p.running && p.pid !== null) return { id, state: (await isPaused(p.pid)) ? 'paused' : 'running', pid: p.pid };
  const last = await lastPhaseRecord(cluster, id);
  if (last?.phase === 'fault' && last.action === 'crash') return { id, state: 'crashed', pid: null };
  if (last?.phase === 'stop') return { id, state: 'stopped', pid: null };
  return { id, state: 'down', pid: null };
}

/** Why signal faults are refused on this replica, or null when they are allowed. */
export async function signalFaultsRefusal(cluster: LoadedCluster, id: number, pid: number | null): Promise<string | null> {
  if (!cluster.config.faultInjection) return `fault injection is disabled on replica ${id} (faultInjection is false in cluster.json)`;
  // without procfs the command line cannot be read: the replica itself still refuses channel commands
  if (pid !== null && (await readCmdline(pid))?.includes('--no-faults')) {
    return `fault injection is disabled on replica ${id} (it was started with pbft up --no-fault-injection)`;
  }
  try {
    if ((await loadReplicaOverrides(cluster, id)).faultInjection === false)
      return `fault injection is disabled on replica ${id} (faultInjection is false in its replica.json)`;
  } catch {
    /* a broken replica.json stops the replica itself from starting; not our concern here */
  }
  return null;
}

/**
 * Append an operator-side `fault` record to the replica's phase log: a replica that is killed or
 * stopped cannot write it itself (the file is opened in append mode by both, and the replica is
 * dead or stopped at that moment).
 */
export async function logSignalFault(cluster: LoadedCluster, id: number, action: FaultAction, detail: string): Promise<void> {
  const last = await lastPhaseRecord(cluster, id);
  const rec = { ts: Date.now(), replica: id, view: last?.view ?? 0, phase: 'fault', action, source: 'operator', detail };
  try {
    await appendFile(cluster.paths.phases(id), `${encodePhaseRecord(rec)}\n`, { mode: 0o644 });
  } catch {
    /* the phase log is for people; a missing directory must not fail the fault */
  }
}
