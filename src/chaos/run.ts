/**
 * `pbft chaos` as a library call: the Jepsen loop on a real local cluster.
 *
 *   1. the cluster in `dir` is used as it runs, or started when it is down (and stopped after);
 *      faults left from before are cleared first;
 *   2. C clients run put / get / del on a small set of keys (a key is retired after
 *      `opsPerKey` operations, so each key's history stays short), recording every invocation
 *      and outcome; meanwhile the seeded nemesis plays its schedule (schedule.ts) with the fault
 *      library;
 *   3. then everything is healed (restart, resume, clear), and the cluster must converge within
 *      a bound: a write must complete, then enough writes for a checkpoint, then every replica at
 *      the same lastExecuted and state digest;
 *   4. every key is read back, and the checks run: linearizability of the history, the audit
 *      (an injected verifier: `pbft verify`, with the run's Byzantine replicas declared
 *      faulty), no acknowledged write lost, the same state on every correct replica;
 *   5. history.json, report.json and timeline.svg are written to the output directory.
 *
 * Components are injected (the verifier, the clients, the fault injector, the clock), so parts
 * can be tested without processes; the e2e test runs it all on a real cluster.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { encodeKvOp, parseKvResult, type KvOp } from '../app/kv.js';
import type { VerifyReport } from '../audit/verify.js';
import type { StrategyName } from '../byzantine/index.js';
import { PbftError, abortError, describeError, isPbftError } from '../errors.js';
import { loadCluster, type LoadedCluster } from '../runtime/config.js';
import { benchClientFactory, type BenchConnections } from '../cluster/bench-cluster.js';
import { effectiveConfig } from '../cluster/clusters.js';
import { CliError } from '../cluster/errors.js';
import { injectFault, type FaultOptions } from '../cluster/faults.js';
import type { FaultRequest } from '../cluster/fault-request.js';
import { replicaRunState } from '../cluster/fault-state.js';
import { cmd } from '../cluster/hints.js';
import { downCluster, upCluster, upFailure } from '../cluster/lifecycle.js';
import { replicaProcessState } from '../cluster/processes.js';
import { clusterStatus, waitConverged, type ReplicaRow } from '../cluster/status.js';
import { Rng } from '../sim/rng.js';
import {
  checkLinearizable,
  checkLostWrites,
  checkSameState,
  type CheckStatus,
  type LinearizabilityCheck,
  type LostWriteCheck,
  type StateCheck,
} from './check.js';
import { HistoryRecorder, countHistory, timeSeries, type HistoryCounts, type HistoryEntry, type Series } from './history.js';
import { checkSchedule, describeFault, generateSchedule, maxDownAtOnce, type FaultSpec, type NemesisKind, type Schedule } from './schedule.js';
import { renderTimelineSvg } from './timeline.js';

/**
 * The audit of `pbft verify` (src/audit), injected: chaos runs it on the healed cluster, with the
 * run's Byzantine replicas (`schedule.byzantine`), which the audit is to treat as faulty. It
 * returns the audit's report; only `ok` is required, the rest makes the summary line.
 */
export type VerifyFn = (opts: { dir: string; signal?: AbortSignal; byzantine: number[] }) => Promise<VerifyResult>;
export type VerifyResult = Pick<VerifyReport, 'ok'> & Partial<Omit<VerifyReport, 'ok'>>;

/** What the workload needs from a client: one request at a time. */
export interface ChaosClient {
  /** the identity on the wire */
  id: string;
  request(op: string, o: { timeoutMs: number; signal?: AbortSignal }): Promise<{ result: string }>;
  close(): Promise<void> | void;
}

export interface ChaosOptions {
  dir: string;
  durationMs: number;
  clients: number;
  /** how the clients reach the replicas: their own connections (default) or shared ones (SharedClientConnections) */
  connections?: BenchConnections;
  seed: number;
  /** the nemesis: fault kinds to draw from ([] for a run without faults) */
  kinds: readonly NemesisKind[];
  periodMs: number;
  overlap: number;
  strategies?: readonly StrategyName[];
  /** keys in use at any time (default 8) */
  keys?: number;
  /** a key is retired (and a fresh one takes its place) after this many operations (default 200) */
  opsPerKey?: number;
  /** per request (default 5000 ms); a request that times out is indeterminate */
  requestTimeoutMs?: number;
  /** after the heal: the bound on convergence (default 60000 ms) */
  convergeTimeoutMs?: number;
  /** a replica restarted during the run: how long to wait for it to be ready (default 10000 ms) */
  readyTimeoutMs?: number;
  /** where history.json, report.json and timeline.svg go (default <dir>/chaos/<time>-seed<seed>) */
  outDir?: string;
  /** search steps per key for the linearizability checker */
  maxStepsPerKey?: number;
  /** the audit; absent: reported as "not available" */
  verify?: VerifyFn;
  signal?: AbortSignal;
  /** progress about every progressIntervalMs while the load runs */
  onProgress?: (p: ChaosProgress) => void;
  progressIntervalMs?: number;
  /** a line per fault applied or healed and per phase */
  onEvent?: (line: string) => void;
  /** injected components (tests) */
  makeClient?: (i: number) => Promise<ChaosClient>;
  injectFault?: (cluster: LoadedCluster, req: FaultRequest, o: FaultOptions) => Promise<unknown>;
  now?: () => number;
  /** the replica program (tests) */
  entry?: string;
}

