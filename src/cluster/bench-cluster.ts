/**
 * The bench's client factory for a real cluster: one PbftClient per bench client, each with
 * an ephemeral self-certifying identity (pk:<hex>), or the configured clients when the
 * cluster does not accept open clients. With `connections: 'shared'` the clients share one
 * connection per replica (SharedClientConnections, closed with the last client); with 'own'
 * each opens its own.
 */
import { readFile } from 'node:fs/promises';
import type { AuthCounts, BatchHoldCounts } from '../core/types.js';
import { fetchStatus } from '../runtime/admin.js';
import type { LoadedCluster } from '../runtime/config.js';
import { PbftClient, SharedClientConnections, ephemeralClientIdentity } from '../runtime/client.js';
import { abortError, isPbftError } from '../errors.js';
import type { BenchClient } from './bench.js';
import { CliError } from './errors.js';
import { cmd } from './hints.js';
import { replicaProcessState } from './processes.js';

export async function benchClientFactory(
  cluster: LoadedCluster,
  o: {
    signal?: AbortSignal;
    connectTimeoutMs?: number;
    connections?: BenchConnections;
    /** the shared connections the clients use (each new one once), for their frame counters */
    onShared?: (s: SharedClientConnections) => void;
  } = {},
): Promise<(i: number) => Promise<BenchClient>> {
  const configured = cluster.config.clients;
  let shared: SharedClientConnections | null = null;
  return async (i: number) => {
    let opts: { clientId: string; secretKey?: string };
    if (cluster.config.openClients) opts = ephemeralClientIdentity(cluster);
    else if (i < configured.length) opts = { clientId: configured[i]!.id };
    else {
      throw new CliError(
        'BAD_ARGUMENT',
        `this cluster does not accept ephemeral clients (openClients is false) and lists only ${configured.length} client${configured.length === 1 ? '' : 's'}`,
        `set "openClients": true in cluster.json, or use --clients ${Math.max(1, configured.length)}`,
      );
    }
    if (o.signal?.aborted) throw abortError(o.signal);
    // Not given the caller's signal: a client keeps an 'abort' listener on it for its lifetime,
    // one per bench client (MaxListenersExceededWarning past 10). runBench closes every client
    // when interrupted; waitConnected below only polls the signal.
    if (o.connections === 'shared' && (shared === null || shared.closed)) shared = new SharedClientConnections(cluster, { closeWhenEmpty: true });
    let c: PbftClient;
    try {
      c = await PbftClient.connect(cluster, { ...opts, ...(o.connections === 'shared' ? { shared: shared! } : {}) });
    } catch (e) {
      if (shared?.size === 0) shared.close(); // no member would ever close it
      throw e;
    }
    if (shared) o.onShared?.(shared);
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
        if (states.every((s) => !s.running))
          throw new CliError('CLUSTER_DOWN', `the cluster in ${cluster.dir} is down (no replica is running)`, `start it with: ${cmd('up', cluster.dir)}`);
      }
      throw e;
    }
    return { request: (op, ro) => c.request(op, ro), close: () => c.close() };
  };
}

/** How bench clients reach the replicas: one connection per replica shared by all, or their own. */
export type BenchConnections = 'shared' | 'own';

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

/** What a replica has done so far, as its status reports it (and /proc for the CPU time). */
export interface ReplicaCounters {
  id: number;
  pid: number;
  view: number;
  primary: number;
  /** CPU seconds (user + system) since the process started, or null if unknown */
  cpuSeconds: number | null;
  /** pre-prepares sent as primary and the requests they carried, or null (older replicas) */
  prePrepares: number | null;
  batchedRequests: number | null;
  /** how it authenticated requests and replies (status().auth), or null (older replicas) */
  auth: AuthCounts | null;
  /** its batch holds as primary (status().batchHolds), or null (older replicas) */
  batchHolds: BatchHoldCounts | null;
}

/** CPU seconds of a process from /proc/<pid>/stat (utime + stime), or null off Linux. */
export async function procCpuSeconds(pid: number): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: count from its end
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
    return (utime + stime) / 100; // USER_HZ, 100 on Linux
  } catch {
    return null;
  }
}

/** Counters of every running replica that answers (over its admin channel). */
export async function replicaCounters(cluster: LoadedCluster, o: { timeoutMs?: number } = {}): Promise<ReplicaCounters[]> {
  const all = await Promise.all(
    cluster.config.replicas.map(async (r): Promise<ReplicaCounters | null> => {
      try {
        const st = await fetchStatus(cluster, r.id, { timeoutMs: o.timeoutMs ?? 2000 });
        const cpu = st.cpu ? (st.cpu.userMs + st.cpu.systemMs) / 1000 : await procCpuSeconds(st.pid);
        return {
          id: r.id,
          pid: st.pid,
          view: st.view,
          primary: st.primary,
          cpuSeconds: cpu,
          prePrepares: st.batching?.prePrepares ?? null,
          batchedRequests: st.batching?.requests ?? null,
          auth: (st as { auth?: AuthCounts }).auth ?? null,
          batchHolds: (st as { batchHolds?: BatchHoldCounts }).batchHolds ?? null,
        };
      } catch {
        return null;
      }
    }),
  );
  return all.filter((x): x is ReplicaCounters => x !== null);
}

