/**
 * `pbft up` and `pbft down` as library calls on a loaded cluster.
 */
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { quorums } from '../core/quorum.js';
import { readReplicaSecret, type LoadedCluster } from '../runtime/config.js';
import { CliError } from './errors.js';
import { cmd } from './hints.js';
import { discoverReplicaIds, replicaFiles, replicaProcessState, startReplicas, stopReplicas, type StartOutcome, type StopOutcome } from './processes.js';
import { replicaRunState, type ProcessState } from './fault-state.js';

export interface UpOptions {
  /** replicas to start (default: all) */
  ids?: number[];
  readyTimeoutMs?: number;
  /** false starts replicas that refuse every fault command (pbft up --no-fault-injection) */
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

export interface UpPlan {
  /** the replicas asked for that are not running: up starts these */
  toStart: number[];
  /** the replicas asked for that already run: up leaves them alone */
  alreadyRunning: number[];
}

/** What `up` would do for these replicas (default: all). */
export async function planUp(cluster: LoadedCluster, ids?: number[]): Promise<UpPlan> {
  const want = ids ?? cluster.config.replicas.map((r) => r.id);
  const states = await Promise.all(want.map((id) => replicaProcessState(cluster.dir, id)));
  return { toStart: states.filter((s) => !s.running).map((s) => s.id), alreadyRunning: states.filter((s) => s.running).map((s) => s.id) };
}

/** How long to watch for an early death when replicas cannot become ready (no quorum yet). */
const NO_QUORUM_WATCH_MS = 1500;

export async function upCluster(cluster: LoadedCluster, o: UpOptions = {}): Promise<UpResult> {
  // aborted before it began: nothing was started, nothing is checked (not even the ports)
  if (o.signal?.aborted) throw new CliError('INTERRUPTED', 'interrupted before starting replicas');
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
      started.length ? `stop them with ${cmd('down', cluster.dir)}, or run ${cmd('up', cluster.dir)} again to wait for them` : undefined,
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
      `see the log lines above (${replicaFiles(cluster.dir, x.id).logFile}), fix the problem and run ${cmd('up', cluster.dir)} again`,
    );
  }
  const notReady = r.outcomes.filter((x) => x.status === 'not-ready').map((x) => x.id);
  if (notReady.length > 0 && r.quorumRunning) {
    return new CliError(
      'NOT_READY',
      `replica${notReady.length > 1 ? 's' : ''} ${notReady.join(', ')} did not become ready in time (still running)`,
      `a replica is ready once it is connected to a quorum of ${r.quorum}; check ${cmd(`logs --process ${notReady[0]!}`, cluster.dir)}, then ${cmd('status', cluster.dir)}`,
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

// ---------------------------------------------------------------------------------------
// ps, restart, destroy: the verbs of ccm and docker compose, over up and down
// ---------------------------------------------------------------------------------------

export interface ProcessRow {
  id: number;
  host: string;
  port: number;
  /** running | paused | crashed | stopped | down */
  state: ProcessState;
  pid: number | null;
  /** when the process started (ms since the epoch), from /proc */
  startedAtMs: number | null;
  /** resident memory now, bytes (from /proc) */
  rssBytes: number | null;
  /** its stdout and stderr */
  logFile: string;
}

let bootTimeMs: number | null | undefined;

/** When the machine booted (ms since the epoch), from /proc/stat; null when unknown. */
async function bootTime(): Promise<number | null> {
  if (bootTimeMs !== undefined) return bootTimeMs;
  try {
    const m = /^btime (\d+)$/m.exec(await readFile('/proc/stat', 'utf8'));
    bootTimeMs = m ? Number(m[1]) * 1000 : null;
  } catch {
    bootTimeMs = null;
  }
  return bootTimeMs;
}

/** Start time and RSS of a process, from /proc (nulls elsewhere). */
export async function processInfo(pid: number): Promise<{ startedAtMs: number | null; rssBytes: number | null }> {
  let startedAtMs: number | null = null;
  let rssBytes: number | null = null;
  try {
    const st = await readFile(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name: state is field 3, starttime field 22 (in clock ticks; 100 on Linux)
    const fields = st.slice(st.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    const boot = await bootTime();
    if (boot !== null && Number.isFinite(ticks)) startedAtMs = boot + (ticks / 100) * 1000;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    if (kb !== undefined) rssBytes = Number(kb) * 1024;
  } catch {
    /* not Linux, or it just exited */
  }
  return { startedAtMs, rssBytes };
}

/** `pbft ps`: every replica's process, without asking the replicas anything. */
export async function listProcesses(cluster: LoadedCluster): Promise<ProcessRow[]> {
  return Promise.all(
    cluster.config.replicas.map(async (r): Promise<ProcessRow> => {
      const run = await replicaRunState(cluster, r.id);
      const info = run.pid !== null ? await processInfo(run.pid) : { startedAtMs: null, rssBytes: null };
      return { id: r.id, host: r.host, port: r.port, state: run.state, pid: run.pid, ...info, logFile: replicaFiles(cluster.dir, r.id).logFile };
    }),
  );
}

export interface RestartOutcome {
  id: number;
  /** how it was stopped (not-running when there was nothing to stop) */
  stop: StopOutcome;
  /** how it came back */
  start: StartOutcome;
}

export interface RestartResult extends Omit<UpResult, 'outcomes'> {
  replicas: RestartOutcome[];
}

/** `pbft restart IDS`: stop them (SIGTERM, grace, SIGKILL), then start them and wait until ready. */
export async function restartReplicas(cluster: LoadedCluster, o: UpOptions & { graceMs?: number } = {}): Promise<RestartResult> {
  const ids = o.ids ?? cluster.config.replicas.map((r) => r.id);
  const stops = await downCluster(cluster.dir, cluster.config.replicas.length, { ids, ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}) });
  const up = await upCluster(cluster, { ...o, ids });
  const replicas = ids.map((id) => ({ id, stop: stops.find((s) => s.id === id)!, start: up.outcomes.find((s) => s.id === id)! }));
  return { replicas, running: up.running, quorum: up.quorum, quorumRunning: up.quorumRunning };
}

/** What `pbft destroy` removes from a cluster directory; anything else in it is left alone. */
export const CLUSTER_ENTRIES = ['cluster.json', 'keys', 'replicas'] as const;

export interface DestroyPlan {
  dir: string;
  /** replicas whose processes will be stopped first */
  running: number[];
  /** what will be removed (absolute paths that exist) */
  remove: string[];
  /** other entries in the directory, which are kept (so the directory stays) */
  keep: string[];
}

/** What destroy would do: refuses a directory that holds no cluster. */
export async function planDestroy(dir: string): Promise<DestroyPlan> {
  const abs = resolve(dir);
  let names: string[];
  try {
    names = await readdir(abs);
  } catch {
    throw new CliError(
      'CONFIG_MISSING',
      `no cluster in ${abs} (the directory does not exist)`,
      'point --dir (or PBFT_DIR) at a cluster directory; pbft ls lists them',
    );
  }
  if (!names.includes('cluster.json')) {
    throw new CliError(
      'CONFIG_MISSING',
      `no cluster in ${abs} (cluster.json not found); nothing was removed`,
      'point --dir (or PBFT_DIR) at a cluster directory; pbft ls lists them',
    );
  }
  const ids = await discoverReplicaIds(abs);
  const states = await Promise.all(ids.map((id) => replicaProcessState(abs, id)));
  return {
    dir: abs,
    running: states.filter((s) => s.running).map((s) => s.id),
    remove: names.filter((x) => (CLUSTER_ENTRIES as readonly string[]).includes(x)).map((x) => join(abs, x)),
    keep: names.filter((x) => !(CLUSTER_ENTRIES as readonly string[]).includes(x)),
  };
}

export interface DestroyResult extends DestroyPlan {
  stopped: StopOutcome[];
  /** the directory itself was removed (it held nothing else) */
  removedDir: boolean;
}

/**
 * `pbft destroy`: stop every replica (as down does), then remove cluster.json, keys/ and
 * replicas/, and the directory when nothing else is left in it.
 */
export async function destroyCluster(dir: string, o: { graceMs?: number } = {}): Promise<DestroyResult> {
  const plan = await planDestroy(dir);
  const ids = await discoverReplicaIds(plan.dir);
  const stopped = ids.length ? await stopReplicas({ dir: plan.dir, ids, ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}) }) : [];
  const still = (await Promise.all(ids.map((id) => replicaProcessState(plan.dir, id)))).filter((s) => s.running);
  if (still.length)
    throw new CliError(
      'REPLICA_RUNNING',
      `replica ${still.map((s) => s.id).join(', ')} still runs; nothing was removed`,
      `stop it with ${cmd('down', plan.dir)}, then destroy again`,
    );
  // the config last: an interrupted destroy leaves a directory that pbft still recognises
  for (const p of [...plan.remove].sort((a, b) => (a.endsWith('cluster.json') ? 1 : b.endsWith('cluster.json') ? -1 : 0)))
    await rm(p, { recursive: true, force: true });
  let removedDir = false;
  if (plan.keep.length === 0) {
    try {
      await rmdir(plan.dir);
      removedDir = true;
    } catch {
      /* something appeared meanwhile: keep it */
    }
  }
  return { ...plan, stopped, removedDir };
}