export interface ChaosProgress {
  elapsedMs: number;
  durationMs: number;
  ok: number;
  info: number;
  fail: number;
  faultsApplied: number;
  /** the faults in force now, described */
  active: string[];
}

/** A fault as it was played: when it was applied and healed (ms from the start of the load). */
export interface PlayedFault {
  id: number;
  kind: NemesisKind;
  replicas: number[];
  description: string;
  plannedStartMs: number;
  plannedEndMs: number;
  appliedMs: number | null;
  healedMs: number | null;
  /** the error of applying it (then it was not in force), or of healing it */
  applyError?: string;
  healError?: string;
}

export interface CheckResult {
  status: CheckStatus;
  message: string;
}

export interface ChaosReport {
  ok: boolean;
  verdict: 'pass' | 'fail' | 'inconclusive';
  /** anomalies found: a non-linearizable key, lost writes, divergent correct replicas, a failed audit */
  anomalies: number;
  dir: string;
  outDir: string;
  files: { history: string; report: string; timeline: string };
  seed: number;
  n: number;
  f: number;
  clients: number;
  durationMs: number;
  periodMs: number;
  overlap: number;
  nemesis: NemesisKind[];
  byzantine: number[];
  keyPrefix: string;
  /** the cluster was down and chaos started it (and stopped it at the end) */
  startedCluster: boolean;
  startedAt: string;
  wallMs: number;
  ops: HistoryCounts;
  faults: { planned: number; applied: number; errors: number; byKind: Partial<Record<NemesisKind, number>>; maxDownAtOnce: number; played: PlayedFault[] };
  heal: { ms: number; errors: string[] };
  convergence: { ok: boolean; boundMs: number; firstWriteMs: number | null; convergedMs: number | null; message: string };
  checks: {
    linearizable: CheckResult & { detail: LinearizabilityCheck | null };
    verify: CheckResult;
    lostWrites: CheckResult & { detail: LostWriteCheck | null };
    sameState: CheckResult & { detail: StateCheck | null };
  };
  series: Series;
  warnings: string[];
}

