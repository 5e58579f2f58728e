/**
 * `pbft up` and `pbft down` as library calls on a loaded cluster.
 */
import { quorums } from '../core/quorum.js';
import { readReplicaSecret, type LoadedCluster } from '../runtime/config.js';
import { CliError } from './errors.js';
import { replicaFiles, replicaProcessState, startReplicas, stopReplicas, type StartOutcome, type StopOutcome } from './processes.js';

export interface UpOptions {
  /** replicas to start (default: all) */
  ids?: number[];
  readyTimeoutMs?: number;
  /** false starts replicas with --no-faults (they refuse every fault command) */
  faultInjection?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { ready: number; total: number; pending: number[] }) => void;
  /** replica program (tests) */
  entry?: string;
  /** warnings (e.g. a key file readable by others) */
  warn?: (message: string) => void;
}

export interface UpResult {
  outcomes: StartOutcome[];
  /** replicas running after the call */
  running: number[];
  /** replicas needed for a quorum */
  quorum: number;
  /** false when fewer than a quorum run, so no replica can become ready yet */
  quorumRunning: boolean;
}

/** How long to watch for an early death when replicas cannot become ready (no quorum yet). */
const NO_QUORUM_WATCH_MS = 1500;

export async function upCluster(cluster: LoadedCluster, o: UpOptions = {}): Promise<UpResult> {
  const n = cluster.config.replicas.length;
  const { quorum } = quorums(n, cluster.params.f);
  const ids = o.ids ?? cluster.config.replicas.map((r) => r.id);
  const states = await Promise.all(cluster.config.replicas.map((r) => replicaProcessState(cluster.dir, r.id)));
  // check every key before spawning anything: a clear error now beats a replica dying later
  for (const id of ids) {
    if (!states[id]?.running) await readReplicaSecret(cluster, id, { warn: o.warn ?? (() => undefined) });
  }
  const willRun = new Set([...states.filter((s) => s.running).map((s) => s.id), ...ids]);
  const quorumRunning = willRun.size >= quorum;
  const outcomes = await startReplicas({
    dir: cluster.dir,
    replicas: cluster.config.replicas.map((r) => ({ id: r.id, host: r.host, port: r.port })),
    ids,
    readyTimeoutMs: quorumRunning ? (o.readyTimeoutMs ?? 30_000) : Math.min(o.readyTimeoutMs ?? 30_000, NO_QUORUM_WATCH_MS),
    ...(o.faultInjection === false ? { extraArgs: ['--no-faults'] } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.entry ? { entry: o.entry } : {}),
  });
  const after = await Promise.all(cluster.config.replicas.map((r) => replicaProcessState(cluster.dir, r.id)));
  if (o.signal?.aborted) {
    const started = outcomes.filter((x) => x.status === 'ready' || x.status === 'not-ready').map((x) => x.id);
    throw new CliError(
      'INTERRUPTED',
      `interrupted while starting replicas${started.length ? ` (${started.join(', ')} started and still running)` : ''}`,
      started.length ? 'stop them with pbft down, or run pbft up again to wait for them' : undefined,
    );
  }
  return { outcomes, running: after.filter((s) => s.running).map((s) => s.id), quorum, quorumRunning };
}

/** The error to report for a start that went wrong, or null. */
export function upFailure(cluster: LoadedCluster, r: UpResult): CliError | null {
  const exited = r.outcomes.filter((x): x is Extract<StartOutcome, { status: 'exited' }> => x.status === 'exited');
  if (exited.length > 0) {
    const x = exited[0]!;
    const how = x.signal ? `was killed by ${x.signal}` : `exited with code ${x.exitCode ?? '?'}`;
    const errLine = [...x.lastLines].reverse().find((l) => /^(error|Error)\b/.test(l.trim()));
    const why = errLine ? `: ${errLine.trim().replace(/^error:\s*/i, '')}` : '';
    const others = exited.length > 1 ? ` (replicas ${exited.map((e) => e.id).join(', ')} failed)` : '';
    return new CliError(
      /PORT_IN_USE|EADDRINUSE|already in use/i.test(why) ? 'PORT_IN_USE' : 'REPLICA_EXITED',
      `replica ${x.id} ${how} during start-up${why}${others}`,
      `see the log lines above (${replicaFiles(cluster.dir, x.id).logFile}), fix the problem and run pbft up again`,
    );
  }
  const notReady = r.outcomes.filter((x) => x.status === 'not-ready').map((x) => x.id);
  if (notReady.length > 0 && r.quorumRunning) {
    return new CliError(
      'NOT_READY',
      `replica${notReady.length > 1 ? 's' : ''} ${notReady.join(', ')} did not become ready in time (still running)`,
      `a replica is ready once it is connected to a quorum of ${r.quorum}; check ${replicaFiles(cluster.dir, notReady[0]!).logFile}, then run pbft status`,
    );
  }
  return null;
}

export interface DownOptions {
  ids?: number[];
  graceMs?: number;
}

export async function downCluster(dir: string, n: number, o: DownOptions = {}): Promise<StopOutcome[]> {
  const ids = o.ids ?? Array.from({ length: n }, (_, i) => i);
  return stopReplicas({ dir, ids, ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}) });
}