/** What the replicas did during a run: the difference of two counter snapshots. */
export interface ReplicaWork {
  /** mean requests per pre-prepare over all primaries of the run (null: unknown or none sent) */
  meanBatch: number | null;
  prePrepares: number | null;
  /** the primary at the end of the run */
  primary: number | null;
  /** CPU seconds each replica used during the run (replicas that restarted in between are left out) */
  cpuSeconds: { id: number; seconds: number }[];
  /**
   * Authentication during the run, summed over the replicas: requests by MAC (the fast path) and
   * by signature (the slow path), and replies by MAC and signed (null: unknown)
   */
  auth: AuthCounts | null;
  /** batch holds during the run, summed over the replicas (whichever was primary; null: unknown) */
  batchHolds: BatchHoldCounts | null;
}

export function replicaWork(before: ReplicaCounters[], after: ReplicaCounters[]): ReplicaWork {
  let pp = 0;
  let reqs = 0;
  let known = false;
  const cpu: { id: number; seconds: number }[] = [];
  let auth: AuthCounts | null = null;
  let holds: BatchHoldCounts | null = null;
  for (const a of after) {
    const b = before.find((x) => x.id === a.id && x.pid === a.pid);
    if (!b) continue; // restarted (or not answering) before the run: counters not comparable
    if (a.batchHolds && b.batchHolds) {
      holds ??= { started: 0, allBack: 0, ranOut: 0, waitedOn: 0 };
      for (const k of ['started', 'allBack', 'ranOut', 'waitedOn'] as const) holds[k] += Math.max(0, (a.batchHolds[k] ?? 0) - (b.batchHolds[k] ?? 0));
    }
    if (a.auth && b.auth) {
      auth ??= Object.fromEntries(Object.keys(a.auth).map((k) => [k, 0])) as unknown as AuthCounts;
      for (const k of Object.keys(a.auth) as (keyof AuthCounts)[]) auth[k] += Math.max(0, (a.auth[k] ?? 0) - (b.auth[k] ?? 0));
    }
    if (a.cpuSeconds !== null && b.cpuSeconds !== null) cpu.push({ id: a.id, seconds: Math.max(0, a.cpuSeconds - b.cpuSeconds) });
    if (a.prePrepares !== null && b.prePrepares !== null && a.batchedRequests !== null && b.batchedRequests !== null) {
      known = true;
      pp += a.prePrepares - b.prePrepares;
      reqs += a.batchedRequests - b.batchedRequests;
    }
  }
  const primaries = after.map((a) => a.primary);
  const primary = primaries.length > 0 && primaries.every((p) => p === primaries[0]) ? primaries[0]! : null;
  return {
    meanBatch: known && pp > 0 ? reqs / pp : null,
    prePrepares: known ? pp : null,
    primary,
    cpuSeconds: cpu.sort((x, y) => x.id - y.id),
    auth,
    batchHolds: holds,
  };
}

/** Holds that ran out, of those that ended, above which the bench suggests a longer window. */
const HOLDS_RAN_OUT_HINT = 0.2;

/**
 * The bench's lines about the replicas' work, e.g. "mean batch 3.9 requests at the primary (r0)
 * ...". `hold`: the cluster's window (protocol.batchHoldMs) and the longest it may be (a quarter
 * of viewChangeTimeoutMs), for the line about holds and the hint when many ran out.
 */
export function formatReplicaWork(w: ReplicaWork, elapsedMs: number, hold?: { ms: number; maxMs: number }): string[] {
  const lines: string[] = [];
  if (w.meanBatch !== null)
    lines.push(
      `batching     mean ${w.meanBatch.toFixed(2)} requests per pre-prepare at the primary${w.primary !== null ? ` (r${w.primary})` : ''}, ${w.prePrepares} pre-prepares`,
    );
  const h = w.batchHolds;
  if (h && h.started > 0) {
    const ended = h.allBack + h.ranOut;
    lines.push(
      `batch hold   ${h.started} wait${h.started === 1 ? '' : 's'} for the clients just answered: ${h.allBack} ended with all of them back, ${h.ranOut} ran out${hold ? ` (protocol.batchHoldMs ${hold.ms})` : ''}${h.waitedOn ? `; ${h.waitedOn} window${h.waitedOn === 1 ? '' : 's'} ended with none back yet and waited on` : ''}`,
    );
    if (ended >= 10 && h.ranOut / ended > HOLDS_RAN_OUT_HINT) {
      const why = `             ${Math.round((100 * h.ranOut) / ended)}% ran out: the clients came back further apart than the window, so they were split into smaller batches;`;
      const suggest = hold ? Math.min(hold.maxMs, Math.max(100, 4 * hold.ms)) : null;
      lines.push(
        suggest === null || suggest > hold!.ms
          ? `${why} a larger protocol.batchHoldMs in cluster.json (${suggest === null ? 'at most a quarter of viewChangeTimeoutMs' : `e.g. ${suggest}`}) keeps them in one (README, Performance)`
          : `${why} the window is at its longest (a quarter of protocol.viewChangeTimeoutMs, ${hold!.maxMs} ms); a longer one needs a larger viewChangeTimeoutMs (README, Performance)`,
      );
    }
  }
  if (w.auth) {
    const a = w.auth;
    lines.push(
      `auth         requests ${a.requestsByMac} by MAC, ${a.requestsBySignature} by signature, ${a.requestsUnauthenticated} not authenticated; replies ${a.repliesByMac} by MAC, ${a.repliesBySignature} signed (all replicas)`,
    );
  }
  if (w.cpuSeconds.length > 0) {
    const s = elapsedMs / 1000;
    lines.push(
      `replica CPU  ${w.cpuSeconds.map((c) => `r${c.id} ${c.seconds.toFixed(2)} s`).join(', ')}  (user + system during the run; ${s.toFixed(1)} s of wall time)`,
    );
  }
  return lines;
}