export const CHAOS_DEFAULTS = { keys: 8, opsPerKey: 200, requestTimeoutMs: 5000, convergeTimeoutMs: 60_000, readyTimeoutMs: 10_000 } as const;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((res) => {
    if (ms <= 0 || signal?.aborted) return res();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

function errorInfo(e: unknown): { code: string; message: string } {
  const code = e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : 'ERROR';
  return { code, message: describeError(e) };
}

/** A request that certainly was not executed: refused before sending. Anything else is indeterminate. */
export function certainlyNotSent(e: unknown): boolean {
  if (isPbftError(e, 'BAD_ARGUMENT')) return true;
  return isPbftError(e) && e.details?.outcome === 'not-sent';
}

/** The workload's choice of operation: 45% put, 40% get, 15% del, on the keys in use. */
export class Workload {
  private readonly rng: Rng;
  private seq = 0;
  constructor(
    seed: number,
    private readonly process: number,
    private readonly keys: KeySlots,
  ) {
    this.rng = new Rng(seed).fork(`chaos-client-${process}`);
  }
  next(): KvOp {
    const key = this.keys.take(this.rng.int(0, this.keys.size - 1));
    const x = this.rng.float();
    if (x < 0.45) return { op: 'put', key, value: `c${this.process}-${this.seq++}` };
    if (x < 0.85) return { op: 'get', key };
    return { op: 'del', key };
  }
}

/** The keys in use: slot i holds <prefix>/k<i>.<generation>, retired after opsPerKey operations. */
export class KeySlots {
  private readonly used: number[];
  private readonly gen: number[];
  readonly all = new Set<string>();
  constructor(
    readonly prefix: string,
    readonly size: number,
    private readonly opsPerKey: number,
  ) {
    this.used = Array(size).fill(0);
    this.gen = Array(size).fill(0);
  }
  take(i: number): string {
    if (this.used[i]! >= this.opsPerKey) {
      this.used[i] = 0;
      this.gen[i]!++;
    }
    this.used[i]!++;
    const k = `${this.prefix}/k${i}.${this.gen[i]}`;
    this.all.add(k);
    return k;
  }
}

/** The fault library calls that apply and heal one scheduled fault. */
export function faultRequests(s: FaultSpec): { apply: FaultRequest[] | 'stop'; heal: FaultRequest[] } {
  const r = s.replicas[0]!;
  switch (s.kind) {
    case 'crash':
      return { apply: [{ target: r, action: 'crash' }], heal: [{ target: r, action: 'restart' }] };
    case 'restart':
      return { apply: 'stop', heal: [{ target: r, action: 'restart' }] };
    case 'pause':
      return { apply: [{ target: r, action: 'pause' }], heal: [{ target: r, action: 'resume' }] };
    case 'partition':
      return {
        apply: s.replicas.map((x) => ({ target: x, action: 'partition', from: s.from })),
        heal: s.replicas.map((x) => ({ target: x, action: 'heal', from: s.from })),
      };
    case 'delay':
      return { apply: [{ target: r, action: 'delay', ms: s.ms, jitterMs: s.jitterMs }], heal: [{ target: r, action: 'heal' }] };
    case 'drop':
      return { apply: [{ target: r, action: 'drop', rate: s.rate }], heal: [{ target: r, action: 'heal' }] };
    case 'byzantine':
      return { apply: [{ target: r, action: 'byzantine', strategy: s.strategy }], heal: [{ target: r, action: 'clear' }] };
    case 'clients': {
      const apply: FaultRequest =
        s.link === 'partition'
          ? { target: r, action: 'partition', from: [], clients: true }
          : s.link === 'delay'
            ? { target: r, action: 'delay', ms: s.ms, jitterMs: s.jitterMs, link: 'clients' }
            : { target: r, action: 'drop', rate: s.rate, link: 'clients' };
      return { apply: [apply], heal: [{ target: r, action: 'heal' }] };
    }
  }
}

/** The order the nemesis plays a schedule in: by time, an end before a start at the same time. */
export function nemesisActions(s: Schedule): { atMs: number; what: 'apply' | 'heal'; fault: Schedule['faults'][number] }[] {
  return s.faults
    .flatMap((f) => [
      { atMs: f.startMs, what: 'apply' as const, fault: f },
      { atMs: f.endMs, what: 'heal' as const, fault: f },
    ])
    .sort((a, b) => a.atMs - b.atMs || (a.what === b.what ? a.fault.id - b.fault.id : a.what === 'heal' ? -1 : 1));
}

function defaultOutDir(dir: string, seed: number, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d{3}Z$/, 'Z');
  return join(dir, 'chaos', `${stamp}-seed${seed}`);
}

/** Run chaos on the cluster in o.dir. Whatever happens, faults are healed and what chaos started is stopped. */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const now = o.now ?? (() => performance.now());
  const wall0 = now();
  const startedAt = new Date();
  const signal = o.signal;
  const event = o.onEvent ?? (() => undefined);
  const keysN = o.keys ?? CHAOS_DEFAULTS.keys;
  const opsPerKey = o.opsPerKey ?? CHAOS_DEFAULTS.opsPerKey;
  const requestTimeoutMs = o.requestTimeoutMs ?? CHAOS_DEFAULTS.requestTimeoutMs;
  const convergeTimeoutMs = o.convergeTimeoutMs ?? CHAOS_DEFAULTS.convergeTimeoutMs;
  const readyTimeoutMs = o.readyTimeoutMs ?? CHAOS_DEFAULTS.readyTimeoutMs;
  if (!Number.isSafeInteger(o.clients) || o.clients < 1 || o.clients > 256) throw new RangeError('clients must be an integer in 1..256');
  if (!Number.isSafeInteger(keysN) || keysN < 1 || keysN > 1000) throw new RangeError('keys must be an integer in 1..1000');
  if (!Number.isSafeInteger(opsPerKey) || opsPerKey < 1) throw new RangeError('opsPerKey must be a positive integer');

  const cluster = await loadCluster(o.dir);
  const dir = cluster.dir;
  const n = cluster.params.n;
  const f = cluster.params.f;
  const ids = cluster.config.replicas.map((r) => r.id);
  if (o.kinds.length > 0 && !cluster.config.faultInjection)
    throw new PbftError('ADMIN_REFUSED', `fault injection is disabled in ${cluster.paths.config} ("faultInjection": false)`, {
      hint: 'chaos needs it; run chaos with --nemesis none for a run without faults, or on a cluster made with pbft init (fault injection on)',
    });
  if (!o.makeClient && !cluster.config.openClients && cluster.config.clients.length < o.clients + 1)
    throw new CliError(
      'BAD_ARGUMENT',
      `this cluster does not accept ephemeral clients (openClients is false) and lists ${cluster.config.clients.length} client${cluster.config.clients.length === 1 ? '' : 's'}; chaos needs ${o.clients + 1} (one more to read back)`,
      `set "openClients": true in cluster.json, or use --clients ${Math.max(1, cluster.config.clients.length - 1)}`,
    );
  const schedule = generateSchedule({
    n,
    f,
    seed: o.seed,
    durationMs: o.durationMs,
    kinds: o.kinds,
    periodMs: o.periodMs,
    overlap: o.overlap,
    ...(o.strategies ? { strategies: o.strategies } : {}),
  });
  const problems = checkSchedule(schedule);
  if (problems.length > 0) throw new PbftError('INTERNAL', `the nemesis schedule breaks its own rules: ${problems[0]}`);

  const warnings: string[] = [];
  const eff = await effectiveConfig(cluster);
  const noFsync = eff.replicas.filter((r) => r.settings.fsync === false).map((r) => r.id);
  if (noFsync.length > 0 && (o.kinds.includes('crash') || o.kinds.includes('restart')))
    warnings.push(
      `fsync is off on replica${noFsync.length > 1 ? 's' : ''} ${noFsync.join(', ')}: a crash may make a replica forget what it signed, which PBFT counts as a Byzantine fault`,
    );
  const noInjection = eff.replicas.filter((r) => !r.faultInjection).map((r) => r.id);
  if (noInjection.length > 0 && o.kinds.length > 0)
    warnings.push(`fault injection is off on replica${noInjection.length > 1 ? 's' : ''} ${noInjection.join(', ')}: faults on them will fail`);

  const outDir = resolve(o.outDir ?? defaultOutDir(dir, o.seed, startedAt));
  const files = { history: join(outDir, 'history.json'), report: join(outDir, 'report.json'), timeline: join(outDir, 'timeline.svg') };
  const fault = o.injectFault ?? injectFault;
  const faultOpts: FaultOptions = { timeoutMs: 5000, readyTimeoutMs, ...(o.entry ? { entry: o.entry } : {}), warn: (m) => warnings.push(m) };
  const keyPrefix = `chaos/${o.seed}-${startedAt.getTime().toString(36)}`;
  const keys = new KeySlots(keyPrefix, keysN, opsPerKey);
  let t0 = now();
  const rel = () => now() - t0;
  const history = new HistoryRecorder(rel);

  // --- 1. the cluster ---
  const before = await Promise.all(ids.map((id) => replicaProcessState(dir, id)));
  const startedCluster = before.every((s) => !s.running);
  const heal = async (label: string): Promise<string[]> => {
    const errors: string[] = [];
    const states = await Promise.all(ids.map((id) => replicaRunState(cluster, id)));
    const down = states.filter((s) => s.pid === null).map((s) => s.id);
    if (down.length > 0) {
      try {
        const up = await upCluster(cluster, { ids: down, readyTimeoutMs: 30_000, ...(o.entry ? { entry: o.entry } : {}), warn: (m) => warnings.push(m) });
        const failure = upFailure(cluster, up);
        if (failure) errors.push(`${label}: starting replicas ${down.join(', ')}: ${failure.message}`);
        else event(`${label}: started replica${down.length > 1 ? 's' : ''} ${down.join(', ')}`);
      } catch (e) {
        errors.push(`${label}: starting replicas ${down.join(', ')}: ${describeError(e)}`);
      }
    }
    await Promise.all(
      ids.map(async (id) => {
        try {
          await fault(cluster, { target: id, action: 'clear' }, faultOpts);
        } catch (e) {
          errors.push(`${label}: clearing replica ${id}: ${describeError(e)}`);
        }
      }),
    );
    return errors;
  };

  let stopped = false;
  const clients: ChaosClient[] = [];
  const closeClients = async () => {
    await Promise.allSettled(clients.splice(0).map(async (c) => c.close()));
  };
  try {
    const preHeal = await heal(startedCluster ? 'start' : 'before the run');
    if (preHeal.length > 0) throw new CliError('NOT_READY', `the cluster is not healthy before the run: ${preHeal[0]}`, `check it with ${cmd('status', dir)}`);
    if (signal?.aborted) throw abortError(signal);

    // --- 2. clients, load and nemesis ---
    const makeClient =
      o.makeClient ??
      (await (async () => {
        const make = await benchClientFactory(cluster, { ...(signal ? { signal } : {}), connectTimeoutMs: 5000, connections: o.connections ?? 'own' });
        return async (i: number): Promise<ChaosClient> => {
          const c = await make(i);
          return {
            id: `client-${i}`,
            request: async (op, ro) => {
              const r = (await c.request(op, ro)) as { result?: unknown };
              if (typeof r?.result !== 'string') throw new PbftError('INTERNAL', 'the client returned no result');
              return { result: r.result };
            },
            close: () => c.close(),
          };
        };
      })());
    const made = await Promise.allSettled(Array.from({ length: o.clients }, (_, i) => makeClient(i)));
    for (const m of made) if (m.status === 'fulfilled') clients.push(m.value);
    const failed = made.find((m): m is PromiseRejectedResult => m.status === 'rejected');
    if (failed) throw failed.reason;

    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    t0 = now();
    const played: PlayedFault[] = schedule.faults.map((x) => ({
      id: x.id,
      kind: x.spec.kind,
      replicas: [...x.spec.replicas],
      description: describeFault(x.spec),
      plannedStartMs: x.startMs,
      plannedEndMs: x.endMs,
      appliedMs: null,
      healedMs: null,
    }));
    const active = new Set<number>();
    const done = { ok: 0, info: 0, fail: 0 };
    let progressTimer: NodeJS.Timeout | undefined;
    if (o.onProgress) {
      progressTimer = setInterval(() => {
        o.onProgress!({
          elapsedMs: rel(),
          durationMs: o.durationMs,
          ok: done.ok,
          info: done.info,
          fail: done.fail,
          faultsApplied: played.filter((p) => p.appliedMs !== null).length,
          active: [...active].map((id) => played[id]!.description),
        });
      }, o.progressIntervalMs ?? 1000);
    }
    const worker = async (i: number) => {
      const c = clients[i]!;
      const w = new Workload(o.seed, i, keys);
      while (!stop.signal.aborted && rel() < o.durationMs) {
        const op = w.next();
        const e = history.invoke(i, c.id, op);
        try {
          const r = await c.request(encodeKvOp(op), { timeoutMs: requestTimeoutMs, signal: stop.signal });
          history.complete(e, 'ok', { result: parseKvResult(r.result) });
        } catch (err) {
          history.complete(e, certainlyNotSent(err) ? 'fail' : 'info', { error: errorInfo(err) });
        }
        done[e.type!]++;
      }
    };
    const nemesis = async () => {
      for (const a of nemesisActions(schedule)) {
        await sleep(a.atMs - rel(), stop.signal);
        if (stop.signal.aborted) return;
        const p = played[a.fault.id]!;
        const reqs = faultRequests(a.fault.spec);
        try {
          if (a.what === 'apply') {
            if (reqs.apply === 'stop') {
              const out = await downCluster(dir, n, { ids: [p.replicas[0]!], graceMs: 3000 });
              if (out[0]?.status !== 'stopped') throw new PbftError('NOT_RUNNING', `replica ${p.replicas[0]} was not running`);
            } else for (const r of reqs.apply) await fault(cluster, r, faultOpts);
            p.appliedMs = rel();
            active.add(p.id);
            event(`${(p.appliedMs / 1000).toFixed(1)} s  fault ${p.description}`);
          } else {
            if (p.appliedMs === null && a.fault.spec.kind !== 'restart' && a.fault.spec.kind !== 'crash') continue; // nothing to heal
            for (const r of reqs.heal) await fault(cluster, r, faultOpts);
            p.healedMs = rel();
            active.delete(p.id);
            event(`${(p.healedMs / 1000).toFixed(1)} s  healed ${p.description}`);
          }
        } catch (e) {
          if (a.what === 'apply') p.applyError = describeError(e);
          else {
            p.healError = describeError(e);
            p.healedMs = rel();
            active.delete(p.id);
          }
          event(`${(rel() / 1000).toFixed(1)} s  could not ${a.what === 'apply' ? 'apply' : 'heal'} ${p.description}: ${describeError(e)}`);
        }
      }
    };
    try {
      await Promise.all([...clients.map((_, i) => worker(i)), nemesis()]);
    } finally {
      if (progressTimer) clearInterval(progressTimer);
      signal?.removeEventListener('abort', onAbort);
    }
    const loadEndMs = rel();
    await closeClients();
    history.closeOpen();

    // --- 3. heal and converge ---
    event(`${(rel() / 1000).toFixed(1)} s  healing every replica`);
    const healStart = rel();
    const healErrors = await heal('heal');
    const healMs = rel() - healStart;
    for (const p of played) if (active.has(p.id)) p.healedMs = rel();
    active.clear();
    if (signal?.aborted) throw abortError(signal);

    const convStart = rel();
    const checkClient = await makeClient(o.clients);
    clients.push(checkClient);
    const deadline = convStart + convergeTimeoutMs;
    const settleKey = `${keyPrefix}/settle`;
    let settleSeq = 0;
    const settlePut = async (): Promise<boolean> => {
      const op: KvOp = { op: 'put', key: settleKey, value: `check-${settleSeq++}` };
      const e = history.invoke('check', checkClient.id, op);
      try {
        const r = await checkClient.request(encodeKvOp(op), { timeoutMs: Math.max(1000, Math.min(10_000, deadline - rel())) });
        history.complete(e, 'ok', { result: parseKvResult(r.result) });
        return true;
      } catch (err) {
        history.complete(e, certainlyNotSent(err) ? 'fail' : 'info', { error: errorInfo(err) });
        return false;
      }
    };
    let firstWriteMs: number | null = null;
    while (rel() < deadline && !signal?.aborted) {
      if (await settlePut()) {
        firstWriteMs = rel() - convStart;
        break;
      }
    }
    // enough writes for a checkpoint: a replica whose state is wrong repairs it there
    const interval = cluster.config.protocol.checkpointInterval;
    for (let i = 0; firstWriteMs !== null && i < interval && rel() < deadline && !signal?.aborted; i++) await settlePut();
    let convergedMs: number | null = null;
    let rows: ReplicaRow[] = [];
    if (firstWriteMs !== null) {
      const w = await waitConverged(cluster, { timeoutMs: Math.max(0, deadline - rel()), pollMs: 200, ...(signal ? { signal } : {}) });
      rows = w.rows;
      if (w.converged) convergedMs = rel() - convStart;
    }
    if (signal?.aborted) throw abortError(signal);
    const describeRows = (rs: ReplicaRow[]) =>
      rs.map((r) => (r.reachable ? `r${r.id} at ${r.lastExecuted} ${(r.stateDigest ?? '').slice(0, 8)}` : `r${r.id} not answering (${r.process})`)).join(', ');
    const convergence = {
      ok: convergedMs !== null,
      boundMs: convergeTimeoutMs,
      firstWriteMs,
      convergedMs,
      message:
        firstWriteMs === null
          ? `no write completed within ${convergeTimeoutMs / 1000} s of the heal`
          : convergedMs === null
            ? `the replicas did not converge within ${convergeTimeoutMs / 1000} s of the heal: ${describeRows(rows)}`
            : `a write completed ${(firstWriteMs / 1000).toFixed(2)} s after the heal; every replica at the same state ${(convergedMs / 1000).toFixed(2)} s after it`,
    };
    event(`${(rel() / 1000).toFixed(1)} s  ${convergence.message}`);

    // --- 4. read back, then the checks ---
    const readStart = rel();
    const finalReads = new Map<string, string | null>();
    if (firstWriteMs !== null) {
      for (const key of [...keys.all, settleKey]) {
        if (signal?.aborted) break;
        for (let attempt = 0; attempt < 3 && !finalReads.has(key); attempt++) {
          const op: KvOp = { op: 'get', key };
          const e = history.invoke('check', checkClient.id, op);
          try {
            const r = await checkClient.request(encodeKvOp(op), { timeoutMs: 10_000 });
            const res = parseKvResult(r.result);
            history.complete(e, 'ok', { result: res });
            if (res.ok) finalReads.set(key, res.value);
          } catch (err) {
            history.complete(e, certainlyNotSent(err) ? 'fail' : 'info', { error: errorInfo(err) });
          }
        }
      }
    }
    await closeClients();
    const readEnd = rel();
    if (signal?.aborted) throw abortError(signal);
    const last = await waitConverged(cluster, { timeoutMs: convergedMs !== null ? 15_000 : 2000, pollMs: 200, ...(signal ? { signal } : {}) });
    const sameState = checkSameState(
      (last.rows.length ? last.rows : await clusterStatus(cluster, { timeoutMs: 2000 })).map((r) => ({
        id: r.id,
        reachable: r.reachable,
        lastExecuted: r.lastExecuted,
        stateDigest: r.stateDigest,
        view: r.view,
      })),
      schedule.byzantine,
    );

    const verify = await runVerify(o.verify, dir, signal, schedule.byzantine);
    const checksEnd = rel();

    const lin = checkLinearizable(history.entries, o.maxStepsPerKey !== undefined ? { maxStepsPerKey: o.maxStepsPerKey } : {});
    const lost = checkLostWrites(history.entries, finalReads);
    const linResult = {
      status: lin.status,
      message:
        lin.status === 'pass'
          ? `${lin.checked} operations on ${lin.keys} keys (${lin.dropped} indeterminate ones that nothing observed left out, ${lin.bounded} bounded by the first read of their value)`
          : (lin.message ?? ''),
      detail: lin,
    };
    const lostResult = {
      status: lost.status,
      message:
        lost.status === 'pass'
          ? `${lost.ackedWrites} acknowledged writes on ${lost.keys} keys, every key read back consistent with its last ones`
          : lost.lost.length > 0
            ? `${lost.lost.length} key${lost.lost.length > 1 ? 's' : ''} lost an acknowledged write: ${lost.lost[0]!.message}`
            : `keys not read back: ${lost.unread.slice(0, 5).join(', ')}${lost.unread.length > 5 ? ` and ${lost.unread.length - 5} more` : ''}`,
      detail: lost,
    };
    const stateResult = { status: sameState.status, message: sameState.message, detail: sameState };
    const { verdict, anomalies } = verdictOf({
      linearizable: lin.status,
      verify: verify.status,
      lostWrites: lost.lost.length,
      lostWritesStatus: lost.status,
      sameState: sameState.status,
      converged: convergence.ok,
    });
    const byKind: Partial<Record<NemesisKind, number>> = {};
    for (const p of played) if (p.appliedMs !== null) byKind[p.kind] = (byKind[p.kind] ?? 0) + 1;
    const endMs = rel();
    const report: ChaosReport = {
      ok: verdict === 'pass',
      verdict,
      anomalies,
      dir,
      outDir,
      files,
      seed: o.seed,
      n,
      f,
      clients: o.clients,
      durationMs: o.durationMs,
      periodMs: o.periodMs,
      overlap: o.overlap,
      nemesis: [...schedule.kinds],
      byzantine: schedule.byzantine,
      keyPrefix,
      startedCluster,
      startedAt: startedAt.toISOString(),
      wallMs: now() - wall0,
      ops: countHistory(history.entries),
      faults: {
        planned: played.length,
        applied: played.filter((p) => p.appliedMs !== null).length,
        errors: played.filter((p) => p.applyError || p.healError).length,
        byKind,
        maxDownAtOnce: maxDownAtOnce(schedule),
        played,
      },
      heal: { ms: healMs, errors: healErrors },
      convergence,
      checks: { linearizable: linResult, verify, lostWrites: lostResult, sameState: stateResult },
      series: timeSeries(history.entries, endMs),
      warnings,
    };
    await writeOutputs(report, history.entries, schedule, {
      loadEndMs,
      phases: [
        { name: 'heal', startMs: healStart, endMs: convStart },
        { name: 'converge', startMs: convStart, endMs: readStart },
        { name: 'read back, checks', startMs: readStart, endMs: Math.max(readEnd, checksEnd) },
      ],
      endMs,
    });
    if (startedCluster) {
      await downCluster(dir, n, { graceMs: 5000 });
      stopped = true;
    }
    return report;
  } catch (e) {
    // interrupted or failed: still heal, so that the cluster is not left broken
    await closeClients();
    if (!stopped && !startedCluster) {
      const errs = await heal('cleanup').catch((x: unknown) => [describeError(x)]);
      for (const m of errs) event(m);
    }
    if (history.entries.length > 0) {
      history.closeOpen('in flight when the run stopped');
      await mkdir(outDir, { recursive: true }).catch(() => undefined);
      const saved = await writeFile(files.history, historyJson(history.entries, schedule, keyPrefix)).then(
        () => true,
        () => false,
      );
      if (saved) event(`the history so far: ${files.history}`);
      if (e instanceof PbftError && !e.hint) throw new PbftError(e.code, e.message, { hint: `the history so far is in ${files.history}`, cause: e });
    }
    throw e;
  } finally {
    await closeClients();
    if (startedCluster && !stopped) await downCluster(dir, n, { graceMs: 3000 }).catch(() => undefined);
  }
}

/**
 * The audit step: the injected verifier's verdict on the healed cluster, the run's Byzantine
 * replicas declared faulty; "not available" without a verifier. A violation fails the run.
 * Incomplete (something could not be checked, e.g. a replica that did not answer) is "unknown":
 * the cluster was healed and converged, so every replica should be up, and an audit that could
 * not look at everything proves nothing either way. An error is "unknown" too.
 */
export async function runVerify(verify: VerifyFn | undefined, dir: string, signal?: AbortSignal, byzantine: readonly number[] = []): Promise<CheckResult> {
  if (!verify) return { status: 'skipped', message: 'not available (no audit in this build)' };
  let v: VerifyResult;
  try {
    v = await verify({ dir, byzantine: [...byzantine], ...(signal ? { signal } : {}) });
  } catch (e) {
    return { status: 'unknown', message: `the audit could not run: ${describeError(e)}` };
  }
  const outcome = v.outcome ?? (v.ok ? 'ok' : 'violation');
  const details = cmd(`verify${byzantine.length > 0 ? ` --faulty ${byzantine.join(',')}` : ''}`, dir);
  const checks = v.checks ?? [];
  const first = (status: string) => {
    const c = checks.find((x) => x.status === status);
    const line = c?.problems[0];
    return line ? `: ${line}` : '';
  };
  if (v.ok && outcome === 'ok') {
    if (checks.length === 0 || !v.stats) return { status: 'pass', message: "the audit of the replicas' records holds" };
    const figures = `${checks.length} checks hold, ${v.stats.certificates} certificates and ${v.stats.signaturesVerified} signatures verified`;
    return { status: 'pass', message: `${figures}${byzantineSummary(byzantine, v.expectedEvidence ?? [])}` };
  }
  if (outcome === 'incomplete') {
    const names = checks.filter((c) => c.status === 'incomplete').map((c) => c.name);
    return {
      status: 'unknown',
      message: `the audit could not check everything${names.length ? ` (${names.join(', ')})` : ''}${first('incomplete')}; see ${details}`,
    };
  }
  const failed = checks.filter((c) => c.status === 'fail').map((c) => c.name);
  const accused = v.accused ?? [];
  return {
    status: 'fail',
    message: `the audit found a violation${failed.length ? ` (${failed.join(', ')} failed)` : ''}${accused.length ? `, evidence against replica${accused.length > 1 ? 's' : ''} ${accused.join(',')}` : ''}${first('fail')}; see ${details}`,
  };
}

/** "; evidence against Byzantine replica r1 (expected): 2 equivocation, 1 state-mismatch", or that there is none. */
function byzantineSummary(byzantine: readonly number[], expected: readonly { replica: number; kind: string }[]): string {
  if (byzantine.length === 0) return '';
  const who = `Byzantine replica${byzantine.length > 1 ? 's' : ''} ${byzantine.map((b) => `r${b}`).join(', ')}`;
  if (expected.length === 0) return `; no evidence against ${who} in the records`;
  const byKind = new Map<string, number>();
  for (const e of expected) byKind.set(e.kind, (byKind.get(e.kind) ?? 0) + 1);
  return `; evidence against ${who} (expected): ${[...byKind].map(([k, c]) => `${c} ${k}`).join(', ')}`;
}

/**
 * The run's verdict: fail when a check fails or the cluster did not converge; inconclusive when
 * a check could not decide; pass otherwise (a skipped check, the audit in a build without it,
 * does not fail a run). Anomalies: a non-linearizable history, each lost write, divergent
 * correct replicas, a failed audit.
 */
export function verdictOf(c: {
  linearizable: CheckStatus;
  verify: CheckStatus;
  lostWrites: number;
  lostWritesStatus: CheckStatus;
  sameState: CheckStatus;
  converged: boolean;
}): { verdict: ChaosReport['verdict']; anomalies: number } {
  const all: CheckStatus[] = [c.linearizable, c.verify, c.lostWritesStatus, c.sameState, c.converged ? 'pass' : 'fail'];
  const anomalies = (c.linearizable === 'fail' ? 1 : 0) + c.lostWrites + (c.sameState === 'fail' ? 1 : 0) + (c.verify === 'fail' ? 1 : 0);
  return { verdict: all.includes('fail') ? 'fail' : all.includes('unknown') ? 'inconclusive' : 'pass', anomalies };
}

function historyJson(entries: readonly HistoryEntry[], schedule: Schedule, keyPrefix: string): string {
  // one operation per line: a long run's history stays readable with line tools
  const head = JSON.stringify({ version: 1, seed: schedule.seed, n: schedule.n, f: schedule.f, keyPrefix, schedule: schedule.faults });
  return `${head.slice(0, -1)},"history":[\n${entries.map((e) => JSON.stringify(e)).join(',\n')}\n]}\n`;
}

async function writeOutputs(
  report: ChaosReport,
  entries: readonly HistoryEntry[],
  schedule: Schedule,
  t: { loadEndMs: number; phases: { name: string; startMs: number; endMs: number }[]; endMs: number },
): Promise<void> {
  await mkdir(report.outDir, { recursive: true });
  await writeFile(report.files.history, historyJson(entries, schedule, report.keyPrefix));
  await writeFile(report.files.report, `${JSON.stringify(report, null, 2)}\n`);
  const svg = renderTimelineSvg({
    title: `pbft chaos: ${report.verdict.toUpperCase()} — seed ${report.seed}, ${report.n} replicas (f = ${report.f}), ${report.clients} clients`,
    subtitle: [
      `nemesis ${report.nemesis.join(', ') || 'none'}; period ${report.periodMs} ms, overlap ${report.overlap}; Byzantine replicas: ${report.byzantine.map((b) => `r${b}`).join(', ') || 'none'}`,
      `${report.ops.invoked} operations: ${report.ops.ok} ok, ${report.ops.info} indeterminate, ${report.ops.fail} failed; ${report.faults.applied} faults; ${report.anomalies} anomalies`,
      `started ${report.startedAt}; load ${(t.loadEndMs / 1000).toFixed(1)} s`,
    ],
    n: report.n,
    byzantine: report.byzantine,
    endMs: t.endMs,
    faults: report.faults.played.map((p) => ({
      kind: p.kind,
      replicas: p.replicas,
      label: p.description,
      startMs: p.appliedMs ?? p.plannedStartMs,
      endMs: p.healedMs ?? p.plannedEndMs,
      applied: p.appliedMs !== null,
    })),
    phases: t.phases,
    series: report.series,
  });
  await writeFile(report.files.timeline, svg);
}
